//! What the admin API reads from WeChat for a mini program beyond its complaint actions (those
//! are the platform's own: `desk_core::platforms::wxmini::admin`): the buyer's images of a
//! complaint, the trade experience score and the violation records. These are account-level
//! reads that stay here until the platform trait has a place for them.

use super::budget;
use crate::ApiError;
use crate::caller::Caller;
use crate::extract::ApiPath;
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use desk_core::complaints::{ComplaintRepo, violation_id};
use desk_core::platforms::wechat::mini_client;
use desk_core::platforms::wxmini::limits as op;
use desk_core::repo::AccountRepo;
use domain::account::{Account, AccountSettings};
use domain::complaint::{Complaint, Violation};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use wechat::WechatError;
use wechat::mini::Client;

fn platform(e: WechatError) -> ApiError {
    if e.is_throttled() {
        super::budget::throttled(e)
    } else if e.is_already_moved_on() {
        ApiError::Conflict(format!(
            "the complaint is not in a state that allows this action ({e})"
        ))
    } else if e.is_retryable() {
        ApiError::Unavailable(Box::new(e))
    } else {
        ApiError::Platform(e.to_string())
    }
}

async fn account(state: &AppState, c: &Complaint) -> Result<Account, ApiError> {
    AccountRepo::new(&*state.ports.records)
        .get(&c.account_id)
        .await?
        .map(|(a, _)| a)
        .ok_or_else(|| ApiError::not_found(format!("complaint {} not found", c.id)))
}

async fn client(state: &AppState, a: &Account) -> Result<Client, ApiError> {
    mini_client(state, a)
        .await
        .map_err(|e| ApiError::Conflict(format!("cannot call WeChat: {e}")))
}

/// The buyer's image `n` of a mini-program complaint (fetched with the media API).
pub async fn media(
    state: &AppState,
    c: &Complaint,
    n: usize,
) -> Result<(Vec<u8>, String), ApiError> {
    let media_id = c
        .media
        .get(n)
        .ok_or_else(|| ApiError::not_found(format!("complaint {} has no media {n}", c.id)))?;
    let a = account(state, c).await?;
    let client = client(state, &a).await?;
    budget::take(state, budget::merchant_of(&a), op::MEDIA_GET).await?;
    client.get_media(media_id).await.map_err(platform)
}

/// `GET /accounts/{id}/trade-score`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TradeScore {
    pub account_id: String,
    pub appid: String,
    /// 交易体验分.
    pub current_score: Option<i64>,
    /// Number of penalties.
    pub total: Option<i64>,
    /// The platform's penalty records, verbatim (`illegalOrderId`, `complaintOrderId`,
    /// `illegalWording`, `status`, `minusScore`, ...).
    pub penalties: Vec<Value>,
    pub fetched_at: DateTime<Utc>,
}

async fn mini_account(state: &AppState, caller: &Caller, id: &str) -> Result<Account, ApiError> {
    caller.require_account(id)?;
    let (a, _) = AccountRepo::new(&*state.ports.records)
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account {id} not found")))?;
    if !matches!(a.settings, AccountSettings::WxminiApp(_)) {
        return Err(ApiError::Conflict(format!(
            "{id} is not a mini program (wxmini_app)"
        )));
    }
    Ok(a)
}

#[utoipa::path(
    get, path = "/admin/v1/accounts/{id}/trade-score", tag = "accounts",
    params(("id" = String, Path, description = "Our id of a wxmini_app account")),
    responses((status = 200, body = TradeScore), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 502, body = crate::error::ErrorBody)),
    security(("bearer" = []))
)]
pub async fn trade_score(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<TradeScore>, ApiError> {
    let a = mini_account(&state, &caller, &id).await?;
    let client = client(&state, &a).await?;
    let mut penalties = Vec::new();
    let mut first: Option<Value> = None;
    // At most 10 pages of 100.
    for page in 0..10u32 {
        budget::take(&state, budget::merchant_of(&a), op::PENALTY_LIST).await?;
        let v = client
            .penalty_list(page * 100, 100)
            .await
            .map_err(platform)?;
        let list = v["appealList"].as_array().cloned().unwrap_or_default();
        let n = list.len();
        penalties.extend(list);
        let total = v["totalNum"].as_i64().unwrap_or(0);
        first.get_or_insert(v);
        if n < 100 || penalties.len() as i64 >= total {
            break;
        }
    }
    let first = first.unwrap_or_default();
    Ok(Json(TradeScore {
        account_id: a.id.clone(),
        appid: a.platform_id().to_string(),
        current_score: first["currentScore"].as_i64(),
        total: first["totalNum"].as_i64(),
        penalties,
        fetched_at: state.ports.clock.now(),
    }))
}

/// Re-read a mini program's violation records of the last 90 days (and each one's appeal
/// records) into our violation records, before `GET /violations?account=` lists them.
pub async fn sync_violations(state: &AppState, a: &Account) -> Result<usize, ApiError> {
    let client = client(state, a).await?;
    let now = state.ports.clock.now();
    budget::take(state, budget::merchant_of(a), op::VIOLATION_RECORDS).await?;
    let v = client
        .illegal_records(now.timestamp() - 90 * 86_400, now.timestamp())
        .await
        .map_err(platform)?;
    let repo = ComplaintRepo::new(&*state.ports.records);
    let records = v["records"].as_array().cloned().unwrap_or_default();
    for r in &records {
        let Some(record_id) = wechat::xml::text(&r["illegal_record_id"]) else {
            continue;
        };
        budget::take(state, budget::merchant_of(a), op::VIOLATION_RECORDS).await?;
        let appeals = client.appeal_records(&record_id).await.map_err(platform)?;
        let occurred = r["create_time"]
            .as_i64()
            .and_then(|t| DateTime::from_timestamp(t, 0));
        let mut details = r.clone();
        details["appeal_records"] = appeals["records"].clone();
        repo.put_violation(&Violation {
            id: violation_id(&a.id, &format!("wxmini-illegal:{record_id}")),
            account_id: a.id.clone(),
            sub_mchid: None,
            event_type: "wxmini.illegal_record".into(),
            record_id: record_id.clone(),
            summary: [r["illegal_reason"].as_str(), r["rule_name"].as_str()]
                .into_iter()
                .flatten()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; "),
            details,
            occurred_at: occurred,
            received_at: occurred.unwrap_or(now),
        })
        .await?;
    }
    tracing::info!(account_id = %a.id, count = records.len(), "mini-program violation records read");
    Ok(records.len())
}
