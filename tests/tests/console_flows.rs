//! The complaint flows of the console in a real browser: headless Chromium on a 390×844 phone
//! screen, the real `complaint-desk` binary and the WeChat Pay simulator. A complaint pushed
//! through the real callback appears in the inbox; staff open it with one tap, see the buyer's
//! markup as text, reply with an uploaded image, refund part and complete, and the simulator
//! sees each exactly once (a reload after a form does not act again). A viewer sees no action
//! form and its forged POST is refused; so is a POST without the CSRF value.
//!
//! The sub-merchant's automatic handling does nothing (no reply text, no automatic refund), so
//! every write the simulator sees is staff's. Screenshots: `target/screenshots/inbox-phone.png`
//! and `console-complaint-phone.png`. What a browser cannot show (a forged request's status) is checked
//! with reqwest beside it, with the browser's own session cookie.

use e2e_tests::browser::{PHONE, png_size};
use e2e_tests::wechatpay::{PROVIDER, SUB, SimProvider};
use e2e_tests::{Browser, Server};
use sandbox::wechatpay::WechatPaySim;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const ADMIN: &str = "e2e-admin-token-console-flows-0123456789";
/// The session cookie on plain HTTP (the tests' server has no TLS proxy).
const SESSION: &str = "desk_session";
/// What the buyer wrote: markup that must reach the page as text.
const MARKUP: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
/// The simulator's paths of the writes staff cause.
const UPLOAD: &str = "/v3/merchant-service/images/upload";
const RESPONSE: &str = "/response";
const REFUND: &str = "/v3/refund/domestic/refunds";
const COMPLETE: &str = "/complete";
/// How long a poll for a condition outside the browser may take (generous: a busy machine).
const POLL_LIMIT: Duration = Duration::from_secs(30);

/// A 1×1 PNG: the buyer's image on the platform (a real image, so the browser draws it).
const BUYER_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A 2×2 24-bit bitmap (the merchant's evidence), written out by hand.
fn evidence_bmp() -> Vec<u8> {
    let row = [0x00, 0x00, 0xff, 0x00, 0xff, 0x00, 0x00, 0x00]; // red, green, 2 bytes padding
    let pixels = [row, row].concat();
    let size = 54 + pixels.len() as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"BM");
    b.extend_from_slice(&size.to_le_bytes());
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&54u32.to_le_bytes());
    b.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    b.extend_from_slice(&2i32.to_le_bytes());
    b.extend_from_slice(&2i32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&24u16.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&(pixels.len() as u32).to_le_bytes());
    b.extend_from_slice(&2835i32.to_le_bytes());
    b.extend_from_slice(&2835i32.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&pixels);
    b
}

/// The binary, the simulator and one complaint pushed through the real callback and read by
/// the worker.
struct Scenario {
    server: Server,
    sim: WechatPaySim,
    /// Our id of the complaint (`/console/complaints/{cid}`).
    cid: String,
    _dir: tempfile::TempDir,
}

impl Scenario {
    async fn start() -> Scenario {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Server::start(dir.path(), &[("ADMIN_TOKEN", ADMIN)]);
        let provider = SimProvider::create(&server, ADMIN, "Console flows provider").await;
        // No reply text (nor a provider default) and no automatic refund: staff decide.
        provider
            .add_sub(
                &server,
                ADMIN,
                json!({"name": "门店", "auto_refund": false}),
            )
            .await;
        let complaint_id = "200201820261127080000000031";
        let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, BUYER_PNG)
            .expect("png");
        let image_url = provider.sim.add_user_image(png);
        provider.sim.add_complaint_for(
            PROVIDER,
            json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
                   "complaint_detail": MARKUP, "complaint_state": "PENDING", "complainted_mchid": SUB,
                   "complaint_order_info": [{"transaction_id": "4200000000202611270000000031", "out_trade_no": "T31", "amount": 3000}],
                   "complaint_media_list": [{"media_type": "USER_COMPLAINT_IMAGE", "media_url": [image_url]}],
                   "problem_type": "OTHERS", "need_immediate_service": false}),
        );
        provider.push_new(&server, complaint_id).await;
        let sim = provider.sim;
        // The worker has read the complaint's detail (its text) from the platform.
        let start = Instant::now();
        let cid = loop {
            let (_, list) = server
                .admin(ADMIN, reqwest::Method::GET, "/complaints", None)
                .await;
            let read = list["items"]
                .as_array()
                .and_then(|items| items.first())
                .filter(|c| c["description"] == MARKUP)
                .and_then(|c| c["id"].as_str());
            if let Some(id) = read {
                break id.to_string();
            }
            assert!(
                start.elapsed() < POLL_LIMIT,
                "the pushed complaint was not read: {list}\n{}",
                server.output_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        // Nothing automatic: the simulator has seen no write at all.
        assert!(
            sim.writes().is_empty(),
            "the automatic handling acted: {:?}",
            sim.writes()
        );
        Scenario {
            server,
            sim,
            cid,
            _dir: dir,
        }
    }

    fn page(&self) -> String {
        format!("/console/complaints/{}", self.cid)
    }

    /// How many writes to `suffix` the simulator accepted.
    fn writes(&self, suffix: &str) -> usize {
        self.sim.writes_to(suffix).len()
    }

    /// The counts of every write staff can cause: upload, reply, refund, completion.
    fn all_writes(&self) -> [usize; 4] {
        [UPLOAD, RESPONSE, REFUND, COMPLETE].map(|s| self.writes(s))
    }

    /// A new token through the admin API: the bearer token.
    async fn token(&self, role: &str) -> String {
        let body =
            json!({"name": format!("{role} on a phone"), "scope": {"type": "all"}, "role": role});
        let (s, created) = self
            .server
            .admin(ADMIN, reqwest::Method::POST, "/tokens", Some(body))
            .await;
        assert_eq!(s, 201, "{created}");
        created["token"].as_str().expect("token").to_string()
    }
}

/// A phone-sized browser signed in with `token` through the sign-in form, on the inbox.
async fn signed_in_phone(s: &Scenario, token: &str) -> Browser {
    let browser = Browser::start().await;
    browser.phone().await;
    browser.goto(&s.server.url("/console/sign-in")).await;
    browser.fill("#token", token).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_for_path("/console/").await;
    browser
}

/// The page's session cookie and CSRF value (the one every form of the page carries).
async fn session_and_csrf(browser: &Browser) -> (String, String) {
    let session = browser
        .cookie(SESSION)
        .await
        .map(|c| c.value().to_string())
        .unwrap_or_else(|| panic!("no {SESSION} cookie"));
    let csrf = browser
        .execute("return document.querySelector('input[name=csrf]').value;")
        .await;
    let csrf = csrf.as_str().expect("a csrf field").to_string();
    assert!(!csrf.is_empty(), "an empty CSRF value");
    (session, csrf)
}

/// A POST of a refund form to the console as a forger would send it: same cookie, no browser.
/// The status and the page's text.
async fn forged_refund(s: &Scenario, session: &str, csrf: Option<&str>) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new()
        .text("amount_fen", "5.00")
        .text("reason", "forged");
    if let Some(csrf) = csrf {
        form = form.text("csrf", csrf.to_string());
    }
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(s.server.url(&format!("{}/act/refund", s.page())))
        .header("cookie", format!("{SESSION}={session}"))
        .multipart(form)
        .send()
        .await
        .expect("forged POST");
    let status = res.status().as_u16();
    (status, res.text().await.unwrap_or_default())
}

/// Open the action form `name`: a tap on its title (the `<summary>` of its `<details>`).
async fn open_action(browser: &Browser, name: &str) {
    let details = format!("details.action:has(#action-{name})");
    browser.click(&format!("{details} > summary")).await;
    let open = browser
        .execute(&format!("return document.querySelector('{details}').open;"))
        .await;
    if open != Value::Bool(true) {
        browser
            .fail::<()>(&format!("the form {name} did not open"))
            .await;
    }
}

/// Send the open form `name` and wait for the page it returns to, which says it is done.
async fn submit_action(browser: &Browser, s: &Scenario, name: &str) {
    browser
        .click(&format!("#action-{name} button[type=submit]"))
        .await;
    let start = Instant::now();
    loop {
        let url = browser.url().await;
        let done = url.query_pairs().any(|(k, v)| k == "done" && v == name);
        if url.path() == s.page() && done {
            break;
        }
        // A refusal: the page's own error, or the form's at a field or above them.
        let refused = "#error-message, .action-form .error";
        if start.elapsed() > e2e_tests::browser::WAIT_LIMIT || browser.exists(refused).await {
            let error = match browser.exists(refused).await {
                true => browser.text(refused).await,
                false => String::new(),
            };
            browser
                .fail::<()>(&format!("the {name} form did not come back done: {error}"))
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let banner = browser.text("#done").await;
    assert!(!banner.trim().is_empty(), "an empty done banner");
}

/// Reload the page (the browser's redo after a form) and check nothing was sent again.
async fn reload_acts_not(browser: &Browser, s: &Scenario) {
    let before = s.all_writes();
    if let Err(e) = browser.client().refresh().await {
        browser.fail::<()>(&format!("cannot reload: {e}")).await;
    }
    browser.wait_for("#done").await;
    assert_eq!(s.all_writes(), before, "the reload acted again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_reply_with_an_image_refund_part_and_complete_on_a_phone_each_sent_once() {
    let s = Scenario::start().await;
    let browser = signed_in_phone(&s, ADMIN).await;
    assert_eq!(browser.inner_size().await.0, 390, "a phone's width");

    // The inbox lists the pushed complaint; its text is text there too.
    let row = format!("#complaints a[href=\"{}\"]", s.page());
    let start = Instant::now();
    while !browser.exists(&row).await {
        if start.elapsed() > e2e_tests::browser::WAIT_LIMIT {
            browser
                .fail::<()>("the pushed complaint is not in the inbox")
                .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        browser.goto(&s.server.url("/console/")).await;
    }
    let inbox = browser
        .execute(&format!(
            "var a = document.querySelector('{}'); \
             return [a.querySelector('.text').textContent, document.images.length, \
                     document.querySelectorAll('script:not([src^=\"/console/assets/\"])').length];",
            row.replace('\'', "\\'")
        ))
        .await;
    assert_eq!(inbox[0], MARKUP, "the inbox shows the buyer's text as text");
    assert_eq!(inbox[1], 0, "no image on the inbox");
    assert_eq!(inbox[2], 0, "no script but our own assets on the inbox");
    let shot = browser.screenshot("inbox-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE), "{}", shot.display());

    // One tap opens it.
    browser.click(&row).await;
    browser.wait_for_path(&s.page()).await;
    let text = browser
        .execute("return document.getElementById('buyer-text').textContent;")
        .await;
    assert_eq!(text, MARKUP, "the buyer's markup is shown as text");
    let dom = browser
        .execute(
            "return [document.querySelectorAll('img[onerror], [onerror]').length, \
                     Array.from(document.scripts).map(function (s) { return s.getAttribute('src'); }), \
                     Array.from(document.images).map(function (i) { return i.getAttribute('src'); })];",
        )
        .await;
    assert_eq!(dom[0], 0, "no element with an onerror handler");
    let scripts = dom[1].as_array().cloned().unwrap_or_default();
    assert!(
        !scripts.is_empty()
            && scripts.iter().all(|src| src
                .as_str()
                .is_some_and(|s| s.starts_with("/console/assets/"))),
        "no script but our own assets: {scripts:?}"
    );
    assert_eq!(
        dom[2],
        json!([format!("{}/media/0", s.page())]),
        "exactly the buyer's image, through our download route"
    );
    // The buyer's image is drawn: our route served the platform's bytes under the CSP.
    let start = Instant::now();
    while browser
        .execute("var i = document.images[0]; return i.complete && i.naturalWidth > 0;")
        .await
        != Value::Bool(true)
    {
        if start.elapsed() > e2e_tests::browser::WAIT_LIMIT {
            browser.fail::<()>("the buyer's image was not drawn").await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let facts = browser.text("dl.facts").await;
    assert!(facts.contains("30.00"), "the amount in yuan: {facts}");
    let shot = browser.screenshot("console-complaint-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE), "{}", shot.display());

    // Reply with text and an uploaded image.
    let evidence = tempfile::tempdir().expect("temp dir");
    let file = evidence.path().join("receipt.bmp");
    std::fs::write(&file, evidence_bmp()).expect("write the image");
    open_action(&browser, "reply").await;
    browser
        .fill("#action-reply [name=text]", "已为您补发，请查收")
        .await;
    let input = browser
        .wait_for("#action-reply input[type=file][name=images]")
        .await;
    if let Err(e) = input.send_keys(&file.display().to_string()).await {
        browser
            .fail::<()>(&format!("cannot choose the image: {e}"))
            .await;
    }
    submit_action(&browser, &s, "reply").await;
    assert_eq!(s.all_writes(), [1, 1, 0, 0], "one upload, one reply");
    let reply = &s.sim.writes_to(RESPONSE)[0];
    assert_eq!(reply.body["response_content"], "已为您补发，请查收");
    assert_eq!(reply.body["complainted_mchid"], SUB);
    let media_id = reply.body["response_images"][0]
        .as_str()
        .expect("the reply's image");
    assert_eq!(
        s.sim.image(media_id),
        Some(evidence_bmp()),
        "the platform holds the file the browser sent"
    );
    reload_acts_not(&browser, &s).await;

    // Refund part: 12.50 yuan.
    open_action(&browser, "refund").await;
    browser
        .fill("#action-refund [name=amount_fen]", "12.50")
        .await;
    browser
        .fill("#action-refund [name=reason]", "部分退款")
        .await;
    submit_action(&browser, &s, "refund").await;
    assert_eq!(s.all_writes(), [1, 1, 1, 0], "one refund");
    let refund = &s.sim.writes_to(REFUND)[0];
    assert_eq!(refund.body["amount"]["refund"], 1250);
    assert_eq!(refund.body["amount"]["total"], 3000);
    assert_eq!(refund.body["sub_mchid"], SUB);
    reload_acts_not(&browser, &s).await;

    // A POST without the CSRF value, with this session's cookie: refused, nothing sent.
    let (session, _) = session_and_csrf(&browser).await;
    let (status, page) = forged_refund(&s, &session, None).await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("表单已过期"),
        "refused for its CSRF value: {page}"
    );
    assert_eq!(
        s.all_writes(),
        [1, 1, 1, 0],
        "the form without CSRF sent nothing"
    );
    assert_eq!(s.sim.refunds().len(), 1);

    // Complete.
    open_action(&browser, "complete").await;
    submit_action(&browser, &s, "complete").await;
    assert_eq!(s.all_writes(), [1, 1, 1, 1], "one completion");
    reload_acts_not(&browser, &s).await;
    // The page shows the three actions in its log.
    let log = browser
        .execute("return document.querySelectorAll('#action-log li').length;")
        .await;
    assert_eq!(log, 3, "{}", browser.text("#action-log").await);
    let state = s.sim.complaint_state("200201820261127080000000031");
    assert_eq!(
        state.as_ref().map(|c| c["complaint_state"].clone()),
        Some(json!("PROCESSED")),
        "{state:?}"
    );

    // Our record says the same: refunded 12.50, completed, three manual actions.
    let (_, d) = s
        .server
        .admin(
            ADMIN,
            reqwest::Method::GET,
            &format!("/complaints/{}", s.cid),
            None,
        )
        .await;
    assert_eq!(d["complaint"]["refunded_fen"], 1250, "{d}");
    assert_eq!(d["complaint"]["completed"], true, "{d}");
    let manual: Vec<&str> = d["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["outcome"] == "succeeded")
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert_eq!(manual, ["reply", "refund", "complete"], "{d}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_sees_no_action_form_and_its_forged_post_is_refused() {
    let s = Scenario::start().await;
    let viewer = s.token("viewer").await;
    let browser = signed_in_phone(&s, &viewer).await;
    browser.goto(&s.server.url(&s.page())).await;
    browser.wait_for("#actions").await;
    assert!(
        browser.exists("#no-actions").await,
        "a viewer is not told it cannot act"
    );
    assert!(
        !browser.exists("form[action*=\"/act/\"]").await,
        "a viewer is offered an action form"
    );
    assert!(!browser.exists("details.action").await);

    // The viewer's own session and CSRF value, sent by hand: refused by role, nothing sent.
    let (session, csrf) = session_and_csrf(&browser).await;
    let (status, page) = forged_refund(&s, &session, Some(&csrf)).await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("viewer") && !page.contains("表单已过期"),
        "refused for its role, not its CSRF value: {page}"
    );
    assert_eq!(
        s.all_writes(),
        [0, 0, 0, 0],
        "the viewer's POST sent nothing"
    );
    assert!(s.sim.refunds().is_empty());
    let (_, d) = s
        .server
        .admin(
            ADMIN,
            reqwest::Method::GET,
            &format!("/complaints/{}", s.cid),
            None,
        )
        .await;
    assert_eq!(d["complaint"]["refunded_fen"], 0, "{d}");
    assert!(
        d["actions"]
            .as_array()
            .is_none_or(|a| a.iter().all(|a| a["action"] != "refund")),
        "{d}"
    );
}
