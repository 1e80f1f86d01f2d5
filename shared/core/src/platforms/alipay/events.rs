//! Alipay jobs: trade complaints (`alipay.merchant.tradecomplain.*`) and RiskGO consumer
//! complaints (`alipay.security.risk.complaint.*`).
//!
//! Trade complaints: query, record (yuan strings converted exactly to fen), notify staff; if the
//! app is enabled and the complaint waits for the merchant: reply with the app's text (once: the
//! platform's reply list is the truth), then with auto-refund (under the cap) refund the trade
//! with a request number from (complaint, trade, sequence), asked for only after querying that
//! number, and submit the finishing feedback (`02`, refunded) with the app's refund finishing
//! text. Consumer complaints have no free-text reply: with auto-refund, refund, then
//! `process.finish` with `REFUND` and the app's finishing remark.

use crate::automatic::Actions;
use crate::complaints::{
    AUTO_REFUND_SEQUENCE, AutoRefund, ComplaintRepo, RefundRecord, complaint_id, derived_id,
};
use crate::notices::{self, Notice, store_error};
use crate::ratelimit::{Operation, ops::alipay as op};
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use alipay::client::{AlipayError, Client, ClientConfig, KeyMode};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use domain::account::{Account, AccountSettings, AlipayKeyMode, Credentials};
use domain::complaint::{
    ActionKind, ActionOutcome, Complaint, ComplaintStatus, OrderRef, Platform,
};
use domain::job::{JobEnvelope, JobKind, alipay as jobs};
use domain::notification::{Audience, NotificationSubject, NotificationSummary};
use serde_json::Value;
use std::sync::Arc;

pub fn register(registry: &mut JobRegistry, state: &Services) {
    let h = Arc::new(Handlers {
        state: state.clone(),
    });
    registry.register(
        jobs::TRADE_COMPLAINT.name(),
        Arc::new(Job {
            h: h.clone(),
            family: Family::Trade,
        }),
    );
    registry.register(
        jobs::RISK_COMPLAINT.name(),
        Arc::new(Job {
            h,
            family: Family::Risk,
        }),
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Trade,
    Risk,
}

impl Family {
    fn kind(self) -> JobKind<jobs::Message> {
        match self {
            Family::Trade => jobs::TRADE_COMPLAINT,
            Family::Risk => jobs::RISK_COMPLAINT,
        }
    }
}

struct Handlers {
    state: Services,
}

struct Job {
    h: Arc<Handlers>,
    family: Family,
}

fn api_error(e: AlipayError) -> JobError {
    if e.is_throttled() {
        JobError::throttled(e)
    } else if e.is_retryable() {
        JobError::retryable(e)
    } else {
        JobError::Permanent(e.to_string())
    }
}

/// Take one call of `operation` from the app's budget (the job is deferred when none is left).
async fn take(state: &Services, operation: Operation, app_id: &str) -> Result<(), JobError> {
    Ok(state.limiter.acquire(operation, app_id).await?)
}

/// The Alipay client of an app account, from its settings and credentials.
pub async fn client(state: &Services, account: &Account) -> Result<Client, String> {
    let AccountSettings::AlipayApp(s) = &account.settings else {
        return Err(format!("account {} is not an Alipay app", account.id));
    };
    let Ok(Some(Credentials::Alipay(c))) =
        crate::credentials::load(&*state.ports.secrets, &account.id).await
    else {
        return Err(format!(
            "account {}: Alipay credentials are not set",
            account.id
        ));
    };
    let key = c
        .app_private_key
        .as_ref()
        .and_then(|k| crate::credentials::parse_rsa_private_key(k.expose()))
        .ok_or("app_private_key is missing or unreadable")?;
    let mode = match c.mode {
        Some(AlipayKeyMode::Certificate) => {
            let pem = |f: &Option<domain::Sensitive>, name: &str| {
                f.as_ref()
                    .map(|p| p.expose().to_string())
                    .ok_or(format!("{name} is missing"))
            };
            let app_cert_sn = alipay::cert::first_cert_sn(&pem(&c.app_cert, "app_cert")?)
                .map_err(|e| format!("app_cert: {e}"))?;
            let alipay_root_cert_sn =
                alipay::cert::root_cert_sn(&pem(&c.alipay_root_cert, "alipay_root_cert")?)
                    .map_err(|e| format!("alipay_root_cert: {e}"))?;
            let mut alipay_keys = std::collections::HashMap::new();
            for cert in alipay::cert::certificates(&pem(&c.alipay_cert, "alipay_cert")?)
                .map_err(|e| format!("alipay_cert: {e}"))?
            {
                if let Ok(k) = alipay::cert::public_key(&cert) {
                    alipay_keys.insert(alipay::cert::cert_sn(&cert), k);
                }
            }
            KeyMode::Certificate {
                app_cert_sn,
                alipay_root_cert_sn,
                alipay_keys,
            }
        }
        _ => KeyMode::PublicKey(
            c.alipay_public_key
                .as_ref()
                .and_then(|k| crate::credentials::parse_rsa_public_key(k.expose()))
                .ok_or("alipay_public_key is missing or unreadable")?,
        ),
    };
    Ok(Client::new(ClientConfig {
        gateway: s
            .api_base_url
            .as_deref()
            .unwrap_or(alipay::client::PRODUCTION)
            .parse()
            .map_err(|e| format!("api_base_url: {e}"))?,
        app_id: s.app_id.clone(),
        private_key: key,
        mode,
    }))
}

/// `yyyy-MM-dd HH:mm:ss` in China time.
fn china_time(s: &str) -> Option<DateTime<Utc>> {
    let t = NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    t.and_local_timezone(chrono::FixedOffset::east_opt(8 * 3600)?)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn fen(v: &Value) -> Option<u64> {
    v.as_str().and_then(|s| alipay::money::yuan_to_fen(s).ok())
}

/// What the policy needs from either family's complaint.
struct Facts {
    platform_id: String,
    raw_status: String,
    status: ComplaintStatus,
    waiting_for_merchant: bool,
    trade_no: String,
    out_trade_no: Option<String>,
    amount_fen: Option<u64>,
    description: Option<String>,
    complained_at: Option<DateTime<Utc>>,
    replied: bool,
    finished: bool,
    /// Entries of the conversation not written by the merchant (buyer, platform).
    others_wrote: usize,
}

impl Facts {
    /// Still as the buyer filed it: in its first status (trade `MERCHANT_PROCESSING`, RiskGO
    /// `WAIT_PROCESS`) and nobody but the merchant has written. Any later status (a RiskGO
    /// complaint turning `OVERDUE`, the platform taking a trade complaint over) is its own event.
    fn is_new(&self) -> bool {
        self.others_wrote == 0
            && matches!(
                self.raw_status.as_str(),
                "MERCHANT_PROCESSING" | "WAIT_PROCESS"
            )
    }
}

fn trade_facts(d: &Value) -> Facts {
    let status = d["status"].as_str().unwrap_or_default().to_string();
    Facts {
        platform_id: d["complain_event_id"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        status: match status.as_str() {
            "MERCHANT_PROCESSING" => ComplaintStatus::Pending,
            "MERCHANT_FEEDBACKED" | "PLATFORM_PROCESSING" => ComplaintStatus::AwaitingPlatform,
            "FINISHED" | "PLATFORM_FINISH" => ComplaintStatus::Resolved,
            "CANCELLED" | "CLOSED" => ComplaintStatus::Closed,
            _ => ComplaintStatus::AwaitingPlatform,
        },
        waiting_for_merchant: status == "MERCHANT_PROCESSING",
        finished: status != "MERCHANT_PROCESSING",
        raw_status: status,
        trade_no: d["trade_no"].as_str().unwrap_or_default().to_string(),
        out_trade_no: d["merchant_order_no"].as_str().map(String::from),
        amount_fen: fen(&d["trade_amount"]),
        description: d["content"].as_str().map(String::from),
        complained_at: d["gmt_create"].as_str().and_then(china_time),
        replied: d["reply_detail_infos"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["replier_role"] == "MERCHANT")),
        others_wrote: d["reply_detail_infos"].as_array().map_or(0, |a| {
            a.iter().filter(|r| r["replier_role"] != "MERCHANT").count()
        }),
    }
}

fn risk_facts(d: &Value) -> Facts {
    let status = d["status"].as_str().unwrap_or_default().to_string();
    let trade = d["complaint_trade_info_list"]
        .get(0)
        .cloned()
        .unwrap_or(Value::Null);
    Facts {
        platform_id: d["id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
        status: match status.as_str() {
            "WAIT_PROCESS" | "OVERDUE" | "PART_OVERDUE" => ComplaintStatus::Pending,
            "PROCESSING" => ComplaintStatus::Processing,
            "PROCESSED" | "OVERDUE_PROCESSED" => ComplaintStatus::Resolved,
            s if s.starts_with("DROP") => ComplaintStatus::Closed,
            _ => ComplaintStatus::AwaitingPlatform,
        },
        waiting_for_merchant: matches!(
            status.as_str(),
            "WAIT_PROCESS" | "PROCESSING" | "OVERDUE" | "PART_OVERDUE"
        ),
        finished: status.contains("PROCESSED") || status.starts_with("DROP"),
        raw_status: status,
        trade_no: trade["trade_no"]
            .as_str()
            .or(d["trade_no"].as_str())
            .unwrap_or_default()
            .to_string(),
        out_trade_no: trade["out_no"].as_str().map(String::from),
        amount_fen: fen(&trade["amount"]).or_else(|| fen(&d["complain_amount"])),
        description: d["complain_content"].as_str().map(String::from),
        complained_at: d["gmt_complain"].as_str().and_then(china_time),
        replied: false,
        others_wrote: 0,
    }
}

#[async_trait]
impl JobHandler for Job {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.h;
        let account = crate::automatic::job_account(&h.state, job).await?;
        let AccountSettings::AlipayApp(settings) = account.settings.clone() else {
            return Err(JobError::Permanent("not an Alipay app".into()));
        };
        let client = client(&h.state, &account)
            .await
            .map_err(JobError::Permanent)?;
        let message = self.family.kind().payload(job)?;
        let biz = &message.biz;
        let detail = match self.family {
            Family::Trade => {
                let id = biz["complain_event_id"]
                    .as_str()
                    .ok_or_else(|| JobError::Permanent("no complain_event_id".into()))?;
                if !domain::ids::is_platform_id(id) {
                    return Err(JobError::Permanent(
                        "complain_event_id in the message is not an Alipay id (1 to 64 letters, digits, _ or -)".into(),
                    ));
                }
                take(&h.state, op::QUERY, &settings.app_id).await?;
                client.tradecomplain_query(id).await.map_err(api_error)?
            }
            Family::Risk => {
                let id = biz["complaint_id"]
                    .as_i64()
                    .or_else(|| biz["complaint_id"].as_str().and_then(|s| s.parse().ok()))
                    .ok_or_else(|| JobError::Permanent("no complaint_id".into()))?;
                take(&h.state, op::RISK_QUERY, &settings.app_id).await?;
                client.risk_complaint_query(id).await.map_err(api_error)?
            }
        };
        let f = match self.family {
            Family::Trade => trade_facts(&detail),
            Family::Risk => risk_facts(&detail),
        };
        let now = h.state.ports.clock.now();
        let repo = ComplaintRepo::new(&*h.state.ports.records);
        let id = complaint_id(
            Platform::Alipay,
            &account.id,
            &format!(
                "{}:{}",
                if self.family == Family::Trade {
                    "trade"
                } else {
                    "risk"
                },
                f.platform_id
            ),
        );
        let fill = |c: &mut Complaint| {
            c.raw_status = f.raw_status.clone();
            c.status = f.status;
            c.orders = vec![OrderRef {
                transaction_id: Some(f.trade_no.clone()).filter(|s| !s.is_empty()),
                out_trade_no: f.out_trade_no.clone(),
                amount_fen: f.amount_fen,
            }];
            c.complaint_amount_fen = f.amount_fen;
            c.description = f.description.clone();
            c.complained_at = f.complained_at;
            c.replied |= f.replied;
            c.completed |= f.finished;
            c.updated_at = now;
        };
        let family = if self.family == Family::Trade {
            "trade"
        } else {
            "risk"
        };
        let new = Complaint::new(
            id.clone(),
            Platform::Alipay,
            Some(family.into()),
            account.id.clone(),
            f.platform_id.clone(),
            now,
        );
        let record = repo.upsert(new, fill).await.map_err(store_error)?;
        let audiences: Vec<Audience> = account
            .enabled
            .then(|| Audience {
                account_id: account.id.clone(),
                sub_mchid: None,
            })
            .into_iter()
            .collect();
        notices::send(
            &h.state.ports,
            Notice {
                owner_pk: ComplaintRepo::complaint_owner(&id),
                // What happened to the complaint (new; the status it moved to; a new entry
                // by the buyer or the platform), never the notify_id: the same change
                // notified again is told once.
                event_key: if f.is_new() {
                    format!("alipay:{id}:new")
                } else {
                    format!("alipay:{id}:{}:{}", f.raw_status, f.others_wrote)
                },
                subject: NotificationSubject::Complaint {
                    complaint_id: id.clone(),
                },
                summary: NotificationSummary {
                    platform: "alipay".into(),
                    event: if f.is_new() {
                        "new complaint".into()
                    } else {
                        "complaint updated".into()
                    },
                    merchant: account.name.clone(),
                    reference: f.platform_id.clone(),
                    at: now,
                    amount_fen: f.amount_fen,
                    user_text: f.description.clone().map(|d| d.chars().take(200).collect()),
                    deadline: None,
                    link: h.state.public_url(&format!("admin/v1/complaints/{id}")),
                },
                audiences: &audiences,
                now,
                record_only_when_queued: false,
            },
        )
        .await?;
        if !account.enabled || !f.waiting_for_merchant {
            return Ok(());
        }
        let mut log = Actions::begin(&h.state, &id, &job.id, now).await?;
        let result = act(h, self.family, &client, &settings, &f, &record, &mut log).await;
        log.release(&h.state).await;
        result?;
        log.outcome()
    }
}

async fn act(
    h: &Handlers,
    family: Family,
    client: &Client,
    settings: &domain::account::AlipayAppSettings,
    f: &Facts,
    record: &Complaint,
    log: &mut Actions<'_>,
) -> Result<(), JobError> {
    let repo = ComplaintRepo::new(&*h.state.ports.records);
    let text = settings.reply_text.clone().filter(|t| !t.is_empty());
    // 1. Reply (trade complaints only; consumer complaints have no free-text reply).
    if family == Family::Trade
        && !record.replied
        && let Some(t) = &text
    {
        take(&h.state, op::REPLY, &settings.app_id).await?;
        match client.tradecomplain_reply(&f.platform_id, t, &[]).await {
            Ok(_) => {
                log.log(
                    ActionKind::Reply,
                    ActionOutcome::Succeeded,
                    format!("replied ({} characters)", t.chars().count()),
                    None,
                )
                .await?;
                repo.modify(&record.id, |c| c.replied = true)
                    .await
                    .map_err(store_error)?;
            }
            Err(e) if e.is_retryable() => return Err(api_error(e)),
            Err(e) => {
                log.log(
                    ActionKind::Reply,
                    ActionOutcome::Failed,
                    e.to_string(),
                    None,
                )
                .await?
            }
        }
    }
    if !settings.auto_refund {
        return Ok(());
    }
    let (Some(total), false) = (f.amount_fen, f.trade_no.is_empty()) else {
        log.log(
            ActionKind::Refund,
            ActionOutcome::Skipped,
            "the complaint names no trade or amount".into(),
            None,
        )
        .await?;
        return Ok(());
    };
    // 2. Refund, once per (complaint, trade) under the automatic refund's own number: claimed
    // before it is asked, and the number is queried first (a retry after a crash finds it).
    let number = format!(
        "CD{}{:06}",
        derived_id(
            "",
            &format!("{}|{}|{AUTO_REFUND_SEQUENCE}", record.id, f.trade_no)
        ),
        AUTO_REFUND_SEQUENCE
    );
    let amount = match auto_refund_claim(
        h,
        record,
        &f.trade_no,
        &number,
        total,
        settings.refund_cap_fen,
        log.now,
    )
    .await?
    {
        Ok(amount) => amount,
        Err(why) => {
            log.log(ActionKind::Refund, ActionOutcome::Skipped, why, None)
                .await?;
            return Ok(());
        }
    };
    let found = client
        .refund_query(&f.trade_no, &number)
        .await
        .map_err(api_error)?;
    if found["refund_amount"].as_str().is_some() {
        log.log(
            ActionKind::Refund,
            ActionOutcome::AlreadyDone,
            format!("refund {number} was already made; not asked again"),
            Some(number.clone()),
        )
        .await?;
    } else {
        take(&h.state, op::TRADE_REFUND, &settings.app_id).await?;
        match client
            .trade_refund(&f.trade_no, amount, &number, "投诉退款")
            .await
        {
            Ok(r) => {
                h.state.fault("after_refund");
                log.log(
                    ActionKind::Refund,
                    ActionOutcome::Succeeded,
                    format!(
                        "refund of {amount} fen (fund_change {})",
                        r["fund_change"].as_str().unwrap_or("?")
                    ),
                    Some(number.clone()),
                )
                .await?;
            }
            Err(e) if e.is_retryable() => return Err(api_error(e)),
            Err(e) => {
                if matches!(e, AlipayError::Api { .. }) {
                    repo.close_claim(&record.account_id, &record.id, &number, log.now)
                        .await
                        .map_err(store_error)?;
                }
                log.log(
                    ActionKind::Refund,
                    ActionOutcome::Failed,
                    e.to_string(),
                    Some(number),
                )
                .await?;
                return Ok(());
            }
        }
    }
    let now = log.now;
    repo.record_refund(
        &record.account_id,
        &RefundRecord {
            complaint_id: record.id.clone(),
            out_refund_no: number.clone(),
            sequence: AUTO_REFUND_SEQUENCE,
            transaction_id: Some(f.trade_no.clone()),
            amount_fen: amount,
            refund_id: None,
            status: "SUCCESS".into(),
            created_at: now,
            updated_at: now,
        },
    )
    .await
    .map_err(store_error)?;
    // 3. Finish: feedback with the refund code, or process.finish with REFUND, each with its
    // own text (the reply promised handling; this says the money is back).
    take(
        &h.state,
        match family {
            Family::Trade => op::FEEDBACK,
            Family::Risk => op::RISK_FINISH,
        },
        &settings.app_id,
    )
    .await?;
    let finished = match family {
        Family::Trade => client
            .tradecomplain_feedback(&f.platform_id, "02", settings.refund_finish_text(), &[])
            .await
            .map(|_| ()),
        Family::Risk => {
            let id: i64 = f.platform_id.parse().unwrap_or_default();
            client
                .risk_complaint_finish(&[id], "REFUND", settings.refund_finish_remark())
                .await
                .map(|_| ())
        }
    };
    match finished {
        Ok(()) => {
            log.log(
                ActionKind::Complete,
                ActionOutcome::Succeeded,
                "finished with the refund code".into(),
                None,
            )
            .await?;
            repo.modify(&record.id, |c| {
                c.completed = true;
                c.status = ComplaintStatus::Resolved;
            })
            .await
            .map_err(store_error)?;
        }
        Err(e) if e.is_retryable() => return Err(api_error(e)),
        Err(e) => {
            log.log(
                ActionKind::Complete,
                ActionOutcome::Failed,
                e.to_string(),
                None,
            )
            .await?
        }
    }
    Ok(())
}

/// The amount of an Alipay complaint's automatic refund `number`, claimed (see
/// [`ComplaintRepo::claim_auto_refund`]).
async fn auto_refund_claim(
    h: &Handlers,
    record: &Complaint,
    trade_no: &str,
    number: &str,
    total: u64,
    cap: Option<u64>,
    now: DateTime<Utc>,
) -> Result<Result<u64, String>, JobError> {
    ComplaintRepo::new(&*h.state.ports.records)
        .claim_auto_refund(
            &record.id,
            AutoRefund {
                account_id: &record.account_id,
                number,
                transaction_id: Some(trade_no.to_string()),
                total,
                cap,
                now,
            },
        )
        .await
        .map_err(store_error)
}
