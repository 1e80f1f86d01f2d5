//! Staff notifications in the console and "send a test notice": saving keeps the secrets it
//! was not given; a test notice goes through every configured channel with the real senders
//! (the SMTP sink, the notification-services simulator) and says per channel why it failed,
//! in words; at most one per audience per 30 s; acts once on a double tap; administrators only;
//! a scoped token reaches only its audience.

use super::common::console::{Page, get, post_form, send, session};
use super::common::{self, ADMIN, Harness, SMTP_PASSWORD, SMTP_USER, SmtpSink, free_port};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use sandbox::notify::NotifySim;
use serde_json::{Value, json};

const OA_APPID: &str = "wx1234567890abcdef";
const OA_SECRET: &str = "oa-secret-0123456789abcdef01234567";
const OPENID: &str = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o";
const SMS_ID: &str = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE";
const SMS_KEY: &str = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE";
const SMS_TEMPLATE: &str = "449740";

struct Env {
    h: Harness,
    account: String,
    ns: NotifySim,
    sink: SmtpSink,
    _dir: tempfile::TempDir,
}

async fn env() -> Env {
    let h = common::harness();
    let account = h.create(common::provider_body("1900000109")).await;
    let ns = NotifySim::start().await.expect("notify sim");
    ns.add_oa_app(OA_APPID, OA_SECRET, "TPL-complaint");
    ns.add_sms_key(SMS_ID, SMS_KEY);
    ns.add_sms_template(SMS_TEMPLATE, 3);
    let dir = tempfile::tempdir().expect("dir");
    let sink = SmtpSink::start(dir.path(), free_port(), free_port());
    Env {
        h,
        account,
        ns,
        sink,
        _dir: dir,
    }
}

impl Env {
    fn api(&self) -> String {
        format!("/admin/v1/accounts/{}/notifications", self.account)
    }

    fn page(&self) -> String {
        format!("/console/accounts/{}/notifications", self.account)
    }

    /// Every channel, each working unless `auth_code`, `template_id`, `sms_template` or
    /// `wecom_url` say otherwise.
    fn channels(
        &self,
        auth_code: &str,
        template_id: &str,
        sms_template: &str,
        wecom_url: &str,
    ) -> Value {
        json!({
            "email": {"host": "127.0.0.1", "port": self.sink.implicit_port, "tls": "implicit",
                      "sender": SMTP_USER, "recipients": ["owner@example.com"],
                      "auth_code": auth_code, "tls_root_pem": self.sink.ca_pem},
            "oa_template": {"appid": OA_APPID, "template_id": template_id, "openids": [OPENID],
                            "field_mapping": {"thing1": "merchant", "character_string2": "complaint_id"},
                            "api_base_url": self.ns.base_url(), "secret": OA_SECRET},
            "sms": {"secret_id": SMS_ID, "sdk_app_id": "1400006666", "sign_name": "投诉台",
                    "template_id": sms_template, "phone_numbers": ["+8613711112222"],
                    "api_base_url": self.ns.sms_url(), "secret_key": SMS_KEY},
            "bots": [{"id": "ops", "kind": "wecom", "webhook_url": wecom_url}]
        })
    }

    async fn put(&self, body: Value) {
        let (s, b) = self.h.admin(Method::PUT, &self.api(), Some(body)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
}

fn channel<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["channels"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["channel"] == name))
        .unwrap_or_else(|| panic!("no {name} in {report}"))
}

/// The form's `action` that starts with `prefix`.
fn action(page: &Page, prefix: &str) -> String {
    let at = page
        .body
        .find(&format!("action=\"{prefix}"))
        .unwrap_or_else(|| panic!("no form to {prefix}: {}", page.body));
    let rest = &page.body[at + "action=\"".len()..];
    rest[..rest.find('"').expect("end")].replace("&amp;", "&")
}

#[tokio::test]
async fn a_test_notice_says_why_each_channel_failed_in_words_and_waits_30_seconds() {
    let e = env().await;
    let wecom_wrong = format!("http://{}/wecom/send?key=not-our-bot-key", e.ns.addr);
    // Wrong SMTP code, a template id WeChat does not know, three values for a 3-variable
    // template... registered with 4, and a bot key nobody issued.
    e.ns.add_sms_template("449741", 4);
    e.put(e.channels("wrong-code-0123", "TPL-unknown", "449741", &wecom_wrong))
        .await;

    let (s, report) =
        e.h.admin(Method::POST, &format!("{}/test", e.api()), None)
            .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["all_delivered"], false, "{report}");
    let why = |c: &Value| c["reason"]["en"].as_str().unwrap_or_default().to_string();
    let email = channel(&report, "email");
    assert!(
        why(email).contains("wrong authorisation code (授权码), not the mailbox password"),
        "{email}"
    );
    assert!(
        email["reason"]["zh"]
            .as_str()
            .unwrap_or_default()
            .contains("授权码错误"),
        "{email}"
    );
    let oa = channel(&report, "oa_template");
    assert!(why(oa).contains("template rejected"), "{oa}");
    let sms = channel(&report, "sms");
    assert!(why(sms).contains("SMS template refused"), "{sms}");
    let bot = channel(&report, "bot");
    assert_eq!(bot["bot_id"], "ops");
    assert!(
        why(bot).contains("WeCom bot webhook URL not valid"),
        "{bot}"
    );
    let text = report.to_string();
    for secret in ["wrong-code-0123", OA_SECRET, SMS_KEY, "not-our-bot-key"] {
        assert!(!text.contains(secret), "a secret in the report: {text}");
    }
    assert!(e.sink.messages().is_empty());

    // A second test within 30 seconds: 429 with Retry-After, nothing sent.
    let again = send(
        &e.h,
        Request::builder()
            .method(Method::POST)
            .uri(format!("{}/test", e.api()))
            .header(header::AUTHORIZATION, format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    assert_eq!(
        again.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        again.body
    );
    let retry: u64 = again.headers[header::RETRY_AFTER]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(e.ns.template_messages().len(), 0);

    // The deliveries are in the delivery log, marked as a test.
    let (s, list) =
        e.h.admin(Method::GET, "/admin/v1/deliveries?limit=50", None)
            .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let tests: Vec<&Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["job_id"].as_str().is_some_and(|j| j.starts_with("test_")))
        .collect();
    assert_eq!(tests.len(), 4, "{list}");
    assert!(tests.iter().all(|d| d["status"] == "failed"), "{list}");
    // The console's delivery log says they were test notices, and a failed test is not
    // "given up after 1 attempts".
    let admin = session(&e.h, ADMIN).await;
    let log = get(&e.h, "/console/deliveries", &admin).await;
    assert_eq!(log.status, StatusCode::OK, "{}", log.body);
    assert!(log.body.matches("测试通知").count() >= 4, "{}", log.body);
    assert!(
        log.body.contains("测试未送达（测试通知不重试）"),
        "{}",
        log.body
    );
    assert!(!log.body.contains("不再重试"), "{}", log.body);
}

#[tokio::test]
async fn the_console_saves_without_secrets_kept_and_a_test_notice_reaches_every_channel_once() {
    let e = env().await;
    let wecom = e.ns.add_bot("wecom", "wecom-token-abc", None);
    e.put(e.channels(SMTP_PASSWORD, "TPL-complaint", SMS_TEMPLATE, &wecom))
        .await;
    let (_, before) = e.h.admin(Method::GET, &e.api(), None).await;
    let admin = session(&e.h, ADMIN).await;

    // The list names the account and its channels.
    let list = get(&e.h, "/console/notifications", &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(list.body.contains(&e.page()), "{}", list.body);

    let form = get(&e.h, &e.page(), &admin).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    for secret in [SMTP_PASSWORD, OA_SECRET, SMS_KEY, "wecom-token-abc"] {
        assert!(!form.body.contains(secret), "a secret in the page");
    }
    let fp = before["email"]["auth_code"]["fingerprint"]
        .as_str()
        .expect("fingerprint");
    assert!(form.body.contains(fp), "the fingerprint is shown");
    assert!(form.body.contains("授权码"), "help text");

    // Save what the form shows with the secrets left empty and one recipient more.
    let csrf = form.csrf();
    let sink_port = e.sink.implicit_port.to_string();
    let ns_base = e.ns.base_url();
    let sms_url = e.ns.sms_url();
    let mut fields: Vec<(&str, &str)> = vec![
        ("csrf", &csrf),
        ("email_on", "on"),
        ("email_host", "127.0.0.1"),
        ("email_port", &sink_port),
        ("email_tls", "implicit"),
        ("email_sender", SMTP_USER),
        ("email_recipients", "owner@example.com\nops@example.com"),
        ("email_tls_root_pem", &e.sink.ca_pem),
        ("email_auth_code", ""),
        ("oa_on", "on"),
        ("oa_appid", OA_APPID),
        ("oa_template_id", "TPL-complaint"),
        ("oa_openids", OPENID),
        (
            "oa_field_mapping",
            "thing1=merchant\ncharacter_string2=complaint_id",
        ),
        ("oa_api_base_url", &ns_base),
        ("oa_secret", ""),
        ("sms_on", "on"),
        ("sms_secret_id", SMS_ID),
        ("sms_sdk_app_id", "1400006666"),
        ("sms_sign_name", "投诉台"),
        ("sms_template_id", SMS_TEMPLATE),
        ("sms_phone_numbers", "+8613711112222"),
        ("sms_api_base_url", &sms_url),
        ("sms_secret_key", ""),
        ("bot_count", "2"),
        ("bot_id_0", "ops"),
        ("bot_kind_0", "wecom"),
        ("bot_webhook_url_0", ""),
        ("bot_id_1", ""),
        ("bot_kind_1", "wecom"),
    ];
    let saved = post_form(&e.h, &e.page(), &admin, &fields, &[]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    assert_eq!(saved.location(), format!("{}?saved=1", e.page()));
    let (_, after) = e.h.admin(Method::GET, &e.api(), None).await;
    assert_eq!(
        after["email"]["recipients"],
        json!(["owner@example.com", "ops@example.com"])
    );
    for secret in [
        ("email", "auth_code"),
        ("oa_template", "secret"),
        ("sms", "secret_key"),
    ] {
        assert_eq!(
            after[secret.0][secret.1], before[secret.0][secret.1],
            "{secret:?} kept"
        );
    }
    assert_eq!(
        after["bots"][0]["webhook_url"],
        before["bots"][0]["webhook_url"]
    );

    // A refused form comes back with what was typed and the error next to its field.
    fields.retain(|(k, _)| *k != "email_recipients");
    fields.push(("email_recipients", "not-an-address"));
    let refused = post_form(&e.h, &e.page(), &admin, &fields, &[]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"email_recipients-error\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("not-an-address"), "typed value kept");
    let (_, unchanged) = e.h.admin(Method::GET, &e.api(), None).await;
    assert_eq!(
        unchanged["email"]["recipients"],
        after["email"]["recipients"]
    );

    // Send a test notice; the same form again (a double tap) sends nothing more and lands on
    // the same results.
    let form = get(&e.h, &e.page(), &admin).await;
    let test_to = action(&form, &format!("{}/test?form=", e.page()));
    let csrf = form.csrf();
    let sent = post_form(&e.h, &test_to, &admin, &[("csrf", &csrf)], &[]).await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let again = post_form(&e.h, &test_to, &admin, &[("csrf", &csrf)], &[]).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(again.location(), sent.location());
    assert_eq!(e.sink.messages().len(), 1, "one e-mail");
    assert_eq!(e.ns.template_messages().len(), 1, "one template message");
    assert_eq!(e.ns.sms_sent().len(), 1, "one SMS");
    assert_eq!(e.ns.bot_messages().len(), 1, "one bot message");
    let results = get(&e.h, sent.location(), &admin).await;
    assert_eq!(results.status, StatusCode::OK, "{}", results.body);
    assert!(
        results.body.contains("id=\"all-delivered\""),
        "{}",
        results.body
    );
    assert_eq!(
        results.body.matches("test-result delivered").count(),
        4,
        "{}",
        results.body
    );

    // Another test (a new form) within 30 seconds: refused in the page's language.
    let form = get(&e.h, &e.page(), &admin).await;
    let test_to = action(&form, &format!("{}/test?form=", e.page()));
    let soon = post_form(&e.h, &test_to, &admin, &[("csrf", &form.csrf())], &[]).await;
    assert_eq!(soon.status, StatusCode::TOO_MANY_REQUESTS, "{}", soon.body);
    assert!(
        soon.body.contains("秒内已经发过一次测试通知"),
        "{}",
        soon.body
    );
    assert!(
        !soon.body.contains("less than"),
        "English on a Chinese page: {}",
        soon.body
    );
    assert_eq!(e.sink.messages().len(), 1, "still one e-mail");
}

#[tokio::test]
async fn only_administrators_in_scope_see_or_test_notifications() {
    let e = env().await;
    let other = e.h.create(common::provider_body("1900000110")).await;
    let (s, sub) =
        e.h.admin(
            Method::POST,
            &format!("/admin/v1/accounts/{}/sub-merchants", e.account),
            Some(json!({"sub_mchid": "1900000201", "name": "门店"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    // Nothing configured: 409 in words, and no window taken.
    let sub_test = format!(
        "/admin/v1/accounts/{}/sub-merchants/1900000201/notifications/test",
        e.account
    );
    let (s, b) = e.h.admin(Method::POST, &sub_test, None).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no notification channel"),
        "{b}"
    );

    // An agent: no pages, no forms, no API route.
    let (s, agent) =
        e.h.admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "agent", "role": "agent", "scope": {"type": "all"}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let agent = agent["token"].as_str().expect("token").to_string();
    let cookie = session(&e.h, &agent).await;
    for path in ["/console/notifications".to_string(), e.page()] {
        let p = get(&e.h, &path, &cookie).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN, "{path}: {}", p.body);
    }
    let csrf = get(&e.h, "/console/", &cookie).await.csrf();
    let p = post_form(
        &e.h,
        &e.page(),
        &cookie,
        &[("csrf", &csrf), ("email_on", "on")],
        &[],
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    let p = post_form(
        &e.h,
        &format!("{}/test?form={}", e.page(), "a".repeat(32)),
        &cookie,
        &[("csrf", &csrf)],
        &[],
    )
    .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    let (s, _) =
        e.h.call(
            Method::POST,
            &format!("{}/test", e.api()),
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // An administrator of the other account sees neither this account's page nor its test.
    let scoped =
        e.h.token(json!({"type": "account", "account_id": other}))
            .await;
    let (s, _) =
        e.h.call(
            Method::POST,
            &format!("{}/test", e.api()),
            Some(&scoped),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let cookie = session(&e.h, &scoped).await;
    let p = get(&e.h, &e.page(), &cookie).await;
    assert_eq!(p.status, StatusCode::NOT_FOUND, "{}", p.body);
    let list = get(&e.h, "/console/notifications", &cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(!list.body.contains(&e.account), "another account listed");
    assert!(list.body.contains(&other));
}

/// A secret store that keeps what it read for ever (as the AWS adapter keeps it for its
/// time-to-live): one per instance; `put` refreshes only its own copy.
struct CachingSecrets {
    inner: std::sync::Arc<dyn domain::ports::SecretStore>,
    cache: std::sync::Mutex<std::collections::HashMap<String, Option<secrecy::SecretString>>>,
}

impl CachingSecrets {
    fn over(inner: std::sync::Arc<dyn domain::ports::SecretStore>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            inner,
            cache: Default::default(),
        })
    }
    fn remember(&self, name: &str, v: Option<secrecy::SecretString>) {
        self.cache
            .lock()
            .expect("cache")
            .insert(name.to_string(), v);
    }
}

#[async_trait::async_trait]
impl domain::ports::SecretStore for CachingSecrets {
    async fn get(
        &self,
        name: &str,
    ) -> Result<Option<secrecy::SecretString>, domain::ports::SecretError> {
        let hit = self.cache.lock().expect("cache").get(name).cloned();
        match hit {
            Some(v) => Ok(v),
            None => self.get_fresh(name).await,
        }
    }
    async fn get_fresh(
        &self,
        name: &str,
    ) -> Result<Option<secrecy::SecretString>, domain::ports::SecretError> {
        let v = self.inner.get(name).await?;
        self.remember(name, v.clone());
        Ok(v)
    }
    async fn put(
        &self,
        name: &str,
        value: secrecy::SecretString,
    ) -> Result<(), domain::ports::SecretError> {
        self.inner.put(name, value.clone()).await?;
        self.remember(name, Some(value));
        Ok(())
    }
    async fn delete(&self, name: &str) -> Result<(), domain::ports::SecretError> {
        self.inner.delete(name).await?;
        self.remember(name, None);
        Ok(())
    }
}

#[tokio::test]
async fn a_cached_secret_never_goes_to_a_destination_changed_on_another_instance() {
    // Two instances over one record store and one secret store, each with its own cache.
    let inner = std::sync::Mutex::new(None);
    let a = common::harness_over(None, |p| {
        let cached = CachingSecrets::over(p.secrets.clone());
        *inner.lock().expect("inner") = Some(p.secrets.clone());
        desk_core::state::Ports {
            secrets: cached,
            ..p
        }
    });
    let inner = inner.lock().expect("inner").take().expect("inner store");
    let mut b_state = a.state.clone();
    b_state.ports.secrets = CachingSecrets::over(inner);
    let b = Harness {
        router: desk_http::router::router(b_state.clone()),
        state: b_state,
        db: a.db.clone(),
        dir: tempfile::tempdir().expect("dir"),
    };
    let (good_dir, evil_dir) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let good = SmtpSink::start(good_dir.path(), free_port(), free_port());
    let evil = SmtpSink::start(evil_dir.path(), free_port(), free_port());
    let email = |sink: &SmtpSink, code: Option<&str>| {
        let mut e = json!({"host": "127.0.0.1", "port": sink.implicit_port, "tls": "implicit",
                           "sender": SMTP_USER, "recipients": ["owner@example.com"],
                           "tls_root_pem": sink.ca_pem});
        if let Some(c) = code {
            e["auth_code"] = json!(c);
        }
        json!({ "email": e, "bots": [] })
    };
    // One account per case: a test notice goes once per audience per 30 s.
    for (case, mchid) in [("send", "1900000201"), ("keep", "1900000202")] {
        let account = a.create(common::provider_body(mchid)).await;
        let api = format!("/admin/v1/accounts/{account}/notifications");
        let name = domain::ports::secret_names::notifications(&account, None);
        let (s, v) = a
            .admin(Method::PUT, &api, Some(email(&good, Some(SMTP_PASSWORD))))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        // Instance B reads (and caches) the real code.
        b.state.ports.secrets.get(&name).await.expect("warm");
        // On A: the e-mail server changes, with a junk code.
        let (s, v) = a
            .admin(
                Method::PUT,
                &api,
                Some(email(&evil, Some("junk-code-0000"))),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if case == "keep" {
            // On B: the same settings saved again, keeping "the" code (B's cached one).
            let (s, v) = b.admin(Method::PUT, &api, Some(email(&evil, None))).await;
            assert_eq!(s, StatusCode::OK, "{case}: {v}");
        }
        let (s, report) = b.admin(Method::POST, &format!("{api}/test"), None).await;
        assert_eq!(s, StatusCode::OK, "{case}: {report}");
        let e = channel(&report, "email");
        assert_eq!(e["delivered"], false, "{case}: {report}");
        assert!(
            evil.messages().is_empty(),
            "{case}: the real code reached the new server"
        );
    }
    assert!(good.messages().is_empty());
}

#[tokio::test]
async fn a_channel_that_never_answers_is_timed_out_in_words_within_the_deadline() {
    let mut e = env().await;
    e.h.state.test_notice_deadline = std::time::Duration::from_secs(1);
    e.h.router = desk_http::router::router(e.h.state.clone());
    // A webhook server that takes the connection and never answers.
    let hang = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = hang.local_addr().expect("addr");
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((c, _)) = hang.accept().await {
            open.push(c);
        }
    });
    e.put(json!({"bots": [{"id": "ops", "kind": "wecom",
                           "webhook_url": format!("http://{addr}/cgi-bin/webhook/send?key=k")}]}))
        .await;
    let started = std::time::Instant::now();
    let (s, report) =
        e.h.admin(Method::POST, &format!("{}/test", e.api()), None)
            .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "waited {:?}",
        started.elapsed()
    );
    let bot = channel(&report, "bot");
    assert_eq!(bot["delivered"], false, "{report}");
    assert!(
        bot["reason"]["en"]
            .as_str()
            .unwrap_or_default()
            .starts_with("timed out: no answer within 1 seconds"),
        "{report}"
    );
    assert!(
        bot["reason"]["zh"]
            .as_str()
            .unwrap_or_default()
            .contains("秒内没有完成"),
        "{report}"
    );
    held.abort();
}

#[tokio::test]
async fn when_every_openid_is_refused_each_recipient_says_its_own_reason() {
    let e = env().await;
    let mut body = e.channels(SMTP_PASSWORD, "TPL-complaint", SMS_TEMPLATE, "");
    body["email"] = Value::Null;
    body["sms"] = Value::Null;
    body["bots"] = json!([]);
    body["oa_template"]["openids"] = json!(["o_short_1", "o_short_2"]);
    e.put(body).await;
    let (s, report) =
        e.h.admin(Method::POST, &format!("{}/test", e.api()), None)
            .await;
    assert_eq!(s, StatusCode::OK, "{report}");
    let oa = channel(&report, "oa_template");
    assert_eq!(oa["delivered"], false, "{report}");
    let recipients = oa["recipients"].as_array().expect("recipients");
    assert_eq!(recipients.len(), 2, "{report}");
    for r in recipients {
        assert_eq!(r["delivered"], false, "{r}");
        assert!(
            r["reason"]["en"]
                .as_str()
                .unwrap_or_default()
                .contains("openid not valid"),
            "each recipient's own reason: {report}"
        );
        assert!(
            r["reason"]["zh"]
                .as_str()
                .unwrap_or_default()
                .contains("openid 无效"),
            "{report}"
        );
    }
    assert_eq!(e.ns.template_messages().len(), 0);
}
