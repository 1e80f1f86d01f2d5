//! Staff notifications in a real browser on a 390×844 phone: an administrator turns e-mail on
//! and adds a WeCom bot in the settings form (the template message and SMS were set through
//! the API; their secrets are kept by saving with empty inputs), sends a test notice, and the
//! results page shows every channel delivered while the SMTP sink and the notification-services
//! simulator each got the message once. A sub-merchant whose bot webhook is wrong gets a red
//! result saying why. No page scrolls sideways. Screenshots: `console-notifications-phone`
//! (the form) and `console-test-notice-phone` (the results).

use e2e_tests::wechatpay::{SUB, SimProvider};
use e2e_tests::{Browser, Server, workspace_root};
use sandbox::notify::NotifySim;
use serde_json::{Value, json};
use std::io::BufRead;

const ADMIN: &str = "e2e-admin-token-console-notifications-0123";
const OA_APPID: &str = "wx1234567890abcdef";
const OA_SECRET: &str = "oa-secret-0123456789abcdef01234567";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const SMS_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const SMS_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";

/// The SMTP sink (`scripts/smtp_sink.py`) with a plain relay (no TLS, no AUTH) on `port`;
/// stopped when dropped.
struct Relay {
    child: std::process::Child,
    dir: tempfile::TempDir,
    port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Relay {
    fn start() -> Relay {
        let dir = tempfile::tempdir().expect("dir");
        let root = workspace_root();
        let port = free_port();
        let mut child = std::process::Command::new(root.join(".venv-test/bin/python"))
            .arg(root.join("scripts/smtp_sink.py"))
            .arg(dir.path())
            .args(["desk@example.com", "unused-auth-code-0123"])
            .args([free_port().to_string(), free_port().to_string()])
            .arg(std::process::id().to_string())
            .arg(port.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the SMTP sink (.venv-test)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("SMTP sink output");
        assert!(line.contains("ca_pem"), "SMTP sink did not start: {line}");
        Relay { child, dir, port }
    }

    /// The subjects (decoded) of the messages to `to`. Other notices may reach the same
    /// staff while the test runs (the day's digest, a reconciliation alert): the test counts
    /// the test notices among them.
    fn subjects(&self, to: &str) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.dir.path().join("mail")) else {
            return Vec::new();
        };
        dir.filter_map(Result::ok)
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .filter(|m| m.lines().any(|l| l == format!("X-Envelope-To: {to}")))
            .map(|m| subject_of(&m))
            .collect()
    }

    /// How many test notices reached `to`.
    fn test_notices(&self, to: &str) -> usize {
        let subjects = self.subjects(to);
        let n = subjects.iter().filter(|s| s.contains("测试通知")).count();
        if n != 1 {
            eprintln!("e-mail to {to}: {subjects:?}");
        }
        n
    }
}

/// A message's `Subject`, unfolded, its RFC 2047 encoded-words (`=?utf-8?b?...?=`) decoded.
fn subject_of(message: &str) -> String {
    use base64::Engine;
    let headers = message.split("\r\n\r\n").next().unwrap_or_default();
    let mut subject = String::new();
    let mut inside = false;
    for line in headers.lines() {
        if let Some(rest) = line.strip_prefix("Subject:") {
            subject.push_str(rest.trim());
            inside = true;
        } else if inside && line.starts_with([' ', '\t']) {
            subject.push(' ');
            subject.push_str(line.trim());
        } else {
            inside = false;
        }
    }
    // Adjacent encoded-words join without the space between them, and a character may be
    // split between two of them: decode to bytes first.
    let mut bytes = Vec::new();
    for word in subject.split(' ') {
        let encoded = word
            .to_ascii_lowercase()
            .starts_with("=?utf-8?b?")
            .then(|| word.strip_suffix("?="))
            .flatten()
            .and_then(|w| {
                base64::engine::general_purpose::STANDARD
                    .decode(&w["=?utf-8?b?".len()..])
                    .ok()
            });
        match encoded {
            Some(decoded) => bytes.extend(decoded),
            None => bytes.extend(word.as_bytes()),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn no_sideways_scroll(browser: &Browser, what: &str) {
    let width = browser
        .execute("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        width.as_u64().is_some_and(|w| w <= 390),
        "{what} scrolls sideways: {width}"
    );
}

async fn set_select(browser: &Browser, id: &str, value: &str) {
    browser
        .execute(&format!(
            "document.getElementById('{id}').value = '{value}'; return true;"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_sets_up_notices_on_a_phone_and_a_test_notice_reaches_every_channel() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("ADMIN_TOKEN", ADMIN)]);
    let provider = SimProvider::create(&server, ADMIN, "通知测试服务商").await;
    provider
        .add_sub(&server, ADMIN, json!({"name": "门店"}))
        .await;
    let id = provider.account_id.clone();
    // No daily digest for this account: the day's digest (past 09:00 Beijing time, on the
    // binary's next deadline sweep) would reach the same staff on three of the channels while
    // the test counts what each received.
    let (s, b) = server
        .admin(
            ADMIN,
            reqwest::Method::PATCH,
            &format!("/accounts/{id}"),
            Some(json!({"settings": {"deadlines": {"digest": {"enabled": false}}}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let ns = NotifySim::start().await.expect("notify sim");
    ns.add_oa_app(OA_APPID, OA_SECRET, "TPL-complaint");
    ns.add_sms_key(SMS_ID, SMS_KEY);
    ns.add_sms_template("449740", 3);
    let relay = Relay::start();
    let wecom = ns.add_bot("wecom", "wecom-token-e2e", None);
    let (s, b) = server
        .admin(
            ADMIN,
            reqwest::Method::PUT,
            &format!("/accounts/{id}/notifications"),
            Some(json!({
                "oa_template": {"appid": OA_APPID, "template_id": "TPL-complaint", "openids": [OPENID],
                                "field_mapping": {"thing1": "merchant", "character_string2": "complaint_id"},
                                "api_base_url": ns.base_url(), "secret": OA_SECRET},
                "sms": {"secret_id": SMS_ID, "sdk_app_id": "1400006666", "sign_name": "投诉台",
                        "template_id": "449740", "phone_numbers": ["+8613711112222"],
                        "api_base_url": ns.sms_url(), "secret_key": SMS_KEY}
            })),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    let browser = Browser::start().await;
    browser.phone().await;
    browser.goto(&server.url("/console/sign-in")).await;
    browser.fill("#token", ADMIN).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_for_path("/console/").await;

    // Settings → staff notifications → the account.
    browser.goto(&server.url("/console/settings")).await;
    browser.click("#settings-notifications").await;
    browser.wait_for_path("/console/notifications").await;
    no_sideways_scroll(&browser, "the notifications list").await;
    let page = format!("/console/accounts/{id}/notifications");
    browser.click(&format!("a[href='{page}']")).await;
    browser.wait_for_path(&page).await;
    assert!(browser.source().await.contains("授权码"), "help text");

    // Turn e-mail on, add a bot; the saved secrets stay (their inputs are empty).
    browser.click("#email_on").await;
    browser.fill("#email_host", "127.0.0.1").await;
    browser.fill("#email_port", &relay.port.to_string()).await;
    set_select(&browser, "email_tls", "none").await;
    browser.fill("#email_sender", "desk@example.com").await;
    browser.fill("#email_recipients", "owner@example.com").await;
    browser.fill("#bot_id_0", "ops").await;
    set_select(&browser, "bot_kind_0", "wecom").await;
    browser.fill("#bot_webhook_url_0", &wecom).await;
    no_sideways_scroll(&browser, "the settings form").await;
    browser.screenshot("console-notifications-phone").await;
    browser.click("#save").await;
    browser.wait_for("#saved").await;
    let source = browser.source().await;
    for secret in [OA_SECRET, SMS_KEY, "wecom-token-e2e"] {
        assert!(!source.contains(secret), "a secret in the page");
    }
    let (_, saved) = server
        .admin(
            ADMIN,
            reqwest::Method::GET,
            &format!("/accounts/{id}/notifications"),
            None,
        )
        .await;
    assert_eq!(saved["oa_template"]["secret"]["set"], true, "{saved}");
    assert_eq!(saved["sms"]["secret_key"]["set"], true, "{saved}");
    assert_eq!(saved["bots"][0]["id"], "ops", "{saved}");

    // Send a test notice: every channel delivered, once each.
    browser.click("#send-test").await;
    browser.wait_for("#all-delivered").await;
    no_sideways_scroll(&browser, "the results").await;
    browser.screenshot("console-test-notice-phone").await;
    assert_eq!(browser.find_all(".test-result.delivered").await.len(), 4);
    assert_eq!(relay.test_notices("owner@example.com"), 1, "one e-mail");
    assert_eq!(ns.template_messages().len(), 1);
    assert_eq!(ns.sms_sent().len(), 1);
    assert_eq!(ns.bot_messages().len(), 1);
    // Reloading the results page sends nothing again.
    browser.goto(browser.url().await.as_str()).await;
    browser.wait_for("#all-delivered").await;
    assert_eq!(ns.bot_messages().len(), 1);

    // The sub-merchant's bot has a webhook nobody issued: red, and why.
    let wrong = format!("http://{}/wecom/send?key=not-issued", ns.addr);
    let (s, b): (u16, Value) = server
        .admin(
            ADMIN,
            reqwest::Method::PUT,
            &format!("/accounts/{id}/sub-merchants/{SUB}/notifications"),
            Some(json!({"bots": [{"id": "shop", "kind": "wecom", "webhook_url": wrong}]})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    browser.goto(&server.url("/console/notifications")).await;
    let sub_page = format!("/console/accounts/{id}/sub-merchants/{SUB}/notifications");
    browser.click(&format!("a[href='{sub_page}']")).await;
    browser.wait_for_path(&sub_page).await;
    browser.click("#send-test").await;
    browser.wait_for("#some-failed").await;
    let reason = browser.text(".test-result.failed .reason").await;
    assert!(
        reason.contains("企业微信机器人的 webhook 地址无效"),
        "{reason}"
    );
    assert!(
        !browser.source().await.contains("not-issued"),
        "the webhook key shown"
    );
}
