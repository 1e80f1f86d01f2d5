//! The violations and trade-score pages in a browser on a 390×844 phone, against the real
//! binary: a WeChat Pay violation notice pushed to its callback appears on the violations
//! page; a mini program's score, read from the WeChat simulator by the binary's own daily
//! pass, is charted beside two earlier days' snapshots; neither page scrolls sideways.

use super::{fits_the_phone, sign_in};
use e2e_tests::browser::{PHONE, png_size};
use e2e_tests::wechatpay::{APIV3, PROVIDER, SUB, SimProvider};
use e2e_tests::{Browser, Server};
use sandbox::wechatpay::KeyMode;
use sandbox::wxapi::{SimMini, WechatSim};
use serde_json::json;
use std::time::{Duration, Instant};

const APPID: &str = "wxbrowser000000001";
const SECRET: &str = "mini-secret-0123456789abcdef0123";

/// Reload `url` until `ok` holds for the page source (up to 20 s); the last source.
async fn reload_until(
    browser: &Browser,
    url: &str,
    what: &str,
    ok: impl Fn(&str) -> bool,
) -> String {
    let start = Instant::now();
    loop {
        browser.goto(url).await;
        let source = browser.source().await;
        if ok(&source) {
            return source;
        }
        if start.elapsed() > Duration::from_secs(20) {
            return browser.fail(&format!("{what} did not appear")).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn a_pushed_violation_notice_and_the_charted_score_on_a_phone() {
    sandbox::install_tls_provider();
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let admin = "admin-violations-browser-0123456789abcdef";
    let server = Server::start(
        &data,
        &[("ADMIN_TOKEN", admin), ("DEADLINE_SWEEP_SECS", "1")],
    );

    // A provider whose sub-merchant is penalised (pushed to the real callback).
    let provider = SimProvider::create(&server, admin, "服务商").await;
    provider
        .add_sub(&server, admin, json!({"name": "门店"}))
        .await;
    let n = provider.sim.notification(
        APIV3,
        "VIOLATION.PUNISH",
        "violation",
        &json!({"sub_mchid": SUB, "company_name": "某某科技有限公司", "record_id": "R-BROWSER-1",
                "punish_plan": "关闭支付权限", "punish_time": "2026-11-22T10:00:00+08:00",
                "punish_description": "利用特殊行业违规经营，加重处罚", "risk_type": "ONE_YUAN_PURCHASES",
                "risk_description": "涉嫌一元购"}),
        KeyMode::PublicKey,
        0,
    );
    assert_eq!(
        n.post(&server.url(&format!("/callbacks/wechatpay/{PROVIDER}/violations")))
            .await,
        Ok(204)
    );

    // A mini program whose daily pass is due at once (digest time 00:00), and two earlier
    // days' snapshots (the binary's clock is today's: only today's can be taken by it).
    let wx = WechatSim::start().await.expect("wechat sim");
    wx.add_mini(SimMini {
        appid: APPID.into(),
        secret: SECRET.into(),
        nick_name: "小程序".into(),
        push: None,
    });
    wx.set_penalties(
        APPID,
        88,
        vec![json!({"illegalOrderId": "IL1", "complaintOrderId": "840001", "illegalWording": "未及时处理投诉",
                    "status": 2, "minusScore": 4, "illegalTime": chrono::Utc::now().timestamp() - 86_400})],
    );
    let (s, mini) = server
        .admin(
            admin,
            reqwest::Method::POST,
            "/accounts",
            Some(json!({"kind": "wxmini_app", "name": "积分小程序", "settings": {
                "appid": APPID, "mode": "manual", "api_base_url": wx.base_url(),
                "deadlines": {"digest": {"local_time": "00:00"}}},
                "credentials": {"secret": SECRET, "token": "miniToken123",
                                "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}})),
        )
        .await;
    assert_eq!(s, 201, "{mini}");
    let mini = mini["id"].as_str().expect("id").to_string();
    let today = (chrono::Utc::now() + chrono::Duration::hours(8)).date_naive();
    {
        let db = rusqlite::Connection::open(data.join("complaint-desk.db")).expect("database");
        db.busy_timeout(Duration::from_secs(10)).expect("timeout");
        for (back, score) in [(3, 96), (1, 90)] {
            let day = today - chrono::Duration::days(back);
            let snapshot = json!({"day": day.to_string(), "score": score, "penalties": 0,
                                  "fetched_at": chrono::Utc::now().to_rfc3339()});
            db.execute(
                "INSERT INTO records (pk, sk, version, data) VALUES (?1, ?2, 1, ?3)",
                (
                    format!("SCORE#{mini}"),
                    day.to_string(),
                    snapshot.to_string(),
                ),
            )
            .expect("a snapshot");
        }
    }

    let browser = Browser::start().await;
    browser.phone().await;
    sign_in(&browser, &server, admin).await;

    // The notice, once the worker has handled it, in words.
    let url = server.url(&format!(
        "/console/violations?account={}",
        provider.account_id
    ));
    reload_until(&browser, &url, "the violation notice", |s| {
        s.contains("R-BROWSER-1")
    })
    .await;
    let entry = browser.text("li.violation").await;
    for words in ["处罚", "涉嫌一元购", "关闭支付权限", SUB, "怎么处理"] {
        assert!(entry.contains(words), "{words}: {entry}");
    }
    fits_the_phone(&browser, "the violations page").await;
    let shot = browser.screenshot("console-violations-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));

    // The score page: today's snapshot joins the two earlier ones on the chart.
    let url = server.url(&format!("/console/accounts/{mini}/score"));
    reload_until(&browser, &url, "today's snapshot", |s| {
        s.matches("<circle class=\"point\"").count() == 3
    })
    .await;
    let points = browser.find_all("svg#score-chart circle.point").await;
    assert_eq!(points.len(), 3);
    let days = browser
        .execute("return Array.from(document.querySelectorAll('svg#score-chart circle.point')).map(c => [c.dataset.day, Number(c.dataset.score)]);")
        .await;
    assert_eq!(
        days,
        json!([
            [(today - chrono::Duration::days(3)).to_string(), 96],
            [(today - chrono::Duration::days(1)).to_string(), 90],
            [today.to_string(), 88]
        ])
    );
    // The chart fits the phone, and the score now is shown.
    let chart_width = browser
        .execute("return document.getElementById('score-chart').getBoundingClientRect().width;")
        .await;
    assert!(
        chart_width
            .as_f64()
            .is_some_and(|w| w > 300.0 && w <= 390.0),
        "{chart_width}"
    );
    assert_eq!(browser.text("#score-now b").await, "88");
    assert!(browser.text("#penalties").await.contains("未及时处理投诉"));
    fits_the_phone(&browser, "the score page").await;
    let shot = browser.screenshot("console-score-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));
}
