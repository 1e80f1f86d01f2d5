//! Platform simulators on local ports, for tests and the demo. Each implements the platform's
//! endpoints with real cryptography: it checks our signed requests as the platform would (and
//! rejects bad ones), signs its answers, and pushes signed or encrypted callbacks. Its signing
//! and verification are written here on the primitives, not taken from the platform crates, so
//! a shared bug cannot cancel out.

/// Install aws-lc-rs as the process's rustls provider if none is: the workspace builds reqwest
/// without a provider of its own, so one must be installed before a client is built. (TLS
/// only: the simulators' signatures stay on their own code.)
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

pub mod alipay;
pub mod notify;
pub mod peer;
pub mod wechatpay;
pub mod wxapi;
