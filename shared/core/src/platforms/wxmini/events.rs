//! Mini-program jobs: trade complaints (`wxmini.complaint`) and third-party platform
//! authorisation events (`wxopen.authorization`).
//!
//! A complaint push: fetch the detail (an enabled account; a disabled one is recorded from the
//! push alone: no platform call at all), then hand it to the automatic handling: the record
//! with its history and its current state's expiry (`expireTime`, read by the deadline rules), the staff notice, and for a complaint that
//! waits for the merchant's first answer this platform's operations (see [`super::auto`]).

use super::auto::Ops;
pub use super::calls::{Payment, payment, refund_number, refund_order, upload_media};
use crate::automatic::{self, Shown, Snapshot, StaffNotice};
use crate::complaints::complaint_id;
use crate::platforms::wechat::mini_client;
use crate::platforms::wxmini::limits as op;
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::account::AccountSettings;
use domain::complaint::{Complaint, ComplaintStatus, HistoryEntry, OrderRef, Platform};
use domain::job::{JobEnvelope, wxmini as jobs, wxopen};
use domain::notification::Audience;
use serde_json::Value;
use std::sync::Arc;
use wechat::xml;

pub fn register(registry: &mut JobRegistry, state: &Services) {
    registry.register(
        jobs::COMPLAINT.name(),
        Arc::new(ComplaintJob {
            state: state.clone(),
        }),
    );
    registry.register(
        wxopen::AUTHORIZATION.name(),
        Arc::new(AuthorizationJob {
            state: state.clone(),
        }),
    );
}

struct ComplaintJob {
    state: Services,
}

struct AuthorizationJob {
    state: Services,
}

/// The complaint statuses that wait for the merchant's answer (48 hours each).
pub fn waits_for_merchant(status: i64) -> bool {
    matches!(status, 201 | 206)
}

/// Our normalised status of a mini-program status code (the detail's `status` enum, labels as
/// listed in the Yeepay mirror of it; codes not listed wait for the user or the platform).
pub fn normalise(status: i64) -> ComplaintStatus {
    match status {
        // 待处理; 平台已判定为商责,待上传处理凭证; 待商家补充凭证; 待双方补充凭证.
        201 | 206 | 106 | 108 => ComplaintStatus::Pending,
        // 已回应,待用户确认; 平台客服核实凭证中 (the merchant acted, others decide).
        203 | 204 | 207 => ComplaintStatus::Processing,
        // 投诉已完结.
        112 | 115 | 116 | 205 => ComplaintStatus::Resolved,
        // 用户取消申请; 投诉已关闭.
        102 | 209 => ComplaintStatus::Closed,
        s if s >= 400 => ComplaintStatus::Closed,
        // 商家超时未回应,待用户确认 (202), 超时未上传凭证 (208), 平台客服处理中, 待用户退货中,
        // 平台退款中, ...
        _ => ComplaintStatus::AwaitingPlatform,
    }
}

fn unix(v: &Value) -> Option<DateTime<Utc>> {
    xml::int(v)
        .filter(|t| *t > 0)
        .and_then(|t| DateTime::from_timestamp(t, 0))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        Value::Array(a) => a.iter().filter_map(xml::text).collect(),
        _ => vec![],
    }
}

/// What the policy reads from a complaint: the detail API's `complaintOrder` (+ `item[]`) or,
/// for a disabled account, the push's `BussiCallBackInfo`.
pub struct Facts {
    pub id: String,
    pub status: i64,
    pub order_id: Option<String>,
    pub out_trade_no: Option<String>,
    pub total_fen: Option<u64>,
    pub content: Option<String>,
    pub media: Vec<String>,
    pub phone: Option<String>,
    pub problem_type: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub history: Vec<Item>,
}

/// One entry of the complaint's history.
pub struct Item {
    /// `itemType` (0 when only the push is known).
    pub item_type: i64,
    pub content: Option<String>,
    pub media: Vec<String>,
    pub at: Option<DateTime<Utc>>,
}

fn nonempty(v: &Value) -> Option<String> {
    xml::text(v).filter(|s| !s.is_empty())
}

impl Facts {
    pub fn from_detail(d: &Value) -> Facts {
        let o = &d["complaintOrder"];
        Facts {
            id: nonempty(&o["complaintOrderId"]).unwrap_or_default(),
            status: xml::int(&o["status"]).unwrap_or_default(),
            order_id: nonempty(&o["orderId"]),
            out_trade_no: nonempty(&o["outTradeNo"]),
            total_fen: xml::int(&o["totalCost"]).map(|v| v.max(0) as u64),
            content: nonempty(&o["customerMaterial"]["content"]),
            media: strings(&o["customerMaterial"]["mediaIdList"]),
            phone: nonempty(&o["phoneNumber"]),
            problem_type: nonempty(&o["type"]),
            created: unix(&o["createTime"]),
            expires: unix(&o["expireTime"]),
            history: xml::list(&d["item"])
                .iter()
                .map(|i| Item {
                    item_type: xml::int(&i["itemType"]).unwrap_or_default(),
                    content: nonempty(&i["content"]),
                    media: strings(&i["mediaIdList"]),
                    at: unix(&i["time"]),
                })
                .collect(),
        }
    }

    pub fn from_push(i: &Value) -> Facts {
        Facts {
            id: nonempty(&i["complaint_order_id"]).unwrap_or_default(),
            status: xml::int(&i["status"]).unwrap_or_default(),
            order_id: nonempty(&i["order_id"]),
            out_trade_no: nonempty(&i["out_trade_no"]),
            total_fen: xml::int(&i["total_cost"]).map(|v| v.max(0) as u64),
            content: nonempty(&i["customer_material_content"]),
            media: strings(&i["customer_material_media_id_list"]),
            phone: nonempty(&i["phone_number"]),
            problem_type: nonempty(&i["type"]),
            created: unix(&i["create_time"]),
            expires: unix(&i["expire_time"]),
            history: xml::list(&i["history"])
                .iter()
                .map(|h| Item {
                    item_type: 0,
                    content: nonempty(&h["content"]),
                    media: strings(&h["media_id_list"]),
                    at: unix(&h["time"]),
                })
                .collect(),
        }
    }
}

#[async_trait]
impl JobHandler for ComplaintJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let state = &self.state;
        let account = crate::automatic::job_account(state, job).await?;
        let AccountSettings::WxminiApp(settings) = account.settings.clone() else {
            return Err(JobError::Permanent("not a mini program".into()));
        };
        let push = jobs::COMPLAINT.payload(job)?;
        let coid = push.complaint_order_id.as_str();
        if !wechat::mini::is_complaint_order_id(coid) {
            return Err(JobError::Permanent(
                "complaint_order_id in the push is not a mini-program complaint id (1 to 20 digits)"
                    .into(),
            ));
        }
        let mut client = None;
        let f = if account.enabled {
            let c = mini_client(state, &account)
                .await
                .map_err(JobError::Permanent)?;
            state.limiter.acquire(op::DETAIL, &account.id).await?;
            let d = c
                .complaint_detail(coid)
                .await
                .map_err(crate::platforms::wechat::job_error)?;
            client = Some(c);
            Facts::from_detail(&d)
        } else {
            Facts::from_push(&push.info)
        };
        let now = state.ports.clock.now();
        let id = complaint_id(Platform::Wxmini, &account.id, coid);
        let shown = Shown {
            new: Complaint::new(
                id.clone(),
                Platform::Wxmini,
                None,
                account.id.clone(),
                coid.to_string(),
                now,
            ),
            fill: Box::new(|c: &mut Complaint| {
                c.raw_status = f.status.to_string();
                c.status = normalise(f.status);
                c.orders = vec![OrderRef {
                    transaction_id: f.order_id.clone(),
                    out_trade_no: f.out_trade_no.clone(),
                    amount_fen: f.total_fen,
                }];
                c.complaint_amount_fen = f.total_fen;
                c.description = f.content.clone();
                c.problem_type = f.problem_type.clone();
                c.complained_at = f.created.or(c.complained_at);
                // The current state's expiry, re-read every time (none: `0` or absent); the
                // deadline rules decide what it means in this state (see `super::deadlines`).
                c.platform_due_at = f.expires;
                c.payer_phone_masked = f
                    .phone
                    .as_deref()
                    .map(crate::platforms::wechatpay::events::mask_phone)
                    .or(c.payer_phone_masked.take());
                if !f.media.is_empty() {
                    c.media = f.media.clone();
                }
            }),
            history: Box::new(|_: &Complaint| {
                f.history
                    .iter()
                    .enumerate()
                    .map(|(n, item)| HistoryEntry {
                        complaint_id: id.clone(),
                        entry_id: format!("{n:04}"),
                        operator: None,
                        operation: item.item_type.to_string(),
                        content: item.content.clone(),
                        media: item.media.clone(),
                        at: item.at.unwrap_or(now),
                    })
                    .collect()
            }),
            now,
        };
        let notice = StaffNotice {
            // What happened to the complaint (its status and how far its history goes), never
            // the push's time: the same change pushed again is told once.
            event_key: format!("wxmini:{id}:{}:{}", f.status, f.history.len()),
            event: if waits_for_merchant(f.status) {
                "new complaint".into()
            } else {
                "complaint updated".into()
            },
            merchant: account.name.clone(),
            user_text: f.content.clone(),
            audiences: account
                .enabled
                .then(|| Audience {
                    account_id: account.id.clone(),
                    sub_mchid: None,
                })
                .into_iter()
                .collect(),
        };
        // A disabled account is recorded from the push alone (no client); only a complaint
        // that waits for the merchant's first answer is acted on.
        let ops = client
            .as_ref()
            .filter(|_| f.status == 201)
            .map(|client| Ops {
                state,
                client,
                settings: &settings,
            });
        automatic::handle(
            state,
            &job.id,
            Snapshot {
                shown,
                notice: Some(notice),
                ops,
            },
        )
        .await
    }
}

#[async_trait]
impl JobHandler for AuthorizationJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let state = &self.state;
        let p = wxopen::AUTHORIZATION.payload(job)?;
        let appid = p.authorizer_appid.as_str();
        let component_id = job
            .account_id
            .as_deref()
            .ok_or_else(|| JobError::Permanent("job names no account".into()))?;
        match p.info_type.as_str() {
            "unauthorized" => super::onboarding::deauthorize(state, component_id, appid)
                .await
                .map_err(|e| e.into_job_error()),
            _ => {
                let code = p
                    .authorization_code
                    .as_deref()
                    .ok_or_else(|| JobError::Permanent("no AuthorizationCode".into()))?;
                let c = crate::platforms::wechat::component_account(state, component_id)
                    .await
                    .map_err(JobError::Permanent)?;
                super::onboarding::onboard(state, &c, code, "event")
                    .await
                    .map(|_| ())
                    .map_err(|e| e.into_job_error())
            }
        }
    }
}
