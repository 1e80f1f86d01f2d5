//! `settings.deadlines` of an account and `deadlines` of a sub-merchant through the admin
//! API: the defaults, the checks (400 naming the field), the merge on `PATCH`, a
//! sub-merchant's own settings (no recipients of its own; `null` gives it the provider's
//! again), who may change and read the escalation recipients, and the place of it all in the
//! OpenAPI document.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn deadline_settings_are_checked_merged_and_documented() {
    let harness = harness();
    let h = &harness;
    let account = h
        .create(json!({"kind": "alipay_app", "name": "一号店", "settings": {"app_id": "2021000000000001"}}))
        .await;
    let path = format!("/admin/v1/accounts/{account}");
    let (s, a) = h.admin(Method::GET, &path, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        a["settings"]["deadlines"],
        json!({"reminders": true, "remind_at_percent": [50, 80], "remind_before_minutes": [120],
               "escalate": true, "escalation_recipients": {"emails": [], "phones": [], "oa_openids": []},
               "digest": {"enabled": true, "local_time": "09:00"}}),
        "the defaults are on"
    );
    for (deadlines, field) in [
        (
            json!({"remind_at_percent": [50, 100]}),
            "settings.deadlines.remind_at_percent[1]",
        ),
        (
            json!({"remind_at_percent": [1, 2, 3, 4, 5, 6]}),
            "settings.deadlines.remind_at_percent",
        ),
        (
            json!({"remind_before_minutes": [0]}),
            "settings.deadlines.remind_before_minutes[0]",
        ),
        (
            json!({"remind_before_minutes": [10081]}),
            "settings.deadlines.remind_before_minutes[0]",
        ),
        (
            json!({"digest": {"local_time": "25:00"}}),
            "settings.deadlines.digest.local_time",
        ),
        (
            json!({"escalation_recipients": {"emails": ["not-an-address"]}}),
            "settings.deadlines.escalation_recipients.emails[0]",
        ),
        (
            json!({"escalation_recipients": {"phones": ["13800000000"]}}),
            "settings.deadlines.escalation_recipients.phones[0]",
        ),
        (
            json!({"escalation_recipients": {"oa_openids": [""]}}),
            "settings.deadlines.escalation_recipients.oa_openids[0]",
        ),
        (json!({"remind_at": [50]}), "settings.deadlines.remind_at"),
    ] {
        let (s, b) = h
            .admin(
                Method::PATCH,
                &path,
                Some(json!({"settings": {"deadlines": deadlines}})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{deadlines}: {b}");
        assert_eq!(b["error"]["field"], field, "{deadlines}: {b}");
    }
    let (s, b) = h
        .call(
            Method::POST,
            "/admin/v1/accounts",
            Some(ADMIN),
            Some(json!({"kind": "alipay_app", "name": "x", "settings": {
                "app_id": "2021000000000002", "deadlines": {"remind_at_percent": [0]}}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(
        b["error"]["field"],
        "settings.deadlines.remind_at_percent[0]"
    );

    // A merge patch: what is not named stays.
    let (s, b) = h
        .admin(
            Method::PATCH,
            &path,
            Some(
                json!({"settings": {"deadlines": {"remind_before_minutes": [30, 240],
                "escalation_recipients": {"emails": ["boss@example.com"]}}}}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let d = &b["settings"]["deadlines"];
    assert_eq!(d["remind_before_minutes"], json!([30, 240]));
    assert_eq!(d["remind_at_percent"], json!([50, 80]));
    assert_eq!(
        d["escalation_recipients"]["emails"],
        json!(["boss@example.com"])
    );

    // A sub-merchant: its own settings, patched onto what applies; no recipients of its own;
    // null gives it the provider's again.
    let provider = h.create(provider_body("1900000111")).await;
    let subs = format!("/admin/v1/accounts/{provider}/sub-merchants");
    let (s, b) = h
        .admin(
            Method::POST,
            &subs,
            Some(json!({"sub_mchid": "1900000555", "name": "门店三",
                "deadlines": {"escalation_recipients": {"emails": ["x@example.com"]}}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "deadlines.escalation_recipients");
    let (s, b) = h
        .admin(
            Method::POST,
            &subs,
            Some(json!({"sub_mchid": "1900000555", "name": "门店三"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["deadlines"], Value::Null, "the provider's apply");
    let sub = format!("{subs}/1900000555");
    let (s, b) = h
        .admin(
            Method::PATCH,
            &sub,
            Some(json!({"deadlines": {"reminders": false}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["deadlines"]["reminders"], false);
    assert_eq!(b["deadlines"]["remind_at_percent"], json!([50, 80]));
    let (s, b) = h
        .admin(
            Method::PATCH,
            &sub,
            Some(json!({"deadlines": {"remind_at_percent": [120]}})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "deadlines.remind_at_percent[0]");
    let (s, b) = h
        .admin(Method::PATCH, &sub, Some(json!({"deadlines": null})))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["deadlines"], Value::Null);

    // A viewer may not change them (nor any setting).
    let (s, b) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "v", "scope": {"type": "all"}, "role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let viewer = b["token"].as_str().expect("token").to_string();
    let (s, _) = h
        .call(
            Method::PATCH,
            &path,
            Some(&viewer),
            Some(json!({"settings": {"deadlines": {"escalation_recipients": {"emails": ["x@example.com"]}}}})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Recipients are staff contacts: in full for an admin (as the notification settings),
    // masked for other roles.
    let (_, full) = h.admin(Method::GET, &path, None).await;
    assert_eq!(
        full["settings"]["deadlines"]["escalation_recipients"]["emails"],
        json!(["boss@example.com"])
    );
    for read in [
        path.clone(),
        "/admin/v1/accounts?kind=alipay_app".to_string(),
    ] {
        let (s, b) = h.call(Method::GET, &read, Some(&viewer), None).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        let a = if b["items"].is_array() {
            &b["items"][0]
        } else {
            &b
        };
        assert_eq!(
            a["settings"]["deadlines"]["escalation_recipients"]["emails"],
            json!(["b***@example.com"]),
            "{read}: {b}"
        );
    }

    // The document: every kind with complaints shows the field; its rules are stated.
    let (s, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let schemas = &doc["components"]["schemas"];
    for kind in [
        "AlipayAppSettings",
        "WechatpayMerchantSettings",
        "WechatpayProviderSettings",
        "WxminiAppSettings",
    ] {
        assert!(
            schemas[kind]["properties"]["deadlines"].is_object(),
            "{kind}: {}",
            schemas[kind]
        );
    }
    assert!(schemas["SubMerchant"]["properties"]["deadlines"].is_object());
    let d = &schemas["DeadlineSettings"]["properties"];
    assert_eq!(d["remind_at_percent"]["items"]["maximum"], 99);
    assert_eq!(d["remind_at_percent"]["maxItems"], 5);
    assert_eq!(d["remind_before_minutes"]["items"]["maximum"], 10080);
    let r = &schemas["EscalationRecipients"]["properties"];
    assert!(r["phones"]["items"]["pattern"].is_string(), "{r}");
    assert!(schemas["DigestSettings"]["properties"]["local_time"]["pattern"].is_string());
    // A sub-merchant's bodies: no escalation recipients; PATCH takes a merge patch (null
    // removes a field, nested objects are patched, no other field).
    let own = &schemas["SubMerchantDeadlineSettings"]["properties"];
    for list in ["emails", "phones", "oa_openids"] {
        assert_eq!(
            own["escalation_recipients"]["properties"][list]["maxItems"], 0,
            "{own}"
        );
    }
    assert!(
        schemas["CreateSubMerchant"]["properties"]["deadlines"]
            .to_string()
            .contains("#/components/schemas/SubMerchantDeadlineSettings\""),
        "{}",
        schemas["CreateSubMerchant"]
    );
    assert!(
        schemas["PatchSubMerchant"]["properties"]["deadlines"]
            .to_string()
            .contains("#/components/schemas/SubMerchantDeadlineSettingsPatch"),
        "{}",
        schemas["PatchSubMerchant"]
    );
    let patch = &schemas["SubMerchantDeadlineSettingsPatch"];
    assert_eq!(patch["additionalProperties"], false, "{patch}");
    assert_eq!(
        patch["properties"]["reminders"]["anyOf"][1]["type"], "null",
        "{patch}"
    );
    assert_eq!(
        patch["properties"]["digest"]["properties"]["enabled"]["anyOf"][1]["type"], "null",
        "{patch}"
    );
}
