//! WeChat Pay jobs: complaint events (the detail and negotiation history fetched, then recorded,
//! told to staff and acted on by the automatic handling with this platform's operations, see
//! [`super::auto`]), violation notices and refund results.
//!
//! The automatic handling decides from the complaint's state as the platform reports it, never
//! from the push's event type, so a repeated, late or concurrent event changes nothing that is
//! already done.

use super::auto;
use super::detail::{Api, Owner, calling_mchid, fetch_history, job_client, parse_time};
pub use super::detail::{mask_phone, out_refund_no};
use crate::automatic::{self, Snapshot, StaffNotice};
use crate::complaints::{ComplaintRepo, complaint_id, derived_id, violation_id};
use crate::console_links;
use crate::notices::{self, Notice, store_error};
use crate::repo::SubMerchantRepo;
use crate::state::Services;
use crate::worker::{JobError, JobHandler, JobRegistry};
use async_trait::async_trait;
use domain::account::{Account, AccountSettings};
use domain::complaint::{
    ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger, Platform, Violation,
};
use domain::job::{JobEnvelope, wechatpay as jobs};
use domain::notification::{NotificationSubject, NotificationSummary};
use std::sync::Arc;
use wechatpay::model;

/// Register the WeChat Pay job handlers.
pub fn register(registry: &mut JobRegistry, state: &Services) {
    let h = Arc::new(Handlers {
        state: state.clone(),
    });
    registry.register(jobs::COMPLAINT.name(), Arc::new(ComplaintJob(h.clone())));
    registry.register(jobs::VIOLATION.name(), Arc::new(ViolationJob(h.clone())));
    registry.register(jobs::REFUND.name(), Arc::new(RefundJob(h)));
}

struct Handlers {
    state: Services,
}

struct ComplaintJob(Arc<Handlers>);
struct ViolationJob(Arc<Handlers>);
struct RefundJob(Arc<Handlers>);

impl Handlers {
    async fn account(&self, job: &JobEnvelope) -> Result<Account, JobError> {
        crate::automatic::job_account(&self.state, job).await
    }

    async fn client(&self, account: &Account) -> Result<Arc<wechatpay::Client>, JobError> {
        job_client(&self.state, account).await
    }

    async fn owner(&self, account: Account, complainted: &str) -> Result<Owner, JobError> {
        match &account.settings {
            AccountSettings::WechatpayMerchant(s) => Ok(Owner {
                mchid: s.mchid.clone(),
                provider: false,
                sub_mchid: None,
                sub: None,
                reply_text: s.reply_text.clone(),
                auto_refund: s.auto_refund,
                cap_fen: s.refund_cap_fen,
                act: account.enabled,
                account,
            }),
            AccountSettings::WechatpayProvider(s) => {
                if complainted.is_empty() || complainted == s.mchid {
                    return Ok(Owner {
                        mchid: s.mchid.clone(),
                        provider: true,
                        sub_mchid: None,
                        sub: None,
                        reply_text: s.reply_text.clone(),
                        auto_refund: s.auto_refund,
                        cap_fen: s.refund_cap_fen,
                        act: account.enabled,
                        account,
                    });
                }
                let sub = SubMerchantRepo::new(&*self.state.ports.records)
                    .get(&account.id, complainted)
                    .await
                    .map_err(store_error)?
                    .map(|(s, _)| s);
                let (reply_text, auto_refund, cap_fen, enabled) = match &sub {
                    Some(m) => (
                        m.reply_text
                            .clone()
                            .or_else(|| s.default_reply_text.clone()),
                        m.auto_refund,
                        m.refund_cap_fen.or(s.refund_cap_fen),
                        m.enabled,
                    ),
                    None => (
                        s.default_reply_text.clone(),
                        s.default_auto_refund,
                        s.refund_cap_fen,
                        true,
                    ),
                };
                Ok(Owner {
                    mchid: s.mchid.clone(),
                    provider: true,
                    sub_mchid: Some(complainted.to_string()),
                    sub,
                    reply_text,
                    auto_refund,
                    cap_fen,
                    act: account.enabled && enabled,
                    account,
                })
            }
            _ => Err(JobError::Permanent(format!(
                "account {} is not a WeChat Pay account",
                account.id
            ))),
        }
    }
}

/// Push action types caused by the merchant's own actions: recorded, not told to staff again.
fn own_action(action_type: &str) -> bool {
    matches!(
        action_type,
        "MERCHANT_RESPONSE"
            | "MERCHANT_CONFIRM_COMPLETE"
            | "SELLER_REFUND"
            | "MERCHANT_APPROVE_REFUND"
            | "MERCHANT_REJECT_REFUND"
    )
}

/// What a complaint push tells staff about, as the key of its notice: the complaint and what
/// happened to it (a new complaint; otherwise the history entry the action added, or the
/// state when the history shows none), never the notification id, so the same event pushed
/// again under another id (WeChat Pay does) is told once, and a later change has its own.
fn notice_event(
    record_id: &str,
    action_type: &str,
    event_type: &str,
    d: &model::Complaint,
    history: &[model::NegotiationEntry],
) -> String {
    if action_type == "CREATE_COMPLAINT"
        || (action_type.is_empty() && event_type == "COMPLAINT.CREATE")
    {
        return format!("wechatpay:{record_id}:new");
    }
    let wanted: &[&str] = match action_type {
        "CONTINUE_COMPLAINT" => &["USER_CONTINUE_COMPLAINT"],
        "USER_RESPONSE" => &["USER_RESPONSE", "USER_CLICK_RESPONSE"],
        "RESPONSE_BY_PLATFORM" => &["PLATFORM_RESPONSE"],
        _ => &[],
    };
    let newest = |keep: &dyn Fn(&model::NegotiationEntry) -> bool| {
        history
            .iter()
            .enumerate()
            .filter(|(_, h)| keep(h))
            .max_by_key(|(n, h)| (parse_time(&h.operate_time), *n))
            .map(|(n, h)| {
                if h.log_id.is_empty() {
                    format!("{n:04}")
                } else {
                    h.log_id.clone()
                }
            })
    };
    let what = newest(&|h| wanted.contains(&h.operate_type.as_str()))
        .or_else(|| newest(&|h| !h.operate_type.starts_with("MERCHANT_")))
        .unwrap_or_else(|| format!("state-{}", d.complaint_state));
    format!("wechatpay:{record_id}:{action_type}:{what}")
}

/// The action type the push of a complaint's latest change carries, for a job reconciliation
/// queued (which has none): `CREATE_COMPLAINT` for a complaint we have no record of (as its
/// first push would say); otherwise read from the newest history entry not written by a
/// merchant (the one [`notice_event`] keys on), so the staff notice has the push's key.
fn reconciled_action(known: bool, history: &[model::NegotiationEntry]) -> String {
    if !known {
        return "CREATE_COMPLAINT".into();
    }
    let newest = history
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.operate_type.starts_with("MERCHANT_"))
        .max_by_key(|(n, h)| (parse_time(&h.operate_time), *n))
        .map(|(_, h)| h.operate_type.as_str());
    match newest {
        None => String::new(),
        Some("USER_CREATE_COMPLAINT" | "USER_CREATE_COMPLAINT_SYSTEM_MESSAGE") => {
            "CREATE_COMPLAINT".into()
        }
        Some("USER_CONTINUE_COMPLAINT" | "USER_CONTINUE_COMPLAINT_SYSTEM_MESSAGE") => {
            "CONTINUE_COMPLAINT".into()
        }
        Some("USER_RESPONSE" | "USER_CLICK_RESPONSE") => "USER_RESPONSE".into(),
        Some("PLATFORM_RESPONSE") => "RESPONSE_BY_PLATFORM".into(),
        Some(
            "COMPLAINT_REFUND_RECEIVED_SYSTEM_MESSAGE" | "COMPLAINT_FULL_REFUNDED_SYSTEM_MESSAGE",
        ) => "REFUND_SUCCESS".into(),
        // The push's action type for the rest is not documented: the entry's own name.
        Some(other) => other.to_string(),
    }
}

/// Whether a complaint job was queued by reconciliation rather than by a push.
fn from_reconciliation(job: &JobEnvelope, event_type: &str) -> bool {
    job.origin == Some(domain::job::Origin::Reconcile) || event_type == super::reconcile::EVENT_TYPE
}

fn event_name(action_type: &str, event_type: &str) -> String {
    match action_type {
        "CREATE_COMPLAINT" => "new complaint".into(),
        "CONTINUE_COMPLAINT" => "complaint continued".into(),
        "USER_RESPONSE" => "buyer wrote again".into(),
        "RESPONSE_BY_PLATFORM" => "platform message".into(),
        "REFUND_SUCCESS" => "refund arrived".into(),
        "" => event_type.to_string(),
        other => other.to_string(),
    }
}

#[async_trait]
impl JobHandler for ComplaintJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.0;
        let p = jobs::COMPLAINT.payload(job)?;
        let notice: model::ComplaintNotice = serde_json::from_value(p.resource.clone())
            .map_err(|e| JobError::Permanent(format!("complaint resource: {e}")))?;
        // The id goes into a WeChat Pay path: refuse it before anything is called.
        wechatpay::ids::complaint_id(&notice.complaint_id)
            .map_err(|e| JobError::Permanent(format!("complaint resource: {e}")))?;
        let account = h.account(job).await?;
        let client = h.client(&account).await?;
        let mchid = calling_mchid(&account).to_string();
        let api = Api {
            client: &client,
            limiter: &h.state.limiter,
            mchid: &mchid,
        };
        let detail = api.complaint(&notice.complaint_id).await?;
        let history = fetch_history(&api, &notice.complaint_id).await?;
        let owner = h.owner(account, &detail.complainted_mchid).await?;
        let now = h.state.ports.clock.now();
        let record_id = complaint_id(Platform::Wechatpay, &owner.account.id, &detail.complaint_id);
        let action_type = if from_reconciliation(job, &p.event_type) {
            let known = ComplaintRepo::of(&h.state.ports)
                .get(&record_id)
                .await
                .map_err(store_error)?
                .is_some();
            reconciled_action(known, &history)
        } else {
            notice.action_type.clone()
        };
        let staff = (!own_action(&action_type)).then(|| StaffNotice {
            event_key: notice_event(&record_id, &action_type, &p.event_type, &detail, &history),
            event: event_name(&action_type, &p.event_type),
            merchant: owner.name(),
            user_text: Some(detail.complaint_detail.clone()),
            audiences: owner.audiences(),
        });
        let shown = auto::shown(&owner, detail.clone(), history.clone(), &client, now);
        let ops = owner
            .act
            .then(|| auto::Ops::new(&h.state, &api, &owner, detail, history));
        automatic::handle(
            &h.state,
            &job.id,
            Snapshot {
                shown,
                notice: staff,
                ops,
            },
        )
        .await
    }
}

#[async_trait]
impl JobHandler for ViolationJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.0;
        let p = jobs::VIOLATION.payload(job)?;
        let n: model::ViolationNotice = serde_json::from_value(p.resource.clone())
            .map_err(|e| JobError::Permanent(format!("violation resource: {e}")))?;
        let account = h.account(job).await?;
        let owner = h.owner(account, &n.sub_mchid).await?;
        let now = h.state.ports.clock.now();
        let occurred = p
            .create_time
            .as_deref()
            .and_then(parse_time)
            .unwrap_or(job.created_at);
        // The violation event: its type, record and what the platform says (the same notice
        // pushed again under another notification id is the same event, told once).
        let event = format!(
            "{}:{}:{}",
            p.event_type,
            n.record_id,
            derived_id("", &p.resource.to_string())
        );
        let v = Violation {
            id: violation_id(&owner.account.id, &event),
            account_id: owner.account.id.clone(),
            sub_mchid: Some(n.sub_mchid.clone()).filter(|s| !s.is_empty()),
            event_type: p.event_type.clone(),
            record_id: n.record_id.clone(),
            summary: [
                n.risk_description.as_str(),
                n.punish_plan.as_str(),
                n.punish_description.as_str(),
            ]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join("; "),
            details: p.resource.clone(),
            occurred_at: parse_time(&n.punish_time),
            received_at: job.created_at,
        };
        let repo = ComplaintRepo::of(&h.state.ports);
        repo.create_violation(&v).await.map_err(store_error)?;
        let intercept = p.event_type == "VIOLATION.INTERCEPT";
        // Interception notices: at most once per sub-merchant per Asia/Shanghai day.
        let event_key = if intercept {
            format!(
                "wechatpay-intercept:{}:{}:{}",
                owner.account.id,
                n.sub_mchid,
                domain::clock::china_day(occurred)
            )
        } else {
            format!("wechatpay-violation:{}:{event}", owner.account.id)
        };
        let summary = NotificationSummary {
            platform: "wechatpay".into(),
            event: p.event_type.clone(),
            merchant: if n.company_name.is_empty() {
                owner.name()
            } else {
                n.company_name.clone()
            },
            reference: n.record_id.clone(),
            at: now,
            amount_fen: None,
            user_text: Some(v.summary.clone()).filter(|s| !s.is_empty()),
            deadline: None,
            // The account's (or sub-merchant's) violations page.
            link: console_links::violations(&h.state, &owner.account.id, Some(&n.sub_mchid)),
            extra_lines: vec![],
        };
        notices::send(
            &h.state.ports,
            Notice {
                owner_pk: ComplaintRepo::violation_owner(&v.id),
                event_key,
                subject: NotificationSubject::Violation {
                    violation_id: v.id.clone(),
                },
                summary,
                audiences: &owner.audiences(),
                now,
                record_only_when_queued: intercept,
                extra_recipients: None,
                only_channels: None,
            },
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl JobHandler for RefundJob {
    async fn handle(&self, job: &JobEnvelope) -> Result<(), JobError> {
        let h = &self.0;
        let p = jobs::REFUND.payload(job)?;
        let r = &p.resource;
        let number = r["out_refund_no"].as_str().unwrap_or_default();
        let status = r["refund_status"].as_str().unwrap_or_default();
        let account = h.account(job).await?;
        let repo = ComplaintRepo::of(&h.state.ports);
        let Some(cid) = repo
            .complaint_of_refund(&account.id, number)
            .await
            .map_err(store_error)?
        else {
            tracing::info!(out_refund_no = %number, "refund result for a refund we did not ask for; ignored");
            return Ok(());
        };
        if let Some((mut rec, version)) = repo.refund(&cid, number).await.map_err(store_error)? {
            let _ = version;
            rec.status = status.to_string();
            rec.refund_id = r["refund_id"].as_str().map(String::from).or(rec.refund_id);
            rec.updated_at = job.created_at;
            repo.put_refund(&account.id, &rec)
                .await
                .map_err(store_error)?;
        }
        repo.log_action(&ActionLogEntry {
            complaint_id: cid.clone(),
            action_id: derived_id("act_", &format!("refund-result|{}", p.notification_id)),
            action: ActionKind::Refund,
            trigger: ActionTrigger::Policy,
            outcome: if status == "SUCCESS" {
                ActionOutcome::Succeeded
            } else {
                ActionOutcome::Failed
            },
            detail: format!("the platform reports refund {number}: {status}"),
            request_no: Some(number.to_string()),
            at: job.created_at,
        })
        .await
        .map_err(store_error)?;
        tracing::info!(complaint_id = %cid, out_refund_no = %number, %status, "refund result recorded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(log_id: &str, operate_type: &str, at: &str) -> model::NegotiationEntry {
        model::NegotiationEntry {
            log_id: log_id.into(),
            operate_type: operate_type.into(),
            operate_time: at.into(),
            ..Default::default()
        }
    }

    /// For each change a push tells, the job reconciliation queues (which carries no action
    /// type) gets the notice key the push's job gets, from the same history.
    #[test]
    fn a_reconciled_job_has_the_pushs_notice_key() {
        let d = model::Complaint {
            complaint_state: "PENDING".into(),
            ..Default::default()
        };
        let created = entry("L1", "USER_CREATE_COMPLAINT", "2026-11-20T10:00:00+08:00");
        let replied = entry("L2", "MERCHANT_RESPONSE", "2026-11-20T11:00:00+08:00");
        let cases = [
            ("CREATE_COMPLAINT", vec![created.clone()]),
            (
                "CONTINUE_COMPLAINT",
                vec![
                    created.clone(),
                    replied.clone(),
                    entry("L3", "USER_CONTINUE_COMPLAINT", "2026-11-21T09:00:00+08:00"),
                ],
            ),
            (
                "USER_RESPONSE",
                vec![
                    created.clone(),
                    entry("L3", "USER_RESPONSE", "2026-11-21T09:00:00+08:00"),
                    // Our answer after it is not what moved the complaint.
                    entry("L4", "MERCHANT_RESPONSE", "2026-11-21T09:30:00+08:00"),
                ],
            ),
            (
                "RESPONSE_BY_PLATFORM",
                vec![
                    created.clone(),
                    replied.clone(),
                    entry("L3", "PLATFORM_RESPONSE", "2026-11-22T09:00:00+08:00"),
                ],
            ),
        ];
        for (pushed, history) in cases {
            let push = notice_event("cmp_1", pushed, "COMPLAINT.STATE_CHANGE", &d, &history);
            let inferred = reconciled_action(true, &history);
            assert_eq!(inferred, pushed, "{history:?}");
            let ours = notice_event(
                "cmp_1",
                &inferred,
                super::super::reconcile::EVENT_TYPE,
                &d,
                &history,
            );
            assert_eq!(ours, push, "{pushed}");
        }
        // A complaint we have no record of is new, whatever happened to it since.
        let later = vec![
            created,
            entry("L3", "USER_RESPONSE", "2026-11-21T09:00:00+08:00"),
        ];
        assert_eq!(reconciled_action(false, &later), "CREATE_COMPLAINT");
        assert_eq!(
            notice_event(
                "cmp_1",
                &reconciled_action(false, &later),
                "COMPLAINT.RECONCILED",
                &d,
                &later
            ),
            "wechatpay:cmp_1:new"
        );
    }
}
