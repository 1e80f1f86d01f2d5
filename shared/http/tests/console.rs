//! The console's sessions, forms and pages over the real router and the embedded store, with a
//! clock the tests move: sign-in with a token or a one-time code, the per-address throttle,
//! idle expiry, sessions ended with their token, CSRF and same-site checks, and untrusted
//! complaint text rendered as text. (The same flows in a real browser: `tests/tests/
//! console_browser.rs`.)

mod common;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use chrono::{DateTime, Duration, TimeZone, Utc};
use common::console::{Page, get, pair, post_form, send, session, sign_in};
use common::{ADMIN, Harness};
use domain::clock::ManualClock;
use serde_json::json;
use std::sync::Arc;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 1, 2, 0, 0).unwrap()
}

fn harness() -> (Harness, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let c = clock.clone();
    let h = common::harness_over(None, move |p| desk_core::Ports { clock: c, ..p });
    (h, clock)
}

async fn viewer_token(h: &Harness) -> (String, String) {
    let (status, t) = h
        .admin(
            Method::POST,
            "/admin/v1/tokens",
            Some(json!({"name": "night shift", "scope": {"type": "all"}, "role": "viewer"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    (
        t["token"].as_str().expect("token").to_string(),
        t["id"].as_str().expect("id").to_string(),
    )
}

#[tokio::test]
async fn a_session_cookie_is_http_only_lax_and_returns_to_the_linked_page() {
    let (h, _) = harness();
    let res = sign_in(
        &h,
        "token",
        ADMIN,
        "/console/complaints/cmp_x?lang=en",
        "198.51.100.1",
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    assert_eq!(res.location(), "/console/complaints/cmp_x?lang=en");
    let cookie = res.set_cookie("desk_session").expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("Path=/"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    // Plain HTTP: not Secure (the browser would drop it), and not the `__Host-` name.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let inbox = get(&h, "/console/", &pair(&cookie)).await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert!(inbox.body.contains("administrator"), "{}", inbox.body);
}

#[tokio::test]
async fn behind_https_the_session_cookie_is_host_prefixed_and_secure() {
    let (h, _) = harness();
    let form = send(
        &h,
        Request::builder()
            .uri("/console/sign-in")
            .header("x-forwarded-proto", "https")
            .body(Body::empty())
            .expect("request"),
    )
    .await;
    let pre = pair(&form.set_cookie("desk_sign_in").expect("cookie"));
    let res = post_form(
        &h,
        "/console/sign-in",
        &pre,
        &[("csrf", &form.csrf()), ("token", ADMIN)],
        &[("x-forwarded-proto", "https")],
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    let cookie = res
        .set_cookie("__Host-desk_session")
        .expect("a __Host- cookie behind HTTPS");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(res.set_cookie("desk_session").is_none());
}

#[tokio::test]
async fn a_page_without_a_session_goes_to_sign_in_and_off_site_next_is_ignored() {
    let (h, _) = harness();
    let res = get(&h, "/console/complaints/cmp_1?lang=en", "").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        "/console/sign-in?next=%2Fconsole%2Fcomplaints%2Fcmp_1%3Flang%3Den"
    );
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/console/..//evil",
        "/\\evil",
    ] {
        let res = sign_in(&h, "token", ADMIN, evil, "198.51.100.2").await;
        assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
        assert_eq!(res.location(), "/console/", "{evil}");
    }
}

#[tokio::test]
async fn a_wrong_token_sets_no_session_and_says_why() {
    let (h, _) = harness();
    let res = sign_in(
        &h,
        "token",
        "cdt_0123456789abcdef_nope",
        "/console/",
        "198.51.100.3",
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.set_cookie("desk_session").is_none());
    assert!(res.body.contains("error-message"), "{}", res.body);
}

#[tokio::test]
async fn a_session_idle_for_seven_days_ends_and_sign_in_returns_to_the_page() {
    let (h, clock) = harness();
    let cookie = session(&h, ADMIN).await;
    // Used after six days: still signed in, and the idle clock starts again.
    clock.advance(Duration::days(6));
    assert_eq!(get(&h, "/console/", &cookie).await.status, StatusCode::OK);
    clock.advance(Duration::days(6));
    assert_eq!(get(&h, "/console/", &cookie).await.status, StatusCode::OK);
    clock.advance(Duration::days(7) + Duration::minutes(1));
    let res = get(&h, "/console/complaints/cmp_9", &cookie).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        "/console/sign-in?next=%2Fconsole%2Fcomplaints%2Fcmp_9&ended=1"
    );
    let again = sign_in(
        &h,
        "token",
        ADMIN,
        "/console/complaints/cmp_9",
        "198.51.100.4",
    )
    .await;
    assert_eq!(again.location(), "/console/complaints/cmp_9");
}

#[tokio::test]
async fn revoking_a_token_ends_its_sessions() {
    let (h, _) = harness();
    let (token, id) = viewer_token(&h).await;
    let cookie = session(&h, &token).await;
    assert_eq!(get(&h, "/console/", &cookie).await.status, StatusCode::OK);
    let (status, _) = h
        .admin(Method::DELETE, &format!("/admin/v1/tokens/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let res = get(&h, "/console/", &cookie).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert!(
        res.location().starts_with("/console/sign-in"),
        "{}",
        res.location()
    );
}

#[tokio::test]
async fn a_changed_administrator_token_ends_its_sessions() {
    let (mut h, _) = harness();
    let cookie = session(&h, ADMIN).await;
    h.state.admin =
        desk_http::auth::AdminAuth::from_hash(desk_http::auth::hash("another-admin-token-0123"));
    h.router = desk_http::router::router(h.state.clone());
    let res = get(&h, "/console/", &cookie).await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_one_time_code_signs_in_once_within_ten_minutes() {
    let (h, clock) = harness();
    let (token, _) = viewer_token(&h).await;
    let cookie = session(&h, &token).await;
    let page = get(&h, "/console/sign-in-code", &cookie).await;
    let made = post_form(
        &h,
        "/console/sign-in-code",
        &cookie,
        &[("csrf", &page.csrf())],
        &[],
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    // No console base here: the page says where to go in words, not as a bare path.
    assert!(
        made.body.contains("+ /console/sign-in"),
        "the sign-in page's address: {}",
        made.body
    );
    let at =
        made.body.find("id=\"sign-in-code\">").expect("the code") + "id=\"sign-in-code\">".len();
    let code = made.body[at..at + 9].to_string();
    assert_eq!(code.len(), 9, "{code}");
    // Typed on a phone: lower case, no dash.
    let typed = code.replace('-', "").to_lowercase();
    let first = sign_in(&h, "code", &typed, "/console/", "198.51.100.5").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    let phone = pair(&first.set_cookie("desk_session").expect("session"));
    let inbox = get(&h, "/console/", &phone).await;
    assert!(
        inbox.body.contains("night shift"),
        "the code signs in as its token"
    );
    let second = sign_in(&h, "code", &code, "/console/", "198.51.100.5").await;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED, "used once");
    // A code older than ten minutes is refused.
    let page = get(&h, "/console/sign-in-code", &cookie).await;
    let made = post_form(
        &h,
        "/console/sign-in-code",
        &cookie,
        &[("csrf", &page.csrf())],
        &[],
    )
    .await;
    let at =
        made.body.find("id=\"sign-in-code\">").expect("the code") + "id=\"sign-in-code\">".len();
    let late = made.body[at..at + 9].to_string();
    clock.advance(Duration::minutes(11));
    let res = sign_in(&h, "code", &late, "/console/", "198.51.100.5").await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ten_failed_sign_ins_lock_the_address_out_for_fifteen_minutes() {
    let (h, clock) = harness();
    for _ in 0..10 {
        let res = sign_in(
            &h,
            "token",
            "wrong-token-wrong-token",
            "/console/",
            "203.0.113.7",
        )
        .await;
        assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    }
    let res = sign_in(&h, "token", ADMIN, "/console/", "203.0.113.7").await;
    assert_eq!(
        res.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right token"
    );
    assert!(res.headers.contains_key(header::RETRY_AFTER));
    assert!(res.set_cookie("desk_session").is_none());
    // Another address is not affected.
    let other = sign_in(&h, "token", ADMIN, "/console/", "203.0.113.8").await;
    assert_eq!(other.status, StatusCode::SEE_OTHER);
    clock.advance(Duration::minutes(16));
    let later = sign_in(&h, "token", ADMIN, "/console/", "203.0.113.7").await;
    assert_eq!(later.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_form_without_the_sessions_csrf_or_from_another_site_is_refused() {
    let (h, _) = harness();
    let cookie = session(&h, ADMIN).await;
    let csrf = get(&h, "/console/", &cookie).await.csrf();
    let no_csrf = post_form(&h, "/console/sign-out", &cookie, &[], &[]).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let wrong = post_form(&h, "/console/sign-out", &cookie, &[("csrf", "x")], &[]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    let cross = post_form(
        &h,
        "/console/sign-out",
        &cookie,
        &[("csrf", &csrf)],
        &[("origin", "https://evil.example"), ("host", "desk.example")],
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let fetch = post_form(
        &h,
        "/console/sign-out",
        &cookie,
        &[("csrf", &csrf)],
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(fetch.status, StatusCode::FORBIDDEN);
    // None of them signed out.
    assert_eq!(get(&h, "/console/", &cookie).await.status, StatusCode::OK);
    let out = post_form(
        &h,
        "/console/sign-out",
        &cookie,
        &[("csrf", &csrf)],
        &[("origin", "http://desk.example"), ("host", "desk.example")],
    )
    .await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = get(&h, "/console/", &cookie).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session is gone");
}

#[tokio::test]
async fn every_page_forbids_inline_script_and_framing() {
    let (h, _) = harness();
    for path in ["/console/sign-in", "/console/nothing-here"] {
        let res = get(&h, path, "").await;
        let csp = res.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(res.headers[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(res.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(
            !res.body.contains("<script>"),
            "no inline script: {}",
            res.body
        );
    }
}

#[tokio::test]
async fn a_buyers_markup_is_shown_as_text() {
    let (h, clock) = harness();
    let account = h.create(common::provider_body("1900000109")).await;
    let mut c = domain::complaint::Complaint::new(
        "cmp_xss".into(),
        domain::complaint::Platform::Wechatpay,
        None,
        account.clone(),
        "200000020260301000000001".into(),
        clock.now(),
    );
    c.description = Some("<script>alert(1)</script>\"><img src=x onerror=alert(2)>".into());
    desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
        .upsert(c, |_| {})
        .await
        .expect("saved");
    let cookie = session(&h, ADMIN).await;
    for path in ["/console/complaints/cmp_xss", "/console/"] {
        let page = get(&h, path, &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(
            page.body
                .contains("&#60;script&#62;alert(1)&#60;/script&#62;&#34;&#62;&#60;img"),
            "{path}: {}",
            page.body
        );
    }
}

use domain::clock::Clock;

#[tokio::test]
async fn a_form_through_a_proxy_that_rewrites_host_is_ours_when_its_origin_is_the_public_address() {
    let clock = Arc::new(ManualClock::new(t0()));
    let c = clock.clone();
    let h = common::harness_over(Some("https://desk.example/"), move |p| desk_core::Ports {
        clock: c,
        ..p
    });
    let cookie = session(&h, ADMIN).await;
    let csrf = get(&h, "/console/", &cookie).await.csrf();
    let from = |origin: &'static str| [("origin", origin), ("host", "127.0.0.1:8080")];
    let elsewhere = post_form(
        &h,
        "/console/sign-out",
        &cookie,
        &[("csrf", &csrf)],
        &from("https://desk.example.evil"),
    )
    .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    let ours = post_form(
        &h,
        "/console/sign-out",
        &cookie,
        &[("csrf", &csrf)],
        &from("https://desk.example"),
    )
    .await;
    assert_eq!(ours.status, StatusCode::SEE_OTHER, "{}", ours.body);
}

/// A multipart form body: its text fields and one image named `images`.
fn multipart(fields: &[(&str, &str)], image: Option<&[u8]>) -> (String, Vec<u8>) {
    let boundary = "consoletestboundary7d3f";
    let mut body = Vec::new();
    for (k, v) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                .as_bytes(),
        );
    }
    if let Some(bytes) = image {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"shot.bmp\"\r\nContent-Type: image/bmp\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post_multipart(h: &Harness, path: &str, cookie: &str, form: (String, Vec<u8>)) -> Page {
    send(
        h,
        Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::COOKIE, cookie)
            .header(header::CONTENT_TYPE, form.0)
            .body(Body::from(form.1))
            .expect("request"),
    )
    .await
}

/// A WeChat Pay complaint recorded straight into the store (its account does not exist, so
/// every action reaching the platform is refused).
async fn orphan_complaint(h: &Harness, clock: &ManualClock) -> String {
    let c = domain::complaint::Complaint::new(
        "cmp_orphan".into(),
        domain::complaint::Platform::Wechatpay,
        None,
        "acc_gone".into(),
        "200000020300301000000009".into(),
        clock.now(),
    );
    desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
        .upsert(c, |_| {})
        .await
        .expect("saved");
    "cmp_orphan".into()
}

/// The address of the form `action-{name}` on a page.
fn form_address(page: &Page, name: &str) -> String {
    let at = page
        .body
        .find(&format!("id=\"action-{name}\""))
        .expect("the form");
    let start = page.body[..at].rfind("action=\"").expect("its action") + "action=\"".len();
    let end = start + page.body[start..].find('"').expect("end");
    page.body[start..end]
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

#[tokio::test]
async fn a_form_sent_twice_acts_once_and_a_refused_forms_images_are_not_kept() {
    let (h, clock) = harness();
    let id = orphan_complaint(&h, &clock).await;
    let cookie = session(&h, ADMIN).await;
    let page = get(&h, &format!("/console/complaints/{id}"), &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let csrf = page.csrf();
    let reply = form_address(&page, "reply");
    assert!(reply.contains("?form="), "{reply}");
    let send_reply = || {
        multipart(
            &[("csrf", &csrf), ("text", "您好，已为您处理")],
            Some(b"BM console evidence"),
        )
    };
    let first = post_multipart(&h, &reply, &cookie, send_reply()).await;
    assert!(
        !first.body.contains("sent before") && !first.body.contains("之前已提交过"),
        "{}",
        first.body
    );
    // The action was refused (no such account): the image it uploaded is not kept.
    let kept = std::fs::read_dir(h.dir.path().join("blobs").join("data").join("media"))
        .map(|d| {
            d.filter(|f| {
                f.as_ref()
                    .is_ok_and(|f| !f.file_name().to_string_lossy().starts_with(".tmp"))
            })
            .count()
        })
        .expect("the upload was stored before the action was refused");
    assert_eq!(kept, 0, "a refused form's upload is removed");
    // The same form again (a double tap): nothing is done, and it says so.
    let second = post_multipart(&h, &reply, &cookie, send_reply()).await;
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert!(second.body.contains("之前已提交过"), "{}", second.body);
    // A form without its one-time id is not acted on either.
    let bare = reply.split('?').next().expect("path").to_string();
    let third = post_multipart(&h, &bare, &cookie, send_reply()).await;
    assert_eq!(third.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn a_form_sent_after_the_session_ended_returns_to_its_page_not_to_the_form() {
    let (h, clock) = harness();
    let id = orphan_complaint(&h, &clock).await;
    let form = multipart(&[("csrf", "x"), ("text", "hello")], None);
    let res = post_multipart(
        &h,
        &format!("/console/complaints/{id}/act/reply?form=00"),
        "",
        form,
    )
    .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(
        res.location(),
        "/console/sign-in?next=%2Fconsole%2Fcomplaints%2Fcmp_orphan"
    );
    // And a `next` naming a form's address is never followed.
    let back = sign_in(
        &h,
        "token",
        ADMIN,
        "/console/complaints/cmp_orphan/act/reply",
        "198.51.100.9",
    )
    .await;
    assert_eq!(back.location(), "/console/");
}
