//! Admin actions on Alipay complaints: reply, feedback (with a code), supplement (trade
//! complaints), refund (both families), complete (the finishing feedback, or `process.finish`
//! for consumer complaints). Images come from `POST /media` and are uploaded to Alipay when the
//! action is sent. Every action goes in the action log. Alipay refusing an action in the
//! complaint's state (finished, already fed back) answers 409, as the mini program's `309`.

use super::budget;
use super::refund_claim::{self, RefundedOrder};
use super::staff_action::{ActionResult, log_admin};
use crate::ApiError;
use crate::caller::Caller;
use crate::state::AppState;
use alipay::client::{AlipayError, Client};
use axum::Json;
use desk_core::complaints::{ComplaintRepo, RefundRecord, derived_id};
use desk_core::ratelimit::{Operation, ops::alipay as op};
use desk_core::repo::AccountRepo;
use domain::account::{
    Account, AccountSettings, DEFAULT_ALIPAY_FINISH_TEXT, DEFAULT_ALIPAY_REFUND_FINISH_REMARK,
    DEFAULT_ALIPAY_REFUND_FINISH_TEXT,
};
use domain::complaint::{ActionKind, ActionOutcome, Complaint, ComplaintStatus};

fn platform(e: AlipayError) -> ApiError {
    if e.is_throttled() {
        super::budget::throttled(e)
    } else if e.is_complaint_state_conflict() {
        ApiError::Conflict(format!(
            "the complaint is not in a state that allows this action ({e})"
        ))
    } else if e.is_retryable() {
        ApiError::Unavailable(Box::new(e))
    } else {
        ApiError::Platform(e.to_string())
    }
}

fn trade_only(c: &Complaint, action: &str) -> Result<(), ApiError> {
    if c.family.as_deref() == Some("risk") {
        return Err(ApiError::Conflict(format!(
            "Alipay consumer complaints have no {action}: refund, then complete with a process code"
        )));
    }
    Ok(())
}

async fn account(state: &AppState, c: &Complaint) -> Result<Account, ApiError> {
    let (account, _) = AccountRepo::new(&*state.ports.records)
        .get(&c.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("complaint {} not found", c.id)))?;
    Ok(account)
}

async fn client_of(state: &AppState, account: &Account) -> Result<Client, ApiError> {
    desk_core::platforms::alipay::client(state, account)
        .await
        .map_err(|e| ApiError::Conflict(format!("cannot call Alipay: {e}")))
}

/// The text of a `complete` sent without one: after a refund (trade feedback `00`/`02`,
/// consumer process code `REFUND`) the app's refund finishing text or remark, otherwise a
/// neutral "handled" text. Never the reply text (it promises handling still to come).
fn finishing_text(account: &Account, risk: bool, code: &str) -> String {
    let refunded = if risk {
        code == "REFUND"
    } else {
        matches!(code, "00" | "02")
    };
    let text = match (&account.settings, refunded, risk) {
        (_, false, _) => DEFAULT_ALIPAY_FINISH_TEXT,
        (AccountSettings::AlipayApp(s), true, false) => s.refund_finish_text(),
        (AccountSettings::AlipayApp(s), true, true) => s.refund_finish_remark(),
        (_, true, false) => DEFAULT_ALIPAY_REFUND_FINISH_TEXT,
        (_, true, true) => DEFAULT_ALIPAY_REFUND_FINISH_REMARK,
    };
    text.to_string()
}

/// Check the media ids, take the budget of the action (`action`) and of one upload per image
/// (429 before anything is sent), then upload our stored media to Alipay; its image ids.
async fn images(
    state: &AppState,
    caller: &Caller,
    (c, account): (&Complaint, &Account),
    client: &Client,
    ids: &[String],
    action: Operation,
) -> Result<Vec<String>, ApiError> {
    let repo = ComplaintRepo::new(&*state.ports.records);
    if ids.len() > 4 {
        return Err(ApiError::field("images", "at most 4 images"));
    }
    // Every id is checked before the first upload: nothing goes to Alipay if one is foreign.
    let mut found = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        found.push(
            repo.media_for(id, &caller.scope, &c.account_id, c.sub_mchid.as_deref())
                .await?
                .ok_or_else(|| ApiError::field(format!("images[{n}]"), format!("no media {id}")))?,
        );
    }
    let mut blobs = Vec::new();
    for (n, m) in found.into_iter().enumerate() {
        let blob = state
            .ports
            .blobs
            .get(&format!("media/{}", m.id))
            .await
            .map_err(|e| ApiError::Unavailable(Box::new(e)))?
            .ok_or_else(|| ApiError::field(format!("images[{n}]"), "no content"))?;
        blobs.push((m, blob));
    }
    budget::take_all(
        state,
        budget::merchant_of(account),
        &budget::with_uploads(action, op::IMAGE_UPLOAD, blobs.len()),
    )
    .await?;
    let mut out = Vec::new();
    for (m, blob) in blobs {
        let kind = m.filename.rsplit('.').next().unwrap_or("png").to_string();
        out.push(
            client
                .image_upload(&kind, &m.filename, blob.bytes)
                .await
                .map_err(platform)?,
        );
    }
    Ok(out)
}

fn result(id: &str, action: ActionKind, request_no: Option<String>) -> Json<ActionResult> {
    Json(ActionResult {
        complaint_id: id.to_string(),
        action,
        outcome: ActionOutcome::Succeeded,
        request_no,
    })
}

/// `reply`, `feedback`, `supplement` or `complete` with a text (and a code for feedback).
pub async fn act(
    state: &AppState,
    caller: &Caller,
    c: &Complaint,
    action: &str,
    text: Option<String>,
    code: Option<String>,
    image_ids: &[String],
) -> Result<Json<ActionResult>, ApiError> {
    let account = account(state, c).await?;
    let client = client_of(state, &account).await?;
    if let Some(t) = &text {
        super::validate::text_controls("text", t)?;
    }
    let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::field("text", "must be 1 to 200 characters"));
    }
    let need_text = || {
        text.clone()
            .ok_or_else(|| ApiError::field("text", "must be 1 to 200 characters"))
    };
    let id = &c.platform_complaint_id;
    let (kind, sent, what) = match action {
        "reply" => {
            trade_only(c, "reply")?;
            let t = need_text()?;
            let imgs = images(state, caller, (c, &account), &client, image_ids, op::REPLY).await?;
            (
                ActionKind::Reply,
                client.tradecomplain_reply(id, &t, &imgs).await.map(|_| ()),
                "reply sent".to_string(),
            )
        }
        "supplement" => {
            trade_only(c, "supplement")?;
            let t = need_text()?;
            let imgs = images(
                state,
                caller,
                (c, &account),
                &client,
                image_ids,
                op::SUPPLEMENT,
            )
            .await?;
            (
                ActionKind::Supplement,
                client
                    .tradecomplain_supplement(id, &t, &imgs)
                    .await
                    .map(|_| ()),
                "supplement sent".to_string(),
            )
        }
        "feedback" | "complete" if c.family.as_deref() != Some("risk") => {
            let code = code.unwrap_or_else(|| "05".into());
            if !matches!(code.as_str(), "00" | "02" | "03" | "04" | "05" | "06") {
                return Err(ApiError::field("code", "one of 00, 02, 03, 04, 05, 06"));
            }
            let t = match (action, text.clone()) {
                ("complete", None) => finishing_text(&account, false, &code),
                _ => need_text()?,
            };
            let imgs = images(
                state,
                caller,
                (c, &account),
                &client,
                image_ids,
                op::FEEDBACK,
            )
            .await?;
            (
                ActionKind::Feedback,
                client
                    .tradecomplain_feedback(id, &code, &t, &imgs)
                    .await
                    .map(|_| ()),
                format!("feedback {code}"),
            )
        }
        "complete" => {
            let code = code.unwrap_or_else(|| "CONSENSUS_WITH_CLIENT".into());
            let n: i64 = id
                .parse()
                .map_err(|_| ApiError::Internal("consumer complaint id is not a number".into()))?;
            let remark = text
                .clone()
                .unwrap_or_else(|| finishing_text(&account, true, &code));
            budget::take(state, budget::merchant_of(&account), op::RISK_FINISH).await?;
            (
                ActionKind::Complete,
                client
                    .risk_complaint_finish(&[n], &code, &remark)
                    .await
                    .map(|_| ()),
                format!("process.finish {code}"),
            )
        }
        other => {
            return Err(ApiError::Conflict(format!(
                "Alipay complaints have no {other} action"
            )));
        }
    };
    match sent {
        Ok(()) => {
            log_admin(
                state,
                caller,
                &c.id,
                kind,
                ActionOutcome::Succeeded,
                what,
                None,
            )
            .await?;
            let repo = ComplaintRepo::new(&*state.ports.records);
            if matches!(kind, ActionKind::Feedback | ActionKind::Complete) {
                repo.modify(&c.id, |x| {
                    x.completed = true;
                    x.status = if kind == ActionKind::Complete {
                        ComplaintStatus::Resolved
                    } else {
                        ComplaintStatus::AwaitingPlatform
                    };
                })
                .await?;
            } else if kind == ActionKind::Reply {
                repo.modify(&c.id, |x| x.replied = true).await?;
            }
            Ok(result(&c.id, kind, None))
        }
        Err(e) => {
            log_admin(
                state,
                caller,
                &c.id,
                kind,
                ActionOutcome::Failed,
                format!("{what}: {e}"),
                None,
            )
            .await?;
            Err(platform(e))
        }
    }
}

/// A refund by hand: the next sequence's request number.
pub async fn refund(
    state: &AppState,
    caller: &Caller,
    c: &Complaint,
    amount_fen: u64,
    reason: Option<String>,
) -> Result<Json<RefundRecord>, ApiError> {
    let account = account(state, c).await?;
    let client = client_of(state, &account).await?;
    let order = c
        .orders
        .first()
        .cloned()
        .ok_or_else(|| ApiError::field("transaction_id", "the complaint has no trade"))?;
    let trade = order
        .transaction_id
        .clone()
        .ok_or_else(|| ApiError::field("transaction_id", "the complaint has no trade number"))?;
    let repo = ComplaintRepo::new(&*state.ports.records);
    let total = order.amount_fen.unwrap_or_default();
    // The budget before the claim: over it, no refund number is taken.
    budget::take(state, budget::merchant_of(&account), op::TRADE_REFUND).await?;
    let claim = refund_claim::claim_refund(
        state,
        &c.account_id,
        &c.id,
        RefundedOrder {
            total,
            transaction_id: Some(trade.clone()),
        },
        amount_fen,
        |_| true,
        |sequence| {
            format!(
                "CD{}{:06}",
                derived_id("", &format!("{}|{trade}|{sequence}", c.id)),
                sequence
            )
        },
    )
    .await?;
    let number = claim.out_refund_no.clone();
    match client
        .trade_refund(
            &trade,
            amount_fen,
            &number,
            reason.as_deref().unwrap_or("投诉退款"),
        )
        .await
    {
        Ok(_) => {
            log_admin(
                state,
                caller,
                &c.id,
                ActionKind::Refund,
                ActionOutcome::Succeeded,
                format!("refund of {amount_fen} fen"),
                Some(number.clone()),
            )
            .await?;
            let r = RefundRecord {
                status: "SUCCESS".into(),
                updated_at: state.ports.clock.now(),
                ..claim
            };
            repo.record_refund(&c.account_id, &r).await?;
            Ok(Json(r))
        }
        Err(e) => {
            if matches!(e, AlipayError::Api { .. }) && !e.is_retryable() {
                refund_claim::release_claim(state, &c.account_id, &claim).await?;
            }
            log_admin(
                state,
                caller,
                &c.id,
                ActionKind::Refund,
                ActionOutcome::Failed,
                e.to_string(),
                Some(number),
            )
            .await?;
            Err(platform(e))
        }
    }
}
