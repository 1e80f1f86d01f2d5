//! The actions staff take by hand on Alipay complaints: reply, feedback (with a code),
//! supplement (trade complaints), refund (both families), complete (the finishing feedback, or
//! `process.finish` for consumer complaints). Images come from `POST /media` and are uploaded
//! to Alipay when the action is sent. Every action goes in the action log. Alipay refusing an
//! action in the complaint's state (finished, already fed back) is a conflict, as the mini
//! program's `309`.

use crate::Error;
use crate::complaints::{ComplaintRepo, RefundRecord, derived_id};
use crate::platforms::alipay::limits as op;
use crate::ratelimit::Operation;
use crate::repo::AccountRepo;
use crate::staff_actions::{
    ActionAnswer, ActionBody, RefundedOrder, Staff, StaffAction, StaffActions, claim_refund,
    log_admin, release_claim, state_conflict, stored_media, take_budget, text_controls, throttled,
    with_uploads,
};
use crate::state::Services;
use alipay::client::{AlipayError, Client};
use async_trait::async_trait;
use domain::account::{
    Account, AccountSettings, DEFAULT_ALIPAY_FINISH_TEXT, DEFAULT_ALIPAY_REFUND_FINISH_REMARK,
    DEFAULT_ALIPAY_REFUND_FINISH_TEXT,
};
use domain::complaint::{ActionKind, ActionOutcome, Complaint, ComplaintStatus};
use serde::Deserialize;
use utoipa::ToSchema;

/// Alipay feedback codes (`alipay.merchant.tradecomplain.feedback.submit`).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum FeedbackCode {
    #[serde(rename = "00")]
    #[schema(rename = "00")]
    Refunded,
    #[serde(rename = "02")]
    #[schema(rename = "02")]
    PartlyRefunded,
    #[serde(rename = "03")]
    #[schema(rename = "03")]
    Negotiated,
    #[serde(rename = "04")]
    #[schema(rename = "04")]
    NoRefund,
    #[serde(rename = "05")]
    #[schema(rename = "05")]
    Other,
    #[serde(rename = "06")]
    #[schema(rename = "06")]
    Delivered,
}

impl FeedbackCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackCode::Refunded => "00",
            FeedbackCode::PartlyRefunded => "02",
            FeedbackCode::Negotiated => "03",
            FeedbackCode::NoRefund => "04",
            FeedbackCode::Other => "05",
            FeedbackCode::Delivered => "06",
        }
    }
}

/// `POST /complaints/{id}/feedback` (Alipay trade complaints).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackBody {
    /// 1 to 200 characters; line breaks (`\n`) are kept, any other control character is 400.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x09\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub text: String,
    /// Default `05`.
    #[serde(default)]
    pub code: Option<FeedbackCode>,
    /// Media ids from `POST /media` (at most 4).
    #[serde(default)]
    #[schema(max_items = 4)]
    pub images: Vec<String>,
}

/// `POST /complaints/{id}/reply` and `/supplement` on an Alipay trade complaint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlipayTextBody {
    /// 1 to 200 characters; line breaks (`\n`) are kept, any other control character is 400.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x09\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub text: String,
    /// Media ids from `POST /media` (at most 4).
    #[serde(default)]
    #[schema(max_items = 4)]
    pub images: Vec<String>,
}

/// `POST /complaints/{id}/complete` on an Alipay complaint (an empty body sends the defaults).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AlipayCompleteBody)]
pub struct CompleteBody {
    /// The finishing text (1 to 200 characters); default: the app's finishing text for the
    /// code.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x09\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub text: Option<String>,
    /// Trade complaints: the feedback code (`00`, `02` to `06`; default `05`); consumer
    /// complaints: the `process.finish` code (default `CONSENSUS_WITH_CLIENT`).
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_]+$")]
    pub code: Option<String>,
}

/// `POST /complaints/{id}/refund` on an Alipay complaint: the refund of its trade.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AlipayRefundBody)]
pub struct RefundBody {
    /// Fen: at least 1, at most what is left of the trade.
    #[schema(minimum = 1)]
    pub amount_fen: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Alipay's staff actions.
pub struct Actions;

#[async_trait]
impl StaffActions for Actions {
    fn actions(&self) -> Vec<StaffAction> {
        vec![
            StaffAction::new::<AlipayTextBody>(
                "reply",
                ActionKind::Reply,
                "Reply to the buyer (trade complaints)",
            ),
            StaffAction::new::<FeedbackBody>(
                "feedback",
                ActionKind::Feedback,
                "Report how the complaint was handled, with a code (trade complaints)",
            ),
            StaffAction::new::<AlipayTextBody>(
                "supplement",
                ActionKind::Supplement,
                "Send supplementary evidence (trade complaints)",
            ),
            StaffAction::new::<RefundBody>("refund", ActionKind::Refund, "Refund the trade")
                .answered_with::<RefundRecord>(),
            StaffAction::new::<CompleteBody>(
                "complete",
                ActionKind::Complete,
                "Finish the complaint (feedback, or process.finish for consumer complaints)",
            )
            .body_optional(),
        ]
    }

    async fn run(
        &self,
        services: &Services,
        staff: &Staff,
        c: &Complaint,
        action: &str,
        body: ActionBody,
    ) -> Result<ActionAnswer, Error> {
        let sent = |text: Option<String>, code: Option<String>, images: Vec<String>| Sent {
            action: action.to_string(),
            text,
            code,
            images,
        };
        match action {
            "reply" | "supplement" => {
                let b: AlipayTextBody = body.parse()?;
                act(services, staff, c, sent(Some(b.text), None, b.images)).await
            }
            "feedback" => {
                let b: FeedbackBody = body.parse()?;
                let code = b.code.unwrap_or(FeedbackCode::Other).as_str().to_string();
                act(services, staff, c, sent(Some(b.text), Some(code), b.images)).await
            }
            "complete" => {
                let b: CompleteBody = body.parse_or_default()?;
                // No text: the app's finishing text for the code (see `finishing_text`).
                act(services, staff, c, sent(b.text, b.code, Vec::new())).await
            }
            "refund" => {
                let b: RefundBody = body.parse()?;
                refund(services, staff, c, b).await
            }
            other => Err(crate::staff_actions::no_such_action(
                "alipay",
                other,
                &self.actions(),
            )),
        }
    }
}

fn platform(e: AlipayError) -> Error {
    if e.is_throttled() {
        throttled(e)
    } else if e.is_complaint_state_conflict() {
        state_conflict(e)
    } else if e.is_retryable() {
        Error::Unavailable(Box::new(e))
    } else {
        Error::Platform(e.to_string())
    }
}

fn trade_only(c: &Complaint, action: &str) -> Result<(), Error> {
    if c.family.as_deref() == Some("risk") {
        return Err(Error::Conflict(format!(
            "Alipay consumer complaints have no {action}: refund, then complete with a process code"
        )));
    }
    Ok(())
}

async fn account(services: &Services, c: &Complaint) -> Result<Account, Error> {
    let (account, _) = AccountRepo::new(&*services.ports.records)
        .get(&c.account_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("complaint {} not found", c.id)))?;
    Ok(account)
}

async fn client_of(services: &Services, account: &Account) -> Result<Client, Error> {
    super::client(services, account)
        .await
        .map_err(|e| Error::Conflict(format!("cannot call Alipay: {e}")))
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
    services: &Services,
    staff: &Staff,
    (c, account): (&Complaint, &Account),
    client: &Client,
    ids: &[String],
    action: Operation,
) -> Result<Vec<String>, Error> {
    if ids.len() > 4 {
        return Err(Error::field("images", "at most 4 images"));
    }
    // Every id is checked before the first upload: nothing goes to Alipay if one is foreign.
    let blobs = stored_media(services, staff, c, ids).await?;
    take_budget(
        services,
        account.platform_id(),
        &with_uploads(action, op::IMAGE_UPLOAD, blobs.len()),
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

/// A text action as asked: `reply`, `feedback`, `supplement` or `complete`, its text (a code
/// for feedback and complete) and images.
struct Sent {
    action: String,
    text: Option<String>,
    code: Option<String>,
    images: Vec<String>,
}

/// Send a text action to Alipay, log it, and record what it changed.
async fn act(
    services: &Services,
    staff: &Staff,
    c: &Complaint,
    sent: Sent,
) -> Result<ActionAnswer, Error> {
    let Sent {
        action,
        text,
        code,
        images: image_ids,
    } = sent;
    let account = account(services, c).await?;
    let client = client_of(services, &account).await?;
    if let Some(t) = &text {
        text_controls("text", t)?;
    }
    let text = text.map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(Error::field("text", "must be 1 to 200 characters"));
    }
    let need_text = || {
        text.clone()
            .ok_or_else(|| Error::field("text", "must be 1 to 200 characters"))
    };
    let id = &c.platform_complaint_id;
    let (kind, result, what) = match action.as_str() {
        "reply" => {
            trade_only(c, "reply")?;
            let t = need_text()?;
            let imgs = images(
                services,
                staff,
                (c, &account),
                &client,
                &image_ids,
                op::REPLY,
            )
            .await?;
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
                services,
                staff,
                (c, &account),
                &client,
                &image_ids,
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
                return Err(Error::field("code", "one of 00, 02, 03, 04, 05, 06"));
            }
            let t = match (action.as_str(), text.clone()) {
                ("complete", None) => finishing_text(&account, false, &code),
                _ => need_text()?,
            };
            let imgs = images(
                services,
                staff,
                (c, &account),
                &client,
                &image_ids,
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
                .map_err(|_| Error::Internal("consumer complaint id is not a number".into()))?;
            let remark = text
                .clone()
                .unwrap_or_else(|| finishing_text(&account, true, &code));
            take_budget(services, account.platform_id(), &[op::RISK_FINISH]).await?;
            (
                ActionKind::Complete,
                client
                    .risk_complaint_finish(&[n], &code, &remark)
                    .await
                    .map(|_| ()),
                format!("process.finish {code}"),
            )
        }
        // Feedback on a consumer complaint.
        other => return Err(unreachable_action(other)),
    };
    match result {
        Ok(()) => {
            log_admin(
                services,
                staff,
                &c.id,
                kind,
                ActionOutcome::Succeeded,
                what,
                None,
            )
            .await?;
            let repo = ComplaintRepo::of(&services.ports);
            // Stamped now: the deadline it meets is met at this write.
            let now = services.ports.clock.now();
            if matches!(kind, ActionKind::Feedback | ActionKind::Complete) {
                repo.modify(&c.id, |x| {
                    x.completed = true;
                    x.updated_at = now;
                    x.status = if kind == ActionKind::Complete {
                        ComplaintStatus::Resolved
                    } else {
                        ComplaintStatus::AwaitingPlatform
                    };
                })
                .await?;
            } else if kind == ActionKind::Reply {
                repo.modify(&c.id, |x| {
                    x.replied = true;
                    x.updated_at = now;
                })
                .await?;
            }
            Ok(ActionAnswer::done(&c.id, kind, None))
        }
        Err(e) => {
            log_admin(
                services,
                staff,
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

fn unreachable_action(action: &str) -> Error {
    Error::Conflict(format!("Alipay complaints have no {action} action"))
}

/// A refund by hand: the next sequence's request number.
async fn refund(
    services: &Services,
    staff: &Staff,
    c: &Complaint,
    body: RefundBody,
) -> Result<ActionAnswer, Error> {
    if body.amount_fen == 0 {
        return Err(Error::field("amount_fen", "must be at least 1 fen"));
    }
    let amount_fen = body.amount_fen;
    let account = account(services, c).await?;
    let client = client_of(services, &account).await?;
    let order = c
        .orders
        .first()
        .cloned()
        .ok_or_else(|| Error::field("transaction_id", "the complaint has no trade"))?;
    let trade = order
        .transaction_id
        .clone()
        .ok_or_else(|| Error::field("transaction_id", "the complaint has no trade number"))?;
    let total = order.amount_fen.unwrap_or_default();
    // The budget before the claim: over it, no refund number is taken.
    take_budget(services, account.platform_id(), &[op::TRADE_REFUND]).await?;
    let claim = claim_refund(
        services,
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
            body.reason.as_deref().unwrap_or("投诉退款"),
        )
        .await
    {
        Ok(_) => {
            log_admin(
                services,
                staff,
                &c.id,
                ActionKind::Refund,
                ActionOutcome::Succeeded,
                format!("refund of {amount_fen} fen"),
                Some(number.clone()),
            )
            .await?;
            let r = RefundRecord {
                status: "SUCCESS".into(),
                updated_at: services.ports.clock.now(),
                ..claim
            };
            ComplaintRepo::of(&services.ports)
                .record_refund(&c.account_id, &r)
                .await?;
            Ok(ActionAnswer::Refunded(r))
        }
        Err(e) => {
            if matches!(e, AlipayError::Api { .. }) && !e.is_retryable() {
                release_claim(services, &c.account_id, &claim).await?;
            }
            log_admin(
                services,
                staff,
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
