//! What the admin API reads from WeChat for a mini program beyond its complaint actions, its
//! images and its account routes (those are the platform's own:
//! `desk_core::platforms::wxmini`): the violation records, read before the violation list.
//! This stays here until the platform trait has a place for it.

use super::budget;
use crate::ApiError;
use crate::state::AppState;
use chrono::DateTime;
use desk_core::complaints::{ComplaintRepo, violation_id};
use desk_core::platforms::wechat::mini_client;
use desk_core::ratelimit::ops::wxmini as op;
use domain::account::Account;
use domain::complaint::Violation;
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

async fn client(state: &AppState, a: &Account) -> Result<Client, ApiError> {
    mini_client(state, a)
        .await
        .map_err(|e| ApiError::Conflict(format!("cannot call WeChat: {e}")))
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
