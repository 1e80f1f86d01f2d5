//! The console in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
//! over WebDriver against the real `complaint-desk` binary. Each test has its own binary, data
//! directory, chromedriver and Chromium profile. Screenshots land in `target/screenshots/`;
//! `scripts/screenshots` copies the README's into `docs/screenshots/`.

use e2e_tests::browser::{PHONE, png_size};
use e2e_tests::{Browser, Server};

/// The harness itself, on a page the binary has served for long: the mini program
/// authorisation link without its state is refused with a page that says so, the phone viewport
/// is 390 CSS pixels wide, and the screenshot is a 390×844 PNG.
#[tokio::test]
async fn browser_opens_a_served_page_on_a_phone_screen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    let browser = Browser::start().await;
    browser.phone().await;
    browser
        .goto(&server.url("/wxopen/wx0123456789abcdef/authorize"))
        .await;
    let heading = browser.text("h1").await;
    assert!(heading.contains("Link not valid"), "heading: {heading}");
    let body = browser.text("body").await;
    assert!(body.contains("cannot be used"), "page: {body}");
    // A phone, not a narrow window: the screen is 390×844, and a page without a viewport meta
    // (this one has none) is laid out 980 pixels wide, as a phone's browser lays it out. The
    // console's pages declare `width=device-width` and get `innerWidth == 390` (checked there).
    let screen = browser
        .execute("return [screen.width, screen.height, navigator.maxTouchPoints > 0];")
        .await;
    assert_eq!(screen, serde_json::json!([390, 844, true]));
    assert_eq!(browser.inner_size().await.0, 980);
    let shot = browser.screenshot("harness-wxopen-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));
}
