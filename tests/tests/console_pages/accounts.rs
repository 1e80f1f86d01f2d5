//! An administrator on a phone onboards one account of every kind through the console's
//! guided forms (no curl): a WeChat Pay merchant and a provider against the WeChat Pay
//! simulator (with a sub-merchant added through its form, and the callback URL registered
//! with one press until the page says it matches), an Alipay app in public-key mode, a mini
//! program by hand and a third-party platform (whose page makes the one-click authorisation
//! link). The pages show credentials as fingerprints and never a secret, and none scrolls
//! sideways at 390 px.

use super::{fits_the_phone, sign_in};
use e2e_tests::browser::{PHONE, png_size};
use e2e_tests::{Browser, Server};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::json;

const MERCHANT: &str = "1900000109";
const PROVIDER: &str = "1900000110";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APP_SECRET: &str = "a-mini-program-secret-0123456789";
const PUBLIC: &str = "https://desk.example.com";

/// Set a field's value with a script (a PEM typed key by key is slow).
async fn set(browser: &Browser, id: &str, value: &str) {
    let script = format!(
        "document.getElementById({}).value = {}; return true;",
        json!(id),
        json!(value)
    );
    browser.execute(&script).await;
}

async fn open_kind(browser: &Browser, server: &Server, kind: &str) {
    browser.goto(&server.url("/console/accounts/new")).await;
    fits_the_phone(browser, "the kind cards").await;
    browser.click(&format!("#kind-{kind}")).await;
    browser.wait_for("#create-account").await;
}

async fn create(browser: &Browser) -> String {
    browser.click("#create-account button[type=submit]").await;
    browser.wait_for("#notice").await;
    let url = browser.url().await;
    let path = url.path().to_string();
    assert!(path.starts_with("/console/accounts/acc_"), "{path}");
    path
}

#[tokio::test]
async fn an_administrator_onboards_every_kind_of_account_on_a_phone() {
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = "admin-accounts-browser-0123456789";
    let server = Server::start(
        &dir.path().join("data"),
        &[("ADMIN_TOKEN", admin), ("PUBLIC_BASE_URL", PUBLIC)],
    );
    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
        .await
        .expect("simulator");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    let pem = key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string();
    let pem_body: String = pem.lines().nth(1).expect("a line of the key").to_string();
    for mchid in [MERCHANT, PROVIDER] {
        sim.add_merchant(SimMerchant {
            mchid: mchid.into(),
            serial_no: SERIAL.into(),
            public_key: key.to_public_key(),
            apiv3_key: APIV3.into(),
        });
    }
    let browser = Browser::start().await;
    browser.phone().await;
    sign_in(&browser, &server, admin).await;

    // No account yet: the list says what to do first.
    browser.goto(&server.url("/console/accounts")).await;
    browser.wait_for("#no-accounts").await;

    // A WeChat Pay merchant: the steps, the callback URL filled in as the mchid is typed.
    open_kind(&browser, &server, "wechatpay_merchant").await;
    let steps = browser.text("#steps").await;
    assert!(steps.contains("API安全"), "{steps}");
    browser.fill("#input-name", "Shop on WeChat Pay").await;
    browser.fill("#input-mchid", MERCHANT).await;
    let url = browser
        .execute("return document.getElementById('callback-1').value;")
        .await;
    assert_eq!(
        url,
        json!(format!(
            "{PUBLIC}/callbacks/wechatpay/{MERCHANT}/complaints"
        ))
    );
    // Cleared, the placeholder comes back (then the number is typed again).
    let cleared = browser
        .execute(
            "var i = document.getElementById('input-mchid'); var v = i.value; \
             i.value = ''; i.dispatchEvent(new Event('input', {bubbles: true})); \
             var u = document.getElementById('callback-1').value; \
             i.value = v; i.dispatchEvent(new Event('input', {bubbles: true})); return u;",
        )
        .await;
    assert_eq!(
        cleared,
        json!(format!("{PUBLIC}/callbacks/wechatpay/{{mchid}}/complaints"))
    );
    browser.fill("#input-appid", "wx2c2769f8efd9abc2").await;
    browser.fill("#input-merchant-serial-no", SERIAL).await;
    browser
        .fill("#input-reply-text", "您好，我们已收到，正在处理。")
        .await;
    set(&browser, "input-api-base-url", &sim.base_url()).await;
    // Typing a cap chooses "refund up to the cap".
    browser.fill("#refund-cap-yuan", "50").await;
    assert_eq!(
        browser
            .execute("return document.getElementById('refund-cap').checked;")
            .await,
        json!(true)
    );
    set(&browser, "input-private-key", &pem).await;
    browser.fill("#input-apiv3-key", APIV3).await;
    set(
        &browser,
        "input-wechatpay-public-key",
        &sim.keys().public_key_pem(),
    )
    .await;
    browser
        .fill("#input-wechatpay-public-key-id", &sim.keys().pub_key_id)
        .await;
    fits_the_phone(&browser, "the merchant's creation form").await;
    // The steps and the callback URL under the sticky header.
    browser
        .execute(
            "var s = document.getElementById('steps'); \
             window.scrollTo(0, s.getBoundingClientRect().top + window.scrollY - 150); return true;",
        )
        .await;
    let shot = browser.screenshot("console-account-new-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));
    let merchant = create(&browser).await;
    let source = browser.source().await;
    assert!(!source.contains(APIV3), "the API v3 key is on the page");
    assert!(
        !source.contains(&pem_body),
        "the private key is on the page"
    );
    assert!(source.contains("指纹"), "no fingerprint shown");
    assert!(source.contains("50.00"), "the cap is not shown");
    // Register the callback URL with WeChat Pay (the simulator): the page says it matches.
    browser.click("#register-callbacks").await;
    browser.wait_for("#notice").await;
    let registration = browser.text("#callbacks").await;
    assert!(registration.contains("一致"), "{registration}");
    assert_eq!(
        sim.notification_url(MERCHANT, "complaints").as_deref(),
        Some(format!("{PUBLIC}/callbacks/wechatpay/{MERCHANT}/complaints").as_str())
    );
    fits_the_phone(&browser, "the merchant's page").await;
    browser.execute("window.scrollTo(0, 0); return true;").await;
    let shot = browser.screenshot("console-account-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));
    assert!(merchant.len() > 20);

    // A provider, then a sub-merchant through its form.
    open_kind(&browser, &server, "wechatpay_provider").await;
    browser.fill("#input-name", "Provider").await;
    browser.fill("#input-mchid", PROVIDER).await;
    browser.fill("#input-appid", "wx2c2769f8efd9abc2").await;
    browser.fill("#input-merchant-serial-no", SERIAL).await;
    set(&browser, "input-api-base-url", &sim.base_url()).await;
    browser.click("#refund-none").await;
    browser.click("#default-refund-none").await;
    set(&browser, "input-private-key", &pem).await;
    browser.fill("#input-apiv3-key", APIV3).await;
    create(&browser).await;
    browser.click("#add-sub-merchant").await;
    browser.fill("#input-sub-mchid", "1900000201").await;
    browser.fill("#input-sub-name", "Noodle shop").await;
    browser.click("#refund-cap").await;
    browser.fill("#refund-cap-yuan", "20").await;
    fits_the_phone(&browser, "the sub-merchant form").await;
    browser.click("#save-sub").await;
    browser.wait_for("#input-sub-enabled").await;
    browser.click("#back-to-account").await;
    let subs = browser.text("#sub-merchants").await;
    assert!(
        subs.contains("Noodle shop") && subs.contains("20.00"),
        "{subs}"
    );

    // An Alipay app in public-key mode.
    let alipay_key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    open_kind(&browser, &server, "alipay_app").await;
    browser.fill("#input-name", "Alipay app").await;
    browser.fill("#input-app-id", "2021000123456789").await;
    browser.click("#refund-none").await;
    browser
        .execute(
            "var s = document.getElementById('input-mode'); s.value = 'public_key'; return true;",
        )
        .await;
    set(
        &browser,
        "input-app-private-key",
        &alipay_key.to_pkcs8_pem(LineEnding::LF).expect("pem"),
    )
    .await;
    set(
        &browser,
        "input-alipay-public-key",
        &key.to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("pem"),
    )
    .await;
    create(&browser).await;
    let state = browser.text("#credentials-state").await;
    assert!(state.contains("齐全"), "{state}");

    // A mini program by hand.
    open_kind(&browser, &server, "wxmini_app").await;
    browser.fill("#input-name", "Mini program").await;
    browser.fill("#input-appid", "wx0123456789abcdef").await;
    browser
        .execute("document.getElementById('input-mode').value = 'manual'; return true;")
        .await;
    // No refund choice before a payment account is linked: the page says how.
    let no_refund = browser.text("#refund-needs-payment").await;
    assert!(no_refund.contains("settings.payment"), "{no_refund}");
    browser.fill("#input-secret", APP_SECRET).await;
    browser.fill("#input-token", "pushtoken123").await;
    browser.fill("#input-encoding-aes-key", AES_KEY).await;
    create(&browser).await;
    let source = browser.source().await;
    assert!(!source.contains(APP_SECRET) && !source.contains(AES_KEY));
    assert!(source.contains(&format!("{PUBLIC}/callbacks/wxmini/wx0123456789abcdef")));

    // A third-party platform: its page makes the authorisation link.
    open_kind(&browser, &server, "wxopen_component").await;
    browser.fill("#input-name", "Third-party platform").await;
    browser
        .fill("#input-component-appid", "wxfedcba9876543210")
        .await;
    browser.fill("#input-secret", APP_SECRET).await;
    browser.fill("#input-token", "pushtoken123").await;
    browser.fill("#input-encoding-aes-key", AES_KEY).await;
    create(&browser).await;
    browser.click("#make-authorization-link").await;
    let link = browser.wait_for("#authorization-link").await;
    let link = link.prop("value").await.ok().flatten().unwrap_or_default();
    assert!(link.starts_with(PUBLIC), "{link}");
    fits_the_phone(&browser, "the third-party platform's page").await;

    // The list: every account, its credentials and health.
    browser.goto(&server.url("/console/accounts")).await;
    let rows = browser.find_all(".account-row").await;
    assert_eq!(rows.len(), 5);
    fits_the_phone(&browser, "the account list").await;
    let shot = browser.screenshot("console-accounts-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));
}
