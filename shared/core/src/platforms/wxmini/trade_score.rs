//! `GET /accounts/{id}/trade-score` on a mini program: its trade experience score and penalty
//! records, read from WeChat (at most 10 pages of 100).

use super::admin::platform;
use crate::Error;
use crate::account_actions::{AccountAction, Method};
use crate::platforms::wechat::mini_client;
use crate::platforms::wxmini::limits as op;
use crate::staff_actions::take_budget;
use crate::state::Services;
use chrono::{DateTime, Utc};
use domain::account::{Account, AccountKind};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

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

/// The operation's id in the document.
pub const OPERATION: &str = "trade_score";

/// The route.
pub fn action() -> AccountAction {
    AccountAction::new(
        "trade-score",
        Method::Get,
        OPERATION,
        &[AccountKind::WxminiApp],
    )
    .answered_with::<TradeScore>()
    .id_described("Our id of a wxmini_app account")
}

/// The mini program's score and penalties.
pub async fn trade_score(services: &Services, a: &Account) -> Result<TradeScore, Error> {
    let client = mini_client(services, a)
        .await
        .map_err(|e| Error::Conflict(format!("cannot call WeChat: {e}")))?;
    let mut penalties = Vec::new();
    let mut first: Option<Value> = None;
    // At most 10 pages of 100.
    for page in 0..10u32 {
        // A mini program's calls are budgeted under our account id.
        take_budget(services, &a.id, &[op::PENALTY_LIST]).await?;
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
    Ok(TradeScore {
        account_id: a.id.clone(),
        appid: a.platform_id().to_string(),
        current_score: first["currentScore"].as_i64(),
        total: first["totalNum"].as_i64(),
        penalties,
        fetched_at: services.ports.clock.now(),
    })
}
