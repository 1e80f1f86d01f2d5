//! The console's settings and operations pages in a real browser (headless Chromium, the real
//! `complaint-desk` binary, the simulators, a real SMTP sink): one test binary, a module per
//! page group, each test its own server and browser.

mod accounts;
mod notifications;
mod operations;
mod roles;
mod violations;

use e2e_tests::{Browser, Server};

/// Sign in on the console's sign-in page with `token`; back on the inbox.
pub async fn sign_in(browser: &Browser, server: &Server, token: &str) {
    browser.goto(&server.url("/console/sign-in")).await;
    browser.fill("#token", token).await;
    browser.click("#sign-in button[type=submit]").await;
    browser.wait_for_path("/console/").await;
}

/// The page does not scroll sideways on the phone's 390 px.
pub async fn fits_the_phone(browser: &Browser, page: &str) {
    let width = browser
        .execute("return document.documentElement.scrollWidth;")
        .await;
    assert!(
        width.as_u64().is_some_and(|w| w <= 390),
        "{page} scrolls sideways on a phone: {width}"
    );
}
