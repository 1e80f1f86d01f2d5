//! HTTP plumbing: each route's body limit, the JSON extractor with field-naming errors, request
//! ids.

use crate::error::{ApiError, REQUEST_ID};

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::de::DeserializeOwned;

/// Where the admin API's routes are.
pub const ADMIN_BASE: &str = "/admin/v1";

/// Callback bodies larger than this are refused before anything reads them, with the route's
/// own answer (each platform's "malformed" answer, 400), or 413 in the JSON error envelope for
/// a route without one (see [`crate::callbacks`]). Platform messages are a few KiB at most.
pub const CALLBACK_BODY_LIMIT: usize = 64 * 1024;

/// Evidence images: at most 2 MiB (the route's body limit).
pub const MEDIA_LIMIT: usize = 2 * 1024 * 1024;

/// A console form with evidence images (`multipart/form-data`, to `/console/complaints/...`):
/// at most 4 MiB together (each image at most [`MEDIA_LIMIT`]). On AWS a Lambda request holds
/// about 6 MB, base64-encoded: 4 MiB fits.
pub const CONSOLE_FORM_LIMIT: usize = 4 * 1024 * 1024;

/// Request bodies larger than this are refused (413 in the JSON error envelope). Routes with
/// their own limit: callbacks [`CALLBACK_BODY_LIMIT`] (64 KiB, answered with the platform's
/// 400), evidence uploads [`MEDIA_LIMIT`] (2 MiB), console forms with images
/// [`CONSOLE_FORM_LIMIT`] (4 MiB); [`body_rule`] decides which applies. JSON bodies are also bounded in depth by
/// serde_json's recursion limit (128 levels; its `unbounded_depth` feature must stay off):
/// deeper is a 400.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// How large a request's body may be, and who answers one that is larger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyRule {
    /// Most bytes the body may have.
    pub limit: usize,
    /// A platform callback: a larger body is answered by its route (the platform's
    /// "malformed body" answer). Elsewhere it is a 413 in the JSON error envelope.
    pub callback: bool,
}

/// The one place that decides a request's body limit, from its route: the server applies it
/// before it reads a body (a `Content-Length` above it is refused unread, a chunked body is
/// cut off at it) and the router's extractors apply it again (for Lambda, where no server of
/// ours reads the body).
pub fn body_rule(method: &axum::http::Method, path: &str) -> BodyRule {
    if path.starts_with("/callbacks/") {
        BodyRule {
            limit: CALLBACK_BODY_LIMIT,
            callback: true,
        }
    } else if method == axum::http::Method::POST && path.strip_prefix(ADMIN_BASE) == Some("/media")
    {
        BodyRule {
            limit: MEDIA_LIMIT,
            callback: false,
        }
    } else if method == axum::http::Method::POST && path.starts_with("/console/complaints/") {
        BodyRule {
            limit: CONSOLE_FORM_LIMIT,
            callback: false,
        }
    } else {
        BodyRule {
            limit: BODY_LIMIT,
            callback: false,
        }
    }
}

/// Give every request the body limit [`body_rule`] decides for its route.
pub async fn route_body_limit(req: Request, next: Next) -> Response {
    use tower::{Layer, ServiceExt};
    let rule = body_rule(req.method(), req.uri().path());
    match axum::extract::DefaultBodyLimit::max(rule.limit)
        .layer(next)
        .oneshot(req)
        .await
    {
        Ok(res) => res,
        Err(never) => match never {},
    }
}

/// A JSON body whose errors name the field: `settings.app_id`, `recipients[2]`.
pub struct ValidJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ValidJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        check_json_type(req.headers().get(header::CONTENT_TYPE))?;
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ValidJson)
    }
}

/// A JSON body read now and parsed when the handler is ready for it: for actions that first
/// check the complaint and whether its platform has the action (404 and 409 before a 400 about
/// the body). The content type of a non-empty body is checked at once (415); an empty body
/// has no content to type (`curl -X POST -d ''` sends a form type), so routes whose body is
/// optional accept it whatever the header says.
pub struct JsonBytes(axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = read_body(req, state).await?;
        if !bytes.is_empty() {
            check_json_type(content_type.as_ref())?;
        }
        Ok(JsonBytes(bytes))
    }
}

impl JsonBytes {
    /// A body built here (the console's forms), as if a client had sent it.
    pub fn of_value(value: &serde_json::Value) -> Self {
        JsonBytes(axum::body::Bytes::from(value.to_string()))
    }

    /// The body as `T` (an empty body is 400).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        parse_json(&self.0)
    }

    /// The body as `T`; an empty body is `T::default()`.
    pub fn parse_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(T::default())
        } else {
            parse_json(&self.0)
        }
    }
}

fn check_json_type(ct: Option<&HeaderValue>) -> Result<(), ApiError> {
    if let Some(ct) = ct {
        let ct = ct.to_str().unwrap_or_default();
        if !ct.starts_with("application/json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "send JSON with Content-Type: application/json (got {ct:?})"
            )));
        }
    }
    Ok(())
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<axum::body::Bytes, ApiError> {
    axum::body::Bytes::from_request(req, state)
        .await
        .map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::InvalidJson("the request body could not be read".into())
            }
        })
}

/// Parse a JSON object, turning serde's message into a field path.
///
/// A number with no fraction (`5.0`) counts as the integer it equals, as JSON Schema counts it,
/// while it is below 2^53 (where a double still names one integer).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::InvalidJson(format!("the body is not valid JSON: {e}")))?;
    // serde reads a struct from an array too (`[null, null]`); every body here is an object.
    if !value.is_object() {
        return Err(ApiError::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    }
    whole_numbers(&mut value);
    from_value_at("", value)
}

/// 2^53: from here on a double no longer holds every integer (`9007199254740993.0` reads as
/// 2^53 itself), so a float this large cannot say which integer was meant.
const EXACT_FLOAT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Turn floats without a fraction (`5.0`, `1e3`) into integers, everywhere in `v`, when they
/// are exact (below 2^53 in size); larger ones stay floats, which an integer field refuses
/// (400 naming it). Integers written without a fraction are never touched.
fn whole_numbers(v: &mut serde_json::Value) {
    use serde_json::Value;
    // Iterative: the body's depth is bounded by the parser, but this needs no stack either.
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Number(n) if n.is_f64() => {
                if let Some(f) = n.as_f64()
                    && f.fract() == 0.0
                    && f.abs() < EXACT_FLOAT_INTEGER
                {
                    // Exact casts: |f| < 2^53 fits both types.
                    if f >= 0.0 {
                        *v = Value::from(f as u64);
                    } else {
                        *v = Value::from(f as i64);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            _ => {}
        }
    }
}

/// Deserialize a JSON value that sits at `prefix` in the request (e.g. `settings`).
pub fn from_value_at<T: DeserializeOwned>(
    prefix: &str,
    value: serde_json::Value,
) -> Result<T, ApiError> {
    desk_core::error::from_value_at(prefix, value).map_err(ApiError::from)
}

/// A deserialization error at `path` (serde's message), naming the field (for the query and
/// path extractors of the admin API).
#[cfg(feature = "full")]
pub(crate) fn data_error(path: &str, message: &str) -> ApiError {
    desk_core::error::data_error(path, message).into()
}

/// Give every request an id (honouring a sane incoming `x-request-id`), make it available to
/// error bodies, and return it in the response.
pub async fn request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let mut res = REQUEST_ID
        .scope(id.clone(), async move {
            let started = std::time::Instant::now();
            let res = tracing::Instrument::instrument(next.run(req), span.clone()).await;
            span.in_scope(|| {
                tracing::info!(
                    status = res.status().as_u16(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "request finished"
                );
            });
            res
        })
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
        mode: Mode,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        A,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
        list: Vec<u8>,
    }

    fn field_of(body: &str) -> (Option<String>, String) {
        match parse_json::<Outer>(body.as_bytes()) {
            Err(ApiError::Invalid { field, message }) => (field, message),
            Err(ApiError::InvalidJson(m)) => (None, m),
            other => panic!("expected an error, got {:?}", other.map(|_| ())),
        }
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            field_of(r#"{"inner":{"port":1,"mode":"a"},"list":[]}"#)
                .0
                .as_deref(),
            Some("name")
        );
        assert_eq!(
            field_of(r#"{"name":"x","inner":{"mode":"a"},"list":[]}"#)
                .0
                .as_deref(),
            Some("inner.port")
        );
        assert_eq!(
            field_of(r#"{"name":"x","inner":{"port":1,"mode":"b"},"list":[]}"#)
                .0
                .as_deref(),
            Some("inner.mode")
        );
        assert_eq!(
            field_of(r#"{"name":"x","inner":{"port":70000,"mode":"a"},"list":[]}"#)
                .0
                .as_deref(),
            Some("inner.port")
        );
        assert_eq!(
            field_of(r#"{"name":"x","inner":{"port":1,"mode":"a"},"list":[1,"z"]}"#)
                .0
                .as_deref(),
            Some("list[1]")
        );
        assert_eq!(
            field_of(r#"{"name":"x","nmae":1,"inner":{"port":1,"mode":"a"},"list":[]}"#)
                .0
                .as_deref(),
            Some("nmae")
        );
        let (field, msg) = field_of(r#"{"name": "#);
        assert_eq!(field, None);
        assert!(msg.contains("not valid JSON"), "{msg}");
    }
}
