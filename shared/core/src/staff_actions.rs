//! The actions staff take by hand on a complaint (reply, refund, complete and each platform's
//! own), written once for every platform: what an action is ([`StaffAction`]: its name, which
//! is its path segment, its summary and the schemas of its body and answer), who asks
//! ([`Staff`]), what it answers ([`ActionAnswer`]), and the trait a platform implements for its
//! actions ([`StaffActions`]). The admin API dispatches through the registered platforms and
//! builds its document from their descriptions; nothing here knows a platform.
//!
//! What every action shares also lives here: finding the complaint within the caller's scope
//! ([`visible`]), the rate-limit budget of its platform calls ([`take_budget`]), the action log
//! ([`log_admin`], [`log_outcome`]) and refunds by hand ([`claim_refund`], [`release_claim`]).

use crate::Error;
use crate::complaints::{ComplaintRepo, RefundRecord, derived_id};
use crate::ratelimit::{Decision, LimitError, Operation};
use crate::state::Services;
use async_trait::async_trait;
use domain::complaint::{ActionKind, ActionLogEntry, ActionOutcome, ActionTrigger, Complaint};
use domain::token::TokenScope;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;
use utoipa::ToSchema;

/// Who takes the action: the admin token's id (`admin` for the administrator) and its scope.
#[derive(Debug, Clone)]
pub struct Staff {
    pub token_id: String,
    /// The token's name (the person or system holding it), for the action log.
    pub token_name: String,
    pub scope: TokenScope,
}

pub use crate::schema::SchemaOf;

/// One action a platform offers on its complaints.
#[derive(Debug, Clone)]
pub struct StaffAction {
    /// The path segment (`reply`, `refund-progress`): `POST /complaints/{id}/{name}`.
    pub name: &'static str,
    /// What the action log calls it.
    pub kind: ActionKind,
    /// One line for the document.
    pub summary: &'static str,
    /// The request body (a JSON object).
    pub body: SchemaOf,
    /// JSON Schema rules of the body that the type's own schema cannot state (between fields:
    /// `dependentRequired`, `if`/`then`), merged into its component schema.
    pub body_rules: Option<fn() -> Value>,
    /// Whether a body must be sent; when not, an empty body is the defaults.
    pub body_required: bool,
    /// The answer of a success ([`ActionResult`], or a refund's record).
    pub answer: SchemaOf,
    /// Whether the action calls the platform, taking its calls from the shared rate-limit
    /// budgets ([`take_budget`]), so it may answer 429 (over budget, or the platform
    /// throttles). The document's 429 answers follow it. Yes unless the action says
    /// otherwise ([`StaffAction::spends_no_budget`]).
    pub spends_budget: bool,
}

impl StaffAction {
    /// An action whose body is `B`, required, answered with [`ActionResult`], that calls the
    /// platform ([`StaffAction::spends_budget`]).
    pub fn new<B: ToSchema>(name: &'static str, kind: ActionKind, summary: &'static str) -> Self {
        Self {
            name,
            kind,
            summary,
            body: SchemaOf::of::<B>(),
            body_rules: None,
            body_required: true,
            answer: SchemaOf::of::<ActionResult>(),
            spends_budget: true,
        }
    }

    /// The action calls no platform (it never answers 429).
    pub fn spends_no_budget(mut self) -> Self {
        self.spends_budget = false;
        self
    }

    /// The body may be left out (its defaults apply).
    pub fn body_optional(mut self) -> Self {
        self.body_required = false;
        self
    }

    /// The answer is `A` instead of [`ActionResult`].
    pub fn answered_with<A: ToSchema>(mut self) -> Self {
        self.answer = SchemaOf::of::<A>();
        self
    }

    /// Rules between the body's fields ([`StaffAction::body_rules`]).
    pub fn with_body_rules(mut self, rules: fn() -> Value) -> Self {
        self.body_rules = Some(rules);
        self
    }
}

/// What an action that succeeded answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActionResult {
    pub complaint_id: String,
    pub action: ActionKind,
    pub outcome: ActionOutcome,
    /// Refund number, when one was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_no: Option<String>,
}

/// The answer of an action: its result, or the record of a refund it made.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ActionAnswer {
    Done(ActionResult),
    Refunded(RefundRecord),
}

impl ActionAnswer {
    /// The answer of an action that succeeded.
    pub fn done(complaint_id: &str, action: ActionKind, request_no: Option<String>) -> Self {
        ActionAnswer::Done(ActionResult {
            complaint_id: complaint_id.to_string(),
            action,
            outcome: ActionOutcome::Succeeded,
            request_no,
        })
    }
}

/// The body of an action as sent: a JSON object, or nothing (an empty body); and, for an
/// account route that reads them, its query parameters.
#[derive(Debug, Clone, Default)]
pub struct ActionBody(Option<Value>, Option<String>);

impl ActionBody {
    pub fn new(value: Option<Value>) -> Self {
        Self(value, None)
    }

    /// With the request's query string (without the `?`).
    pub fn with_query(mut self, query: Option<String>) -> Self {
        self.1 = query;
        self
    }

    /// The query parameters as `T` (each a string; a parameter given twice keeps the last);
    /// errors name the parameter.
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, Error> {
        let map: serde_json::Map<String, Value> =
            url::form_urlencoded::parse(self.1.as_deref().unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                .collect();
        crate::error::from_value_at("", Value::Object(map))
    }

    /// The body as `T`; errors name the field (`images[2]`). An empty body is 400.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        match &self.0 {
            Some(v) => crate::error::from_value_at("", v.clone()),
            None => Err(Error::Invalid {
                field: None,
                message: "send a JSON object".into(),
            }),
        }
    }

    /// The body as `T`; an empty body is `T::default()`.
    pub fn parse_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, Error> {
        match &self.0 {
            Some(_) => self.parse(),
            None => Ok(T::default()),
        }
    }
}

/// A platform's staff actions: the list it offers (in the order messages name them) and how
/// each is run.
#[async_trait]
pub trait StaffActions: Send + Sync {
    fn actions(&self) -> Vec<StaffAction>;

    /// Run `action` (one of [`StaffActions::actions`]) on `complaint`, which the caller may
    /// see. Body errors are [`Error::Invalid`] naming the field; the platform's refusals
    /// [`Error::Platform`] or [`Error::Conflict`] (the complaint's state); over budget
    /// [`Error::RateLimited`], before anything is sent.
    async fn run(
        &self,
        services: &Services,
        staff: &Staff,
        complaint: &Complaint,
        action: &str,
        body: ActionBody,
    ) -> Result<ActionAnswer, Error>;
}

/// The staff actions of a platform that offers none (the default of
/// [`crate::platform::Platform::staff_actions`]).
pub struct NoActions;

#[async_trait]
impl StaffActions for NoActions {
    fn actions(&self) -> Vec<StaffAction> {
        Vec::new()
    }

    async fn run(
        &self,
        _services: &Services,
        _staff: &Staff,
        complaint: &Complaint,
        action: &str,
        _body: ActionBody,
    ) -> Result<ActionAnswer, Error> {
        Err(no_such_action(complaint.platform.as_str(), action, &[]))
    }
}

/// The one answer to an action the complaint's platform lacks: which actions it has, from its
/// own list.
pub fn no_such_action(platform: &str, action: &str, offered: &[StaffAction]) -> Error {
    let names: Vec<&str> = offered.iter().map(|a| a.name).collect();
    let list = match names.split_last() {
        None => String::new(),
        Some((last, [])) => format!(": use {last}"),
        Some((last, rest)) => format!(": use {} and {last}", rest.join(", ")),
    };
    Error::Conflict(format!(
        "{platform} complaints have no {action} action{list}"
    ))
}

/// The complaint, if the caller may see it ([`Error::NotFound`] otherwise, as for an unknown
/// id).
pub async fn visible(
    services: &Services,
    scope: &TokenScope,
    id: &str,
) -> Result<Complaint, Error> {
    match ComplaintRepo::of(&services.ports).get(id).await? {
        Some((c, _)) if scope.covers(Some(&c.account_id), c.sub_mchid.as_deref()) => Ok(c),
        _ => Err(Error::NotFound(format!("complaint {id} not found"))),
    }
}

/// `Retry-After` in whole seconds: rounded up, at least 1 (0 would invite an immediate retry
/// that the budget refuses again).
pub fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

impl From<LimitError> for Error {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::OverBudget {
                operation,
                merchant,
                retry_after,
            } => Error::RateLimited {
                message: format!(
                    "the per-minute budget of {operation} calls for {merchant} is used up \
                     (automatic handling shares it); nothing was sent: retry in {} s",
                    retry_after_secs(retry_after)
                ),
                retry_after,
            },
            LimitError::Store(s) => Error::Store(s),
        }
    }
}

/// Staff actions take their platform calls from the workers' budgets (see
/// [`crate::ratelimit`]) without waiting: take one call of each of `calls` for `merchant`, or
/// answer [`Error::RateLimited`] at once (nothing taken is given back: the budget errs on the
/// careful side). Every call of an action is taken before the first is made.
pub async fn take_budget(
    services: &Services,
    merchant: &str,
    calls: &[Operation],
) -> Result<(), Error> {
    for &operation in calls {
        match services.limiter.check(operation, merchant).await? {
            Decision::Granted => {}
            Decision::Denied { retry_after } => {
                tracing::info!(%operation, merchant, retry_after_ms = retry_after.as_millis() as u64, "staff action over the rate-limit budget");
                return Err(LimitError::OverBudget {
                    operation: operation.to_string(),
                    merchant: merchant.to_string(),
                    retry_after,
                }
                .into());
            }
        }
    }
    Ok(())
}

/// `operation` once, then `upload` once per image.
pub fn with_uploads(operation: Operation, upload: Operation, images: usize) -> Vec<Operation> {
    std::iter::once(operation)
        .chain(std::iter::repeat_n(upload, images))
        .collect()
}

/// `Retry-After` of the platform's own throttling answer: it says no more than "too many", and
/// a short pause (one counting slot of our limiter) is what its guidance asks.
pub const PLATFORM_RETRY_AFTER: Duration = crate::ratelimit::SLOT;

/// The platform's "too many requests" during a staff action.
pub fn throttled(e: impl std::fmt::Display) -> Error {
    Error::RateLimited {
        message: format!("the platform asks for fewer calls ({e}); retry shortly"),
        retry_after: PLATFORM_RETRY_AFTER,
    }
}

/// The platform refused because of the complaint's state (it has moved on): the caller's view
/// is stale.
pub fn state_conflict(e: impl std::fmt::Display) -> Error {
    Error::Conflict(format!(
        "the complaint is not in a state that allows this action ({e})"
    ))
}

/// Write a staff action on a complaint to its action log (who, what, how it went).
pub async fn log_admin(
    services: &Services,
    staff: &Staff,
    complaint_id: &str,
    action: ActionKind,
    outcome: ActionOutcome,
    detail: String,
    request_no: Option<String>,
) -> Result<(), Error> {
    let now = services.ports.clock.now();
    tracing::info!(complaint_id, action = ?action, outcome = ?outcome, %detail, token_id = %staff.token_id, "admin action");
    ComplaintRepo::of(&services.ports)
        .log_action(&ActionLogEntry {
            complaint_id: complaint_id.to_string(),
            action_id: derived_id(
                "act_",
                &format!("{}|{}|{now}", staff.token_id, uuid::Uuid::new_v4()),
            ),
            action,
            trigger: ActionTrigger::Admin {
                token_id: staff.token_id.clone(),
                token_name: Some(staff.token_name.clone()),
            },
            outcome,
            detail,
            request_no,
            at: now,
        })
        .await?;
    Ok(())
}

/// What a platform call of an action was, for its action log entry.
pub struct Logged<'a> {
    pub complaint_id: &'a str,
    pub action: ActionKind,
    pub what: String,
    pub request_no: Option<String>,
}

/// Log a platform call's outcome in the action log (`what`, and the error when it failed),
/// and pass the result on (`to_error` maps its error).
pub async fn log_outcome<T, E: std::fmt::Display>(
    services: &Services,
    staff: &Staff,
    entry: Logged<'_>,
    result: Result<T, E>,
    to_error: impl FnOnce(E) -> Error,
) -> Result<T, Error> {
    let Logged {
        complaint_id,
        action,
        what,
        request_no,
    } = entry;
    match result {
        Ok(v) => {
            log_admin(
                services,
                staff,
                complaint_id,
                action,
                ActionOutcome::Succeeded,
                what,
                request_no,
            )
            .await?;
            Ok(v)
        }
        Err(e) => {
            log_admin(
                services,
                staff,
                complaint_id,
                action,
                ActionOutcome::Failed,
                format!("{what}: {e}"),
                request_no,
            )
            .await?;
            Err(to_error(e))
        }
    }
}

/// Refuse (400 naming `amount_fen`, before any platform call) a refund of `amount` that is
/// zero or more than is left of an order of `total` after the `counted` refunds. Checked
/// arithmetic: an amount near `u64::MAX` cannot wrap round to a small sum.
pub fn refundable<'a>(
    total: u64,
    counted: impl IntoIterator<Item = &'a RefundRecord>,
    amount: u64,
) -> Result<u64, Error> {
    domain::money::check_refund(total, counted.into_iter().map(|r| r.amount_fen), amount)
        .map_err(|e| Error::field("amount_fen", e.to_string()))
}

/// The order a refund by hand is taken from: its amount and platform order id.
pub struct RefundedOrder {
    pub total: u64,
    pub transaction_id: Option<String>,
}

/// How many times a manual refund re-reads and takes the next number after losing a race.
const CLAIM_ATTEMPTS: usize = 8;

/// Claim the next refund of a complaint for `amount` fen of an order of `total` fen: read the
/// refunds, check the bound over those of the order (`of_order`) that count, and create the
/// next number's `REFUND#` record (status `PROCESSING`) only if nobody holds it. A request that
/// loses the race (the number is taken, or its claim was withdrawn) re-reads (the winner's
/// claim now counts) and tries again: 400 when nothing is left, 409 after [`CLAIM_ATTEMPTS`].
/// The claim is made before the platform is asked, so two requests at once never send the
/// same number and never both pass the bound.
pub async fn claim_refund(
    services: &Services,
    account_id: &str,
    complaint_id: &str,
    order: RefundedOrder,
    amount: u64,
    of_order: impl Fn(&RefundRecord) -> bool,
    number: impl Fn(u32) -> String,
) -> Result<RefundRecord, Error> {
    let RefundedOrder {
        total,
        transaction_id,
    } = order;
    let repo = ComplaintRepo::of(&services.ports);
    for _ in 0..CLAIM_ATTEMPTS {
        let existing = repo.refunds(complaint_id).await?;
        refundable(
            total,
            existing
                .iter()
                .filter(|r| of_order(r) && crate::complaints::counts_against_order(r)),
            amount,
        )?;
        let sequence = next_sequence(&existing)?;
        let now = services.ports.clock.now();
        let claim = RefundRecord {
            complaint_id: complaint_id.to_string(),
            out_refund_no: number(sequence),
            sequence,
            transaction_id: transaction_id.clone(),
            amount_fen: amount,
            refund_id: None,
            status: "PROCESSING".into(),
            created_at: now,
            updated_at: now,
        };
        if repo
            .claim_refund(account_id, &claim, total, &of_order)
            .await?
            == crate::complaints::Claim::Made
        {
            return Ok(claim);
        }
    }
    Err(Error::Conflict(
        "another refund is being made; try again".into(),
    ))
}

/// Close a claimed refund the platform refused outright ([`ComplaintRepo::close_claim`]).
pub async fn release_claim(
    services: &Services,
    account_id: &str,
    claim: &RefundRecord,
) -> Result<(), Error> {
    ComplaintRepo::of(&services.ports)
        .close_claim(
            account_id,
            &claim.complaint_id,
            &claim.out_refund_no,
            services.ports.clock.now(),
        )
        .await?;
    Ok(())
}

/// The sequence of the next refund of a complaint (its request number derives from it).
pub fn next_sequence(existing: &[RefundRecord]) -> Result<u32, Error> {
    existing
        .iter()
        .map(|r| r.sequence)
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| Error::Conflict("this complaint has no refund numbers left".into()))
}

/// Texts buyers read may have line breaks (`\n`); every other control character (CR included:
/// send `\n` alone) is refused.
pub fn text_controls(field: &str, v: &str) -> Result<(), Error> {
    if v.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Error::field(
            field,
            "must not contain control characters other than line breaks (\\n)",
        ));
    }
    Ok(())
}

/// The stored media of `ids` (uploaded with `POST /media`), each checked to be within the
/// caller's scope and this complaint's account (or sub-merchant) before any is used, with its
/// bytes: 400 naming `images[n]` for one that is unknown, foreign or without content.
pub async fn stored_media(
    services: &Services,
    staff: &Staff,
    complaint: &Complaint,
    ids: &[String],
) -> Result<Vec<(crate::complaints::Media, domain::ports::Blob)>, Error> {
    let repo = ComplaintRepo::of(&services.ports);
    let mut found = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        found.push(
            repo.media_for(
                id,
                &staff.scope,
                &complaint.account_id,
                complaint.sub_mchid.as_deref(),
            )
            .await?
            .ok_or_else(|| Error::field(format!("images[{n}]"), format!("no media {id}")))?,
        );
    }
    let mut blobs = Vec::new();
    for (n, media) in found.into_iter().enumerate() {
        let blob = services
            .ports
            .blobs
            .get(&format!("media/{}", media.id))
            .await
            .map_err(|e| Error::Unavailable(Box::new(e)))?
            .ok_or_else(|| {
                Error::field(
                    format!("images[{n}]"),
                    format!("media {} has no content", media.id),
                )
            })?;
        blobs.push((media, blob));
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, ToSchema)]
    #[allow(dead_code)]
    struct Body {
        text: String,
    }

    fn offered(names: &[&'static str]) -> Vec<StaffAction> {
        names
            .iter()
            .map(|n| StaffAction::new::<Body>(n, ActionKind::Reply, "x"))
            .collect()
    }

    #[test]
    fn the_conflict_names_the_platforms_own_actions() {
        let e = no_such_action("toy", "appeal", &offered(&["reply", "refund", "complete"]));
        assert_eq!(
            e.to_string(),
            "toy complaints have no appeal action: use reply, refund and complete"
        );
        let e = no_such_action("toy", "appeal", &offered(&["reply"]));
        assert_eq!(
            e.to_string(),
            "toy complaints have no appeal action: use reply"
        );
        let e = no_such_action("toy", "appeal", &[]);
        assert_eq!(e.to_string(), "toy complaints have no appeal action");
    }

    #[test]
    fn body_errors_name_the_field_and_an_empty_body_is_the_default_only_when_allowed() {
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct B {
            #[serde(default)]
            n: Option<u32>,
        }
        let bad = ActionBody::new(Some(serde_json::json!({"n": "x"})));
        match bad.parse::<B>() {
            Err(Error::Invalid { field, .. }) => assert_eq!(field.as_deref(), Some("n")),
            other => panic!("{other:?}"),
        }
        assert!(ActionBody::new(None).parse::<B>().is_err());
        assert!(ActionBody::new(None).parse_or_default::<B>().is_ok());
    }
}
