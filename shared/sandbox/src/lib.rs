//! Platform simulators on local ports, for tests and the demo. Each implements the platform's
//! endpoints with real cryptography: it checks our signed requests as the platform would (and
//! rejects bad ones), signs its answers, and pushes signed or encrypted callbacks. Its signing
//! and verification are written here on the primitives, not taken from the platform crates, so
//! a shared bug cannot cancel out.

pub mod alipay;
pub mod notify;
pub mod peer;
pub mod wechatpay;
pub mod wxapi;
