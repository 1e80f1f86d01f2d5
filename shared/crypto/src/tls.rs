//! The process's rustls crypto provider.
//!
//! Every TLS client in the desk (reqwest for the platforms, lettre for SMTP, the AWS SDK) uses
//! rustls, and rustls is built with aws-lc-rs only. reqwest (built without a provider of its
//! own) needs the process default installed before a client is built: the binaries call
//! [`install_default`] first thing, and the platform clients call it too so they work in any
//! program that uses them on their own.

/// Install aws-lc-rs as the process's rustls provider, unless one is installed already.
/// Cheap after the first call; safe from several threads.
pub fn install_default() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race: its provider is the same one, so the error is moot.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_provider_is_aws_lc_rs() {
        super::install_default();
        super::install_default();
        let p = rustls::crypto::CryptoProvider::get_default().expect("installed");
        assert!(!p.cipher_suites.is_empty());
        let ours = rustls::crypto::aws_lc_rs::default_provider();
        let names = |s: &[rustls::SupportedCipherSuite]| {
            s.iter()
                .map(|c| format!("{:?}", c.suite()))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&p.cipher_suites), names(&ours.cipher_suites));
    }
}
