//! `GET /accounts/{id}/trade-score` on a mini program: its trade experience score and penalty
//! records, read from WeChat (at most 10 pages of 100). The daily pass keeps one snapshot of
//! the score per mini program and Beijing calendar day ([`DailySnapshot`]: record
//! `SCORE#{account}` / `{YYYY-MM-DD}`), read back by `GET /accounts/{id}/trade-score/history`
//! ([`history`]).

use super::admin::platform;
use crate::Error;
use crate::account_actions::{AccountAction, Method};
use crate::platform::DailyWork;
use crate::platforms::wechat::mini_client;
use crate::platforms::wxmini::limits as op;
use crate::repo::decode;
use crate::staff_actions::ActionBody;
use crate::staff_actions::take_budget;
use crate::state::Services;
use chrono::{DateTime, NaiveDate, Utc};
use domain::account::{Account, AccountKind};
use domain::ports::{Index, Item, Query, StoreError};
use serde::{Deserialize, Serialize};
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

// ---- daily snapshots and their history

/// One day's trade experience score of a mini program, as the daily pass read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoreSnapshot {
    /// The Beijing calendar day (`YYYY-MM-DD`).
    pub day: String,
    /// 交易体验分 (None: WeChat gave none).
    pub score: Option<i64>,
    /// Number of penalties WeChat listed.
    pub penalties: Option<i64>,
    pub fetched_at: DateTime<Utc>,
}

/// `GET /accounts/{id}/trade-score/history`: the daily snapshots in a range of days, oldest
/// first (a day without a snapshot is absent).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScoreHistory {
    pub account_id: String,
    pub appid: String,
    pub from: String,
    pub to: String,
    pub items: Vec<ScoreSnapshot>,
}

/// The history's query.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct HistoryQuery {
    /// First day, `YYYY-MM-DD` (Beijing calendar); default 29 days before `to`.
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (Beijing calendar); default today.
    pub to: Option<String>,
}

/// The longest range of days one history call covers.
pub const MAX_HISTORY_DAYS: i64 = 366;

/// The history's operation id in the document.
pub const HISTORY_OPERATION: &str = "trade_score_history";

/// The history route.
pub fn history_action() -> AccountAction {
    AccountAction::new(
        "trade-score/history",
        Method::Get,
        HISTORY_OPERATION,
        &[AccountKind::WxminiApp],
    )
    .with_query::<HistoryQuery>()
    .answered_with::<ScoreHistory>()
    .spends_no_budget()
    .summary("The mini program's daily trade-score snapshots")
    .id_described("Our id of a wxmini_app account")
    .answer_described("One snapshot per Beijing day the daily pass took one, oldest first; a range is at most 366 days")
}

fn snapshot_pk(account_id: &str) -> String {
    format!("SCORE#{account_id}")
}

fn parse_day(field: &str, v: Option<&str>) -> Result<Option<NaiveDate>, Error> {
    v.map(|s| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .map_err(|_| Error::field(field, "must be a day as YYYY-MM-DD"))
    })
    .transpose()
}

/// The snapshots of a range of days (`from`..=`to`, at most [`MAX_HISTORY_DAYS`]): one
/// query of the account's snapshot partition, bounded by the days.
pub async fn history(
    services: &Services,
    a: &Account,
    body: &ActionBody,
) -> Result<ScoreHistory, Error> {
    let q: HistoryQuery = body.query()?;
    let today = domain::clock::china_date(services.ports.clock.now());
    let to = parse_day("to", q.to.as_deref())?.unwrap_or(today);
    let from =
        parse_day("from", q.from.as_deref())?.unwrap_or_else(|| to - chrono::Duration::days(29));
    if from > to {
        return Err(Error::field("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= MAX_HISTORY_DAYS {
        return Err(Error::field(
            "from",
            format!("the range is at most {MAX_HISTORY_DAYS} days"),
        ));
    }
    let page = services
        .ports
        .records
        .query(
            &Query::partition(Index::Primary, snapshot_pk(&a.id))
                .between(from.to_string(), to.to_string())
                .limit(MAX_HISTORY_DAYS as u32),
        )
        .await?;
    let items = page
        .items
        .into_iter()
        .map(|i| decode::<ScoreSnapshot>(i).map(|(s, _)| s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(Error::internal)?;
    Ok(ScoreHistory {
        account_id: a.id.clone(),
        appid: a.platform_id().to_string(),
        from: from.to_string(),
        to: to.to_string(),
        items,
    })
}

/// The mini-program platform's daily work: a mini program's score snapshot of the day, once
/// (its record is created if absent; a day that has one reads nothing).
pub struct DailySnapshot;

#[async_trait::async_trait]
impl DailyWork for DailySnapshot {
    async fn run(&self, services: &Services, a: &Account, day: NaiveDate) -> Result<(), Error> {
        if a.kind() != AccountKind::WxminiApp {
            return Ok(());
        }
        let records = &*services.ports.records;
        let (pk, sk) = (snapshot_pk(&a.id), day.to_string());
        if records.get(&pk, &sk).await?.is_some() {
            return Ok(());
        }
        let score = trade_score(services, a).await?;
        let snapshot = ScoreSnapshot {
            day: sk.clone(),
            score: score.current_score,
            penalties: score.total,
            fetched_at: score.fetched_at,
        };
        let data = serde_json::to_value(&snapshot).map_err(Error::internal)?;
        match records.create(Item::new(pk, sk, data)).await {
            Ok(_) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(account_id = %a.id, day = %day, score = ?snapshot.score, "trade score snapshot taken");
        Ok(())
    }
}
