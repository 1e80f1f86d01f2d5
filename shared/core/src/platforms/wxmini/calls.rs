//! The calls the automatic handling and the admin actions share: refunds through the WeChat Pay
//! account linked to a mini program, and evidence uploads to the mini program.

use crate::complaints::{ComplaintRepo, RefundRecord};
use crate::repo::AccountRepo;
use crate::state::Services;
use domain::account::{Account, PaymentLink};
use domain::complaint::{Complaint, OrderRef};
use std::sync::Arc;
use wechat::mini::Client;
use wechatpay::PlatformError;
use wechatpay::model::{RefundAmount, RefundRequest};

/// The WeChat Pay account that takes the mini program's payments, for refunds.
pub struct Payment {
    pub account: Account,
    pub client: Arc<wechatpay::Client>,
    pub sub_mchid: Option<String>,
}

pub async fn payment(state: &Services, link: &PaymentLink) -> Result<Payment, String> {
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(&link.account_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("payment account {} does not exist", link.account_id))?;
    let client = crate::platforms::wechatpay::Clients::of(state)
        .get(&account, &*state.ports.secrets)
        .await
        .map_err(|e| format!("payment account {}: {e}", account.id))?;
    Ok(Payment {
        account,
        client,
        sub_mchid: link.sub_mchid.clone(),
    })
}

/// The request number of a mini-program complaint's refund `sequence` (of its first order).
pub fn refund_number(complaint: &Complaint, sequence: u32) -> String {
    let order = complaint.orders.first().cloned().unwrap_or_default();
    let key = order
        .out_trade_no
        .or(order.transaction_id)
        .unwrap_or_default();
    crate::platforms::wechatpay::events::out_refund_no(&complaint.id, &key, sequence)
}

/// The WeChat Pay refund of `amount` of a complaint's `order` under `number`.
pub(super) fn refund_request(
    state: &Services,
    pay: &Payment,
    order: &OrderRef,
    number: &str,
    amount: u64,
    reason: &str,
) -> RefundRequest {
    RefundRequest {
        sub_mchid: pay.sub_mchid.clone(),
        // The merchant's order number when the complaint names it, else the platform's order
        // id.
        transaction_id: order
            .out_trade_no
            .is_none()
            .then(|| order.transaction_id.clone())
            .flatten(),
        out_trade_no: order.out_trade_no.clone(),
        out_refund_no: number.to_string(),
        reason: Some(reason.to_string()),
        notify_url: state.public_url(&format!(
            "callbacks/wechatpay/{}/refunds",
            pay.account.platform_id()
        )),
        amount: RefundAmount {
            refund: amount,
            total: order.amount_fen.unwrap_or(amount),
            currency: "CNY".into(),
        },
    }
}

/// Refund `amount` of the complaint's order through WeChat Pay, once per (complaint, order,
/// sequence): the number is queried first, so a retry after a crash finds it. The refund is
/// recorded; `true` when it had already been made.
pub async fn refund_order(
    state: &Services,
    pay: &Payment,
    complaint: &Complaint,
    sequence: u32,
    amount: u64,
    reason: &str,
) -> Result<(RefundRecord, bool), PlatformError> {
    let order = complaint.orders.first().cloned().unwrap_or_default();
    let number = refund_number(complaint, sequence);
    let sub = pay.sub_mchid.as_deref();
    let (r, found) = match pay.client.query_refund(&number, sub).await {
        Ok(r) => (r, true),
        Err(PlatformError::Api { status: 404, .. }) => {
            let req = refund_request(state, pay, &order, &number, amount, reason);
            let r = pay.client.create_refund(&req).await?;
            state
                .fault("after_refund")
                .map_err(|e| PlatformError::Invalid(e.to_string()))?;
            (r, false)
        }
        Err(e) => return Err(e),
    };
    let now = state.ports.clock.now();
    let record = RefundRecord {
        complaint_id: complaint.id.clone(),
        out_refund_no: number,
        sequence,
        transaction_id: order.transaction_id.clone(),
        amount_fen: r.amount_refund().unwrap_or(amount),
        refund_id: Some(r.refund_id.clone()).filter(|s| !s.is_empty()),
        status: r.status.clone(),
        created_at: now,
        updated_at: now,
    };
    let repo = ComplaintRepo::of(&state.ports);
    repo.record_refund(&pay.account.id, &record)
        .await
        .map_err(|e| PlatformError::Invalid(format!("refund made but not recorded: {e}")))?;
    Ok((record, found))
}

/// Upload our stored media (`POST /media` ids) to the mini program of `account_id`; their
/// media ids. Only media `scope` may use for that account counts (another account's is "no
/// media"), and every id is checked before the first upload.
pub async fn upload_media(
    state: &Services,
    client: &Client,
    scope: &domain::token::TokenScope,
    account_id: &str,
    ids: &[String],
) -> Result<Vec<String>, String> {
    let repo = ComplaintRepo::of(&state.ports);
    let mut found = Vec::new();
    for id in ids {
        found.push(
            repo.media_for(id, scope, account_id, None)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no media {id}"))?,
        );
    }
    let mut out = Vec::new();
    for m in found {
        let blob = state
            .ports
            .blobs
            .get(&format!("media/{}", m.id))
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("media {} has no content", m.id))?;
        out.push(
            client
                .upload_image(&m.filename, &m.content_type, blob.bytes)
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}
