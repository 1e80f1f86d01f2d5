//! The admin API in-process (the real router over the embedded adapters).

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};

const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

#[tokio::test]
async fn requests_without_a_valid_token_are_401() {
    let h = harness();
    let (s, body) = h.call(Method::GET, "/admin/v1/accounts", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    for bad in [
        "wrong",
        "cdt_0123456789abcdef_nope",
        ADMIN.trim_end_matches('9'),
    ] {
        let (s, _) = h
            .call(Method::GET, "/admin/v1/accounts", Some(bad), None)
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "token {bad:?}");
    }
    let (s, _) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    assert_eq!(s, StatusCode::OK);
    // Health and the OpenAPI document need no token.
    let (s, body) = h.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, body["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    for path in [
        "/admin/v1/accounts",
        "/admin/v1/accounts/{id}/credentials",
        "/admin/v1/accounts/{id}/sub-merchants/{sub_mchid}/notifications",
        "/admin/v1/tokens",
        "/admin/v1/dead-letters/{id}/replay",
    ] {
        assert!(doc["paths"][path].is_object(), "OpenAPI lacks {path}");
    }
}

#[tokio::test]
async fn bad_input_is_400_naming_the_field_and_changes_nothing() {
    let h = harness();
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": "x", "settings": {}}), "kind"),
        (
            json!({"kind": "alipay", "name": "x", "settings": {}}),
            "kind",
        ),
        (
            json!({"kind": "alipay_app", "settings": {"app_id": "2021000000000001"}}),
            "name",
        ),
        (
            json!({"kind": "alipay_app", "name": "x", "settings": {}}),
            "settings.app_id",
        ),
        (
            json!({"kind": "alipay_app", "name": "x", "settings": {"app_id": "abc"}}),
            "settings.app_id",
        ),
        (
            json!({"kind": "alipay_app", "name": "x", "settings": {"app_id": "2021000000000001", "auto_refund": "yes"}}),
            "settings.auto_refund",
        ),
        (
            json!({"kind": "alipay_app", "name": "x", "settings": {"app_id": "2021000000000001", "refund_cap_fen": -1}}),
            "settings.refund_cap_fen",
        ),
        (
            json!({"kind": "alipay_app", "name": "x", "settings": {"app_id": "2021000000000001", "reply_txt": "hi"}}),
            "settings.reply_txt",
        ),
        (
            json!({"kind": "alipay_app", "name": "x", "settings": {"app_id": "2021000000000001"}, "enabeld": true}),
            "enabeld",
        ),
        (
            json!({"kind": "wxmini_app", "name": "x", "settings": {"appid": "wx2c2769f8efd9abc2", "mode": "magic"}}),
            "settings.mode",
        ),
        (
            json!({"kind": "wxmini_app", "name": "x", "settings": {"appid": "wx2c2769f8efd9abc2", "mode": "manual", "auto_response": {"enabled": true, "decision": "maybe"}}}),
            "settings.auto_response.decision",
        ),
        (
            json!({"kind": "wxmini_app", "name": "x", "settings": {"appid": "wx2c2769f8efd9abc2", "mode": "authorised"}}),
            "settings.component_account_id",
        ),
        (
            json!({"kind": "wechatpay_merchant", "name": "x", "settings": {"mchid": "1900000109", "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": "XYZ"}}),
            "settings.merchant_serial_no",
        ),
        (
            json!({"kind": "alipay_app", "name": "x", "settings": {"app_id": "2021000000000001"}, "credentials": {"mode": "certificate", "app_private_key": "not a key"}}),
            "credentials.app_private_key",
        ),
    ];
    for (body, field) in cases {
        let (s, res) = h
            .admin(Method::POST, "/admin/v1/accounts", Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {res}");
        assert_eq!(res["error"]["field"], field, "{body} → {res}");
        assert!(!res["error"]["message"].as_str().unwrap_or("").is_empty());
    }
    let (s, res) = h
        .raw(
            Method::POST,
            "/admin/v1/accounts",
            Some(ADMIN),
            Some("{\"kind\": ".into()),
            "application/json",
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let res: Value = serde_json::from_slice(&res).expect("json");
    assert_eq!(res["error"]["code"], "invalid_json");
    let (s, _) = h
        .raw(
            Method::POST,
            "/admin/v1/accounts",
            Some(ADMIN),
            Some("kind=x".into()),
            "text/plain",
        )
        .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (_, list) = h.admin(Method::GET, "/admin/v1/accounts", None).await;
    assert_eq!(
        list["items"].as_array().map(Vec::len),
        Some(0),
        "nothing was created"
    );
}

#[tokio::test]
async fn platform_ids_are_unique_per_callback_path() {
    let h = harness();
    h.create(provider_body("1900000109")).await;
    let mut merchant = provider_body("1900000109");
    merchant["kind"] = json!("wechatpay_merchant");
    merchant["settings"]
        .as_object_mut()
        .expect("obj")
        .retain(|k, _| !k.starts_with("default_"));
    let (s, res) = h
        .admin(Method::POST, "/admin/v1/accounts", Some(merchant))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{res}");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("1900000109")
    );
    // The same digits as an Alipay app id are another path: fine.
    h.create(json!({"kind": "alipay_app", "name": "A", "settings": {"app_id": "1900000109"}}))
        .await;
}

#[tokio::test]
async fn patch_merges_settings_and_keeps_the_platform_id() {
    let h = harness();
    let id = h.create(provider_body("1900000109")).await;
    let path = format!("/admin/v1/accounts/{id}");
    let (s, acc) = h
        .admin(Method::PATCH, &path, Some(json!({"enabled": false, "settings": {"reply_text": "您好", "default_auto_refund": false}})))
        .await;
    assert_eq!(s, StatusCode::OK, "{acc}");
    assert_eq!(acc["enabled"], false);
    assert_eq!(acc["settings"]["reply_text"], "您好");
    assert_eq!(acc["settings"]["default_auto_refund"], false);
    assert_eq!(
        acc["settings"]["default_reply_text"], "您好，我们已收到您的投诉，正在处理。",
        "untouched fields stay"
    );
    let (s, acc) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"reply_text": null}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(acc["settings"]["reply_text"], Value::Null, "null removes");
    let (s, res) = h
        .admin(
            Method::PATCH,
            &path,
            Some(json!({"settings": {"mchid": "1900000110"}})),
        )
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("settings.mchid"))
    );
    let (s, res) = h
        .admin(Method::PATCH, &path, Some(json!({"kind": "alipay_app"})))
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("kind"))
    );
    let (_, acc) = h.admin(Method::GET, &path, None).await;
    assert_eq!(acc["settings"]["mchid"], "1900000109");
    assert_eq!(acc["enabled"], false, "the earlier patch persisted");
}

#[tokio::test]
async fn credentials_are_write_only_and_described_by_fingerprint() {
    let h = harness();
    let id = h.create(provider_body("1900000109")).await;
    let path = format!("/admin/v1/accounts/{id}/credentials");
    let key = rsa_key();
    let pay_key = second_rsa_key();
    let body = json!({
        "private_key": private_pem(key),
        "apiv3_key": APIV3,
        "wechatpay_public_key": public_pem(pay_key),
        "wechatpay_public_key_id": "PUB_KEY_ID_0114232134912410000000000000",
    });
    let (s, status) = h.admin(Method::PUT, &path, Some(body)).await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["complete"], true);
    assert_eq!(
        status["fields"]["private_key"]["fingerprint"],
        spki_sha256(key)
    );
    assert_eq!(
        status["fields"]["wechatpay_public_key"]["fingerprint"],
        spki_sha256(pay_key)
    );
    let apiv3_fp = status["fields"]["apiv3_key"]["fingerprint"]
        .as_str()
        .expect("fp")
        .to_string();
    assert_eq!(apiv3_fp.len(), 8);
    assert_eq!(
        status["identifiers"]["wechatpay_public_key_id"],
        "PUB_KEY_ID_0114232134912410000000000000"
    );

    let (_, acc) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    let text = acc.to_string();
    assert!(
        !text.contains(APIV3) && !text.contains("PRIVATE KEY"),
        "secrets in a read: {text}"
    );
    assert_eq!(
        acc["credentials"]["fields"]["private_key"]["fingerprint"],
        spki_sha256(key)
    );

    // Omitted keeps, a value replaces, null clears.
    let other_apiv3 = "ZYXWVUTSRQPONMLKJIHGFEDCBA987654";
    let (s, status) = h
        .admin(Method::PUT, &path, Some(json!({"apiv3_key": other_apiv3})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        status["fields"]["private_key"]["fingerprint"],
        spki_sha256(key),
        "omitted keeps"
    );
    assert_ne!(
        status["fields"]["apiv3_key"]["fingerprint"],
        apiv3_fp.as_str(),
        "a value replaces"
    );
    let (s, status) = h
        .admin(Method::PUT, &path, Some(json!({"private_key": null})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(status["fields"]["private_key"]["set"], false, "null clears");
    assert_eq!(status["complete"], false);
    assert_eq!(status["missing"], json!(["private_key"]));

    // Bad values: 400 naming the field, never echoing the value, nothing changed.
    for (body, field) in [
        (json!({"apiv3_key": "short-secret-value"}), "apiv3_key"),
        (
            json!({"private_key": "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWdhcmJhZ2U=\n-----END PRIVATE KEY-----"}),
            "private_key",
        ),
        (
            json!({"wechatpay_public_key_id": "KEY_1"}),
            "wechatpay_public_key_id",
        ),
        (
            json!({"wechatpay_public_key": null}),
            "wechatpay_public_key",
        ),
        (json!({"unknown_secret": "x"}), "unknown_secret"),
    ] {
        let (s, res) = h.admin(Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {res}");
        assert_eq!(res["error"]["field"], field, "{res}");
        assert!(
            !res.to_string().contains("short-secret-value")
                && !res.to_string().contains("c2VjcmV0")
        );
    }
    let (_, acc) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(
        acc["credentials"]["fields"]["apiv3_key"]["fingerprint"],
        status["fields"]["apiv3_key"]["fingerprint"]
    );
}

#[tokio::test]
async fn alipay_key_mode_needs_its_own_fields() {
    let h = harness();
    let id = h
        .create(
            json!({"kind": "alipay_app", "name": "A", "settings": {"app_id": "2021000000000001"}}),
        )
        .await;
    let path = format!("/admin/v1/accounts/{id}/credentials");
    // Alipay's key tool gives bare base64 without PEM headers; both are accepted.
    let bare = |pem: &str| {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    };
    let (s, status) = h
        .admin(
            Method::PUT,
            &path,
            Some(json!({"mode": "public_key", "app_private_key": bare(&private_pem(rsa_key()))})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["complete"], false);
    assert_eq!(status["missing"], json!(["alipay_public_key"]));
    let (s, status) = h
        .admin(
            Method::PUT,
            &path,
            Some(json!({"alipay_public_key": bare(&public_pem(second_rsa_key()))})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(
        (status["complete"].as_bool(), status["mode"].as_str()),
        (Some(true), Some("public_key"))
    );
    assert_eq!(
        status["fields"]["alipay_public_key"]["fingerprint"],
        spki_sha256(second_rsa_key())
    );
    // Certificate mode now needs the certificates.
    let (s, status) = h
        .admin(Method::PUT, &path, Some(json!({"mode": "certificate"})))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        status["missing"],
        json!(["alipay_cert", "alipay_root_cert", "app_cert"])
    );
    // The root bundle from Alipay (RSA, SM2 and ECDSA certificates) is accepted as a bundle.
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events/fixtures/alipay");
    let root = std::fs::read_to_string(fixtures.join("alipayRootCert.crt")).expect("fixture");
    let alipay_cert =
        std::fs::read_to_string(fixtures.join("alipayPublicCert.crt")).expect("fixture");
    let app_cert = std::fs::read_to_string(fixtures.join("appPublicCert.crt")).expect("fixture");
    let (s, status) = h
        .admin(
            Method::PUT,
            &path,
            Some(json!({"alipay_root_cert": root, "alipay_cert": alipay_cert})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert!(
        status["fields"]["alipay_root_cert"]["count"]
            .as_u64()
            .unwrap_or(0)
            >= 2,
        "{status}"
    );
    // A certificate of another app's key is refused.
    let (s, res) = h
        .admin(Method::PUT, &path, Some(json!({"app_cert": app_cert})))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    assert_eq!(res["error"]["field"], "app_cert");
}

#[tokio::test]
async fn scoped_tokens_see_only_their_scope() {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    for acc in [&a, &b] {
        for sub in ["1900000201", "1900000202"] {
            let (s, res) = h
                .admin(
                    Method::POST,
                    &format!("/admin/v1/accounts/{acc}/sub-merchants"),
                    Some(json!({"sub_mchid": sub, "name": "Shop"})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{res}");
        }
    }
    let ta = h.token(json!({"type": "account", "account_id": a})).await;
    let get = |path: String, t: String| {
        let h = &h;
        async move { h.call(Method::GET, &path, Some(&t), None).await.0 }
    };
    assert_eq!(
        get(format!("/admin/v1/accounts/{a}"), ta.clone()).await,
        StatusCode::OK
    );
    assert_eq!(
        get(format!("/admin/v1/accounts/{b}"), ta.clone()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(format!("/admin/v1/accounts/{b}/sub-merchants"), ta.clone()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(format!("/admin/v1/accounts/{b}/notifications"), ta.clone()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(
            format!("/admin/v1/accounts/{b}/sub-merchants/1900000201"),
            ta.clone()
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let (_, list) = h
        .call(Method::GET, "/admin/v1/accounts", Some(&ta), None)
        .await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(ids, vec![a.as_str()]);
    let (s, _) = h
        .call(
            Method::PATCH,
            &format!("/admin/v1/accounts/{b}"),
            Some(&ta),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::PUT,
            &format!("/admin/v1/accounts/{b}/credentials"),
            Some(&ta),
            Some(json!({"apiv3_key": APIV3})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::DELETE,
            &format!("/admin/v1/accounts/{b}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = h
        .call(
            Method::POST,
            "/admin/v1/accounts",
            Some(&ta),
            Some(provider_body("1900000111")),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = h
        .call(
            Method::POST,
            "/admin/v1/tokens",
            Some(&ta),
            Some(json!({"name": "x", "scope": {"type": "account", "account_id": b}})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "cannot mint a token for another account"
    );
    let (s, _) = h
        .call(
            Method::POST,
            "/admin/v1/tokens",
            Some(&ta),
            Some(json!({"name": "x", "scope": {"type": "all"}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "cannot widen its own scope");

    // A sub-merchant token: its sub-merchant only, not the provider's settings.
    let ts = h
        .token(json!({"type": "sub_merchant", "account_id": a, "sub_mchid": "1900000201"}))
        .await;
    assert_eq!(
        get(
            format!("/admin/v1/accounts/{a}/sub-merchants/1900000201"),
            ts.clone()
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        get(
            format!("/admin/v1/accounts/{a}/sub-merchants/1900000201/notifications"),
            ts.clone()
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(
        get(
            format!("/admin/v1/accounts/{a}/sub-merchants/1900000202"),
            ts.clone()
        )
        .await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(format!("/admin/v1/accounts/{a}"), ts.clone()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(format!("/admin/v1/accounts/{a}/notifications"), ts.clone()).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(
            format!("/admin/v1/accounts/{b}/sub-merchants/1900000201"),
            ts.clone()
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let (_, subs) = h
        .call(
            Method::GET,
            &format!("/admin/v1/accounts/{a}/sub-merchants"),
            Some(&ts),
            None,
        )
        .await;
    assert_eq!(subs["items"].as_array().map(Vec::len), Some(1));
    let (_, tokens) = h
        .call(Method::GET, "/admin/v1/tokens", Some(&ta), None)
        .await;
    assert_eq!(
        tokens["items"].as_array().map(Vec::len),
        Some(2),
        "its own and the narrower one: {tokens}"
    );
}

#[tokio::test]
async fn tokens_are_shown_once_stored_hashed_and_revocable() {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let (s, created) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "ops bot", "scope": {"type": "account", "account_id": a}})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let token = created["token"].as_str().expect("token").to_string();
    let id = created["id"].as_str().expect("id").to_string();
    let (_, list) = h.admin(Method::GET, "/admin/v1/tokens", None).await;
    assert!(
        !list.to_string().contains(&token),
        "a token is shown only at creation"
    );
    // Only a hash is stored.
    drop(h.state.ports.records.clone());
    let raw = std::fs::read(h.dir.path().join("desk.db")).unwrap_or_default();
    let wal = std::fs::read(h.dir.path().join("desk.db-wal")).unwrap_or_default();
    // `cdt_<id>_<secret>`: the secret may itself contain `_` (base64url), so take all of it.
    let secret_part = token
        .splitn(3, '_')
        .nth(2)
        .expect("secret")
        .as_bytes()
        .to_vec();
    assert!(secret_part.len() >= 20, "{token}");
    for bytes in [raw, wal] {
        assert!(
            !bytes
                .windows(secret_part.len())
                .any(|w| w == secret_part.as_slice())
        );
    }
    let (s, _) = h
        .call(
            Method::GET,
            &format!("/admin/v1/accounts/{a}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = h
        .admin(Method::DELETE, &format!("/admin/v1/tokens/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h
        .call(
            Method::GET,
            &format!("/admin/v1/accounts/{a}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a deleted token no longer works"
    );
}

#[tokio::test]
async fn notification_secrets_follow_omitted_null_value() {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let path = format!("/admin/v1/accounts/{a}/notifications");
    let full = json!({
        "email": {"host": "smtp.163.com", "port": 465, "tls": "implicit", "sender": "ops@163.com",
                  "recipients": ["a@example.com", "b@example.com"], "auth_code": "AUTHCODE163XYZ"},
        "oa_template": {"appid": "wx1234567890abcdef", "template_id": "TPL1", "openids": ["oOPENID1"],
                        "field_mapping": {"thing1": "merchant"}, "secret": "oa-app-secret-0123456789abcdef01"},
        "sms": {"secret_id": "AKIDEXAMPLE", "sdk_app_id": "1400000000", "sign_name": "投诉台",
                "template_id": "123456", "phone_numbers": ["+8613800000000"], "secret_key": "sms-secret-key-value-xyz"},
        "bots": [{"id": "ops-ding", "kind": "dingtalk", "webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=abc123", "signing_secret": "SECdingsigning"}]
    });
    let (s, view) = h.admin(Method::PUT, &path, Some(full.clone())).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    let text = view.to_string();
    for secret in [
        "AUTHCODE163XYZ",
        "oa-app-secret",
        "sms-secret-key-value",
        "access_token=abc123",
        "SECdingsigning",
    ] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(view["email"]["auth_code"]["set"], true);
    assert_eq!(
        view["email"]["recipients"],
        json!(["a@example.com", "b@example.com"])
    );
    let fp = |v: &Value, p: &[&str]| {
        let mut cur = v;
        for k in p {
            cur = &cur[*k];
        }
        cur["fingerprint"].as_str().map(String::from)
    };
    let email_fp = fp(&view, &["email", "auth_code"]);
    let bot_fp = view["bots"][0]["webhook_url"]["fingerprint"]
        .as_str()
        .map(String::from);
    assert!(email_fp.is_some() && bot_fp.is_some());

    // Omitted secret fields keep their values.
    let mut keep = full.clone();
    for (ch, f) in [
        ("email", "auth_code"),
        ("oa_template", "secret"),
        ("sms", "secret_key"),
    ] {
        keep[ch].as_object_mut().expect("obj").remove(f);
    }
    keep["bots"][0]
        .as_object_mut()
        .expect("obj")
        .remove("webhook_url");
    keep["email"]["recipients"] = json!(["c@example.com"]);
    let (s, view) = h.admin(Method::PUT, &path, Some(keep.clone())).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(fp(&view, &["email", "auth_code"]), email_fp);
    assert_eq!(
        view["bots"][0]["webhook_url"]["fingerprint"]
            .as_str()
            .map(String::from),
        bot_fp
    );
    assert_eq!(view["sms"]["secret_key"]["set"], true);
    assert_eq!(
        view["email"]["recipients"],
        json!(["c@example.com"]),
        "non-secret fields replace"
    );

    // null clears; a value replaces.
    let mut clear = keep.clone();
    clear["email"]["auth_code"] = Value::Null;
    clear["bots"][0]["signing_secret"] = Value::Null;
    let (s, view) = h.admin(Method::PUT, &path, Some(clear)).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["email"]["auth_code"]["set"], false);
    assert_eq!(view["bots"][0]["signing_secret"]["set"], false);
    let mut replace = keep.clone();
    replace["email"]["auth_code"] = json!("ANOTHERCODE");
    let (_, view) = h.admin(Method::PUT, &path, Some(replace)).await;
    assert_eq!(view["email"]["auth_code"]["set"], true);
    assert_ne!(fp(&view, &["email", "auth_code"]), email_fp);

    // A required secret cleared: 400 naming it; the stored settings are unchanged.
    let mut bad = keep.clone();
    bad["sms"]["secret_key"] = Value::Null;
    let (s, res) = h.admin(Method::PUT, &path, Some(bad)).await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("sms.secret_key"))
    );
    let mut bad = keep.clone();
    bad["sms"]["phone_numbers"] = json!(["+8613800000000", "138"]);
    let (s, res) = h.admin(Method::PUT, &path, Some(bad)).await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("sms.phone_numbers[1]"))
    );
    let (_, view) = h.admin(Method::GET, &path, None).await;
    assert_eq!(view["sms"]["secret_key"]["set"], true);

    // A channel left out is switched off, and its secret goes with it.
    let (s, view) = h.admin(Method::PUT, &path, Some(json!({"bots": []}))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(view["email"], Value::Null);
    let mut again = full.clone();
    again["sms"]
        .as_object_mut()
        .expect("obj")
        .remove("secret_key");
    // Valid, but nothing is stored to keep: 409 naming it.
    let (s, res) = h.admin(Method::PUT, &path, Some(again)).await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::CONFLICT, Some("sms.secret_key"))
    );
}

#[tokio::test]
async fn sub_merchants_belong_to_providers() {
    let h = harness();
    let p = h.create(provider_body("1900000109")).await;
    let alipay = h
        .create(
            json!({"kind": "alipay_app", "name": "A", "settings": {"app_id": "2021000000000001"}}),
        )
        .await;
    let base = format!("/admin/v1/accounts/{p}/sub-merchants");
    let (s, sub) = h
        .admin(Method::POST, &base, Some(json!({"sub_mchid": "1900000201", "name": "Shop", "reply_text": "亲，已收到", "auto_refund": true, "refund_cap_fen": 5000})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["enabled"], true);
    let (s, _) = h
        .admin(
            Method::POST,
            &base,
            Some(json!({"sub_mchid": "1900000201", "name": "Again"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{alipay}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000201", "name": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, res) = h
        .admin(
            Method::POST,
            &base,
            Some(json!({"sub_mchid": "12", "name": "x"})),
        )
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("sub_mchid"))
    );
    let one = format!("{base}/1900000201");
    let (s, sub) = h
        .admin(
            Method::PATCH,
            &one,
            Some(json!({"reply_text": null, "enabled": false})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            sub["reply_text"].clone(),
            sub["enabled"].clone(),
            sub["refund_cap_fen"].clone()
        ),
        (Value::Null, json!(false), json!(5000))
    );
    let (s, _) = h.admin(Method::DELETE, &one, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h.admin(Method::GET, &one, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn mini_program_references_are_checked() {
    let h = harness();
    let p = h.create(provider_body("1900000109")).await;
    let comp = h
        .create(json!({"kind": "wxopen_component", "name": "Our platform", "settings": {"component_appid": "wx0000000000000001"}}))
        .await;
    let mini =
        |settings: Value| json!({"kind": "wxmini_app", "name": "Mini", "settings": settings});
    let (s, res) = h
        .admin(Method::POST, "/admin/v1/accounts", Some(mini(json!({"appid": "wx2c2769f8efd9abc2", "mode": "authorised", "component_account_id": p}))))
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (
            StatusCode::BAD_REQUEST,
            Some("settings.component_account_id")
        )
    );
    let (s, res) = h
        .admin(Method::POST, "/admin/v1/accounts", Some(mini(json!({"appid": "wx2c2769f8efd9abc2", "mode": "manual", "payment": {"account_id": comp}}))))
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("settings.payment.account_id"))
    );
    let (s, res) = h
        .admin(Method::POST, "/admin/v1/accounts", Some(mini(json!({"appid": "wx2c2769f8efd9abc2", "mode": "manual", "payment": {"account_id": p}}))))
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("settings.payment.sub_mchid"))
    );
    let id = h
        .create(mini(json!({"appid": "wx2c2769f8efd9abc2", "mode": "authorised", "component_account_id": comp,
            "auto_response": {"enabled": true, "decision": "agree", "text": "已与您联系"},
            "auto_refund": true, "payment": {"account_id": p, "sub_mchid": "1900000201"}})))
        .await;
    let (s, res) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{id}/credentials"),
            Some(json!({"secret": "x"})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "an authorised mini program has no credentials: {res}"
    );
    let (_, acc) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(acc["credentials"]["complete"], true);
    let manual = h.create(json!({"kind": "wxmini_app", "name": "M2", "settings": {"appid": "wx2c2769f8efd9abc3", "mode": "manual"}})).await;
    let (s, status) = h
        .admin(Method::PUT, &format!("/admin/v1/accounts/{manual}/credentials"),
            Some(json!({"secret": "0123456789abcdef0123456789abcdef", "token": "spamtest", "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"})))
        .await;
    assert_eq!(s, StatusCode::OK, "{status}");
    assert_eq!(status["complete"], true);
    let (s, res) = h
        .admin(
            Method::PUT,
            &format!("/admin/v1/accounts/{manual}/credentials"),
            Some(json!({"encoding_aes_key": "too-short"})),
        )
        .await;
    assert_eq!(
        (s, res["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("encoding_aes_key"))
    );
}

#[tokio::test]
async fn deleting_an_account_removes_its_secrets_and_frees_its_platform_id() {
    let h = harness();
    let id = h.create(provider_body("1900000109")).await;
    h.admin(
        Method::PUT,
        &format!("/admin/v1/accounts/{id}/credentials"),
        Some(json!({"apiv3_key": APIV3})),
    )
    .await;
    h.admin(
        Method::POST,
        &format!("/admin/v1/accounts/{id}/sub-merchants"),
        Some(json!({"sub_mchid": "1900000201", "name": "S"})),
    )
    .await;
    let (s, _) = h
        .admin(Method::DELETE, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h
        .admin(Method::GET, &format!("/admin/v1/accounts/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let secrets = &h.state.ports.secrets;
    assert!(
        secrets
            .get(&format!("accounts/{id}/credentials"))
            .await
            .expect("get")
            .is_none()
    );
    h.create(provider_body("1900000109")).await;
}

#[tokio::test]
async fn scoped_tokens_cannot_move_where_account_secrets_go() {
    let h = harness();
    let api = "https://api.platform.example";
    let wxopen = h
        .create(
            json!({"kind": "wxopen_component", "name": "Open", "settings": {
            "component_appid": "wx1111111111111111", "api_base_url": api}}),
        )
        .await;
    let pay = h.create(provider_body("1900000109")).await;
    let accounts = [
        (
            h.create(json!({"kind": "alipay_app", "name": "Ali", "settings": {
                "app_id": "2021000000000001", "api_base_url": api}}))
                .await,
            json!({"api_base_url": "https://attacker.example"}),
            "settings.api_base_url",
        ),
        (
            h.create(json!({"kind": "wechatpay_merchant", "name": "Pay", "settings": {
                "mchid": "1900000110", "appid": "wx2c2769f8efd9abc2",
                "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1", "api_base_url": api}}))
                .await,
            json!({"api_base_url": "https://attacker.example"}),
            "settings.api_base_url",
        ),
        (
            pay.clone(),
            json!({"api_base_url": "https://attacker.example"}),
            "settings.api_base_url",
        ),
        (
            h.create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
                "appid": "wx2222222222222222", "mode": "manual", "api_base_url": api}}))
                .await,
            json!({"api_base_url": null}),
            "settings.api_base_url",
        ),
        (
            wxopen.clone(),
            json!({"api_base_url": "http://127.0.0.1:1"}),
            "settings.api_base_url",
        ),
        (
            wxopen.clone(),
            json!({"auth_page_base_url": "https://attacker.example"}),
            "settings.auth_page_base_url",
        ),
        (
            h.create(json!({"kind": "wxmini_app", "name": "Mini 2", "settings": {
                "appid": "wx3333333333333333", "mode": "manual"}}))
                .await,
            json!({"payment": {"account_id": pay, "sub_mchid": "1900000201"}}),
            "settings.payment.account_id",
        ),
        (
            h.create(json!({"kind": "wxmini_app", "name": "Mini 3", "settings": {
                "appid": "wx4444444444444444", "mode": "manual"}}))
                .await,
            json!({"allow_plaintext": true}),
            "settings.allow_plaintext",
        ),
        (
            h.create(json!({"kind": "wxmini_app", "name": "Mini 4", "settings": {
                "appid": "wx5555555555555555", "mode": "manual",
                "payment": {"account_id": pay, "sub_mchid": "1900000201"}}}))
                .await,
            json!({"payment": {"sub_mchid": "1900000202"}}),
            "settings.payment.sub_mchid",
        ),
    ];
    for (id, patch, field) in &accounts {
        let path = format!("/admin/v1/accounts/{id}");
        let (_, before) = h.admin(Method::GET, &path, None).await;
        let t = h.token(json!({"type": "account", "account_id": id})).await;
        let (s, b) = h
            .call(
                Method::PATCH,
                &path,
                Some(&t),
                Some(json!({"settings": patch})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{patch} → {b}");
        assert_eq!(b["error"]["code"], "forbidden");
        assert_eq!(b["error"]["field"], *field, "{b}");
        let (_, after) = h.admin(Method::GET, &path, None).await;
        assert_eq!(before, after, "nothing changed");
        // The stored value again is no change; other fields stay the token's to change.
        let same = json!({"name": "Renamed", "settings": {"api_base_url": before["settings"]["api_base_url"]}});
        let (s, b) = h.call(Method::PATCH, &path, Some(&t), Some(same)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // The administrator may.
        let (s, b) = h
            .admin(Method::PATCH, &path, Some(json!({"settings": patch})))
            .await;
        assert_eq!(s, StatusCode::OK, "{patch} → {b}");
    }
    let (_, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert!(
        doc["paths"]["/admin/v1/accounts/{id}"]["patch"]["responses"]["403"].is_object(),
        "the 403 is documented"
    );
}

#[tokio::test]
async fn notification_destinations_need_the_secret_and_api_base_url_needs_scope_all() {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let (s, b) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{a}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000201", "name": "Shop"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let full = json!({
        "email": {"host": "smtp.163.com", "port": 465, "tls": "implicit", "sender": "ops@163.com",
                  "recipients": ["a@example.com"], "auth_code": "AUTHCODE163XYZ"},
        "oa_template": {"appid": "wx1234567890abcdef", "template_id": "TPL1", "openids": ["oOPENID1"],
                        "api_base_url": "https://api.weixin.qq.com",
                        "secret": "oa-app-secret-0123456789abcdef01"},
        "sms": {"secret_id": "AKIDEXAMPLE", "sdk_app_id": "1400000000", "sign_name": "投诉台",
                "template_id": "123456", "phone_numbers": ["+8613800000000"],
                "api_base_url": "https://sms.tencentcloudapi.com", "secret_key": "sms-secret-key-value-xyz"},
        "bots": [{"id": "ops-ding", "kind": "dingtalk", "webhook_url": "https://oapi.dingtalk.com/robot/send?access_token=abc123", "signing_secret": "SECdingsigning"}]
    });
    // Without the secrets: what a caller who never saw them can send.
    let mut kept = full.clone();
    for (ch, f) in [
        ("email", "auth_code"),
        ("oa_template", "secret"),
        ("sms", "secret_key"),
    ] {
        kept[ch].as_object_mut().expect("obj").remove(f);
    }
    kept["bots"][0]
        .as_object_mut()
        .expect("obj")
        .remove("signing_secret");
    let with = |base: &Value, path: &[&str], v: Value| {
        let mut b = base.clone();
        let mut cur = &mut b;
        for k in &path[..path.len() - 1] {
            cur = &mut cur[*k];
        }
        cur[path[path.len() - 1]] = v;
        b
    };
    for (path, token_scope) in [
        (
            format!("/admin/v1/accounts/{a}/notifications"),
            json!({"type": "account", "account_id": a}),
        ),
        (
            format!("/admin/v1/accounts/{a}/sub-merchants/1900000201/notifications"),
            json!({"type": "sub_merchant", "account_id": a, "sub_mchid": "1900000201"}),
        ),
    ] {
        let (s, b) = h.admin(Method::PUT, &path, Some(full.clone())).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let (_, stored) = h.admin(Method::GET, &path, None).await;
        let t = h.token(token_scope).await;
        // A destination changed without its secret: valid, but the stored secret is not sent
        // to it; 409 naming the secret.
        let cases: Vec<(Value, StatusCode, &str)> = vec![
            (
                with(&kept, &["email", "host"], json!("smtp.attacker.example")),
                StatusCode::CONFLICT,
                "email.auth_code",
            ),
            (
                with(&kept, &["email", "port"], json!(25)),
                StatusCode::CONFLICT,
                "email.auth_code",
            ),
            (
                with(&kept, &["email", "tls"], json!("none")),
                StatusCode::CONFLICT,
                "email.auth_code",
            ),
            (
                with(
                    &kept,
                    &["oa_template", "appid"],
                    json!("wxaaaaaaaaaaaaaaaa"),
                ),
                StatusCode::CONFLICT,
                "oa_template.secret",
            ),
            (
                with(&kept, &["sms", "sdk_app_id"], json!("1400000001")),
                StatusCode::CONFLICT,
                "sms.secret_key",
            ),
            (
                with(
                    &kept,
                    &["bots"],
                    json!([{"id": "ops-ding", "kind": "dingtalk", "webhook_url": "https://attacker.example/robot"}]),
                ),
                StatusCode::CONFLICT,
                "bots[0].signing_secret",
            ),
            (
                with(
                    &full,
                    &["oa_template", "api_base_url"],
                    json!("https://attacker.example"),
                ),
                StatusCode::FORBIDDEN,
                "oa_template.api_base_url",
            ),
            (
                with(
                    &full,
                    &["sms", "api_base_url"],
                    json!("https://attacker.example"),
                ),
                StatusCode::FORBIDDEN,
                "sms.api_base_url",
            ),
        ];
        for (body, status, field) in cases {
            let (s, b) = h.call(Method::PUT, &path, Some(&t), Some(body)).await;
            assert_eq!(
                (s, b["error"]["field"].as_str()),
                (status, Some(field)),
                "{path}: {b}"
            );
            let (_, now) = h.admin(Method::GET, &path, None).await;
            assert_eq!(now, stored, "nothing changed");
        }
        // The same destinations with the secrets omitted: kept, accepted.
        let (s, b) = h
            .call(Method::PUT, &path, Some(&t), Some(kept.clone()))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        // A new host with its code in the same request: accepted.
        let moved = with(
            &with(&kept, &["email", "host"], json!("smtp.qq.com")),
            &["email", "auth_code"],
            json!("QQCODE123"),
        );
        let (s, b) = h.call(Method::PUT, &path, Some(&t), Some(moved)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(b["email"]["host"], "smtp.qq.com");
        // The administrator changes api_base_url, but the secret still has to come along.
        let kept = with(&kept, &["email", "host"], json!("smtp.qq.com"));
        let admin_move = with(
            &kept,
            &["oa_template", "api_base_url"],
            json!("http://127.0.0.1:9"),
        );
        let (s, b) = h.admin(Method::PUT, &path, Some(admin_move.clone())).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (StatusCode::CONFLICT, Some("oa_template.secret")),
            "{b}"
        );
        let admin_move = with(
            &admin_move,
            &["oa_template", "secret"],
            json!("oa-app-secret-0123456789abcdef02"),
        );
        let (s, b) = h.admin(Method::PUT, &path, Some(admin_move)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
}

#[tokio::test]
async fn garbage_cursors_bad_path_ids_and_control_characters_are_400() {
    let h = harness();
    let p = h.create(provider_body("1900000109")).await;
    for route in [
        "/admin/v1/accounts".to_string(),
        "/admin/v1/tokens".to_string(),
        "/admin/v1/complaints".to_string(),
        "/admin/v1/dead-letters".to_string(),
        format!("/admin/v1/accounts/{p}/sub-merchants"),
        format!("/admin/v1/violations?account={p}"),
        "/admin/v1/deliveries".to_string(),
    ] {
        for cursor in ["garbage!", "eyJub3QiOiJhIGN1cnNvciJ9", "WzEsMiwzXQ"] {
            let sep = if route.contains('?') { '&' } else { '?' };
            let (s, b) = h
                .admin(Method::GET, &format!("{route}{sep}cursor={cursor}"), None)
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{route} {cursor}: {b}");
            assert_eq!(b["error"]["code"], "invalid_request", "{b}");
            assert_eq!(b["error"]["field"], "cursor", "{route}: {b}");
        }
    }
    // Ids in paths.
    for (path, field) in [
        ("/admin/v1/accounts/acc%2F..%2Fx".to_string(), "id"),
        ("/admin/v1/complaints/..%2Fcmp_1".to_string(), "id"),
        (
            format!("/admin/v1/accounts/{p}/sub-merchants/..%2F1900000201"),
            "sub_mchid",
        ),
        (
            format!("/admin/v1/accounts/{p}/sub-merchants/1900%0A00201"),
            "sub_mchid",
        ),
    ] {
        let (s, b) = h.admin(Method::GET, &path, None).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{path}: {b}"
        );
    }
    // Control characters in names, hosts, addresses, URLs and texts.
    for (method, path, body, field) in [
        (
            Method::POST,
            "/admin/v1/accounts".to_string(),
            json!({"kind": "alipay_app", "name": "Shop\u{0}", "settings": {"app_id": "2021000000000001"}}),
            "name",
        ),
        (
            Method::POST,
            "/admin/v1/tokens".to_string(),
            json!({"name": "ci\r\nX-Evil: 1", "scope": {"type": "all"}}),
            "name",
        ),
        (
            Method::POST,
            format!("/admin/v1/accounts/{p}/sub-merchants"),
            json!({"sub_mchid": "1900000301", "name": "Shop\nTwo"}),
            "name",
        ),
        (
            Method::POST,
            format!("/admin/v1/accounts/{p}/sub-merchants"),
            json!({"sub_mchid": "1900000301", "name": "Shop", "reply_text": "您好\r\n"}),
            "reply_text",
        ),
        (
            Method::PUT,
            format!("/admin/v1/accounts/{p}/notifications"),
            json!({"email": {"host": "smtp.163.com\r\nRCPT TO:<x@evil.example>", "port": 465, "tls": "implicit",
                "sender": "ops@163.com", "recipients": ["a@example.com"]}}),
            "email.host",
        ),
        (
            Method::PUT,
            format!("/admin/v1/accounts/{p}/notifications"),
            json!({"email": {"host": "smtp.163.com", "port": 465, "tls": "implicit",
                "sender": "ops@163.com\u{0}", "recipients": ["a@example.com"]}}),
            "email.sender",
        ),
        (
            Method::PUT,
            format!("/admin/v1/accounts/{p}/notifications"),
            json!({"email": {"host": "smtp.163.com", "port": 465, "tls": "implicit",
                "sender": "ops@163.com", "recipients": ["a@example.com", "b@example.com\r\nBcc: c@evil.example"]}}),
            "email.recipients[1]",
        ),
        (
            Method::PUT,
            format!("/admin/v1/accounts/{p}/notifications"),
            json!({"bots": [{"id": "b", "kind": "wecom", "webhook_url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=a\nb"}]}),
            "bots[0].webhook_url",
        ),
    ] {
        let (s, b) = h.admin(method, &path, Some(body.clone())).await;
        assert_eq!(
            (s, b["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some(field)),
            "{body}: {b}"
        );
    }
    // Buyer-facing texts may have line breaks.
    let (s, b) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{p}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000301", "name": "Shop", "reply_text": "您好，\n已收到。"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}
