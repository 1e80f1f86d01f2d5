//! WeChat Pay's part in the automatic handling: the record as the platform shows it
//! ([`shown`]) and the operations on one complaint ([`Ops`]): reply through `response` (or
//! `response-immediate-service`), approve the buyer's refund request, refund the first order
//! (under `out_refund_no(complaint, order, 0)`), complete.

use super::detail::{
    Api, Owner, fetch_history, has, mask_phone, normalise, out_refund_no, parse_time,
    platform_error,
};
use crate::automatic::{
    AutoOps, Found, HistoryOf, Made, NoRefund, RefundTarget, Refusal, Sent, Shown,
};
use crate::complaints::{AUTO_REFUND_SEQUENCE, complaint_id, derived_id};
use crate::platforms::wechatpay::limits as op;
use crate::state::Services;
use crate::worker::JobError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::complaint::{ActionKind, Complaint, HistoryEntry, OrderRef, Platform};
use wechatpay::PlatformError;
use wechatpay::model::{self, RefundAmount, RefundProgressRequest, RefundRequest, ResponseRequest};

/// The complaint as WeChat Pay shows it (detail and negotiation history).
pub(super) fn shown(
    owner: &Owner,
    d: model::Complaint,
    history: Vec<model::NegotiationEntry>,
    client: &wechatpay::Client,
    now: DateTime<Utc>,
) -> Shown<'static> {
    let id = complaint_id(Platform::Wechatpay, &owner.account.id, &d.complaint_id);
    let phone = d
        .payer_phone
        .as_deref()
        .and_then(|c| client.decrypt_sensitive(c).ok())
        .map(|p| mask_phone(&p));
    let mut tags = d.user_tag_list.clone();
    if d.in_platform_service {
        tags.push("in_platform_service".into());
    }
    if d.incoming_user_response {
        tags.push(super::deadlines::INCOMING_USER_RESPONSE.into());
    }
    let new = Complaint::new(
        id.clone(),
        Platform::Wechatpay,
        None,
        owner.account.id.clone(),
        d.complaint_id.clone(),
        now,
    );
    let sub_mchid = owner.sub_mchid.clone();
    let replied = has(&history, "MERCHANT_RESPONSE");
    let completed = has(&history, "MERCHANT_CONFIRM_COMPLETE");
    let fill = move |c: &mut Complaint| {
        c.sub_mchid = sub_mchid.clone();
        c.raw_status = d.complaint_state.clone();
        c.status = normalise(&d.complaint_state);
        c.orders = d
            .complaint_order_info
            .iter()
            .map(|o| OrderRef {
                transaction_id: Some(o.transaction_id.clone()).filter(|s| !s.is_empty()),
                out_trade_no: Some(o.out_trade_no.clone()).filter(|s| !s.is_empty()),
                amount_fen: Some(o.amount),
            })
            .collect();
        c.complaint_amount_fen = d
            .apply_refund_amount
            .or_else(|| d.complaint_order_info.first().map(|o| o.amount));
        c.problem_type = Some(d.problem_type.clone()).filter(|s| !s.is_empty());
        c.description = Some(d.complaint_detail.clone()).filter(|s| !s.is_empty());
        c.need_immediate_service = d.need_immediate_service;
        c.complained_at = parse_time(&d.complaint_time);
        c.replied |= replied;
        c.completed |= completed;
        if phone.is_some() {
            c.payer_phone_masked = phone.clone();
        }
        c.media = d
            .complaint_media_list
            .iter()
            .flat_map(|m| m.media_url.iter().cloned())
            .collect();
        c.tags = tags.clone();
    };
    Shown {
        new,
        fill: Box::new(fill),
        history: history_of(id, history),
        now,
    }
}

/// The history entries of complaint `id` (an entry without a time is dated when the complaint
/// was first received).
fn history_of(id: String, history: Vec<model::NegotiationEntry>) -> HistoryOf<'static> {
    let entries: Vec<(String, model::NegotiationEntry)> = history
        .into_iter()
        .enumerate()
        .map(|(n, e)| {
            let entry_id = if e.log_id.is_empty() {
                format!("{n:04}")
            } else {
                e.log_id.clone()
            };
            (entry_id, e)
        })
        .collect();
    Box::new(move |record: &Complaint| {
        entries
            .iter()
            .map(|(entry_id, e)| HistoryEntry {
                complaint_id: id.clone(),
                entry_id: entry_id.clone(),
                operator: Some(e.operator.clone()).filter(|s| !s.is_empty()),
                operation: e.operate_type.clone(),
                content: Some(e.operate_details.clone()).filter(|s| !s.is_empty()),
                media: e.image_list.clone(),
                at: parse_time(&e.operate_time).unwrap_or(record.received_at),
            })
            .collect()
    })
}

/// A refused write, or the error to retry it with.
fn refused(e: PlatformError) -> Result<Sent, JobError> {
    if e.is_retryable() {
        return Err(platform_error(e));
    }
    let outright = matches!(e, PlatformError::Api { .. });
    Ok(Sent::Refused(Refusal::new(e, outright)))
}

fn made(r: &model::Refund) -> Made {
    Made {
        refund_id: Some(r.refund_id.clone()).filter(|s| !s.is_empty()),
        status: r.status.clone(),
        amount: r.amount_refund(),
    }
}

/// WeChat Pay's operations on one complaint, from its detail and history as fetched.
pub(super) struct Ops<'a> {
    state: &'a Services,
    api: &'a Api<'a>,
    owner: &'a Owner,
    d: model::Complaint,
    history: Vec<model::NegotiationEntry>,
    /// The complained merchant (a provider's sub-merchant, or the merchant itself).
    complainted: String,
}

impl<'a> Ops<'a> {
    pub(super) fn new(
        state: &'a Services,
        api: &'a Api<'a>,
        owner: &'a Owner,
        d: model::Complaint,
        history: Vec<model::NegotiationEntry>,
    ) -> Self {
        let complainted = if d.complainted_mchid.is_empty() {
            owner.mchid.clone()
        } else {
            d.complainted_mchid.clone()
        };
        Self {
            state,
            api,
            owner,
            d,
            history,
            complainted,
        }
    }

    fn processed(&self) -> bool {
        self.d.complaint_state == "PROCESSED"
    }

    fn sub_mchid(&self) -> Option<String> {
        self.owner.provider.then(|| self.complainted.clone())
    }
}

#[async_trait]
impl AutoOps for Ops<'_> {
    type Order = model::ComplaintOrder;

    async fn reply(&self, record: &Complaint) -> Result<Option<Sent>, JobError> {
        let Some(text) = self.owner.reply_text.as_deref().filter(|t| !t.is_empty()) else {
            return Ok(None);
        };
        if self.processed() {
            return Ok(None);
        }
        let (client, d) = (self.api.client, &self.d);
        let immediate = d.need_immediate_service;
        self.api
            .take(if immediate {
                op::RESPONSE_IMMEDIATE
            } else {
                op::RESPONSE
            })
            .await?;
        let sent = if immediate {
            client
                .respond_immediate(
                    &d.complaint_id,
                    &self.complainted,
                    text,
                    &derived_id("reply_", &record.id),
                )
                .await
                .map(|_| ())
        } else {
            client
                .respond(
                    &d.complaint_id,
                    &ResponseRequest {
                        complainted_mchid: self.complainted.clone(),
                        response_content: text.to_string(),
                        ..Default::default()
                    },
                )
                .await
        };
        let how = if immediate {
            "response-immediate-service"
        } else {
            "response"
        };
        let chars = text.chars().count();
        match sent {
            Ok(()) => Ok(Some(Sent::Done(format!(
                "replied through {how} ({chars} characters)"
            )))),
            Err(e) => refused(e).map(Some),
        }
    }

    async fn refund_target(
        &self,
        record: &Complaint,
    ) -> Result<Result<RefundTarget<Self::Order>, NoRefund>, JobError> {
        if !self.owner.auto_refund {
            return Ok(Err(NoRefund::Silent));
        }
        let d = &self.d;
        let Some(order) = d.complaint_order_info.first() else {
            return Ok(Err(NoRefund::Skipped(
                "the complaint names no order".into(),
            )));
        };
        let order_key = if order.transaction_id.is_empty() {
            &order.out_trade_no
        } else {
            &order.transaction_id
        };
        // The amount comes from the platform's order data, never from the push.
        let wanted = if d.complaint_full_refunded {
            Err(NoRefund::Skipped(
                "the order is already fully refunded on the platform".into(),
            ))
        } else if self.processed() {
            Err(NoRefund::Silent)
        } else {
            Ok(match d.apply_refund_amount {
                Some(a) if d.problem_type == "REFUND" && a > 0 => a.min(order.amount),
                _ => order.amount,
            })
        };
        Ok(Ok(RefundTarget {
            number: out_refund_no(&record.id, order_key, AUTO_REFUND_SEQUENCE),
            payer: self.owner.account.id.clone(),
            transaction_id: Some(order.transaction_id.clone()).filter(|s| !s.is_empty()),
            per_order: true,
            total: order.amount,
            cap: self.owner.cap_fen,
            wanted,
            order: order.clone(),
        }))
    }

    async fn find_refund(&self, t: &RefundTarget<Self::Order>) -> Result<Found, JobError> {
        self.api.take(op::REFUND).await?;
        let sub = self.sub_mchid();
        match self
            .api
            .client
            .query_refund(&t.number, sub.as_deref())
            .await
        {
            Ok(r) => Ok(Found::Made(made(&r))),
            Err(PlatformError::Api { status: 404, .. }) => Ok(Found::NotFound),
            Err(e) if e.is_retryable() => Err(platform_error(e)),
            Err(e) => Ok(Found::Refused(e.to_string())),
        }
    }

    async fn before_refund(
        &self,
        _t: &RefundTarget<Self::Order>,
        _amount: u64,
    ) -> Result<Option<(ActionKind, Sent)>, JobError> {
        // A refund the buyer asked for is approved first (once: the history says so).
        if self.d.problem_type != "REFUND" || has(&self.history, "MERCHANT_APPROVE_REFUND") {
            return Ok(None);
        }
        self.api.take(op::REFUND_PROGRESS).await?;
        let approved = self
            .api
            .client
            .update_refund_progress(
                &self.d.complaint_id,
                &RefundProgressRequest {
                    action: "APPROVE".into(),
                    launch_refund_day: Some(0),
                    ..Default::default()
                },
            )
            .await;
        let sent = match approved {
            Ok(()) => Sent::Done("approved the buyer's refund request".into()),
            Err(e) => refused(e)?,
        };
        Ok(Some((ActionKind::RefundProgress, sent)))
    }

    async fn refund(
        &self,
        t: &RefundTarget<Self::Order>,
        amount: u64,
    ) -> Result<Result<Made, Refusal>, JobError> {
        let order = &t.order;
        let req = RefundRequest {
            sub_mchid: self.sub_mchid(),
            transaction_id: Some(order.transaction_id.clone()).filter(|s| !s.is_empty()),
            out_trade_no: Some(order.out_trade_no.clone())
                .filter(|s| !s.is_empty() && order.transaction_id.is_empty()),
            out_refund_no: t.number.clone(),
            reason: Some("投诉退款".into()),
            notify_url: self
                .state
                .public_url(&format!("callbacks/wechatpay/{}/refunds", self.owner.mchid)),
            amount: RefundAmount {
                refund: amount,
                total: order.amount,
                currency: "CNY".into(),
            },
        };
        self.api.take(op::REFUND).await?;
        match self.api.client.create_refund(&req).await {
            Ok(r) => Ok(Ok(made(&r))),
            Err(e) if e.is_retryable() => Err(platform_error(e)),
            Err(e) => {
                let outright = matches!(e, PlatformError::Api { .. });
                Ok(Err(Refusal::new(e, outright)))
            }
        }
    }

    async fn complete(
        &self,
        _record: &Complaint,
        _refunded: u64,
    ) -> Result<Option<Sent>, JobError> {
        self.api.take(op::COMPLETE).await?;
        let completed = self
            .api
            .client
            .complete(&self.d.complaint_id, &self.complainted)
            .await;
        match completed {
            Ok(()) => Ok(Some(Sent::Done("marked complete".into()))),
            Err(e) => refused(e).map(Some),
        }
    }

    /// Reads the detail and history again (a failed read counts as "not shown").
    async fn platform_shows(&self, action: ActionKind) -> Result<bool, JobError> {
        let id = &self.d.complaint_id;
        let d = match self.api.complaint(id).await {
            Ok(d) => d,
            Err(e @ JobError::Deferred { .. }) => return Err(e),
            Err(_) => return Ok(false),
        };
        let h = match fetch_history(self.api, id).await {
            Ok(h) => h,
            Err(e @ JobError::Deferred { .. }) => return Err(e),
            Err(_) => return Ok(false),
        };
        Ok(match action {
            ActionKind::Reply => has(&h, "MERCHANT_RESPONSE"),
            ActionKind::RefundProgress => has(&h, "MERCHANT_APPROVE_REFUND"),
            ActionKind::Complete => d.complaint_state == "PROCESSED",
            _ => false,
        })
    }

    async fn refresh(&self) -> Option<Shown<'static>> {
        let id = &self.d.complaint_id;
        let d = self.api.complaint(id).await.ok()?;
        let h = fetch_history(self.api, id).await.ok()?;
        let now = self.state.ports.clock.now();
        Some(shown(self.owner, d, h, self.api.client, now))
    }

    fn mark_completed(&self, c: &mut Complaint) {
        super::detail::mark_completed(c);
    }
}
