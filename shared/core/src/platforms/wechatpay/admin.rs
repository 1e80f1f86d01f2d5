//! The actions staff take by hand on WeChat Pay complaints: reply (text, images, a jump link),
//! refund-progress (approve or reject the buyer's refund request), refund (any of the
//! complaint's orders) and complete. Each is sent to WeChat Pay as the complained merchant
//! (the sub-merchant for a provider's complaints) and written to the action log. Images come
//! from `POST /media` and are uploaded when the action is sent.

use crate::Error;
use crate::complaints::{ComplaintRepo, RefundRecord};
use crate::platforms::wechatpay::events::out_refund_no;
use crate::platforms::wechatpay::limits as op;
use crate::ratelimit::Operation;
use crate::repo::AccountRepo;
use crate::staff_actions::{
    ActionAnswer, ActionBody, Logged, RefundedOrder, Staff, StaffAction, StaffActions,
    claim_refund, log_outcome, release_claim, stored_media, take_budget, text_controls, throttled,
    with_uploads,
};
use crate::state::Services;
use async_trait::async_trait;
use domain::account::Account;
use domain::complaint::{ActionKind, Complaint};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use utoipa::ToSchema;
use wechatpay::model::{RefundAmount, RefundProgressRequest, RefundRequest, ResponseRequest};

/// `POST /complaints/{id}/reply` on a WeChat Pay complaint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WechatpayReplyBody)]
pub struct ReplyBody {
    /// 1 to 200 characters. Line breaks (`\n`) are kept; any other control character (CR,
    /// NUL, tab, ...) is 400.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\x00-\x09\x0b-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x09\x0b-\x1f\x7f-\x9f]*$"
    )]
    pub text: String,
    /// Media ids from `POST /media` (at most 4), uploaded within the caller's scope for this
    /// complaint's account; any other id is 400 and nothing is uploaded to the platform.
    #[serde(default)]
    #[schema(max_items = 4)]
    pub images: Vec<String>,
    /// A link shown with the reply (with `jump_url_text`).
    #[serde(default)]
    pub jump_url: Option<String>,
    #[serde(default)]
    pub jump_url_text: Option<String>,
}

/// The document's rules between the reply's fields (and of the link, as the checks state it:
/// `http(s)://host[:port][/path]`; the server accepts any http(s) URL with a host).
fn reply_rules() -> Value {
    json!({
        "dependentRequired": {"jump_url": ["jump_url_text"], "jump_url_text": ["jump_url"]},
        "properties": {
            "jump_url": {
                "type": "string",
                "format": "uri",
                "maxLength": 2048,
                "pattern": r"^https?://[A-Za-z][A-Za-z0-9-]{0,62}(\.[A-Za-z][A-Za-z0-9-]{0,62}){0,8}(:[1-9][0-9]{0,3})?(/[A-Za-z0-9._~-]*){0,16}$",
            },
            "jump_url_text": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "pattern": r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
            },
        },
    })
}

/// `POST /complaints/{id}/refund` on a WeChat Pay complaint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WechatpayRefundBody)]
pub struct RefundBody {
    /// Fen: at least 1, at most what is left of the order.
    #[schema(minimum = 1)]
    pub amount_fen: u64,
    #[serde(default)]
    pub reason: Option<String>,
    /// Which order (`transaction_id`); default: the complaint's first.
    #[serde(default)]
    pub transaction_id: Option<String>,
}

/// `POST /complaints/{id}/refund-progress`: approve or reject the buyer's refund request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RefundProgressBody)]
pub struct RefundProgressBody {
    /// `approve` or `reject`.
    pub action: String,
    /// Required with `reject`.
    #[serde(default)]
    pub reason: Option<String>,
    /// With `approve`: days until the refund is made (default 0).
    #[serde(default)]
    pub launch_refund_day: Option<u32>,
    /// With `reject`: media ids from `POST /media` (at most 4).
    #[serde(default)]
    #[schema(max_items = 4)]
    pub images: Vec<String>,
    #[serde(default)]
    pub remark: Option<String>,
}

/// Approve, or reject with a reason.
fn refund_progress_rules() -> Value {
    json!({
        "properties": {
            "action": {"type": "string", "enum": ["approve", "reject"], "description": "`approve` or `reject`."},
        },
        "if": {"properties": {"action": {"const": "reject"}}, "required": ["action"]},
        "then": {"required": ["reason"], "properties": {"reason": {"type": "string", "pattern": "\\S"}}},
    })
}

/// `POST /complaints/{id}/complete` on a WeChat Pay complaint: no fields (an empty body or
/// `{}`).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = WechatpayCompleteBody)]
pub struct CompleteBody {}

/// WeChat Pay's staff actions.
pub struct Actions;

#[async_trait]
impl StaffActions for Actions {
    fn actions(&self) -> Vec<StaffAction> {
        vec![
            StaffAction::new::<ReplyBody>(
                "reply",
                ActionKind::Reply,
                "Reply to the buyer (text, images, a link)",
            )
            .with_body_rules(reply_rules),
            StaffAction::new::<RefundProgressBody>(
                "refund-progress",
                ActionKind::RefundProgress,
                "Approve or reject the buyer's refund request",
            )
            .with_body_rules(refund_progress_rules),
            StaffAction::new::<RefundBody>(
                "refund",
                ActionKind::Refund,
                "Refund part or all of an order",
            )
            .answered_with::<RefundRecord>(),
            StaffAction::new::<CompleteBody>(
                "complete",
                ActionKind::Complete,
                "Mark the complaint handled",
            )
            .body_optional(),
        ]
    }

    async fn run(
        &self,
        services: &Services,
        staff: &Staff,
        complaint: &Complaint,
        action: &str,
        body: ActionBody,
    ) -> Result<ActionAnswer, Error> {
        match action {
            "reply" => reply(services, staff, complaint, body.parse()?).await,
            "refund-progress" => refund_progress(services, staff, complaint, body.parse()?).await,
            "refund" => refund(services, staff, complaint, body.parse()?).await,
            "complete" => {
                let CompleteBody {} = body.parse_or_default()?;
                complete(services, staff, complaint).await
            }
            other => Err(crate::staff_actions::no_such_action(
                "wechatpay",
                other,
                &self.actions(),
            )),
        }
    }
}

/// An answer for a failed WeChat Pay call: rate-limited when it throttled us, unavailable
/// when retrying may help, else the platform's code and message.
pub fn platform_error(e: wechatpay::PlatformError) -> Error {
    if e.is_throttled() {
        throttled(e)
    } else {
        super::api_error(e)
    }
}

/// The complaint's account, its WeChat Pay client and the complained merchant's number
/// (`complainted_mchid`: the sub-merchant's for a provider).
struct Target {
    account: Account,
    client: Arc<wechatpay::Client>,
    mchid: String,
}

async fn target(services: &Services, c: &Complaint) -> Result<Target, Error> {
    let (account, _) = AccountRepo::new(&*services.ports.records)
        .get(&c.account_id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("complaint {} not found", c.id)))?;
    let client = super::clients::client(services, &account).await?;
    let mchid = c
        .sub_mchid
        .clone()
        .unwrap_or_else(|| account.platform_id().to_string());
    Ok(Target {
        account,
        client,
        mchid,
    })
}

/// Check the media ids, take the budget of the action (`action`) and of one upload per image
/// (429 before anything is sent), then upload our stored media to WeChat Pay; its media ids.
async fn platform_media(
    services: &Services,
    staff: &Staff,
    (c, t): (&Complaint, &Target),
    ids: &[String],
    action: Operation,
) -> Result<Vec<String>, Error> {
    if ids.len() > 4 {
        return Err(Error::field("images", "at most 4 images"));
    }
    let blobs = stored_media(services, staff, c, ids).await?;
    take_budget(
        services,
        t.account.platform_id(),
        &with_uploads(action, op::IMAGE_UPLOAD, blobs.len()),
    )
    .await?;
    let mut out = Vec::new();
    for (media, blob) in blobs {
        out.push(
            t.client
                .upload_image(&media.filename, blob.bytes)
                .await
                .map_err(platform_error)?,
        );
    }
    Ok(out)
}

fn no_controls(field: &str, v: &str) -> Result<(), Error> {
    if v.chars().any(char::is_control) {
        return Err(Error::field(
            field,
            "must not contain control characters (NUL, CR, LF, tab, ...)",
        ));
    }
    Ok(())
}

fn check_reply(body: &ReplyBody) -> Result<usize, Error> {
    text_controls("text", &body.text)?;
    if let Some(u) = &body.jump_url {
        // The URL parser drops tabs and line breaks silently: refuse them first.
        no_controls("jump_url", u)?;
        let ok = u.chars().count() <= 2048
            && url::Url::parse(u)
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err(Error::field("jump_url", "must be an http(s) URL"));
        }
    }
    if let Some(t) = &body.jump_url_text {
        no_controls("jump_url_text", t)?;
        if t.trim().is_empty() || t.chars().count() > 200 {
            return Err(Error::field("jump_url_text", "must be 1 to 200 characters"));
        }
    }
    let n = body.text.trim().chars().count();
    if n == 0 || n > 200 {
        return Err(Error::field("text", "must be 1 to 200 characters"));
    }
    if body.jump_url.is_some() != body.jump_url_text.is_some() {
        return Err(Error::field(
            "jump_url_text",
            "jump_url and jump_url_text go together",
        ));
    }
    Ok(n)
}

async fn reply(
    services: &Services,
    staff: &Staff,
    c: &Complaint,
    body: ReplyBody,
) -> Result<ActionAnswer, Error> {
    let n = check_reply(&body)?;
    let t = target(services, c).await?;
    let images = platform_media(services, staff, (c, &t), &body.images, op::RESPONSE).await?;
    let result = t
        .client
        .respond(
            &c.platform_complaint_id,
            &ResponseRequest {
                complainted_mchid: t.mchid.clone(),
                response_content: body.text.trim().to_string(),
                response_images: images,
                jump_url: body.jump_url,
                jump_url_text: body.jump_url_text,
            },
        )
        .await;
    log_outcome(
        services,
        staff,
        Logged {
            complaint_id: &c.id,
            action: ActionKind::Reply,
            what: format!("reply sent ({n} characters)"),
            request_no: None,
        },
        result,
        platform_error,
    )
    .await?;
    // Stamped now: the deadline it meets is met at this write.
    let now = services.ports.clock.now();
    ComplaintRepo::of(&services.ports)
        .modify(&c.id, |c| {
            c.replied = true;
            c.updated_at = now;
        })
        .await?;
    Ok(ActionAnswer::done(&c.id, ActionKind::Reply, None))
}

async fn complete(
    services: &Services,
    staff: &Staff,
    c: &Complaint,
) -> Result<ActionAnswer, Error> {
    let t = target(services, c).await?;
    take_budget(services, t.account.platform_id(), &[op::COMPLETE]).await?;
    let result = t.client.complete(&c.platform_complaint_id, &t.mchid).await;
    log_outcome(
        services,
        staff,
        Logged {
            complaint_id: &c.id,
            action: ActionKind::Complete,
            what: "marked complete".into(),
            request_no: None,
        },
        result,
        platform_error,
    )
    .await?;
    let now = services.ports.clock.now();
    ComplaintRepo::of(&services.ports)
        .modify(&c.id, |c| {
            super::detail::mark_completed(c);
            c.updated_at = now;
        })
        .await?;
    Ok(ActionAnswer::done(&c.id, ActionKind::Complete, None))
}

async fn refund(
    services: &Services,
    staff: &Staff,
    c: &Complaint,
    body: RefundBody,
) -> Result<ActionAnswer, Error> {
    if body.amount_fen == 0 {
        return Err(Error::field("amount_fen", "must be at least 1 fen"));
    }
    let t = target(services, c).await?;
    let order = match &body.transaction_id {
        Some(tid) => c
            .orders
            .iter()
            .find(|o| o.transaction_id.as_deref() == Some(tid.as_str())),
        None => c.orders.first(),
    }
    .cloned()
    .ok_or_else(|| Error::field("transaction_id", "the complaint has no such order"))?;
    let total = order.amount_fen.unwrap_or_default();
    let order_key = order
        .transaction_id
        .clone()
        .or(order.out_trade_no.clone())
        .unwrap_or_default();
    // The budget before the claim: over it, no refund number is taken.
    take_budget(services, t.account.platform_id(), &[op::REFUND]).await?;
    let claim = claim_refund(
        services,
        &t.account.id,
        &c.id,
        RefundedOrder {
            total,
            transaction_id: order.transaction_id.clone(),
        },
        body.amount_fen,
        |r| r.transaction_id == order.transaction_id,
        |sequence| out_refund_no(&c.id, &order_key, sequence),
    )
    .await?;
    let number = claim.out_refund_no.clone();
    let req = RefundRequest {
        sub_mchid: c.sub_mchid.is_some().then(|| t.mchid.clone()),
        transaction_id: order.transaction_id.clone(),
        out_trade_no: order
            .out_trade_no
            .clone()
            .filter(|_| order.transaction_id.is_none()),
        out_refund_no: number.clone(),
        reason: body.reason.clone(),
        notify_url: services.public_url(&format!(
            "callbacks/wechatpay/{}/refunds",
            t.account.platform_id()
        )),
        amount: RefundAmount {
            refund: body.amount_fen,
            total,
            currency: "CNY".into(),
        },
    };
    let result = t.client.create_refund(&req).await;
    if let Err(e @ wechatpay::PlatformError::Api { .. }) = &result
        && !e.is_retryable()
    {
        release_claim(services, &t.account.id, &claim).await?;
    }
    let r = log_outcome(
        services,
        staff,
        Logged {
            complaint_id: &c.id,
            action: ActionKind::Refund,
            what: format!("refund of {} fen", body.amount_fen),
            request_no: Some(number),
        },
        result,
        platform_error,
    )
    .await?;
    let record = RefundRecord {
        refund_id: Some(r.refund_id).filter(|s| !s.is_empty()),
        status: r.status,
        updated_at: services.ports.clock.now(),
        ..claim
    };
    ComplaintRepo::of(&services.ports)
        .record_refund(&t.account.id, &record)
        .await?;
    Ok(ActionAnswer::Refunded(record))
}

async fn refund_progress(
    services: &Services,
    staff: &Staff,
    c: &Complaint,
    body: RefundProgressBody,
) -> Result<ActionAnswer, Error> {
    let action = match body.action.as_str() {
        "approve" => "APPROVE",
        "reject" => "REJECT",
        _ => return Err(Error::field("action", "must be approve or reject")),
    };
    if action == "REJECT" && body.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
        return Err(Error::field("reason", "a rejection needs a reason"));
    }
    let t = target(services, c).await?;
    let media = platform_media(services, staff, (c, &t), &body.images, op::REFUND_PROGRESS).await?;
    let result = t
        .client
        .update_refund_progress(
            &c.platform_complaint_id,
            &RefundProgressRequest {
                action: action.into(),
                launch_refund_day: (action == "APPROVE")
                    .then_some(body.launch_refund_day.unwrap_or(0)),
                reject_reason: body.reason.filter(|_| action == "REJECT"),
                reject_media_list: media,
                remark: body.remark,
            },
        )
        .await;
    log_outcome(
        services,
        staff,
        Logged {
            complaint_id: &c.id,
            action: ActionKind::RefundProgress,
            what: format!("refund request {}", body.action),
            request_no: None,
        },
        result,
        platform_error,
    )
    .await?;
    Ok(ActionAnswer::done(&c.id, ActionKind::RefundProgress, None))
}
