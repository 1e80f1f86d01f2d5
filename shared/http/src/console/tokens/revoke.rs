//! Revoking a token: a confirmation step (`GET /console/tokens/{id}/revoke`, which says when
//! the token is this session's own) and the revocation (`POST`), which ends the token's
//! sessions with it.

use super::{TokenRow, names, row_of};
use crate::ApiError;
use crate::admin::page::PageParams;
use crate::admin::path_ids::check_path_param;
use crate::admin::roles::Roles;
use crate::admin::tokens::{delete_token, list_tokens};
use crate::console::web::{BASE, Chrome, Signed, error_page, render_with, see_other};
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use desk_core::sessions::SessionRepo;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "console/tokens_revoke.html")]
struct RevokePage {
    c: Chrome,
    row: TokenRow,
}

/// The token `id` as the list shows it, if this caller sees it.
async fn find(state: &AppState, signed: &Signed, id: &str) -> Result<Option<TokenRow>, ApiError> {
    if check_path_param("id", id).is_err() {
        return Ok(None);
    }
    let names = names(state, &signed.caller).await?;
    let now = state.ports.clock.now();
    let mut cursor = None;
    for _ in 0..50 {
        let page = list_tokens(
            State(state.clone()),
            signed.caller.clone(),
            ApiQuery(PageParams {
                limit: Some(200),
                cursor,
            }),
        )
        .await?
        .0;
        if let Some(t) = page.items.into_iter().find(|t| t.id == id) {
            return Ok(Some(row_of(signed.visit.lang, now, &names, signed, t)));
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(None)
}

/// `GET /console/tokens/{id}/revoke`: the confirmation step.
pub async fn confirm_revoke(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) = signed.require(&roles, &Method::DELETE, "/tokens/{id}") {
        return *res;
    }
    let lang = signed.visit.lang;
    match find(&state, &signed, &id).await {
        Ok(Some(row)) => render_with(
            StatusCode::OK,
            &RevokePage {
                c: signed.chrome(&state, lang.t("吊销令牌", "Revoke a token").into()),
                row,
            },
        ),
        Ok(None) => error_page(
            lang,
            &ApiError::not_found(lang.t(
                "找不到这个令牌：它可能已被吊销。",
                "No such token: it may have been revoked already.",
            )),
        ),
        Err(e) => error_page(lang, &e),
    }
}

/// `POST /console/tokens/{id}/revoke`: revoke; the list again (or, for this session's own
/// token, the sign-in: the session ended with it).
pub async fn revoke(
    State(state): State<AppState>,
    Extension(roles): Extension<Arc<Roles>>,
    signed: Signed,
    Path(id): Path<String>,
    req: axum::extract::Request,
) -> Response {
    if let Err(res) = signed.require_settings() {
        return *res;
    }
    if let Err(res) = signed.require(&roles, &Method::DELETE, "/tokens/{id}") {
        return *res;
    }
    if let Err(res) = crate::console::sign_in::csrf_only(&signed, req).await {
        return *res;
    }
    let lang = signed.visit.lang;
    if let Err(why) = check_path_param("id", &id) {
        return error_page(lang, &ApiError::field("id", why));
    }
    match delete_token(
        State(state.clone()),
        signed.caller.clone(),
        ApiPath(id.clone()),
    )
    .await
    {
        // Gone already (a second tap): the list says so either way.
        Ok(_) | Err(ApiError::NotFound(_)) => {
            tracing::info!(by = %signed.caller.token_id, token_id = %id, "console token revoked");
            if id == signed.caller.token_id {
                if let Err(e) = SessionRepo::new(&*state.ports.records)
                    .delete(&signed.session_id)
                    .await
                {
                    tracing::warn!(error = %e, "session of a revoked token not removed");
                }
                see_other(&format!("{BASE}/sign-in?ended=1"))
            } else {
                see_other(&format!("{BASE}/tokens?revoked=1"))
            }
        }
        Err(e) => error_page(lang, &e),
    }
}
