//! `/admin/v1/media` and `/admin/v1/complaints/{id}/media/{n}`: evidence images staff upload
//! (for replies and other actions), and the download proxy for a complaint's images on the
//! platform (WeChat Pay and mini programs; it stays out of the platform trait this round).

use super::budget::{self, wechatpay_error};
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use desk_core::complaints::{ComplaintRepo, Media};
use desk_core::platforms::wechatpay::limits as op;
use desk_core::repo::AccountRepo;
use desk_core::staff_actions::visible;
use domain::complaint::Platform;
use domain::ports::Blob;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::IntoParams;

/// An uploaded evidence image.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaQuery {
    /// File name (letters, digits, `.`, `_` and `-`; the extension is set from the content).
    #[param(max_length = 100, pattern = "^[A-Za-z0-9._-]*$")]
    pub filename: Option<String>,
}

fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(b"BM") {
        Some("image/bmp")
    } else {
        None
    }
}

#[utoipa::path(
    post, path = "/admin/v1/media", tag = "complaints",
    params(MediaQuery),
    request_body(content = Vec<u8>, content_type = "image/png", description = "The image bytes (jpg, png or bmp, at most 2 MB). The upload belongs to the caller's scope: a scoped token's image is usable only in actions and automatic responses of its own account (or sub-merchant); elsewhere its id is answered like an unknown one (400 naming `images[n]`)."),
    responses((status = 201, body = Media), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all)]
pub async fn upload_media(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MediaQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::Invalid {
                field: None,
                message: "the request body could not be read".into(),
            }
        }
    })?;
    if body.len() > crate::http::MEDIA_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    let content_type = sniff(&body)
        .ok_or_else(|| ApiError::UnsupportedMediaType("images must be jpg, png or bmp".into()))?;
    let ext = match content_type {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        _ => "bmp",
    };
    let filename = match q.filename {
        Some(f)
            if f.len() <= 100
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) =>
        {
            let base = f.rsplit_once('.').map(|(b, _)| b.to_string()).unwrap_or(f);
            format!("{base}.{ext}")
        }
        Some(_) => {
            return Err(ApiError::field(
                "filename",
                "letters, digits, '.', '_' and '-' only, at most 100",
            ));
        }
        None => format!("evidence.{ext}"),
    };
    let (account_id, sub_mchid) = match &caller.scope {
        domain::token::TokenScope::All => (None, None),
        domain::token::TokenScope::Account { account_id } => (Some(account_id.clone()), None),
        domain::token::TokenScope::SubMerchant {
            account_id,
            sub_mchid,
        } => (Some(account_id.clone()), Some(sub_mchid.clone())),
    };
    let media = Media {
        id: format!("med_{}", uuid::Uuid::now_v7().simple()),
        filename,
        content_type: content_type.into(),
        size: body.len() as u64,
        sha256: hex::encode(Sha256::digest(&body)),
        account_id,
        sub_mchid,
        created_at: state.ports.clock.now(),
    };
    state
        .ports
        .blobs
        .put(
            &format!("media/{}", media.id),
            Blob {
                bytes: body.to_vec(),
                content_type: content_type.into(),
            },
        )
        .await
        .map_err(|e| ApiError::Unavailable(Box::new(e)))?;
    ComplaintRepo::new(&*state.ports.records)
        .create_media(&media)
        .await?;
    Ok((StatusCode::CREATED, Json(media)))
}

#[utoipa::path(
    get, path = "/admin/v1/complaints/{id}/media/{n}", tag = "complaints",
    params(("id" = String, Path), ("n" = usize, Path, description = "Position in the complaint's `media` list, from 0")),
    responses((status = 200, description = "The image bytes"), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "An Alipay complaint: Alipay offers no image download"), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn download_media(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, n)): ApiPath<(String, usize)>,
) -> Result<Response, ApiError> {
    let c = visible(&state, &caller.scope, &id).await?;
    if c.platform == Platform::Wxmini {
        let (bytes, ct) = super::wxmini_actions::media(&state, &c, n).await?;
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            ct.parse().map_err(ApiError::internal)?,
        );
        return Ok((headers, bytes).into_response());
    }
    if c.platform != Platform::Wechatpay {
        return Err(ApiError::Conflict(format!(
            "{} complaints have no media download",
            c.platform.as_str()
        )));
    }
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(&c.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("complaint {id} not found")))?;
    let client = state.wechatpay_client(&account).await?;
    let url = c
        .media
        .get(n)
        .ok_or_else(|| ApiError::not_found(format!("complaint {id} has no media {n}")))?;
    budget::take(&state, budget::merchant_of(&account), op::IMAGE_DOWNLOAD).await?;
    let bytes = client.download_image(url).await.map_err(wechatpay_error)?;
    let ct = sniff(&bytes).unwrap_or("application/octet-stream");
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        ct.parse().map_err(ApiError::internal)?,
    );
    headers.insert(
        header::CACHE_CONTROL,
        "private, max-age=300".parse().map_err(ApiError::internal)?,
    );
    Ok((headers, bytes).into_response())
}
