//! Role checks across the console in a browser on a phone: an agent signed in sees no settings
//! link, and every settings page answers 403 in words; an administrator sees the settings
//! index with a link to each page, and each page opens without scrolling sideways.

use super::{fits_the_phone, sign_in};
use e2e_tests::{Browser, Server};
use serde_json::json;

/// Every settings page (administrators only).
const SETTINGS: [&str; 7] = [
    "/console/settings",
    "/console/accounts",
    "/console/accounts/new",
    "/console/notifications",
    "/console/tokens",
    "/console/dead-letters",
    "/console/deliveries",
];

#[tokio::test]
async fn an_agent_sees_no_settings_and_an_administrator_sees_them_all() {
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = "admin-console-roles-browser-0123456789";
    let server = Server::start(&dir.path().join("data"), &[("ADMIN_TOKEN", admin)]);
    let (status, agent) = server
        .admin(
            admin,
            reqwest::Method::POST,
            "/tokens",
            Some(json!({"name": "客服小王", "role": "agent", "scope": {"type": "all"}})),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let agent = agent["token"].as_str().expect("token").to_string();

    let browser = Browser::start().await;
    browser.phone().await;
    sign_in(&browser, &server, &agent).await;
    assert!(
        !browser.exists("#nav-settings").await,
        "an agent has no settings link"
    );
    assert!(browser.exists("a[href='/console/violations']").await);
    for page in SETTINGS {
        browser.goto(&server.url(page)).await;
        let text = browser.text("main").await;
        assert!(
            text.contains("403") && text.contains("无权操作"),
            "{page} for an agent: {text}"
        );
        fits_the_phone(&browser, page).await;
    }
    browser.goto(&server.url("/console/violations")).await;
    assert!(!browser.text("main").await.contains("无权操作"));
    drop(browser);

    let browser = Browser::start().await;
    browser.phone().await;
    sign_in(&browser, &server, admin).await;
    browser.click("#nav-settings").await;
    browser.wait_for_path("/console/settings").await;
    for page in SETTINGS {
        browser.goto(&server.url(page)).await;
        let text = browser.text("main").await;
        assert!(
            !text.contains("无权操作"),
            "{page} for an administrator: {text}"
        );
        fits_the_phone(&browser, page).await;
    }
}
