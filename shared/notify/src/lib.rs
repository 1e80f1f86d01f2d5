//! Staff notification channels, usable on their own, behind one trait ([`Channel`]): e-mail
//! over SMTP ([`email`]), WeChat official-account template messages ([`oa`]), Tencent Cloud SMS
//! ([`sms`], signed with [`tc3`]) and group bots ([`bots`]). Each renders the domain's notice
//! ([`domain::notification::NotificationSummary`], through [`Render`]) and reports per
//! recipient, and whether a failure is worth retrying. Nothing here logs a secret, a webhook
//! URL or an access token.

pub mod bots;
pub mod channel;
pub mod email;
pub mod error;
pub mod message;
pub mod oa;
pub mod sms;
pub mod tc3;

pub use channel::{Channel, Outgoing, Results};
pub use error::{Explanation, SendError};
pub use message::Render;
