//! Alipay's operations on one complaint for the automatic handling: a trade complaint is
//! replied to with the app's text (consumer complaints have no free-text reply), its trade
//! refunded under `CD` + (complaint, trade, sequence) (queried first), and finished with
//! feedback `02` (refunded) or, for a consumer complaint, `process.finish` with `REFUND`.

use super::complaint::{Facts, Family, api_error, take};
use crate::automatic::{AutoOps, Found, Made, NoRefund, RefundTarget, Refusal, Sent};
use crate::complaints::{AUTO_REFUND_SEQUENCE, derived_id};
use crate::platforms::alipay::limits as op;
use crate::state::Services;
use crate::worker::JobError;
use alipay::client::{AlipayError, Client};
use async_trait::async_trait;
use domain::account::AlipayAppSettings;
use domain::complaint::Complaint;

/// The automatic refund's request number of a complaint's trade.
fn refund_number(complaint_id: &str, trade_no: &str) -> String {
    format!(
        "CD{}{:06}",
        derived_id(
            "",
            &format!("{complaint_id}|{trade_no}|{AUTO_REFUND_SEQUENCE}")
        ),
        AUTO_REFUND_SEQUENCE
    )
}

/// A refused call, or the error to retry it with.
fn refusal(e: AlipayError) -> Result<Refusal, JobError> {
    if e.is_retryable() {
        return Err(api_error(e));
    }
    let outright = matches!(e, AlipayError::Api { .. });
    Ok(Refusal::new(e, outright))
}

/// Alipay's operations on one complaint (trade or consumer), from its detail as fetched.
pub(super) struct Ops<'a> {
    pub(super) state: &'a Services,
    pub(super) client: &'a Client,
    pub(super) settings: &'a AlipayAppSettings,
    pub(super) account_id: &'a str,
    pub(super) family: Family,
    pub(super) facts: &'a Facts,
}

#[async_trait]
impl AutoOps for Ops<'_> {
    /// The trade number.
    type Order = String;

    async fn reply(&self, _record: &Complaint) -> Result<Option<Sent>, JobError> {
        let text = self
            .settings
            .reply_text
            .as_deref()
            .filter(|t| !t.is_empty());
        let (Family::Trade, Some(text)) = (self.family, text) else {
            return Ok(None);
        };
        take(self.state, op::REPLY, &self.settings.app_id).await?;
        let sent = match self
            .client
            .tradecomplain_reply(&self.facts.platform_id, text, &[])
            .await
        {
            Ok(_) => Sent::Done(format!("replied ({} characters)", text.chars().count())),
            Err(e) => Sent::Refused(refusal(e)?),
        };
        Ok(Some(sent))
    }

    async fn refund_target(
        &self,
        record: &Complaint,
    ) -> Result<Result<RefundTarget<Self::Order>, NoRefund>, JobError> {
        if !self.settings.auto_refund {
            return Ok(Err(NoRefund::Silent));
        }
        let f = self.facts;
        let (Some(total), false) = (f.amount_fen, f.trade_no.is_empty()) else {
            return Ok(Err(NoRefund::Skipped(
                "the complaint names no trade or amount".into(),
            )));
        };
        Ok(Ok(RefundTarget {
            number: refund_number(&record.id, &f.trade_no),
            order: f.trade_no.clone(),
            payer: self.account_id.to_string(),
            transaction_id: Some(f.trade_no.clone()),
            per_order: false,
            total,
            cap: self.settings.refund_cap_fen,
            wanted: Ok(total),
        }))
    }

    async fn find_refund(&self, t: &RefundTarget<Self::Order>) -> Result<Found, JobError> {
        let found = match self.client.refund_query(&t.order, &t.number).await {
            Ok(found) => found,
            Err(e) => return Ok(Found::Refused(refusal(e)?.error)),
        };
        Ok(match found["refund_amount"].as_str() {
            Some(yuan) => Found::Made(Made {
                refund_id: None,
                status: "SUCCESS".into(),
                amount: alipay::money::yuan_to_fen(yuan).ok(),
            }),
            None => Found::NotFound,
        })
    }

    async fn refund(
        &self,
        t: &RefundTarget<Self::Order>,
        amount: u64,
    ) -> Result<Result<Made, Refusal>, JobError> {
        take(self.state, op::TRADE_REFUND, &self.settings.app_id).await?;
        match self
            .client
            .trade_refund(&t.order, amount, &t.number, "投诉退款")
            .await
        {
            Ok(_) => Ok(Ok(Made {
                refund_id: None,
                status: "SUCCESS".into(),
                amount: Some(amount),
            })),
            Err(e) => Ok(Err(refusal(e)?)),
        }
    }

    /// Feedback with the refund code, or `process.finish` with `REFUND`, each with its own text
    /// (the reply promised handling; this says the money is back).
    async fn complete(
        &self,
        _record: &Complaint,
        _refunded: u64,
    ) -> Result<Option<Sent>, JobError> {
        let (s, f) = (self.settings, self.facts);
        let finished = match self.family {
            Family::Trade => {
                take(self.state, op::FEEDBACK, &s.app_id).await?;
                self.client
                    .tradecomplain_feedback(&f.platform_id, "02", s.refund_finish_text(), &[])
                    .await
                    .map(|_| ())
            }
            Family::Risk => {
                let Ok(id) = f.platform_id.parse::<i64>() else {
                    let why = format!("consumer complaint id {:?} is not a number", f.platform_id);
                    return Ok(Some(Sent::Refused(Refusal::new(why, false))));
                };
                take(self.state, op::RISK_FINISH, &s.app_id).await?;
                self.client
                    .risk_complaint_finish(&[id], "REFUND", s.refund_finish_remark())
                    .await
                    .map(|_| ())
            }
        };
        Ok(Some(match finished {
            Ok(()) => Sent::Done("finished with the refund code".into()),
            Err(e) => Sent::Refused(refusal(e)?),
        }))
    }
}
