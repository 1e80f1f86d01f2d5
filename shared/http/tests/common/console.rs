//! The console as a browser sees it, over the in-process router: responses with their cookies
//! and forms, sign-in (with the sign-in form's own CSRF cookie) and a session cookie.

use super::Harness;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

/// A response: status, headers, body text.
pub struct Page {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The value of the cookie `name` this response sets (`None`: not set).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(|v| v.to_string())
    }

    /// The first `name="csrf" value="..."` of the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field");
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("end")].to_string()
    }
}

pub async fn send(h: &Harness, req: Request<Body>) -> Page {
    let res = h.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

pub async fn get(h: &Harness, path: &str, cookie: &str) -> Page {
    send(
        h,
        Request::builder()
            .uri(path)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

pub async fn post_form(
    h: &Harness,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> Page {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    send(h, req.body(Body::from(body)).expect("request")).await
}

/// `name=value` of a `Set-Cookie` line.
pub fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_string()
}

/// Sign in with `token` or `code` from address `from`; the response.
pub async fn sign_in(h: &Harness, field: &str, secret: &str, next: &str, from: &str) -> Page {
    let query: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let form = get(h, &format!("/console/sign-in?next={query}"), "").await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    let pre = pair(&form.set_cookie("desk_sign_in").expect("the sign-in cookie"));
    let csrf = form.csrf();
    post_form(
        h,
        "/console/sign-in",
        &pre,
        &[("csrf", &csrf), (field, secret), ("next", next)],
        &[("x-forwarded-for", from)],
    )
    .await
}

/// A signed-in session's cookie (`desk_session=...`).
pub async fn session(h: &Harness, token: &str) -> String {
    let res = sign_in(h, "token", token, "/console/", "198.51.100.1").await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.body);
    pair(&res.set_cookie("desk_session").expect("a session cookie"))
}
