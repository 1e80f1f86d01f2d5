//! The console in a real browser: headless Chromium (Debian's `chromium` and `chromium-driver`)
//! over WebDriver against the real `complaint-desk` binary. Each test has its own binary, data
//! directory, chromedriver and Chromium profile. Screenshots land in `target/screenshots/`;
//! `scripts/screenshots` copies the README's into `docs/screenshots/`.
//!
//! What a browser cannot show (a response's status and headers, a request without the CSRF
//! value or from another site, an old cookie replayed) is checked with reqwest beside it.

use e2e_tests::browser::{DESKTOP, PHONE, png_size};
use e2e_tests::wechatpay::{PROVIDER, SUB, SimProvider};
use e2e_tests::{Browser, Server};
use rand::Rng;
use reqwest::header::{HeaderMap, SET_COOKIE};
use sandbox::wechatpay::WechatPaySim;
use serde_json::json;

/// The session cookie's name on plain HTTP (the tests' server has no TLS proxy).
const SESSION: &str = "desk_session";
/// The inbox's quick filters: on the inbox, signed in, whatever it lists.
const INBOX: &str = "section.quick";

/// A running binary with an administrator token.
struct Desk {
    server: Server,
    admin: String,
    dir: tempfile::TempDir,
}

fn random_text(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(rand::distributions::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

impl Desk {
    fn start() -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let admin = format!("admin-{}", random_text(40));
        let server = Server::start(&dir.path().join("data"), &[("ADMIN_TOKEN", admin.as_str())]);
        Desk { server, admin, dir }
    }

    fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// A new token through the admin API: (its id, the bearer token).
    async fn token(&self, role: &str) -> (String, String) {
        let body = serde_json::json!({ "name": format!("{role} in a browser"), "scope": { "type": "all" }, "role": role });
        let (status, created) = self
            .server
            .admin(&self.admin, reqwest::Method::POST, "/tokens", Some(body))
            .await;
        assert_eq!(status, 201, "{created}");
        let field = |k: &str| {
            created[k]
                .as_str()
                .unwrap_or_else(|| panic!("no {k} in {created}"))
                .to_string()
        };
        (field("id"), field("token"))
    }

    /// The database file, opened beside the running server.
    fn db(&self) -> rusqlite::Connection {
        let conn = rusqlite::Connection::open(self.dir.path().join("data/complaint-desk.db"))
            .expect("open the database");
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .expect("busy timeout");
        conn
    }

    /// Make every session's last request `age` ago (the server's idle rule reads this; the
    /// record's own expiry column stays, so the server's check, not the store's, decides).
    fn age_sessions(&self, age: chrono::Duration) {
        let last_seen = (chrono::Utc::now() - age).to_rfc3339();
        let n = self
            .db()
            .execute(
                "UPDATE records SET data = json_set(data, '$.last_seen_at', ?1) WHERE pk LIKE 'SESSION#%'",
                [last_seen],
            )
            .expect("age the sessions");
        assert_eq!(n, 1, "one session expected");
    }
}

/// A reqwest client that shows redirects instead of following them.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// The `Set-Cookie` headers of a response.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// The `Set-Cookie` header that sets `name` (to a non-empty value).
fn set_cookie_of(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")) && !c.starts_with(&format!("{name};")))
        .filter(|c| !c.starts_with(&format!("{name}=;")))
}

/// A cookie's value from its `Set-Cookie` header.
fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// Sign in with reqwest as a form would: the sign-in page's own CSRF cookie and field, then
/// the token. Gives the answer to the POST.
async fn post_sign_in(desk: &Desk, token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let client = http();
    let mut get = client.get(desk.url("/console/sign-in"));
    for (k, v) in extra {
        get = get.header(*k, *v);
    }
    let page = get.send().await.expect("sign-in page");
    assert_eq!(page.status(), 200);
    let form_cookie = set_cookie_of(page.headers(), "desk_sign_in").expect("sign-in form cookie");
    let csrf = cookie_value(&form_cookie);
    let body = page.text().await.expect("page");
    assert!(
        body.contains(&format!("name=\"csrf\" value=\"{csrf}\"")),
        "the form carries its cookie's value"
    );
    let mut post = client
        .post(desk.url("/console/sign-in"))
        .header("cookie", format!("desk_sign_in={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", token),
            ("next", "/console/"),
        ]);
    for (k, v) in extra {
        post = post.header(*k, *v);
    }
    post.send().await.expect("sign in")
}

/// Open `/console/sign-in` (or `path`, which sends there) and sign in with `token`; waits for
/// the page the sign-in returns to.
async fn sign_in(browser: &Browser, desk: &Desk, token: &str) {
    browser.goto(&desk.url("/console/sign-in")).await;
    submit_token(browser, token).await;
    browser.wait_for_path("/console/").await;
    browser.wait_for(INBOX).await;
}

/// Fill the sign-in form on the current page with `token` and send it.
async fn submit_token(browser: &Browser, token: &str) {
    browser.fill("#token", token).await;
    browser.click("#sign-in button[type=submit]").await;
}

/// The session cookie's value in `browser`, which must have one.
async fn session_of(browser: &Browser) -> String {
    browser
        .cookie(SESSION)
        .await
        .map(|c| c.value().to_string())
        .unwrap_or_else(|| panic!("no {SESSION} cookie"))
}

/// Where a GET of `path` with `session` goes: its status and `Location`.
async fn get_with_session(desk: &Desk, path: &str, session: &str) -> (u16, String) {
    let res = http()
        .get(desk.url(path))
        .header("cookie", format!("{SESSION}={session}"))
        .send()
        .await
        .expect("get");
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (res.status().as_u16(), location)
}

/// The harness itself, on a page the binary served before the console: the mini program
/// authorisation link without its state is refused with a page that says so, the phone's screen
/// is 390×844, and the screenshot is a 390×844 PNG.
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

/// Sign in with the administrator token on a phone, then with a viewer token made through the
/// admin API on a desktop: both reach the inbox. The README's sign-in screenshot.
#[tokio::test]
async fn staff_sign_in_with_a_token_and_reach_the_inbox() {
    let desk = Desk::start();
    let phone = Browser::start().await;
    phone.phone().await;
    phone.goto(&desk.url("/console/sign-in")).await;
    phone.wait_for("#token").await;
    // The console is laid out for the phone's width.
    assert_eq!(phone.inner_size().await, (390, 844));
    let shot = phone.screenshot("console-sign-in-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));
    submit_token(&phone, &desk.admin).await;
    phone.wait_for_path("/console/").await;
    phone.wait_for(INBOX).await;
    assert_eq!(phone.inner_size().await.0, 390);

    let (_, viewer) = desk.token("viewer").await;
    let desktop = Browser::start().await;
    sign_in(&desktop, &desk, &viewer).await;
    let who = desktop.text(".who").await;
    assert!(who.contains("viewer in a browser"), "header: {who}");
}

/// A wrong token: the form again with an error, and no session cookie.
#[tokio::test]
async fn a_wrong_token_shows_an_error_and_sets_no_session() {
    let desk = Desk::start();
    let browser = Browser::start().await;
    browser.goto(&desk.url("/console/sign-in")).await;
    submit_token(&browser, &format!("{}x", desk.admin)).await;
    let error = browser.text("#error-message").await;
    assert!(error.contains("无效"), "error: {error}");
    assert_eq!(browser.url().await.path(), "/console/sign-in");
    assert!(browser.cookie(SESSION).await.is_none());
    assert!(!browser.exists(INBOX).await);
    // And the server said 401, with no session cookie either.
    let res = post_sign_in(&desk, "not-a-token", &[]).await;
    assert_eq!(res.status(), 401);
    assert_eq!(set_cookie_of(res.headers(), SESSION), None);
}

/// The session cookie: HttpOnly, SameSite=Lax, path `/`, no Domain; behind HTTPS it is
/// `__Host-desk_session` and Secure.
#[tokio::test]
async fn the_session_cookie_is_http_only_lax_host_only() {
    let desk = Desk::start();
    let browser = Browser::start().await;
    sign_in(&browser, &desk, &desk.admin).await;
    let cookie = browser.cookie(SESSION).await.expect("session cookie");
    assert_eq!(cookie.http_only(), Some(true), "{cookie}");
    assert_eq!(
        cookie.same_site().map(|s| s.to_string()).as_deref(),
        Some("Lax"),
        "{cookie}"
    );
    assert_eq!(cookie.path(), Some("/"), "{cookie}");
    // Script on the page cannot read it.
    let script_sees = browser.execute("return document.cookie;").await;
    assert!(
        !script_sees.as_str().unwrap_or_default().contains(SESSION),
        "{script_sees}"
    );

    // What the server sent, attribute by attribute (a browser shows a host-only cookie's
    // domain as the host; the header tells whether a Domain was given).
    let res = post_sign_in(&desk, &desk.admin, &[]).await;
    assert_eq!(res.status(), 303);
    let header = set_cookie_of(res.headers(), SESSION).expect("Set-Cookie");
    let attrs: Vec<String> = header
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.contains(&"httponly".into()), "{header}");
    assert!(attrs.contains(&"samesite=lax".into()), "{header}");
    assert!(attrs.contains(&"path=/".into()), "{header}");
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{header}");
    assert!(!attrs.contains(&"secure".into()), "plain HTTP: {header}");

    let res = post_sign_in(&desk, &desk.admin, &[("x-forwarded-proto", "https")]).await;
    assert_eq!(res.status(), 303);
    let header = set_cookie_of(res.headers(), "__Host-desk_session").expect("__Host- cookie");
    let attrs: Vec<String> = header
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attrs.contains(&"secure".into()), "{header}");
    assert!(attrs.contains(&"path=/".into()), "{header}");
    assert!(!attrs.iter().any(|a| a.starts_with("domain")), "{header}");
    assert_eq!(set_cookie_of(res.headers(), SESSION), None);
}

/// A link opened without a session goes to the sign-in, which returns to it afterwards; a
/// `next` pointing at another site is ignored.
#[tokio::test]
async fn sign_in_returns_to_the_linked_page_and_never_off_site() {
    let desk = Desk::start();
    let browser = Browser::start().await;
    browser.goto(&desk.url("/console/?status=pending")).await;
    let at = browser.wait_for_path("/console/sign-in").await;
    let next: Vec<_> = at.query_pairs().filter(|(k, _)| k == "next").collect();
    assert_eq!(next.len(), 1, "{at}");
    assert_eq!(next[0].1, "/console/?status=pending");
    submit_token(&browser, &desk.admin).await;
    let back = browser.wait_for_path("/console/").await;
    assert_eq!(back.query(), Some("status=pending"), "{back}");
    browser.wait_for(INBOX).await;

    let fresh = Browser::start().await;
    let own = url::Url::parse(&desk.url("/")).expect("url");
    for next in [
        "https://evil.example/console/",
        "//evil.example/console/",
        "/\\evil.example/console/",
        "/console//evil.example",
    ] {
        let mut at = url::Url::parse(&desk.url("/console/sign-in")).expect("url");
        at.query_pairs_mut().append_pair("next", next);
        fresh.goto(at.as_str()).await;
        // Signed in already after the first round: the page sends straight on.
        if fresh.cookie(SESSION).await.is_none() {
            submit_token(&fresh, &desk.admin).await;
        }
        let landed = fresh.wait_for_path("/console/").await;
        assert_eq!(landed.host_str(), own.host_str(), "next={next}: {landed}");
        assert_eq!(landed.port(), own.port(), "next={next}: {landed}");
        assert_eq!(landed.query(), None, "next={next}: {landed}");
        fresh.wait_for(INBOX).await;
    }
}

/// Signing out ends the session on the server: the old cookie, replayed, is sent to sign in.
#[tokio::test]
async fn sign_out_ends_the_session_for_the_old_cookie_too() {
    let desk = Desk::start();
    let browser = Browser::start().await;
    sign_in(&browser, &desk, &desk.admin).await;
    let session = session_of(&browser).await;
    assert_eq!(get_with_session(&desk, "/console/", &session).await.0, 200);
    browser.click("form.sign-out button[type=submit]").await;
    browser.wait_for_path("/console/sign-in").await;
    assert!(browser.cookie(SESSION).await.is_none());
    let (status, location) = get_with_session(&desk, "/console/", &session).await;
    assert_eq!(status, 303);
    assert!(location.starts_with("/console/sign-in"), "{location}");
    // And the browser itself is back at the sign-in when it opens the inbox.
    browser.goto(&desk.url("/console/")).await;
    browser.wait_for_path("/console/sign-in").await;
}

/// Revoking a token ends its sessions: the next page is the sign-in, which says why.
#[tokio::test]
async fn a_revoked_tokens_session_is_ended() {
    let desk = Desk::start();
    let (id, viewer) = desk.token("viewer").await;
    let browser = Browser::start().await;
    sign_in(&browser, &desk, &viewer).await;
    let (status, body) = desk
        .server
        .admin(
            &desk.admin,
            reqwest::Method::DELETE,
            &format!("/tokens/{id}"),
            None,
        )
        .await;
    assert!(status == 204 || status == 200, "{status} {body}");
    browser.client().refresh().await.expect("reload");
    browser.wait_for_path("/console/sign-in").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("登录已失效"), "notice: {notice}");
    assert!(browser.cookie(SESSION).await.is_none());
    // The revoked token no longer signs in either.
    submit_token(&browser, &viewer).await;
    browser.wait_for("#error-message").await;
    assert!(browser.cookie(SESSION).await.is_none());
}

/// A session idle for more than 7 days is ended: the linked page goes to the sign-in, and
/// after it back to the linked page. One idle for a little less still works.
#[tokio::test]
async fn an_idle_session_expires_after_seven_days_and_sign_in_returns_to_the_page() {
    let desk = Desk::start();
    let browser = Browser::start().await;
    sign_in(&browser, &desk, &desk.admin).await;
    let linked = "/console/?status=processing";

    desk.age_sessions(chrono::Duration::days(7) - chrono::Duration::minutes(5));
    browser.goto(&desk.url(linked)).await;
    browser.wait_for(INBOX).await;
    assert_eq!(browser.url().await.path(), "/console/");

    desk.age_sessions(chrono::Duration::days(7) + chrono::Duration::minutes(1));
    browser.goto(&desk.url(linked)).await;
    let at = browser.wait_for_path("/console/sign-in").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("登录已失效"), "notice: {notice} at {at}");
    submit_token(&browser, &desk.admin).await;
    let back = browser.wait_for_path("/console/").await;
    assert_eq!(back.query(), Some("status=processing"), "{back}");
    browser.wait_for(INBOX).await;
}

/// A one-time code made on a signed-in desktop signs a phone in, once.
#[tokio::test]
async fn a_one_time_code_signs_in_a_phone_once() {
    let desk = Desk::start();
    let desktop = Browser::start().await;
    sign_in(&desktop, &desk, &desk.admin).await;
    desktop.goto(&desk.url("/console/sign-in-code")).await;
    desktop.click("#make-code button[type=submit]").await;
    let code = desktop.text("#sign-in-code").await.trim().to_string();
    assert_eq!(code.len(), 9, "code: {code}");

    let phone = Browser::start().await;
    phone.phone().await;
    phone.goto(&desk.url("/console/")).await;
    phone.wait_for_path("/console/sign-in").await;
    phone.fill("#code", &code).await;
    phone.click("#sign-in button[type=submit]").await;
    phone.wait_for_path("/console/").await;
    phone.wait_for(INBOX).await;
    assert!(phone.cookie(SESSION).await.is_some());

    // Used once: signed out, the same code is refused.
    phone.click("form.sign-out button[type=submit]").await;
    phone.wait_for_path("/console/sign-in").await;
    phone.fill("#code", &code).await;
    phone.click("#sign-in button[type=submit]").await;
    let error = phone.text("#error-message").await;
    assert!(error.contains("无效"), "error: {error}");
    assert!(phone.cookie(SESSION).await.is_none());
}

/// A POST with the session cookie but without the session's CSRF value is refused, and so is
/// one with the right value from another site (`Origin`); the same POST from here works.
#[tokio::test]
async fn a_post_without_the_csrf_value_or_from_another_site_is_refused() {
    let desk = Desk::start();
    let browser = Browser::start().await;
    sign_in(&browser, &desk, &desk.admin).await;
    let session = session_of(&browser).await;
    let csrf = browser
        .find("form.sign-out input[name=csrf]")
        .await
        .attr("value")
        .await
        .expect("attribute")
        .expect("the sign-out form's csrf value");
    let sign_out = |form: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut req = http()
            .post(desk.url("/console/sign-out"))
            .header("cookie", format!("{SESSION}={session}"))
            .form(&form);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send()
    };

    let res = sign_out(vec![], None).await.expect("post");
    assert_eq!(res.status(), 403, "no csrf value");
    let res = sign_out(vec![("csrf", "forged".into())], None)
        .await
        .expect("post");
    assert_eq!(res.status(), 403, "a wrong csrf value");
    let res = sign_out(vec![("csrf", csrf.clone())], Some("https://evil.example"))
        .await
        .expect("post");
    assert_eq!(res.status(), 403, "another site");
    // None of them signed out.
    assert_eq!(get_with_session(&desk, "/console/", &session).await.0, 200);

    let own_origin = desk.url("").trim_end_matches('/').to_string();
    let res = http()
        .post(desk.url("/console/sign-out"))
        .header("cookie", format!("{SESSION}={session}"))
        .header("origin", own_origin)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 303, "the right value from this site");
    assert_eq!(get_with_session(&desk, "/console/", &session).await.0, 303);
}

/// Every console page forbids inline script and framing and sniffing.
#[tokio::test]
async fn console_pages_send_a_strict_csp_and_deny_framing() {
    let desk = Desk::start();
    let browser = Browser::start().await;
    sign_in(&browser, &desk, &desk.admin).await;
    let session = session_of(&browser).await;
    for path in [
        "/console/sign-in",
        "/console/",
        "/console/sign-in-code",
        "/console/no-such-page",
    ] {
        let res = http()
            .get(desk.url(path))
            .header("cookie", format!("{SESSION}={session}"))
            .send()
            .await
            .expect("get");
        let h = res.headers();
        let get = |name: &str| {
            h.get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_string()
        };
        let csp = get("content-security-policy");
        let directive = |name: &str| {
            csp.split(';')
                .map(str::trim)
                .find(|d| d.split_whitespace().next() == Some(name))
                .unwrap_or_else(|| panic!("{path}: no {name} in {csp}"))
                .to_string()
        };
        let scripts = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src "))
            .map(str::to_string)
            .unwrap_or_else(|| directive("default-src"));
        assert!(!scripts.contains("'unsafe-inline'"), "{path}: {csp}");
        assert!(!scripts.contains("'unsafe-eval'"), "{path}: {csp}");
        assert!(!scripts.contains('*'), "{path}: {csp}");
        assert_eq!(directive("frame-ancestors"), "frame-ancestors 'none'");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
    }
}

/// Failed sign-ins from one address are throttled: after 10 within the window, even the right
/// token is refused (429, with Retry-After) until the window has passed. (Tokens without an id,
/// as these and the administrator token are, share one name at the address.)
#[tokio::test]
async fn sign_in_is_throttled_per_address_after_ten_failures() {
    let desk = Desk::start();
    for attempt in 1..=10 {
        let res = post_sign_in(&desk, &format!("wrong-{attempt}"), &[]).await;
        assert_eq!(res.status(), 401, "attempt {attempt}");
    }
    let res = post_sign_in(&desk, &desk.admin, &[]).await;
    assert_eq!(res.status(), 429, "the right token after ten failures");
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(set_cookie_of(res.headers(), SESSION), None);

    let browser = Browser::start().await;
    browser.goto(&desk.url("/console/sign-in")).await;
    submit_token(&browser, &desk.admin).await;
    let error = browser.text("#error-message").await;
    assert!(error.contains("失败次数过多"), "error: {error}");
    assert!(browser.cookie(SESSION).await.is_none());

    // The window passes (its start moved back 16 minutes): the right token works again.
    let n = desk
        .db()
        .execute(
            "UPDATE records SET data = json_set(data, '$.window_start', ?1) WHERE pk LIKE 'SIGNIN_THROTTLE#%'",
            [(chrono::Utc::now() - chrono::Duration::minutes(16)).to_rfc3339()],
        )
        .expect("move the window");
    assert_eq!(n, 2, "the address's count and its name's");
    submit_token(&browser, &desk.admin).await;
    browser.wait_for_path("/console/").await;
    browser.wait_for(INBOX).await;
}

/// A WeChat Pay provider on the simulator whose sub-merchant handles nothing by itself (its
/// complaints wait for staff), with `complaints` pushed through the real callback: (complaint
/// id, buyer's text, amount in fen). Returns the simulator (it must outlive the test).
async fn pushed_complaints(desk: &Desk, complaints: &[(&str, &str, u64)]) -> WechatPaySim {
    let provider = SimProvider::create(&desk.server, &desk.admin, "示例服务商").await;
    provider
        .add_sub(&desk.server, &desk.admin, json!({"name": "示例门店"}))
        .await;
    for (n, (complaint_id, text, amount)) in complaints.iter().enumerate() {
        provider.sim.add_complaint_for(
            PROVIDER,
            json!({"complaint_id": complaint_id, "complaint_time": chrono::Utc::now().to_rfc3339(),
                   "complaint_detail": text, "complaint_state": "PENDING", "complainted_mchid": SUB,
                   "complaint_order_info": [{"transaction_id": format!("42000000002026112200000000{n:02}"),
                                             "out_trade_no": format!("T{n}"), "amount": amount}],
                   "problem_type": "REFUND", "need_immediate_service": false}),
        );
        provider.push_new(&desk.server, complaint_id).await;
    }
    provider.sim
}

/// Pushed complaints appear in the inbox, on a phone and on a desktop (the README's inbox
/// screenshots).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_complaints_appear_in_the_inbox_on_a_phone_and_a_desktop() {
    let desk = Desk::start();
    let complaints = [
        (
            "200201820261122080000000001",
            "未收到商品，要求全额退款。",
            2500,
        ),
        (
            "200201820261122080000000002",
            "商品与描述不符，颜色不对。",
            9900,
        ),
        (
            "200201820261122080000000003",
            "同一笔订单被重复扣款两次。",
            1280,
        ),
    ];
    let _sim = pushed_complaints(&desk, &complaints).await;
    let phone = Browser::start().await;
    phone.phone().await;
    sign_in(&phone, &desk, &desk.admin).await;
    // The worker records them a moment after the pushes: reload until all are listed.
    let start = std::time::Instant::now();
    loop {
        let rows = phone.find_all("#complaints li.row").await.len();
        if rows == complaints.len() {
            break;
        }
        if start.elapsed() > e2e_tests::browser::WAIT_LIMIT {
            phone
                .fail::<()>(&format!("{rows} of {} complaints listed", complaints.len()))
                .await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        phone.goto(&desk.url("/console/")).await;
    }
    let list = phone.text("#complaints").await;
    for (_, text, _) in &complaints {
        assert!(list.contains(text), "{text} not in {list}");
    }
    let shot = phone.screenshot("console-inbox-phone").await;
    assert_eq!(png_size(&shot), Some(PHONE));

    let desktop = Browser::start().await;
    sign_in(&desktop, &desk, &desk.admin).await;
    assert_eq!(desktop.find_all("#complaints li.row").await.len(), 3);
    let shot = desktop.screenshot("console-inbox-desktop").await;
    assert_eq!(png_size(&shot), Some(DESKTOP));
}

/// The sandbox accounts' page: a test complaint pushed from it goes through the real path and
/// its page shows the automatic reply and refund within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_complaint_pushed_from_the_try_page_is_handled_and_shown() {
    let dir = tempfile::tempdir().expect("temp dir");
    let admin = format!("admin-{}", random_text(40));
    let server =
        Server::start_sandbox(&dir.path().join("data"), &[("ADMIN_TOKEN", admin.as_str())]);
    let browser = Browser::start().await;
    browser.phone().await;
    browser
        .goto(&server.url("/console/sign-in?next=%2Fconsole%2Ftry"))
        .await;
    submit_token(&browser, &admin).await;
    browser.wait_for_path("/console/try").await;
    assert_eq!(
        browser.find_all("form[id^=\"push-\"]").await.len(),
        3,
        "one sandbox account per platform"
    );
    browser.screenshot("console-try-phone").await;
    browser
        .click("form[id^=\"push-\"] button[type=submit]")
        .await;
    browser.wait_for("#pushed a").await;
    let link = browser.text("#pushed a").await;
    assert!(link.starts_with("cmp_"), "{link}");
    // The worker reads the complaint and acts on it: its page shows the automatic reply and
    // the automatic refund (1.00 yuan, under the cap).
    let page = server.url(&format!("/console/complaints/{link}"));
    let mut shown = false;
    for _ in 0..100 {
        browser.goto(&page).await;
        if browser.exists("#action-log li").await {
            let log = browser.text("#action-log").await;
            if log.contains("回复") && log.contains("退款") {
                shown = true;
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    if !shown {
        browser
            .fail::<()>("the pushed complaint's automatic actions never showed")
            .await;
    }
    let log = browser.text("#action-log").await;
    assert!(log.contains("自动"), "automatic, not by hand: {log}");
}
