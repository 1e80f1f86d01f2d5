//! The actions staff take by hand on mini-program complaints: reply (respond: agree or refuse
//! to settle, text, images), supplement, refund-evidence (with a "goods received" choice),
//! appeal, and refund (through the linked WeChat Pay account). Images come from `POST /media`
//! and are uploaded to WeChat when the action is sent (media ids expire). `309` is a conflict:
//! the complaint has moved to a state where this action is not possible.

use crate::Error;
use crate::complaints::{ComplaintRepo, RefundRecord};
use crate::platforms::wechat::mini_client;
use crate::platforms::wxmini::events::{payment, refund_number, refund_order, upload_media};
use crate::platforms::wxmini::limits as op;
use crate::repo::AccountRepo;
use crate::staff_actions::{
    ActionAnswer, ActionBody, Logged, RefundedOrder, Staff, StaffAction, StaffActions,
    claim_refund, log_outcome, release_claim, state_conflict, take_budget, text_controls,
    throttled, with_uploads,
};
use crate::state::Services;
use async_trait::async_trait;
use domain::account::{Account, AccountSettings, SettlementDecision};
use domain::complaint::{ActionKind, Complaint, ComplaintStatus};
use serde::Deserialize;
use utoipa::ToSchema;
use wechat::WechatError;
use wechat::mini::{Client, Evidence};

/// `POST /complaints/{id}/reply` on a mini-program complaint: agree or refuse to settle, with
/// a text or images (at least one of them).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WxminiReplyBody)]
pub struct ReplyBody {
    /// Up to 500 characters. Line breaks (`\n`) are kept; any other control character is 400.
    #[serde(default)]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub text: String,
    /// Media ids from `POST /media` (at most 9).
    #[serde(default)]
    #[schema(max_items = 9)]
    pub images: Vec<String>,
    /// Required: `agree` (同意和解) or `refuse` (拒绝和解).
    #[serde(default)]
    pub decision: Option<SettlementDecision>,
}

/// `POST /complaints/{id}/supplement` and `POST /complaints/{id}/appeal` on a mini-program
/// complaint: text up to 500 characters and up to 9 images, at least one of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBody {
    /// Line breaks (`\n`) are kept; any other control character is 400.
    #[serde(default)]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub text: Option<String>,
    /// Media ids from `POST /media`.
    #[serde(default)]
    #[schema(max_items = 9)]
    pub images: Vec<String>,
}

/// `POST /complaints/{id}/refund-evidence` (mini programs): text up to 500 characters and up to
/// 9 images, at least one of them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundEvidenceBody {
    /// Whether the returned goods were received (stated at the head of the text).
    pub goods_received: bool,
    /// Line breaks (`\n`) are kept; any other control character is 400.
    #[serde(default)]
    #[schema(max_length = 500, pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*$")]
    pub text: Option<String>,
    /// Media ids from `POST /media`.
    #[serde(default)]
    #[schema(max_items = 9)]
    pub images: Vec<String>,
}

/// `POST /complaints/{id}/refund` on a mini-program complaint, made through the linked WeChat
/// Pay account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WxminiRefundBody)]
pub struct RefundBody {
    /// Fen: at least 1, at most what is left of the order.
    #[schema(minimum = 1)]
    pub amount_fen: u64,
    #[serde(default)]
    pub reason: Option<String>,
}

/// The mini program's staff actions.
pub struct Actions;

#[async_trait]
impl StaffActions for Actions {
    fn actions(&self) -> Vec<StaffAction> {
        vec![
            StaffAction::new::<ReplyBody>(
                "reply",
                ActionKind::Reply,
                "Respond to the buyer: agree or refuse to settle",
            ),
            StaffAction::new::<EvidenceBody>(
                "supplement",
                ActionKind::Supplement,
                "Send supplementary evidence",
            ),
            StaffAction::new::<RefundEvidenceBody>(
                "refund-evidence",
                ActionKind::RefundEvidence,
                "Send refund evidence (whether the returned goods were received)",
            ),
            StaffAction::new::<EvidenceBody>(
                "appeal",
                ActionKind::Appeal,
                "Appeal the platform's judgement",
            ),
            StaffAction::new::<RefundBody>(
                "refund",
                ActionKind::Refund,
                "Refund through the linked WeChat Pay account",
            )
            .answered_with::<RefundRecord>(),
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
        let evidence = match action {
            "reply" => {
                let b: ReplyBody = body.parse()?;
                // As sent, before trimming: a tab or CR at either end is refused too.
                text_controls("text", &b.text)?;
                Sent {
                    kind: ActionKind::Reply,
                    text: b.text,
                    images: b.images,
                    decision: Some(b.decision.ok_or_else(|| {
                        Error::field(
                            "decision",
                            "a mini-program response needs `agree` (同意和解) or `refuse` (拒绝和解)",
                        )
                    })),
                    goods_received: None,
                }
            }
            "supplement" | "appeal" => {
                let b: EvidenceBody = body.parse()?;
                Sent {
                    kind: if action == "appeal" {
                        ActionKind::Appeal
                    } else {
                        ActionKind::Supplement
                    },
                    text: b.text.unwrap_or_default(),
                    images: b.images,
                    decision: None,
                    goods_received: None,
                }
            }
            "refund-evidence" => {
                let b: RefundEvidenceBody = body.parse()?;
                Sent {
                    kind: ActionKind::RefundEvidence,
                    text: b.text.unwrap_or_default(),
                    images: b.images,
                    decision: None,
                    goods_received: Some(b.goods_received),
                }
            }
            "refund" => return refund(services, staff, c, body.parse()?).await,
            other => {
                return Err(crate::staff_actions::no_such_action(
                    "wxmini",
                    other,
                    &self.actions(),
                ));
            }
        };
        act(services, staff, c, action, evidence).await
    }
}

pub(super) fn platform(e: WechatError) -> Error {
    if e.is_throttled() {
        throttled(e)
    } else if e.is_already_moved_on() {
        state_conflict(e)
    } else if e.is_retryable() {
        Error::Unavailable(Box::new(e))
    } else {
        Error::Platform(e.to_string())
    }
}

pub(super) async fn account(services: &Services, c: &Complaint) -> Result<Account, Error> {
    AccountRepo::new(&*services.ports.records)
        .get(&c.account_id)
        .await?
        .map(|(a, _)| a)
        .ok_or_else(|| Error::NotFound(format!("complaint {} not found", c.id)))
}

pub(super) async fn client(services: &Services, a: &Account) -> Result<Client, Error> {
    mini_client(services, a)
        .await
        .map_err(|e| Error::Conflict(format!("cannot call WeChat: {e}")))
}

/// An evidence action as asked. The decision of a reply is checked after the text (`Err`
/// until then).
struct Sent {
    kind: ActionKind,
    text: String,
    images: Vec<String>,
    decision: Option<Result<SettlementDecision, Error>>,
    goods_received: Option<bool>,
}

/// `reply`, `supplement`, `refund-evidence` or `appeal`: `text` (at most 500 characters),
/// `images` (media ids, at most 9), at least one of them; `reply` needs a decision;
/// `refund-evidence` states whether the goods were received at the head of the text (the API
/// has no field for it).
async fn act(
    services: &Services,
    staff: &Staff,
    c: &Complaint,
    action: &str,
    sent: Sent,
) -> Result<ActionAnswer, Error> {
    let Sent {
        kind,
        text,
        images,
        decision,
        goods_received,
    } = sent;
    let text = text.trim().to_string();
    text_controls("text", &text)?;
    if text.chars().count() > 500 {
        return Err(Error::field("text", "must be at most 500 characters"));
    }
    if images.len() > 9 {
        return Err(Error::field("images", "at most 9 images"));
    }
    if text.is_empty() && images.is_empty() {
        return Err(Error::field(
            "text",
            "give a text or images (内容或者图片不能为空)",
        ));
    }
    let decision = decision.transpose()?;
    let content = match (kind, goods_received) {
        (ActionKind::RefundEvidence, Some(true)) => format!("【已收到退货】{text}"),
        (ActionKind::RefundEvidence, _) => format!("【未收到退货】{text}"),
        _ => text.clone(),
    };
    let a = account(services, c).await?;
    let client = client(services, &a).await?;
    // Unknown images are 400 before any budget is taken; then the action's call and one
    // upload per image, all before the first is made.
    let repo = ComplaintRepo::of(&services.ports);
    for m in &images {
        if repo
            .media_for(m, &staff.scope, &a.id, None)
            .await?
            .is_none()
        {
            // Named `images`, as this route always has.
            return Err(Error::field("images", format!("no media {m}")));
        }
    }
    let call = if kind == ActionKind::Reply {
        op::RESPOND
    } else {
        op::EVIDENCE
    };
    // A mini program's calls are keyed by our account id (as its worker keys them).
    take_budget(
        services,
        &a.id,
        &with_uploads(call, op::MEDIA_UPLOAD, images.len()),
    )
    .await?;
    let media = upload_media(services, &client, &staff.scope, &a.id, &images)
        .await
        .map_err(|e| Error::field("images", e))?;
    let e = Evidence {
        content,
        media_ids: media,
    };
    let id = &c.platform_complaint_id;
    let result = match kind {
        ActionKind::Reply => {
            client
                .respond(id, decision.map(|d| d.code()).unwrap_or(2), &e)
                .await
        }
        ActionKind::RefundEvidence => client.supply_refund(id, &e).await,
        ActionKind::Appeal => client.appeal(id, &e).await,
        _ => client.supply_proof(id, &e).await,
    };
    let what = format!(
        "{action}{} ({} characters, {} images)",
        match decision {
            Some(SettlementDecision::Agree) => ": agree to settle",
            Some(SettlementDecision::Refuse) => ": refuse to settle",
            None => "",
        },
        text.chars().count(),
        images.len()
    );
    log_outcome(
        services,
        staff,
        Logged {
            complaint_id: &c.id,
            action: kind,
            what,
            request_no: None,
        },
        result,
        platform,
    )
    .await?;
    if kind == ActionKind::Reply {
        // Stamped now: the deadline it meets is met at this write.
        let now = services.ports.clock.now();
        ComplaintRepo::of(&services.ports)
            .modify(&c.id, |x| {
                x.replied = true;
                x.updated_at = now;
                if x.status == ComplaintStatus::Pending {
                    x.status = ComplaintStatus::Processing;
                }
            })
            .await?;
    }
    Ok(ActionAnswer::done(&c.id, kind, None))
}

/// A refund of a mini-program order through its linked WeChat Pay account.
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
    let a = account(services, c).await?;
    let AccountSettings::WxminiApp(s) = &a.settings else {
        return Err(Error::internal(std::io::Error::other("not a mini program")));
    };
    let link = s.payment.as_ref().ok_or_else(|| {
        Error::Conflict(
            "link the WeChat Pay account that takes this mini program's payments (settings.payment) to refund".into(),
        )
    })?;
    let total = c
        .orders
        .first()
        .and_then(|o| o.amount_fen)
        .ok_or_else(|| Error::Conflict("the complaint names no order amount".into()))?;
    let pay = payment(services, link)
        .await
        .map_err(|e| Error::Conflict(format!("cannot refund: {e}")))?;
    // The paying merchant's budget, before the claim: over it, no refund number is taken.
    take_budget(
        services,
        pay.account.platform_id(),
        &[crate::platforms::wechatpay::limits::REFUND],
    )
    .await?;
    let claim = claim_refund(
        services,
        &pay.account.id,
        &c.id,
        RefundedOrder {
            total,
            transaction_id: c.orders.first().and_then(|o| o.transaction_id.clone()),
        },
        amount_fen,
        |_| true,
        |sequence| refund_number(c, sequence),
    )
    .await?;
    let sequence = claim.sequence;
    let reason = body.reason.unwrap_or_else(|| "投诉退款".into());
    let result = refund_order(services, &pay, c, sequence, amount_fen, &reason).await;
    if let Err(e @ wechatpay::PlatformError::Api { .. }) = &result
        && !e.is_retryable()
    {
        release_claim(services, &pay.account.id, &claim).await?;
    }
    let number = result.as_ref().ok().map(|(r, _)| r.out_refund_no.clone());
    let (r, _) = log_outcome(
        services,
        staff,
        Logged {
            complaint_id: &c.id,
            action: ActionKind::Refund,
            what: format!("refund of {amount_fen} fen"),
            request_no: number,
        },
        result,
        crate::platforms::wechatpay::admin::platform_error,
    )
    .await?;
    Ok(ActionAnswer::Refunded(r))
}
