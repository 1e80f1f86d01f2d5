//! `/admin/v1/media`, `/admin/v1/complaints/{id}/media/{n}` and
//! `/admin/v1/complaints/{id}/history/{entry_id}/media/{n}`: evidence images staff upload (for
//! replies and other actions), and the download proxy for a complaint's images on its platform,
//! the buyer's and those of its history's entries (each platform fetches them its own way:
//! `Platform::complaint_images`).

use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use desk_core::complaint_images::sniff;
use desk_core::complaints::{ComplaintRepo, Media};
use desk_core::staff_actions::visible;
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
    let media = store(&state, &caller, q.filename, &body).await?;
    Ok((StatusCode::CREATED, Json(media)))
}

/// Keep an uploaded evidence image (jpg, png or bmp, at most [`crate::http::MEDIA_LIMIT`]) in
/// the caller's scope: its record, for `POST /media` and the console's forms.
pub async fn store(
    state: &AppState,
    caller: &Caller,
    filename: Option<String>,
    body: &[u8],
) -> Result<Media, ApiError> {
    if body.len() > crate::http::MEDIA_LIMIT {
        return Err(ApiError::PayloadTooLarge);
    }
    // What the platforms take as evidence: jpg, png and bmp (not every image `sniff` knows).
    let (content_type, ext) = match sniff(body) {
        Some(t @ "image/jpeg") => (t, "jpg"),
        Some(t @ "image/png") => (t, "png"),
        Some(t @ "image/bmp") => (t, "bmp"),
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "images must be jpg, png or bmp".into(),
            ));
        }
    };
    let filename = match filename {
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
        sha256: hex::encode(Sha256::digest(body)),
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
    Ok(media)
}

#[utoipa::path(
    get, path = "/admin/v1/complaints/{id}/media/{n}", tag = "complaints",
    params(("id" = String, Path), ("n" = usize, Path, description = "Position in the complaint's `media` list, from 0")),
    responses((status = 200, description = "The image bytes, typed by their content (jpeg, png, gif, bmp or webp; whatever the platform called it). Anything else comes as an `application/octet-stream` attachment; either way with `Content-Security-Policy: sandbox` and `nosniff`."), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "The complaint's platform offers no image download"), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn download_media(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, n)): ApiPath<(String, usize)>,
) -> Result<Response, ApiError> {
    let c = visible(&state, &caller.scope, &id).await?;
    let platform = served(&state, &c)?;
    let image = platform.complaint_images().image(&state, &c, n).await?;
    Ok((
        image_headers(&image.bytes, image.private_max_age, n)?,
        image.bytes,
    )
        .into_response())
}

/// The platform of a complaint, if this desk serves it (409 otherwise).
fn served<'a>(
    state: &'a AppState,
    c: &domain::complaint::Complaint,
) -> Result<&'a std::sync::Arc<dyn desk_core::platform::Platform>, ApiError> {
    state.platforms().get(c.platform).ok_or_else(|| {
        ApiError::Conflict(format!(
            "this desk does not serve {} complaints",
            c.platform.as_str()
        ))
    })
}

/// The headers of a complaint image we pass on: its type is read from its bytes (whatever the
/// platform said), served inline only when it is an image (jpeg, png, gif, bmp, webp); anything
/// else is an `application/octet-stream` attachment. Never a document of our origin: `nosniff`
/// and a sandboxing Content-Security-Policy either way.
fn image_headers(
    bytes: &[u8],
    private_max_age: Option<std::time::Duration>,
    n: usize,
) -> Result<HeaderMap, ApiError> {
    let mut headers = HeaderMap::new();
    match sniff(bytes) {
        Some(image) => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(image));
        }
        None => {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            headers.insert(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"complaint-media-{n}.bin\"")
                    .parse()
                    .map_err(ApiError::internal)?,
            );
        }
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Some(age) = private_max_age {
        headers.insert(
            header::CACHE_CONTROL,
            format!("private, max-age={}", age.as_secs())
                .parse()
                .map_err(ApiError::internal)?,
        );
    }
    Ok(headers)
}

#[utoipa::path(
    get, path = "/admin/v1/complaints/{id}/history/{entry_id}/media/{n}", tag = "complaints",
    params(
        ("id" = String, Path),
        ("entry_id" = String, Path, description = "The history entry's `entry_id` (as `GET /complaints/{id}` lists it)"),
        ("n" = usize, Path, description = "Position in the entry's `media` list, from 0"),
    ),
    responses((status = 200, description = "The image bytes: one the buyer or we attached to this entry of the platform's history, fetched from the platform"), (status = 404, body = ErrorBody, description = "No such complaint (or not the caller's), history entry or image, or an image of the entry the platform's download cannot fetch"), (status = 409, body = ErrorBody, description = "The complaint's platform offers no image download"), (status = 502, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn download_history_media(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, entry_id, n)): ApiPath<(String, String, usize)>,
) -> Result<Response, ApiError> {
    let c = visible(&state, &caller.scope, &id).await?;
    let platform = served(&state, &c)?;
    let entry = ComplaintRepo::new(&*state.ports.records)
        .history(&c.id)
        .await?
        .into_iter()
        .find(|h| h.entry_id == entry_id)
        .ok_or_else(|| {
            ApiError::not_found(format!("complaint {id} has no history entry {entry_id}"))
        })?;
    let image = platform
        .complaint_images()
        .history_image(&state, &c, &entry, n)
        .await?;
    Ok((
        image_headers(&image.bytes, image.private_max_age, n)?,
        image.bytes,
    )
        .into_response())
}
