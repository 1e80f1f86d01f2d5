//! One trait for every channel: a channel is built from an account's settings and secrets,
//! then sends one message to its recipients and reports per recipient.

use crate::SendError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::notification::NotificationSummary;
use std::collections::BTreeMap;

/// Per recipient: `ok`, or the service's code and message for that recipient.
pub type Results = BTreeMap<String, String>;

/// The result string of a recipient that got the message.
pub const OK: &str = "ok";

/// One message to send: the notice, to whom, and what the services need besides.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// Our id for this message (the delivery id): SMS session context, template-message
    /// `client_msg_id` (with the openid), so a service can recognise a repeat.
    pub id: &'a str,
    pub notice: &'a NotificationSummary,
    /// Addresses, openids, phone numbers or the bot's id, as the channel takes them.
    pub recipients: &'a [String],
    /// How many events this message stands for (SMS to the same numbers are folded: `N条:
    /// event`); 1 for one.
    pub count: usize,
    /// Now, from the caller's clock (request signatures and timestamps).
    pub now: DateTime<Utc>,
}

/// A delivery channel: e-mail ([`crate::email::EmailChannel`]), official-account template
/// messages ([`crate::oa::TemplateChannel`]), SMS ([`crate::sms::SmsChannel`]) or a group bot
/// ([`crate::bots::BotChannel`]).
///
/// `Ok` carries the per-recipient results (some may have failed for good while others got the
/// message); `Err` means nothing useful was sent, and [`SendError::is_retryable`] says whether
/// to try the whole message again later.
#[async_trait]
pub trait Channel: Send + Sync {
    async fn send(&self, message: &Outgoing<'_>) -> Result<Results, SendError>;
}

/// Why one recipient did not get it, in words ([`crate::error::explain_text`]); `None` for
/// [`OK`].
/// `service` is the one that answered ([`crate::error::services`]).
pub fn explain_result(service: &str, result: &str) -> Option<crate::error::Explanation> {
    (result != OK).then(|| crate::error::explain_text(service, result))
}

/// Every recipient got it.
pub(crate) fn all_ok(recipients: &[String]) -> Results {
    recipients
        .iter()
        .map(|r| (r.clone(), OK.to_string()))
        .collect()
}
