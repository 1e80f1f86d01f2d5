//! `/admin/v1/dead-letters`: jobs that could not be processed, with why, and replay.

use super::page::PageParams;
use crate::ApiError;
use crate::caller::Caller;
use crate::error::ErrorBody;
use crate::extract::{ApiPath, ApiQuery};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::job::{JobEnvelope, queues};
use domain::ports::DeadLetter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterFilter {
    /// `events` (default) or `notify`.
    #[param(value_type = Option<String>, pattern = "^(events|notify)$")]
    pub queue: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterView {
    /// `{queue}:{message id}`; use it with `/dead-letters/{id}/replay`.
    pub id: String,
    pub queue: String,
    pub reason: String,
    pub receive_count: u32,
    pub sent_at: DateTime<Utc>,
    pub dead_lettered_at: DateTime<Utc>,
    pub job_id: Option<String>,
    pub job_type: Option<String>,
    pub account_id: Option<String>,
    pub sub_mchid: Option<String>,
    /// The job's payload (ids and platform facts; never secrets); the raw body if it is not a
    /// job envelope.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterPageView {
    pub items: Vec<DeadLetterView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn view(d: DeadLetter) -> DeadLetterView {
    let env: Option<JobEnvelope> = serde_json::from_str(&d.body).ok();
    DeadLetterView {
        id: format!("{}:{}", d.queue, d.id),
        queue: d.queue,
        reason: d.reason,
        receive_count: d.receive_count,
        sent_at: d.sent_at,
        dead_lettered_at: d.dead_lettered_at,
        job_id: env.as_ref().map(|e| e.id.clone()),
        job_type: env.as_ref().map(|e| e.job_type.clone()),
        account_id: env.as_ref().and_then(|e| e.account_id.clone()),
        sub_mchid: env.as_ref().and_then(|e| e.sub_mchid.clone()),
        payload: match env {
            Some(e) => e.payload,
            None => serde_json::Value::String(d.body),
        },
    }
}

fn visible(caller: &Caller, v: &DeadLetterView) -> bool {
    caller
        .scope
        .covers(v.account_id.as_deref(), v.sub_mchid.as_deref())
}

fn queue_name(q: Option<&str>) -> Result<&'static str, ApiError> {
    match q.unwrap_or(queues::EVENTS) {
        q if q == queues::EVENTS => Ok(queues::EVENTS),
        q if q == queues::NOTIFY => Ok(queues::NOTIFY),
        _ => Err(ApiError::field("queue", "must be events or notify")),
    }
}

#[utoipa::path(
    get, path = "/admin/v1/dead-letters", tag = "operations",
    params(DeadLetterFilter, PageParams),
    responses((status = 200, body = DeadLetterPageView), (status = 400, body = ErrorBody)),
    security(("bearer" = []))
)]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(filter): ApiQuery<DeadLetterFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<DeadLetterPageView>, ApiError> {
    let queue = queue_name(filter.queue.as_deref())?;
    let got = state
        .ports
        .queue
        .list_dead_letters(queue, page.limit()?, page.cursor)
        .await?;
    Ok(Json(DeadLetterPageView {
        items: got
            .items
            .into_iter()
            .map(view)
            .filter(|v| visible(&caller, v))
            .collect(),
        next_cursor: got.next_cursor,
    }))
}

#[utoipa::path(
    post, path = "/admin/v1/dead-letters/{id}/replay", tag = "operations",
    params(("id" = String, Path, description = "`{queue}:{message id}` from the list")),
    responses((status = 202, description = "Back on its queue"), (status = 404, body = ErrorBody)),
    security(("bearer" = []))
)]
#[tracing::instrument(skip_all, fields(dead_letter = %id))]
pub async fn replay_dead_letter(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let not_found = || ApiError::not_found(format!("dead letter {id} not found"));
    let (queue, message_id) = id.split_once(':').ok_or_else(not_found)?;
    let queue = queue_name(Some(queue)).map_err(|_| not_found())?;
    if !caller.scope.is_all() {
        // A scoped caller may replay only what it can see: find the letter first.
        let mut cursor = None;
        let mut found = false;
        for _ in 0..20 {
            let page = state
                .ports
                .queue
                .list_dead_letters(queue, 500, cursor)
                .await?;
            if let Some(d) = page.items.into_iter().find(|d| d.id == message_id) {
                found = visible(&caller, &view(d));
                break;
            }
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        if !found {
            return Err(not_found());
        }
    }
    state.ports.queue.replay(queue, message_id).await?;
    tracing::info!(by = %caller.token_id, "dead letter replayed");
    Ok(StatusCode::ACCEPTED)
}
