//! The console's account pages over the in-process router: only administrators see or send
//! them, every form needs the session's CSRF value, a creation form acts once, a refused form
//! keeps what was typed but never a secret, the refund is a required choice read in yuan, and
//! credentials are shown as fingerprints only.

use super::common::console::{Page, get, post_form, session};
use super::common::{self, ADMIN, Harness, private_pem, rsa_key, spki_sha256};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

const APIV3: &str = "0123456789abcdef0123456789ABCDEF";

async fn role_session(h: &Harness, role: &str) -> String {
    let (status, token) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": role, "role": role, "scope": {"type": "all"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    session(h, token["token"].as_str().expect("token")).await
}

/// The `value` of the hidden input `name` of a page.
fn hidden(page: &Page, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} in {}", page.body));
    let rest = &page.body[at + marker.len()..];
    rest[..rest.find('"').expect("end")].to_string()
}

async fn accounts(h: &Harness) -> Vec<Value> {
    let (status, list) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().cloned().unwrap_or_default()
}

/// The merchant form's fields, with `refund` and the API v3 key as given.
fn merchant_form<'a>(
    csrf: &'a str,
    form_id: &'a str,
    pem: &'a str,
    refund: &'a str,
    cap: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("form_id", form_id),
        ("name", "Shop A"),
        ("s.mchid", "1900000109"),
        ("s.appid", "wx2c2769f8efd9abc2"),
        (
            "s.merchant_serial_no",
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        ),
        ("s.reply_text", "您好，已收到"),
        ("refund", refund),
        ("refund_cap", cap),
        ("c.private_key", pem),
        ("c.apiv3_key", APIV3),
    ]
}

#[tokio::test]
async fn agents_and_viewers_see_no_account_page_and_send_no_account_form() {
    let h = common::harness();
    let id = h.create(common::provider_body("1900000111")).await;
    for role in ["agent", "viewer"] {
        let cookie = role_session(&h, role).await;
        let inbox = get(&h, "/console/", &cookie).await;
        let csrf = inbox.csrf();
        for path in [
            "/console/accounts".to_string(),
            "/console/accounts/new".into(),
            "/console/accounts/new/wechatpay_merchant".into(),
            format!("/console/accounts/{id}"),
            format!("/console/accounts/{id}/sub-merchants/new"),
        ] {
            let page = get(&h, &path, &cookie).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role} GET {path}");
            assert!(!page.body.contains("s.mchid"), "{role} {path}");
        }
        for path in [
            "/console/accounts/new/wechatpay_merchant".to_string(),
            format!("/console/accounts/{id}/settings"),
            format!("/console/accounts/{id}/enabled"),
            format!("/console/accounts/{id}/credentials"),
            format!("/console/accounts/{id}/callback-registration"),
            format!("/console/accounts/{id}/authorization-link"),
            format!("/console/accounts/{id}/sub-merchants/new"),
        ] {
            let page = post_form(
                &h,
                &path,
                &cookie,
                &[("csrf", &csrf), ("enabled", "false"), ("name", "x")],
                &[],
            )
            .await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role} POST {path}");
        }
    }
    // Nothing changed.
    let all = accounts(&h).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["enabled"], true);
    assert_eq!(all[0]["name"], "Provider 1900000111");
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_value_changes_nothing() {
    let h = common::harness();
    let id = h.create(common::provider_body("1900000112")).await;
    let admin = session(&h, ADMIN).await;
    let form = get(&h, "/console/accounts/new/wechatpay_merchant", &admin).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let form_id = hidden(&form, "form_id");
    let pem = private_pem(rsa_key());
    let mut fields = merchant_form("wrong", &form_id, &pem, "none", "");
    let page = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    fields.retain(|(k, _)| *k != "csrf");
    let page = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let page = post_form(
        &h,
        &format!("/console/accounts/{id}/enabled"),
        &admin,
        &[("enabled", "false")],
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "{}", page.body);
    let all = accounts(&h).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["enabled"], true);
}

#[tokio::test]
async fn a_creation_form_sent_twice_creates_one_account_with_its_cap_in_fen() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let form = get(&h, "/console/accounts/new/wechatpay_merchant", &admin).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    // The steps say where to look, and the callback path is shown (no PUBLIC_BASE_URL here).
    assert!(form.body.contains("API安全"), "{}", form.body);
    assert!(
        form.body
            .contains("/callbacks/wechatpay/{mchid}/complaints"),
        "{}",
        form.body
    );
    assert!(form.body.contains("id=\"no-public-base\""), "{}", form.body);
    // Nothing is preselected for the refund.
    assert!(
        !form
            .body
            .contains("value=\"none\" id=\"refund-none\" required checked")
    );
    let csrf = form.csrf();
    let form_id = hidden(&form, "form_id");
    let pem = private_pem(rsa_key());
    let fields = merchant_form(&csrf, &form_id, &pem, "cap", "12.5");
    let first = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert!(
        first.location().starts_with("/console/accounts/acc_"),
        "{}",
        first.location()
    );
    let again = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "{}", again.body);
    assert!(again.body.contains("之前已提交过"), "{}", again.body);
    let all = accounts(&h).await;
    assert_eq!(all.len(), 1, "{all:?}");
    let a = &all[0];
    assert_eq!(a["settings"]["refund_cap_fen"], 1250, "{a}");
    assert_eq!(a["settings"]["auto_refund"], true, "{a}");
    assert_eq!(a["credentials"]["complete"], true, "{a}");

    // The account's page: the fingerprint of the key, never the key or the API v3 key.
    let page = get(&h, first.location(), &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&spki_sha256(rsa_key())), "{}", page.body);
    assert!(!page.body.contains(APIV3));
    assert!(!page.body.contains("PRIVATE KEY-----\n"));
    assert!(page.body.contains("12.50"), "{}", page.body);
    // The list shows it with its credential status.
    let list = get(&h, "/console/accounts", &admin).await;
    assert!(list.body.contains("Shop A"), "{}", list.body);
    assert!(list.body.contains("凭证齐全"), "{}", list.body);
}

#[tokio::test]
async fn a_refused_form_keeps_what_was_typed_but_no_secret_and_the_refund_must_be_chosen() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let form = get(&h, "/console/accounts/new/wechatpay_merchant", &admin).await;
    let csrf = form.csrf();
    let form_id = hidden(&form, "form_id");
    let pem = private_pem(rsa_key());
    // No refund chosen.
    let fields = merchant_form(&csrf, &form_id, &pem, "", "");
    let page = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("请选择是否自动退款"), "{}", page.body);
    assert!(page.body.contains("value=\"1900000109\""), "{}", page.body);
    assert!(page.body.contains("您好，已收到"), "{}", page.body);
    assert!(!page.body.contains(APIV3), "the API v3 key came back");
    assert!(
        !page.body.contains("BEGIN PRIVATE KEY"),
        "the private key came back"
    );
    assert!(page.body.contains("id=\"secrets-again\""), "{}", page.body);
    // The callback URL shows the typed merchant number, not the placeholder, and the
    // script can still fill it in again.
    assert!(
        page.body
            .contains("value=\"/callbacks/wechatpay/1900000109/complaints\" data-template=\"/callbacks/wechatpay/{id}/complaints\" data-placeholder=\"/callbacks/wechatpay/{mchid}/complaints\""),
        "{}",
        page.body
    );
    // A cap that is not yuan.
    let form_id = hidden(&page, "form_id");
    let fields = merchant_form(&csrf, &form_id, &pem, "cap", "12.345");
    let page = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.body.contains("最多两位小数"), "{}", page.body);
    // The platform's refusal at its field: an API v3 key of the wrong length.
    let form_id = hidden(&page, "form_id");
    let mut fields = merchant_form(&csrf, &form_id, &pem, "none", "");
    for f in fields.iter_mut() {
        if f.0 == "c.apiv3_key" {
            f.1 = "short-key";
        }
    }
    let page = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    // The platform's words, right after the API v3 key's input.
    let at = page
        .body
        .find("id=\"input-apiv3-key\"")
        .expect("the key's input");
    let after = &page.body[at..];
    let error = after.find("32-character API v3 key").expect("the error");
    assert!(
        after[..error].matches("class=\"field").count() == 0,
        "not at its input"
    );
    assert!(!page.body.contains("short-key"), "a secret was echoed");
    assert!(page.body.contains("value=\"1900000109\""), "{}", page.body);
    assert!(accounts(&h).await.is_empty());
    // "No cap" is only what is chosen.
    let form_id = hidden(&page, "form_id");
    let fields = merchant_form(&csrf, &form_id, &pem, "any", "");
    let page = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &admin,
        &fields,
        &[],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let all = accounts(&h).await;
    assert_eq!(all[0]["settings"]["auto_refund"], true);
    assert_eq!(all[0]["settings"]["refund_cap_fen"], Value::Null);
}

#[tokio::test]
async fn the_account_page_changes_settings_switches_and_keeps_credentials_left_empty() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let id = h.create(common::provider_body("1900000113")).await;
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("id=\"sub-merchants\""), "{}", page.body);
    let csrf = page.csrf();
    // Disable.
    let res = post_form(
        &h,
        &format!("/console/accounts/{id}/enabled"),
        &admin,
        &[("csrf", &csrf), ("enabled", "false")],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // Settings: the refund changes to a cap; the mchid cannot change.
    let res = post_form(
        &h,
        &format!("/console/accounts/{id}/settings"),
        &admin,
        &[
            ("csrf", &csrf),
            ("name", "Provider renamed"),
            ("s.mchid", "1999999999"),
            ("s.appid", "wx2c2769f8efd9abc2"),
            (
                "s.merchant_serial_no",
                "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            ),
            ("refund", "cap"),
            ("refund_cap", "3"),
            ("default_refund", "cap"),
        ],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // Credentials: only the API v3 key typed; the key is then set, nothing else changes.
    let res = post_form(
        &h,
        &format!("/console/accounts/{id}/credentials"),
        &admin,
        &[
            ("csrf", &csrf),
            ("c.apiv3_key", APIV3),
            ("c.private_key", ""),
        ],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let (_, a) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(a["enabled"], false, "{a}");
    assert_eq!(a["name"], "Provider renamed", "{a}");
    assert_eq!(a["settings"]["mchid"], "1900000113", "{a}");
    assert_eq!(a["settings"]["refund_cap_fen"], 300, "{a}");
    assert_eq!(a["credentials"]["fields"]["apiv3_key"]["set"], true, "{a}");
    assert_eq!(
        a["credentials"]["fields"]["private_key"]["set"], false,
        "{a}"
    );
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    assert!(!page.body.contains(APIV3));
    assert!(page.body.contains("已停用"), "{}", page.body);

    // A sub-merchant through its form, once.
    let form = get(
        &h,
        &format!("/console/accounts/{id}/sub-merchants/new"),
        &admin,
    )
    .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let form_id = hidden(&form, "form_id");
    let fields = [
        ("csrf", csrf.as_str()),
        ("form_id", form_id.as_str()),
        ("sub_mchid", "1900000201"),
        ("name", "Sub One"),
        ("reply_text", "子商户回复"),
        ("refund", "cap"),
        ("refund_cap", "8.80"),
    ];
    let path = format!("/console/accounts/{id}/sub-merchants/new");
    let res = post_form(&h, &path, &admin, &fields, &[]).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let res = post_form(&h, &path, &admin, &fields, &[]).await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    let (_, subs) = h
        .admin(
            Method::GET,
            &format!("/admin/v1/accounts/{id}/sub-merchants"),
            None,
        )
        .await;
    assert_eq!(subs["items"].as_array().map(Vec::len), Some(1), "{subs}");
    assert_eq!(subs["items"][0]["refund_cap_fen"], 880, "{subs}");
}

async fn settings_of(h: &Harness, id: &str) -> Value {
    let (_, a) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    a["settings"].clone()
}

/// The provider's settings form with its refund choices as given.
fn provider_settings<'a>(
    csrf: &'a str,
    refund: &'a str,
    cap: &'a str,
    default_refund: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("csrf", csrf),
        ("name", "Provider"),
        ("s.mchid", "1900000114"),
        ("s.appid", "wx2c2769f8efd9abc2"),
        (
            "s.merchant_serial_no",
            "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        ),
        ("refund", refund),
        ("refund_cap", cap),
        ("default_refund", default_refund),
    ]
}

#[tokio::test]
async fn unregistered_sub_merchants_are_never_refunded_without_a_cap_unless_chosen() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let mut body = common::provider_body("1900000114");
    body["settings"]["default_auto_refund"] = json!(false);
    let id = h.create(body).await;
    let path = format!("/console/accounts/{id}/settings");
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    assert!(
        page.body.contains("id=\"default-refund-choice\""),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("value=\"none\" id=\"default-refund-none\" required checked"),
        "{}",
        page.body
    );
    let csrf = page.csrf();
    // No refund for the provider, "under the provider's cap" for the others: there is no
    // cap, so it is refused at its choice and nothing is saved.
    for (refund, cap, default_refund, words) in [
        ("none", "", "cap", "本账户没有设退款上限"),
        ("any", "", "cap", "本账户没有设退款上限"),
        ("cap", "5", "any", "本账户设了退款上限"),
        ("none", "", "", "请选择未登记子商户是否自动退款"),
    ] {
        let res = post_form(
            &h,
            &path,
            &admin,
            &provider_settings(&csrf, refund, cap, default_refund),
            &[],
        )
        .await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{refund}/{default_refund}"
        );
        assert!(res.body.contains(words), "{words}: {}", res.body);
        assert!(res.body.contains("id=\"default-refund-choice\""));
        let s = settings_of(&h, &id).await;
        assert_eq!(s["default_auto_refund"], false, "{s}");
        assert_eq!(s["auto_refund"], false, "{s}");
    }
    // Under the provider's cap, with a cap: saved, and the page shows it chosen.
    let res = post_form(
        &h,
        &path,
        &admin,
        &provider_settings(&csrf, "cap", "5", "cap"),
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let s = settings_of(&h, &id).await;
    assert_eq!(s["default_auto_refund"], true, "{s}");
    assert_eq!(s["refund_cap_fen"], 500, "{s}");
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    assert!(
        page.body
            .contains("value=\"cap\" id=\"default-refund-cap\" checked"),
        "{}",
        page.body
    );
    // Any amount, chosen explicitly with no cap: saved and shown as such.
    let res = post_form(
        &h,
        &path,
        &admin,
        &provider_settings(&csrf, "none", "", "any"),
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let s = settings_of(&h, &id).await;
    assert_eq!(s["default_auto_refund"], true, "{s}");
    assert_eq!(s["refund_cap_fen"], Value::Null, "{s}");
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    assert!(
        page.body
            .contains("value=\"any\" id=\"default-refund-any\" checked"),
        "{}",
        page.body
    );
    // The creation form asks for the choice too, nothing chosen.
    let form = get(&h, "/console/accounts/new/wechatpay_provider", &admin).await;
    assert!(
        form.body.contains("id=\"default-refund-choice\""),
        "{}",
        form.body
    );
    assert!(!form.body.contains("default-refund-none\" required checked"));
    assert!(
        !form.body.contains("s.default_auto_refund"),
        "{}",
        form.body
    );
}

#[tokio::test]
async fn a_cap_typed_under_another_refund_choice_is_refused_not_dropped() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let mut body = common::provider_body("1900000114");
    body["settings"]["default_auto_refund"] = json!(false);
    let id = h.create(body).await;
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    let csrf = page.csrf();
    for refund in ["none", "any"] {
        let res = post_form(
            &h,
            &format!("/console/accounts/{id}/settings"),
            &admin,
            &provider_settings(&csrf, refund, "20", "none"),
            &[],
        )
        .await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{refund}: {}",
            res.body
        );
        assert!(res.body.contains("您填了上限"), "{}", res.body);
        // What was typed is kept.
        assert!(res.body.contains("value=\"20\""), "{}", res.body);
        let (_, a) = h
            .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
            .await;
        assert_eq!(a["settings"]["auto_refund"], false, "{a}");
    }
}

#[tokio::test]
async fn a_garbled_enabled_value_is_refused_and_changes_nothing() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let id = h.create(common::provider_body("1900000115")).await;
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    let csrf = page.csrf();
    let path = format!("/console/accounts/{id}/enabled");
    for garbled in [
        vec![("csrf", csrf.as_str())],
        vec![("csrf", csrf.as_str()), ("enabled", "yes")],
    ] {
        let res = post_form(&h, &path, &admin, &garbled, &[]).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
        assert!(res.body.contains("没有改动"), "{}", res.body);
        let (_, a) = h
            .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
            .await;
        assert_eq!(a["enabled"], true, "{a}");
    }
    let res = post_form(
        &h,
        &path,
        &admin,
        &[("csrf", &csrf), ("enabled", "false")],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // A garbled id in the path is refused before anything else.
    let res = post_form(
        &h,
        "/console/accounts/a%20b/enabled",
        &admin,
        &[("csrf", &csrf), ("enabled", "true")],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.body);
    let (_, a) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(a["enabled"], false, "{a}");
}

#[tokio::test]
async fn without_a_public_base_url_the_registration_says_to_set_it_first_in_words() {
    let h = common::harness_with(None);
    let admin = session(&h, ADMIN).await;
    let id = h.create(common::provider_body("1900000116")).await;
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("请先设置 PUBLIC_BASE_URL"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("读不到微信支付"), "{}", page.body);
    assert!(!page.body.contains("is not set"), "{}", page.body);
    // The provider's reply for sub-merchants says what it is for, and a sub-merchant's reply
    // help names it.
    assert!(
        page.body.contains("子商户的默认自动回复内容"),
        "{}",
        page.body
    );
    let sub = get(
        &h,
        &format!("/console/accounts/{id}/sub-merchants/new"),
        &admin,
    )
    .await;
    assert!(
        sub.body.contains("「子商户的默认自动回复内容」"),
        "{}",
        sub.body
    );
    assert!(!sub.body.contains("服务商账户的回复"), "{}", sub.body);
    // Pressing "register" says the same, and nothing is called.
    let res = post_form(
        &h,
        &format!("/console/accounts/{id}/callback-registration"),
        &admin,
        &[("csrf", &page.csrf())],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.body);
    assert!(
        res.body.contains("请先设置 PUBLIC_BASE_URL"),
        "{}",
        res.body
    );
    let en = get(&h, &format!("/console/accounts/{id}?lang=en"), &admin).await;
    assert!(
        en.body
            .contains("Set PUBLIC_BASE_URL (the HTTPS address platforms call this desk at) first"),
        "{}",
        en.body
    );
}

#[tokio::test]
async fn the_mini_program_guide_sets_the_message_push_only_after_the_account_exists() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let page = get(&h, "/console/accounts/new/wxmini_app", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let steps = &page.body[page.body.find("id=\"steps\"").expect("steps")..];
    let steps = &steps[..steps.find("</ol>").expect("end")];
    let push = steps.find("消息推送").expect("the message push step");
    let after = steps
        .find("<li>创建账户后，")
        .expect("a step that starts after creation");
    assert!(after < push, "{steps}");
    assert!(
        steps.contains("开发 → 开发管理 → 开发设置 → 消息推送"),
        "{steps}"
    );
}

/// A console session of an administrator token with `scope`.
async fn scoped_admin(h: &Harness, scope: Value) -> String {
    let (status, token) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "scoped", "role": "admin", "scope": scope})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    session(h, token["token"].as_str().expect("token")).await
}

#[tokio::test]
async fn a_sub_merchant_administrator_reaches_and_saves_its_sub_merchant_but_creates_no_account() {
    let h = common::harness();
    let id = h.create(common::provider_body("1900000117")).await;
    let (status, sub) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{id}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000201", "name": "Sub", "auto_refund": false})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let cookie = scoped_admin(
        &h,
        json!({"type": "sub_merchant", "account_id": id, "sub_mchid": "1900000201"}),
    )
    .await;
    let sub_page = format!("/console/accounts/{id}/sub-merchants/1900000201");
    // The account list sends it to its sub-merchant.
    let list = get(&h, "/console/accounts", &cookie).await;
    assert_eq!(list.status, StatusCode::SEE_OTHER, "{}", list.body);
    assert_eq!(list.location(), sub_page);
    // Its page: no provider name or cap, and it says so.
    let page = get(&h, &sub_page, &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("看不到服务商的上限"), "{}", page.body);
    assert!(!page.body.contains("Provider 1900000117"), "{}", page.body);
    assert!(!page.body.contains("back-to-account"), "{}", page.body);
    // Saving comes back to its page, which says it was saved.
    let res = post_form(
        &h,
        &sub_page,
        &cookie,
        &[
            ("csrf", &page.csrf()),
            ("name", "Sub renamed"),
            ("reply_text", ""),
            ("refund", "none"),
            ("enabled", "true"),
        ],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), format!("{sub_page}?saved=1"));
    let page = get(&h, res.location(), &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("已保存"), "{}", page.body);
    assert!(page.body.contains("Sub renamed"), "{}", page.body);
    // Ids in the path are checked before anything is read.
    for bad in [
        format!("/console/accounts/{id}/sub-merchants/12ab"),
        "/console/accounts/a%20b/sub-merchants/1900000201".to_string(),
        "/console/accounts/a%20b/sub-merchants/new".to_string(),
    ] {
        let res = get(&h, &bad, &cookie).await;
        assert_eq!(res.status, StatusCode::BAD_REQUEST, "{bad}: {}", res.body);
        assert!(res.body.contains("地址中的编号不对"), "{}", res.body);
    }
    // No account creation: refused in words before any form, and no button.
    for path in [
        "/console/accounts/new",
        "/console/accounts/new/wechatpay_merchant",
    ] {
        let res = get(&h, path, &cookie).await;
        assert_eq!(res.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            res.body
                .contains("只有范围为「全部账户」的管理员才能新建账户"),
            "{}",
            res.body
        );
        assert!(!res.body.contains("s.mchid"), "{}", res.body);
    }
    let res = post_form(
        &h,
        "/console/accounts/new/wechatpay_merchant",
        &cookie,
        &[("csrf", &page.csrf()), ("name", "x")],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{}", res.body);
    assert_eq!(accounts(&h).await.len(), 1);
}

#[tokio::test]
async fn an_account_administrator_sees_guarded_settings_read_only_and_a_forged_change_is_refused() {
    let h = common::harness();
    let id = h.create(common::provider_body("1900000118")).await;
    let cookie = scoped_admin(&h, json!({"type": "account", "account_id": id})).await;
    // The list: its account, no "New account".
    let list = get(&h, "/console/accounts", &cookie).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    assert!(
        list.body.contains(&format!("account-{id}")),
        "{}",
        list.body
    );
    assert!(!list.body.contains("id=\"new-account\""), "{}", list.body);
    let page = get(&h, &format!("/console/accounts/{id}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let at = page
        .body
        .find("id=\"input-api-base-url\"")
        .expect("the input");
    let input = &page.body[at..at + page.body[at..].find('>').expect("end")];
    assert!(input.contains(" readonly"), "{input}");
    assert!(
        page.body
            .contains("只有范围为「全部账户」的令牌才能修改这一项。"),
        "{}",
        page.body
    );
    // Saving the page as drawn works; a forged address is refused, nothing saved.
    let csrf = page.csrf();
    let mut fields = provider_settings(&csrf, "none", "", "none");
    fields.push(("s.api_base_url", ""));
    let res = post_form(
        &h,
        &format!("/console/accounts/{id}/settings"),
        &cookie,
        &fields,
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    fields.pop();
    fields.push(("s.api_base_url", "https://evil.example"));
    fields.push(("name", "Forged"));
    let res = post_form(
        &h,
        &format!("/console/accounts/{id}/settings"),
        &cookie,
        &fields,
        &[],
    )
    .await;
    assert!(res.status.is_client_error(), "{}", res.body);
    assert!(
        res.body
            .contains("只有范围为「全部账户」的令牌才能修改这一项：没有保存任何改动。"),
        "{}",
        res.body
    );
    let (_, a) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(a["settings"]["api_base_url"], Value::Null, "{a}");
    assert_ne!(a["name"], "Forged", "{a}");
    // The administrator with scope all may change it.
    let admin = session(&h, ADMIN).await;
    let page = get(&h, &format!("/console/accounts/{id}"), &admin).await;
    let at = page
        .body
        .find("id=\"input-api-base-url\"")
        .expect("the input");
    let input = &page.body[at..at + page.body[at..].find('>').expect("end")];
    assert!(!input.contains(" readonly"), "{input}");
}

#[tokio::test]
async fn a_mini_program_offers_the_refund_only_once_a_payment_account_is_linked() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let form = get(&h, "/console/accounts/new/wxmini_app", &admin).await;
    assert!(
        form.body.contains("id=\"refund-needs-payment\""),
        "{}",
        form.body
    );
    assert!(!form.body.contains("id=\"refund-choice\""), "{}", form.body);
    let merchant = h
        .create(
            json!({"kind": "wechatpay_merchant", "name": "Pay", "settings": {
            "mchid": "1900000119", "appid": "wx2c2769f8efd9abc2",
            "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"}}),
        )
        .await;
    let mini = h
        .create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
            "appid": "wx0123456789abcdef", "mode": "manual"}}))
        .await;
    let page = get(&h, &format!("/console/accounts/{mini}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("id=\"refund-needs-payment\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"refund-choice\""), "{}", page.body);
    // Saving the settings without a refund choice works and leaves the refund off.
    let csrf = page.csrf();
    let res = post_form(
        &h,
        &format!("/console/accounts/{mini}/settings"),
        &admin,
        &[
            ("csrf", &csrf),
            ("name", "Mini"),
            ("s.appid", "wx0123456789abcdef"),
            ("s.mode", "manual"),
        ],
        &[],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    // Linked: the refund choice appears.
    let (status, a) = h
        .admin(
            Method::PATCH,
            &format!("/admin/v1/accounts/{mini}"),
            Some(json!({"settings": {"payment": {"account_id": merchant}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    let page = get(&h, &format!("/console/accounts/{mini}"), &admin).await;
    assert!(page.body.contains("id=\"refund-choice\""), "{}", page.body);
    assert!(
        !page.body.contains("id=\"refund-needs-payment\""),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn an_authorised_mini_program_offers_no_credentials_form_and_says_why() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let component = h
        .create(
            json!({"kind": "wxopen_component", "name": "TP", "settings": {
            "component_appid": "wxfedcba9876543210"}}),
        )
        .await;
    let mini = h
        .create(
            json!({"kind": "wxmini_app", "name": "Authorised", "settings": {
            "appid": "wx0123456789abcdee", "mode": "authorised",
            "component_account_id": component}}),
        )
        .await;
    let page = get(&h, &format!("/console/accounts/{mini}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        !page.body.contains("id=\"credentials-form\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("id=\"credentials-authorised\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("一键授权接入"), "{}", page.body);
    // A manual one still has its form.
    let manual = h
        .create(json!({"kind": "wxmini_app", "name": "Manual", "settings": {
            "appid": "wx0123456789abcdef", "mode": "manual"}}))
        .await;
    let page = get(&h, &format!("/console/accounts/{manual}"), &admin).await;
    assert!(
        page.body.contains("id=\"credentials-form\""),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("id=\"credentials-authorised\""),
        "{}",
        page.body
    );
}

/// Whether the router answers `path` with its own "no such route".
async fn unrouted(h: &Harness, method: Method, path: &str) -> bool {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let req = axum::http::Request::builder()
        .method(method)
        .uri(path)
        .body(axum::body::Body::from("<xml></xml>"))
        .expect("request");
    let res = h.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    status == StatusCode::NOT_FOUND && String::from_utf8_lossy(&body).contains("no such route")
}

#[tokio::test]
async fn every_callback_url_a_creation_form_shows_is_served() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    for (kind, field, id) in [
        ("wechatpay_merchant", "mchid", "1900000120"),
        ("wechatpay_provider", "mchid", "1900000121"),
        ("alipay_app", "app_id", "2021000123456789"),
        ("wxmini_app", "appid", "wx0123456789abcdef"),
        ("wxopen_component", "component_appid", "wxfedcba9876543210"),
    ] {
        let path = format!("/console/accounts/new/{kind}");
        let form = get(&h, &path, &admin).await;
        let input = format!("s.{field}");
        // A form refused for its missing name shows the URLs for the id typed.
        let page = post_form(
            &h,
            &path,
            &admin,
            &[
                ("csrf", &form.csrf()),
                ("form_id", &hidden(&form, "form_id")),
                (&input, id),
            ],
            &[],
        )
        .await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{kind}: {}",
            page.body
        );
        let marker = "class=\"callback-url\" value=\"";
        let urls: Vec<&str> = page
            .body
            .match_indices(marker)
            .map(|(at, _)| {
                let rest = &page.body[at + marker.len()..];
                &rest[..rest.find('"').expect("end")]
            })
            .collect();
        assert!(!urls.is_empty(), "{kind}: no callback URL");
        for url in urls {
            assert!(url.contains(id), "{kind}: {url}");
            // The third-party platform's message URL holds WeChat's $APPID$ placeholder.
            let url = url.replace("$APPID$", "wx0123456789abcdef");
            let served = if kind == "wxmini_app" {
                !unrouted(&h, Method::GET, &format!("{url}?echostr=1")).await
            } else {
                !unrouted(&h, Method::POST, &url).await
            };
            assert!(served, "{kind}: {url} is not served");
        }
    }
}
