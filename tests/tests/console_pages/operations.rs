//! The tokens and operations pages on a 390×844 phone, against the real binary and the
//! WeChat Pay simulator: a push of a complaint the platform does not know yet is dead-lettered
//! by the binary's worker with the platform's answer as its reason; once the platform knows
//! it, a tap on "replay" runs it again (once) and the complaint is read; its staff notice to a
//! mail server that is down shows in the delivery log, which the filters narrow; the dashboard
//! counts the complaint; a token is made and shown once, then revoked.

use super::fits_the_phone;
use e2e_tests::wechatpay::{PROVIDER, SUB, SimProvider};
use e2e_tests::{Browser, Server};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ADMIN: &str = "ops-admin-token-0123456789abcdefghij";
const COMPLAINT: &str = "200201820261127080000000091";
const LIMIT: Duration = Duration::from_secs(30);

/// Poll `get` until it gives something (30 s at most).
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    server: &Server,
    get: impl Fn() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = get().await {
            return v;
        }
        assert!(
            start.elapsed() < LIMIT,
            "timed out waiting for {what}\n{}",
            server.output_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Choose `value` in the select `css` (what a tap on an option does).
async fn choose(browser: &Browser, css: &str, value: &str) {
    browser.wait_for(css).await;
    browser
        .execute(&format!(
            "document.querySelector('{css}').value = '{value}'; return true;"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_replay_a_dead_letter_filter_the_delivery_log_and_make_and_revoke_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(&dir.path().join("data"), &[("ADMIN_TOKEN", ADMIN)]);
    let provider = SimProvider::create(&server, ADMIN, "Ops provider").await;
    provider
        .add_sub(
            &server,
            ADMIN,
            json!({"name": "门店", "auto_refund": false}),
        )
        .await;
    // The provider's staff hear by e-mail, from a mail server that is down.
    // Port 1 (tcpmux): nothing here listens there, and no test's server can be given it (a
    // port that was free a moment ago may be another test's SMTP sink by now).
    let closed: u16 = 1;
    let (s, b) = server
        .admin(
            ADMIN,
            reqwest::Method::PUT,
            &format!("/accounts/{}/notifications", provider.account_id),
            Some(
                json!({"email": {"host": "127.0.0.1", "port": closed, "tls": "none",
                "sender": "desk@example.com", "recipients": ["ops@example.com"],
                "auth_code": "auth-code-0123456789"}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    // A push of a complaint the platform does not know (yet): the worker's read of it is
    // refused, for good, so the job is dead-lettered with the platform's answer.
    provider.push_new(&server, COMPLAINT).await;
    let letter: Value = until("the dead letter", &server, || async {
        let (_, page) = server
            .admin(
                ADMIN,
                reqwest::Method::GET,
                "/dead-letters?queue=events",
                None,
            )
            .await;
        page["items"].as_array().and_then(|i| i.first().cloned())
    })
    .await;
    let reason = letter["reason"].as_str().expect("reason").to_string();

    let browser = Browser::start().await;
    browser.phone().await;
    browser.goto(&server.url("/console/sign-in?lang=en")).await;
    browser.fill("#token", ADMIN).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_for_path("/console/").await;

    browser.goto(&server.url("/console/dead-letters")).await;
    let row = browser.text("li.dead-letter").await;
    assert!(row.contains("WeChat Pay complaint push"), "{row}");
    assert!(row.contains("Ops provider"), "{row}");
    assert!(row.contains(reason.trim()), "the reason {reason}: {row}");
    fits_the_phone(&browser, "dead letters").await;
    // The docs' screenshots are of the console as its users see it: in Chinese.
    browser
        .goto(&server.url("/console/dead-letters?lang=zh"))
        .await;
    browser.screenshot("console-dead-letters-phone").await;
    browser
        .goto(&server.url("/console/dead-letters?lang=en"))
        .await;

    // The platform knows the complaint now: replay, and the worker reads it.
    provider.sim.add_complaint_for(
        PROVIDER,
        json!({"complaint_id": COMPLAINT, "complaint_time": chrono::Utc::now().to_rfc3339(),
               "complaint_detail": "没收到货", "complaint_state": "PENDING", "complainted_mchid": SUB,
               "complaint_order_info": [{"transaction_id": "4200000000202611270000000091", "out_trade_no": "T91", "amount": 900}],
               "problem_type": "OTHERS", "need_immediate_service": false}),
    );
    browser.click("form.replay button[type=submit]").await;
    browser.wait_for("#replayed").await;
    assert!(browser.exists("#no-dead-letters").await, "it left the list");
    let cid: String = until("the replayed complaint to be read", &server, || async {
        let (_, list) = server
            .admin(ADMIN, reqwest::Method::GET, "/complaints", None)
            .await;
        list["items"]
            .as_array()
            .and_then(|i| i.iter().find(|c| c["platform_complaint_id"] == COMPLAINT))
            .and_then(|c| c["id"].as_str().map(String::from))
    })
    .await;
    let (_, dead) = server
        .admin(
            ADMIN,
            reqwest::Method::GET,
            "/dead-letters?queue=events",
            None,
        )
        .await;
    assert_eq!(
        dead["items"].as_array().map(Vec::len),
        Some(0),
        "replayed once: {dead}"
    );

    // The delivery log: the notice's e-mail, not delivered; the filters narrow it.
    until("the notice's delivery", &server, || async {
        let (_, list) = server
            .admin(
                ADMIN,
                reqwest::Method::GET,
                &format!("/deliveries?complaint={cid}"),
                None,
            )
            .await;
        list["items"]
            .as_array()
            .filter(|i| !i.is_empty())
            .map(|_| ())
    })
    .await;
    browser.goto(&server.url("/console/deliveries")).await;
    let row = browser.text("li.delivery").await;
    assert!(row.contains("e-mail"), "{row}");
    assert!(row.contains("ops@example.com"), "{row}");
    fits_the_phone(&browser, "the delivery log").await;
    browser
        .goto(&server.url("/console/deliveries?lang=zh"))
        .await;
    browser.screenshot("console-deliveries-phone").await;
    browser
        .goto(&server.url("/console/deliveries?lang=en"))
        .await;
    browser.click("details.filters summary").await;
    choose(&browser, "#filter-status", "sent").await;
    browser.click("#filters button[type=submit]").await;
    browser.wait_for("#no-deliveries").await;
    // A filtered list keeps its filters open.
    assert!(browser.exists("details.filters[open]").await);
    choose(&browser, "#filter-status", "").await;
    choose(&browser, "#filter-channel", "email").await;
    browser.fill("#filter-complaint", &cid).await;
    browser.click("#filters button[type=submit]").await;
    browser.wait_for("li.delivery").await;
    let url = browser.url().await;
    assert!(
        url.query().is_some_and(|q| q.contains("channel=email")),
        "{url}"
    );
    browser
        .click(&format!("li.delivery a[href='/console/complaints/{cid}']"))
        .await;
    browser
        .wait_for_path(&format!("/console/complaints/{cid}"))
        .await;

    // The dashboard, from the nav: the complaint that flowed is today's one bar.
    browser.goto(&server.url("/console/?lang=zh")).await;
    browser.click("#nav-dashboard").await;
    browser.wait_for_path("/console/dashboard").await;
    assert_eq!(browser.text("#received-total").await.trim(), "1");
    assert_eq!(
        browser.find_all("svg#received-chart rect.bar").await.len(),
        1
    );
    fits_the_phone(&browser, "the dashboard").await;
    browser.screenshot("console-dashboard-phone").await;

    // A token, made and shown once (in Chinese from here on: the screenshot's language).
    browser.goto(&server.url("/console/tokens?lang=zh")).await;
    browser.fill("#token-name", "Phone token").await;
    choose(&browser, "#token-role", "agent").await;
    choose(&browser, "#token-expires", "30").await;
    browser.click("#create-token button[type=submit]").await;
    browser.wait_for("#created-token").await;
    let token = browser
        .execute("return document.querySelector('#new-token').value;")
        .await
        .as_str()
        .expect("the token")
        .to_string();
    let (s, _) = server
        .admin(&token, reqwest::Method::GET, "/complaints", None)
        .await;
    assert_eq!(s, 200, "the new token works");
    browser.click("#copy-token").await;
    fits_the_phone(&browser, "tokens").await;
    browser.screenshot("console-tokens-phone").await;
    // Back from the answer, or to the list: the token is not there.
    browser.goto(&server.url("/console/tokens")).await;
    assert!(!browser.source().await.contains(&token));
    if browser.client().back().await.is_ok() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!browser.source().await.contains(&token), "shown once");
    }

    // Revoked, after the confirmation step.
    let (_, tokens) = server
        .admin(ADMIN, reqwest::Method::GET, "/tokens", None)
        .await;
    let id = tokens["items"]
        .as_array()
        .and_then(|i| i.iter().find(|t| t["name"] == "Phone token"))
        .and_then(|t| t["id"].as_str())
        .expect("the new token listed")
        .to_string();
    browser.goto(&server.url("/console/tokens")).await;
    browser.click(&format!("#revoke-{id}")).await;
    browser.wait_for("#revoke-form").await;
    fits_the_phone(&browser, "the revoke step").await;
    browser.click("#revoke-form button[type=submit]").await;
    browser.wait_for("#revoked").await;
    let (s, _) = server
        .admin(&token, reqwest::Method::GET, "/complaints", None)
        .await;
    assert_eq!(s, 401, "the revoked token no longer works");
    assert!(!browser.exists(&format!("#token-{id}")).await);
}
