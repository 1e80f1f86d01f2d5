//! The settings index is an administrator's: an agent or a viewer gets 403 and sees no link to
//! it; every page links the violations and score page.

use super::common::console::{get, session};
use super::common::{self, ADMIN};
use axum::http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn only_an_administrator_sees_the_settings() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let page = get(&h, "/console/settings", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    for link in [
        "/console/accounts",
        "/console/notifications",
        "/console/tokens",
        "/console/dead-letters",
        "/console/deliveries",
    ] {
        assert!(page.body.contains(&format!("href=\"{link}\"")), "{link}");
    }
    let inbox = get(&h, "/console/", &admin).await;
    assert!(inbox.body.contains("id=\"nav-settings\""), "{}", inbox.body);

    for role in ["agent", "viewer"] {
        let (status, token) = h
            .admin(
                axum::http::Method::POST,
                "/admin/v1/tokens",
                Some(json!({"name": role, "role": role, "scope": {"type": "all"}})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{token}");
        let cookie = session(&h, token["token"].as_str().expect("token")).await;
        let inbox = get(&h, "/console/", &cookie).await;
        assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
        assert!(
            !inbox.body.contains("nav-settings"),
            "{role}: {}",
            inbox.body
        );
        assert!(
            inbox.body.contains("href=\"/console/violations\""),
            "{role}"
        );
        let page = get(&h, "/console/settings", &cookie).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{role}: {}", page.body);
        assert!(
            !page.body.contains("/console/tokens"),
            "{role}: {}",
            page.body
        );
    }
}
