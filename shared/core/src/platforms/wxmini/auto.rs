//! The mini program's operations on one complaint for the automatic handling: respond with the
//! settings' decision, text and images (uploaded per action: media ids expire); refund the order
//! through the linked WeChat Pay merchant (or provider + sub_mchid) under
//! `out_refund_no(complaint, order, 0)`; then respond "agree" with the refund's text if nobody
//! has responded yet. `309` (the complaint already moved on) counts as done.

use super::calls::{Payment, payment, refund_number, refund_request, upload_media};
use crate::automatic::{AutoOps, Found, Made, NoRefund, RefundTarget, Refusal, Sent};
use crate::complaints::AUTO_REFUND_SEQUENCE;
use crate::platforms::wxmini::limits as op;
use crate::state::Services;
use crate::worker::JobError;
use async_trait::async_trait;
use domain::account::{SettlementDecision, WxminiAppSettings};
use domain::complaint::{ActionKind, Complaint, ComplaintStatus, OrderRef};
use wechat::mini::{Client, Evidence};
use wechatpay::PlatformError;

/// The order to refund and the WeChat Pay account that refunds it.
pub(super) struct Order {
    pay: Payment,
    order: OrderRef,
}

fn pay_error(e: PlatformError) -> JobError {
    if e.is_throttled() {
        JobError::throttled(e)
    } else {
        JobError::retryable(e)
    }
}

fn made(r: &wechatpay::model::Refund) -> Made {
    Made {
        refund_id: Some(r.refund_id.clone()).filter(|s| !s.is_empty()),
        status: r.status.clone(),
        amount: r.amount_refund(),
    }
}

/// The mini program's operations on one complaint (one that waits for its first answer).
pub(super) struct Ops<'a> {
    pub(super) state: &'a Services,
    pub(super) client: &'a Client,
    pub(super) settings: &'a WxminiAppSettings,
}

impl Ops<'_> {
    /// Respond once with `decision`, `text` and the stored `images`.
    async fn respond(
        &self,
        record: &Complaint,
        decision: SettlementDecision,
        text: &str,
        images: &[String],
    ) -> Result<Sent, JobError> {
        let scope = domain::token::TokenScope::All;
        let media =
            match upload_media(self.state, self.client, &scope, &record.account_id, images).await {
                Ok(m) => m,
                Err(e) => return Ok(Sent::Refused(Refusal::new(format!("images: {e}"), false))),
            };
        let evidence = Evidence {
            content: text.to_string(),
            media_ids: media,
        };
        self.state
            .limiter
            .acquire(op::RESPOND, &record.account_id)
            .await?;
        match self
            .client
            .respond(&record.platform_complaint_id, decision.code(), &evidence)
            .await
        {
            Ok(()) => Ok(Sent::Done(format!(
                "responded: {} ({} characters, {} images)",
                if decision == SettlementDecision::Agree {
                    "agree to settle"
                } else {
                    "refuse to settle"
                },
                text.chars().count(),
                images.len()
            ))),
            Err(e) if e.is_already_moved_on() => Ok(Sent::AlreadyDone(
                "the complaint had already moved on (309)".into(),
            )),
            Err(e) if e.is_retryable() => Err(crate::platforms::wechat::job_error(e)),
            Err(e) => Ok(Sent::Refused(Refusal::new(e, false))),
        }
    }
}

#[async_trait]
impl AutoOps for Ops<'_> {
    type Order = Order;

    async fn reply(&self, record: &Complaint) -> Result<Option<Sent>, JobError> {
        let Some(r) = self.settings.auto_response.as_ref().filter(|r| r.enabled) else {
            return Ok(None);
        };
        self.respond(record, r.decision, &r.text, &r.images)
            .await
            .map(Some)
    }

    async fn refund_target(
        &self,
        record: &Complaint,
    ) -> Result<Result<RefundTarget<Self::Order>, NoRefund>, JobError> {
        if !self.settings.auto_refund {
            return Ok(Err(NoRefund::Silent));
        }
        let Some(link) = &self.settings.payment else {
            return Ok(Err(NoRefund::Skipped(
                "auto-refund is on but no WeChat Pay account is linked (settings.payment)".into(),
            )));
        };
        let order = record.orders.first().cloned().unwrap_or_default();
        let Some(total) = order.amount_fen else {
            return Ok(Err(NoRefund::Skipped(
                "the complaint names no order amount".into(),
            )));
        };
        let pay = match payment(self.state, link).await {
            Ok(p) => p,
            Err(e) => return Ok(Err(NoRefund::Failed(e))),
        };
        Ok(Ok(RefundTarget {
            number: refund_number(record, AUTO_REFUND_SEQUENCE),
            payer: pay.account.id.clone(),
            transaction_id: order.transaction_id.clone(),
            per_order: false,
            total,
            cap: self.settings.refund_cap_fen,
            wanted: Ok(total),
            order: Order { pay, order },
        }))
    }

    async fn find_refund(&self, t: &RefundTarget<Self::Order>) -> Result<Found, JobError> {
        let pay = &t.order.pay;
        match pay
            .client
            .query_refund(&t.number, pay.sub_mchid.as_deref())
            .await
        {
            Ok(r) => Ok(Found::Made(made(&r))),
            Err(PlatformError::Api { status: 404, .. }) => Ok(Found::NotFound),
            Err(e) if e.is_retryable() => Err(pay_error(e)),
            Err(e) => Ok(Found::Refused(e.to_string())),
        }
    }

    async fn refund(
        &self,
        t: &RefundTarget<Self::Order>,
        amount: u64,
    ) -> Result<Result<Made, Refusal>, JobError> {
        let Order { pay, order } = &t.order;
        let req = refund_request(self.state, pay, order, &t.number, amount, "投诉退款");
        match pay.client.create_refund(&req).await {
            Ok(r) => Ok(Ok(made(&r))),
            Err(e) if e.is_retryable() => Err(pay_error(e)),
            Err(e) => {
                let outright = matches!(e, PlatformError::Api { .. });
                Ok(Err(Refusal::new(e, outright)))
            }
        }
    }

    /// Tell the buyer (agree to settle) if nobody has responded yet.
    async fn complete(&self, record: &Complaint, refunded: u64) -> Result<Option<Sent>, JobError> {
        if record.replied {
            return Ok(None);
        }
        let text = self
            .settings
            .auto_response
            .as_ref()
            .filter(|r| r.enabled)
            .map(|r| r.text.clone())
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| {
                format!(
                    "已为您全额退款 {}.{:02} 元，请留意微信支付退款通知。",
                    refunded / 100,
                    refunded % 100
                )
            });
        self.respond(record, SettlementDecision::Agree, &text, &[])
            .await
            .map(Some)
    }

    /// Completing a mini-program complaint is responding to it.
    fn completion(&self) -> ActionKind {
        ActionKind::Reply
    }

    fn mark_replied(&self, c: &mut Complaint) {
        c.replied = true;
        if c.status == ComplaintStatus::Pending {
            c.status = ComplaintStatus::Processing;
        }
    }

    fn mark_completed(&self, c: &mut Complaint) {
        self.mark_replied(c);
    }
}
