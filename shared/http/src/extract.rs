//! Extractors whose every rejection is the JSON error envelope naming the field: query strings
//! ([`ApiQuery`]) and path parameters ([`ApiPath`]). JSON bodies: [`crate::http::ValidJson`].
//! axum's own `Query` and `Path` answer a malformed request in plain text; the admin API uses
//! these instead.

use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::extract::rejection::PathRejection;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

/// A query string parsed into `T`; a value that does not parse is 400 naming its parameter.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(ApiQuery)
    }
}

/// Parse a query string (`a=1&b=x`), naming the parameter an error is about.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        crate::http::data_error(&path, &e.into_inner().to_string())
    })
}

/// `cursor=` (empty) is no cursor: the first page. For `#[serde(deserialize_with)]`.
pub fn empty_as_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(v.filter(|s| !s.is_empty()))
}

/// Path parameters parsed into `T`; one that does not parse is 400 naming it.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(path_error(e)),
        }
    }
}

fn path_error(e: PathRejection) -> ApiError {
    use axum::extract::path::ErrorKind as K;
    match e {
        PathRejection::FailedToDeserializePathParams(e) => {
            let field = match e.kind() {
                K::ParseErrorAtKey { key, .. }
                | K::InvalidUtf8InPathParam { key }
                | K::DeserializeError { key, .. } => Some(key.clone()),
                _ => None,
            };
            ApiError::Invalid {
                field,
                message: e.kind().to_string(),
            }
        }
        // A handler asked for parameters its route does not have: our bug, not the caller's.
        other => ApiError::Internal(Box::new(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Q {
        limit: Option<u32>,
        cursor: Option<String>,
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let q: Q = parse_query("limit=5&cursor=abc").expect("a plain query");
        assert_eq!(q.limit, Some(5));
        for bad in ["limit=-9275317011", "limit=x", "limit=", "limit=1&limit=2"] {
            match parse_query::<Q>(bad) {
                Err(ApiError::Invalid { field, .. }) => {
                    assert_eq!(field.as_deref(), Some("limit"), "{bad}")
                }
                other => panic!("{bad}: {:?}", other.map(|_| ())),
            }
        }
    }
}
