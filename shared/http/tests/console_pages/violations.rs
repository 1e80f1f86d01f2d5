//! The violations page and a mini program's trade-score page, over the in-process router with
//! records made by the real paths: WeChat Pay violation notices pushed to the callback route
//! and handled by the worker; a mini program's violation records and score read from the
//! WeChat simulator; the score's daily snapshots taken by the account's daily pass.

use super::common::console::{get, session};
use super::common::*;
use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use desk_core::deadlines::daily::daily_pass;
use desk_core::repo::AccountRepo;
use desk_core::worker::CancellationToken;
use domain::clock::{Clock, ManualClock};
use domain::job::queues;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use sandbox::wxapi::{SimMini, WechatSim};
use serde_json::json;
use std::sync::Arc;

const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const APPID: &str = "wxscore00000000001";
const SECRET: &str = "mini-secret-0123456789abcdef0123";

/// A provider in public-key mode whose pushes `sim` signs; our id of it.
async fn provider(h: &Harness, sim: &WechatPaySim) -> String {
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: SERIAL.into(),
        public_key: rsa_key().to_public_key(),
        apiv3_key: APIV3.into(),
    });
    let mut body = provider_body(PROVIDER);
    body["settings"]["api_base_url"] = json!(sim.base_url());
    body["credentials"] = json!({"private_key": private_pem(rsa_key()), "apiv3_key": APIV3,
        "wechatpay_public_key": sim.keys().public_key_pem(),
        "wechatpay_public_key_id": sim.keys().pub_key_id});
    let id = h.create(body).await;
    let (s, b) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{id}/sub-merchants"),
            Some(json!({"sub_mchid": SUB, "name": "门店"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    id
}

/// Push a violation notice through the callback route: accepted (204).
async fn push_violation(h: &Harness, sim: &WechatPaySim, event: &str, resource: serde_json::Value) {
    let n = sim.notification(APIV3, event, "violation", &resource, KeyMode::PublicKey, 0);
    let (status, body) = h
        .post_with_headers(
            &format!("/callbacks/wechatpay/{PROVIDER}/violations"),
            &n.headers,
            n.body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
}

/// Wait (up to 10 s) until the admin API lists `n` violations of the account.
async fn wait_for_violations(h: &Harness, account_id: &str, n: usize) {
    let path = format!("/admin/v1/violations?account={account_id}");
    for _ in 0..100 {
        let (_, listed) = h.admin(Method::GET, &path, None).await;
        if listed["items"].as_array().map(Vec::len) == Some(n) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{n} violations were not recorded");
}

/// A token with `role` and `scope`, signed in: its session cookie.
async fn signed_in(h: &Harness, role: &str, scope: serde_json::Value) -> String {
    let (status, token) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": role, "role": role, "scope": scope})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    session(h, token["token"].as_str().expect("token")).await
}

/// The `<li class="card violation" ...>` entries of a page.
fn entries(body: &str) -> Vec<&str> {
    body.split("<li class=\"card violation\"").skip(1).collect()
}

#[tokio::test]
async fn violation_notices_show_in_words_newest_first_within_the_callers_scope() {
    let h = harness();
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let provider_id = provider(&h, &sim).await;
    let stop = CancellationToken::new();
    spawn_worker(&h, queues::EVENTS, &stop);
    push_violation(
        &h,
        &sim,
        "VIOLATION.PUNISH",
        json!({"sub_mchid": SUB, "company_name": "某某科技有限公司", "record_id": "R-PUNISH-1",
               "punish_plan": "关闭支付权限", "punish_time": "2026-11-22T10:00:00+08:00",
               "punish_description": "<img src=x onerror=alert(1)>利用特殊行业违规经营",
               "risk_type": "ONE_YUAN_PURCHASES", "risk_description": "涉嫌一元购"}),
    )
    .await;
    // Handled in order: the interception is received after the penalty.
    wait_for_violations(&h, &provider_id, 1).await;
    push_violation(
        &h,
        &sim,
        "VIOLATION.INTERCEPT",
        json!({"sub_mchid": SUB, "record_id": "R-INTERCEPT-1", "punish_plan": "拦截交易",
               "punish_time": "2026-11-23T10:00:00+08:00", "punish_description": "拦截订单超过10笔",
               "risk_type": "UNUSUAL_TRANSACTION", "risk_description": "交易异常"}),
    )
    .await;
    wait_for_violations(&h, &provider_id, 2).await;

    // A viewer of every account: the provider is shown by default, newest first, in words.
    let viewer = signed_in(&h, "viewer", json!({"type": "all"})).await;
    let page = get(&h, "/console/violations", &viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let shown = entries(&page.body);
    assert_eq!(shown.len(), 2, "{}", page.body);
    assert!(
        shown[0].contains("R-INTERCEPT-1") && shown[0].contains("交易拦截"),
        "{}",
        shown[0]
    );
    assert!(shown[1].contains("R-PUNISH-1"), "{}", shown[1]);
    let punish = shown[1];
    for words in [
        "处罚",
        "涉嫌一元购",
        "关闭支付权限",
        SUB,
        "某某科技有限公司",
        "2026-11-22 10:00",
        "怎么处理",
        "没有公布申诉期限",
    ] {
        assert!(punish.contains(words), "{words}: {punish}");
    }
    // The platform's markup is text.
    assert!(
        punish.contains("&#60;img src=x onerror=alert(1)&#62;"),
        "{punish}"
    );
    assert!(!page.body.contains("<img src=x"), "{}", page.body);
    // In English too.
    let en = get(&h, "/console/violations?lang=en", &viewer).await;
    assert!(
        en.body.contains("Payments intercepted") && en.body.contains("What to do"),
        "{}",
        en.body
    );

    // The kind filter and the sub-merchant filter.
    let only = get(
        &h,
        &format!("/console/violations?account={provider_id}&kind=VIOLATION.PUNISH"),
        &viewer,
    )
    .await;
    let shown = entries(&only.body);
    assert_eq!(shown.len(), 1, "{}", only.body);
    assert!(shown[0].contains("R-PUNISH-1"));
    let other_sub = get(
        &h,
        &format!("/console/violations?account={provider_id}&sub_mchid=1900000999"),
        &viewer,
    )
    .await;
    assert!(
        entries(&other_sub.body).is_empty() && other_sub.body.contains("id=\"no-violations\""),
        "{}",
        other_sub.body
    );
    // A filter that is no id is refused in words.
    let bad = get(&h, "/console/violations?account=%3Cscript%3E", &viewer).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    // A sub-merchant filter that is no id is said above the list, the filters kept.
    let bad = get(
        &h,
        &format!(
            "/console/violations?account={provider_id}&sub_mchid=19%3Cb%3E&kind=VIOLATION.PUNISH"
        ),
        &viewer,
    )
    .await;
    assert_eq!(bad.status, StatusCode::OK, "{}", bad.body);
    assert!(
        bad.body.contains("id=\"violations-failed\""),
        "{}",
        bad.body
    );
    assert!(bad.body.contains("子商户号有误"), "{}", bad.body);
    assert!(
        bad.body.contains("value=\"19&#60;b&#62;\""),
        "the typed filter kept, as text: {}",
        bad.body
    );
    assert!(entries(&bad.body).is_empty(), "{}", bad.body);

    // A token scoped to another account sees none of them, even when it names the provider;
    // one scoped to the sub-merchant sees its own.
    let other = h.create(provider_body("1900000110")).await;
    let scoped = signed_in(
        &h,
        "viewer",
        json!({"type": "account", "account_id": other}),
    )
    .await;
    for path in [
        "/console/violations".to_string(),
        format!("/console/violations?account={provider_id}"),
    ] {
        let page = get(&h, &path, &scoped).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(entries(&page.body).is_empty(), "{path}: {}", page.body);
        assert!(!page.body.contains("R-PUNISH-1"), "{path}");
    }
    let sub = signed_in(
        &h,
        "viewer",
        json!({"type": "sub_merchant", "account_id": provider_id, "sub_mchid": SUB}),
    )
    .await;
    let page = get(&h, "/console/violations", &sub).await;
    assert_eq!(entries(&page.body).len(), 2, "{}", page.body);
    stop.cancel();
}

/// Beijing wall time as an instant.
fn bj(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("time")
        - Duration::hours(8)
}

/// A `name="..."` attribute of a tag.
fn attr<'a>(tag: &'a str, name: &str) -> &'a str {
    let start = tag
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("{name} in {tag}"))
        + name.len()
        + 3;
    &tag[start..start + tag[start..].find('"').expect("end")]
}

#[tokio::test]
async fn the_score_page_charts_the_daily_snapshots_and_lists_the_penalties() {
    let clock = Arc::new(ManualClock::new(bj(2026, 11, 20, 9, 30)));
    let c = clock.clone();
    let h = harness_over(None, move |p| desk_core::Ports { clock: c, ..p });
    let wx = WechatSim::start().await.expect("wechat sim");
    wx.add_mini(SimMini {
        appid: APPID.into(),
        secret: SECRET.into(),
        nick_name: "小程序".into(),
        push: None,
    });
    let mini = h
        .create(json!({"kind": "wxmini_app", "name": "积分小程序", "settings": {
            "appid": APPID, "mode": "manual", "api_base_url": wx.base_url()},
            "credentials": {"secret": SECRET, "token": "miniToken123", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}))
        .await;
    let account = AccountRepo::new(&*h.state.ports.records)
        .get(&mini)
        .await
        .expect("read")
        .expect("account")
        .0;
    // Three days' passes (a day missed between the second and third), each after 09:00.
    for (day, score) in [(20, 92), (21, 80), (23, 95)] {
        wx.set_penalties(APPID, score, vec![]);
        clock.set(bj(2026, 11, day, 9, 30));
        daily_pass(&h.state, h.state.platforms(), &account, clock.now())
            .await
            .expect("daily pass");
    }
    wx.set_penalties(
        APPID,
        95,
        vec![json!({"illegalOrderId": "IL1", "complaintOrderId": "840001", "illegalWording": "<b>未及时处理投诉</b>",
                    "status": 4, "minusScore": 8, "illegalTime": 1_763_600_000})],
    );
    let viewer = signed_in(&h, "viewer", json!({"type": "all"})).await;
    let page = get(&h, &format!("/console/accounts/{mini}/score"), &viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let body = &page.body;
    // The chart: one point per snapshot, oldest first, left to right by day (the missed day
    // is a gap), a lower score lower down; the line runs through them.
    let svg = &body[body.find("<svg").expect("a chart")..body.find("</svg>").expect("end")];
    assert!(
        svg.contains("role=\"img\"") && svg.contains("<title") && svg.contains("aria-label=\""),
        "{svg}"
    );
    assert!(!svg.contains("style="), "{svg}");
    let circles: Vec<&str> = svg.split("<circle").skip(1).collect();
    let days: Vec<&str> = circles.iter().map(|c| attr(c, "data-day")).collect();
    assert_eq!(days, ["2026-11-20", "2026-11-21", "2026-11-23"]);
    let xs: Vec<f64> = circles
        .iter()
        .map(|c| attr(c, "cx").parse().expect("cx"))
        .collect();
    let ys: Vec<f64> = circles
        .iter()
        .map(|c| attr(c, "cy").parse().expect("cy"))
        .collect();
    assert!(xs[0] < xs[1] && xs[1] < xs[2], "{xs:?}");
    // The range is the last 30 days: one day apart, then two.
    let step = xs[1] - xs[0];
    assert!(((xs[2] - xs[1]) - 2.0 * step).abs() < 0.2, "{xs:?}");
    assert!(xs[2] > 300.0, "today is at the right end: {xs:?}");
    assert!(
        ys[1] > ys[0] && ys[0] > ys[2],
        "80 lowest, 95 highest: {ys:?}"
    );
    let line = attr(svg.split("<polyline").nth(1).expect("a line"), "points");
    let through: Vec<String> = circles
        .iter()
        .map(|c| format!("{},{}", attr(c, "cx"), attr(c, "cy")))
        .collect();
    assert_eq!(line, through.join(" "));
    // The latest value and the lowest are written on it; the values are in a table too.
    assert!(
        svg.contains(">95</text>") && svg.contains("80</text>"),
        "{svg}"
    );
    assert!(
        body.contains("id=\"score-values\"") && body.contains("<td>2026-11-21</td><td>80</td>"),
        "{body}"
    );
    // The score now and the penalty, the platform's markup as text.
    assert!(body.contains("id=\"score-now\"><b>95</b>"), "{body}");
    assert!(
        body.contains("&#60;b&#62;未及时处理投诉&#60;/b&#62;") && !body.contains("<b>未及时"),
        "{body}"
    );
    assert!(
        body.contains("申诉中") && body.contains("-8") && body.contains("840001"),
        "{body}"
    );

    // A mini program without snapshots: when the first comes, in words.
    let fresh = h
        .create(json!({"kind": "wxmini_app", "name": "新小程序", "settings": {
            "appid": "wxscore00000000002", "mode": "manual", "api_base_url": wx.base_url()},
            "credentials": {"secret": SECRET, "token": "miniToken123", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}}))
        .await;
    clock.set(bj(2026, 11, 24, 8, 0));
    let page = get(&h, &format!("/console/accounts/{fresh}/score"), &viewer).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("id=\"no-snapshots\"") && page.body.contains("今天 09:00 之后"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("<svg"));

    // Not a mini program: 404 in words. Another account's token: 404 too.
    let shop = h.create(provider_body("1900000111")).await;
    let page = get(&h, &format!("/console/accounts/{shop}/score"), &viewer).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(page.body.contains("只有微信小程序账户有"), "{}", page.body);
    let scoped = signed_in(&h, "viewer", json!({"type": "account", "account_id": shop})).await;
    let page = get(&h, &format!("/console/accounts/{mini}/score"), &scoped).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
    assert!(!page.body.contains("积分小程序"));

    // The mini program's violation records, read from WeChat, link to this page.
    wx.add_illegal_record(
        APPID,
        json!({"illegal_record_id": "ILR_1", "create_time": clock_now(&clock) - 86_400, "illegal_reason": "虚假宣传",
               "illegal_content": "商品描述不实", "rule_url": "https://developers.weixin.qq.com/rule", "rule_name": "交易规则"}),
    );
    wx.add_appeal_record("ILR_1", json!({"appeal_record_id": 7, "appeal_time": clock_now(&clock), "appeal_count": 1, "appeal_from": 0, "appeal_status": 1}));
    let page = get(&h, &format!("/console/violations?account={mini}"), &viewer).await;
    let shown = entries(&page.body);
    assert_eq!(shown.len(), 1, "{}", page.body);
    for words in [
        "小程序违规记录",
        "虚假宣传",
        "申诉处理中",
        "href=\"https://developers.weixin.qq.com/rule\"",
        &format!("href=\"/console/accounts/{mini}/score\""),
    ] {
        assert!(shown[0].contains(words), "{words}: {}", shown[0]);
    }
}

fn clock_now(clock: &ManualClock) -> i64 {
    clock.now().timestamp()
}
