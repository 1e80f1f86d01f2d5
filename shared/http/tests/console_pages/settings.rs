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

/// A query that does not fit a page (letters where a number belongs, a filter given twice)
/// answers the console's own error page in the page's language, not a plain-text rejection.
#[tokio::test]
async fn a_query_that_does_not_fit_answers_the_consoles_error_page() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    for path in [
        "/console/accounts/acc_x/score?days=thirty",
        "/console/violations?account=a&account=b",
        "/console/deliveries?status=sent&status=failed",
        "/console/?status=pending&status=closed",
    ] {
        let page = get(&h, path, &admin).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.body
        );
        let content_type = page
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert!(
            page.body.contains("网址中的参数不正确"),
            "{path}: {}",
            page.body
        );
    }
}

/// An id in a console path that cannot be one (spaces, `<`, a sub-merchant that is no number)
/// answers the console's error page before any page looks it up; ids that can be one go on.
#[tokio::test]
async fn a_path_id_that_cannot_be_one_answers_400_before_any_page_runs() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    for path in [
        "/console/accounts/acc%20x",
        "/console/accounts/acc_x/sub-merchants/12ab",
        "/console/complaints/%3Cb%3E",
        "/console/accounts/acc_x/sub-merchants/1900000109/notifications/test/a%0Ab",
    ] {
        let page = get(&h, path, &admin).await;
        assert_eq!(
            page.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            page.body
        );
        assert!(page.body.contains("<html"), "{path}: the console's page");
    }
    let page = get(&h, "/console/accounts/acc_nothing", &admin).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND, "{}", page.body);
}
