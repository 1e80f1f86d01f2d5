//! The ids in admin paths: what an id (ours or a platform's) may be, the OpenAPI pattern that
//! states it, and the middleware that checks every one before a handler runs.

use super::validate;
use crate::ApiError;
use axum::extract::{RawPathParams, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Our ids in paths (`acc_…`, `cmp_…`, token ids, a dead letter's `queue:message-id`): at most
/// this many bytes of [`is_id_byte`].
pub const ID_MAX_LEN: usize = 200;
/// The most a media position (`/complaints/{id}/media/{n}`) can be.
pub const MEDIA_POSITION_MAX: u32 = 9999;

/// A byte of one of our ids: letters, digits, `_`, `-`, `:`.
pub fn is_id_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':')
}

/// The pattern of our ids, as the OpenAPI document states it (the same rule as [`is_id_byte`]
/// and [`ID_MAX_LEN`]).
pub fn id_pattern() -> String {
    format!("^[A-Za-z0-9_:-]{{1,{ID_MAX_LEN}}}$")
}

/// Whether a path parameter is acceptable, and what it must be when it is not.
pub fn check_path_param(name: &str, value: &str) -> Result<(), &'static str> {
    match name {
        "sub_mchid" => {
            if validate::is_platform_number(value) {
                Ok(())
            } else {
                Err("must be a sub-merchant number (8 to 32 digits)")
            }
        }
        "n" => {
            if value.parse::<u32>().is_ok_and(|n| n <= MEDIA_POSITION_MAX)
                && value.bytes().all(|b| b.is_ascii_digit())
            {
                Ok(())
            } else {
                Err("must be a position in the media list (0 to 9999)")
            }
        }
        _ => {
            if (1..=ID_MAX_LEN).contains(&value.len()) && value.bytes().all(is_id_byte) {
                Ok(())
            } else {
                Err("must be an id: 1 to 200 letters, digits, _, - or :")
            }
        }
    }
}

/// Every id in an admin path is checked before a handler runs: ours (`acc_…`, `cmp_…`, token
/// and dead-letter ids) and the platforms' (`sub_mchid`) are plain words; anything else (`../`,
/// `%2F`, spaces, controls, bytes that are not UTF-8) is 400 naming the parameter, never
/// looked up or sent on.
pub(super) async fn check_path_ids(
    params: Result<RawPathParams, axum::extract::rejection::RawPathParamsRejection>,
    req: Request,
    next: Next,
) -> Response {
    let params = match params {
        Ok(p) => p,
        Err(axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(e)) => {
            let field = match e.body_text().split('`').nth(1) {
                Some(name) => name.to_string(),
                None => "path".to_string(),
            };
            return ApiError::field(field, "must be UTF-8 text").into_response();
        }
        Err(e) => return ApiError::Internal(Box::new(e)).into_response(),
    };
    for (name, value) in &params {
        if let Err(what) = check_path_param(name, value) {
            return ApiError::field(name, what).into_response();
        }
    }
    next.run(req).await
}

/// The desk's own routes under `/accounts/{id}/`: a platform's account route of one of these
/// names is neither served nor documented.
pub const RESERVED_ACCOUNT_ROUTES: [&str; 3] = ["credentials", "sub-merchants", "notifications"];

/// Whether the desk serves a platform's account route of this name (not one of its own).
pub fn account_route_allowed(name: &str) -> bool {
    if RESERVED_ACCOUNT_ROUTES.contains(&name) {
        tracing::error!(
            route = name,
            "a platform's account route has the name of one of the desk's own: not served"
        );
        return false;
    }
    true
}
