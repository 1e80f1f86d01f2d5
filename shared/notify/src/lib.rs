//! Staff notification channels, usable on their own: e-mail over SMTP ([`email`]), WeChat
//! official-account template messages ([`oa`]), Tencent Cloud SMS ([`sms`], signed with
//! [`tc3`]) and group bots ([`bots`]). Each send reports whether a failure is worth retrying.
//! Nothing here logs a secret, a webhook URL or an access token.

pub mod bots;
pub mod email;
pub mod error;
pub mod message;
pub mod oa;
pub mod sms;
pub mod tc3;

pub use error::SendError;
pub use message::Notice;
