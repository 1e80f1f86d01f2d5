//! Request signing: `WECHATPAY2-SHA256-RSA2048`.

use base64::Engine;
use crypto::{PrivateKey, SignError};

/// The message WeChat Pay signs and verifies for a request: method, canonical URL (path and
/// query exactly as sent), timestamp, nonce and body, each followed by `\n`.
pub fn request_message(
    method: &str,
    canonical_url: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{canonical_url}\n{timestamp}\n{nonce}\n{body}\n")
}

/// SHA256withRSA (PKCS#1 v1.5), base64.
pub fn sign(key: &PrivateKey, message: &str) -> Result<String, SignError> {
    let sig = key.sign_sha256(message.as_bytes())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sig))
}

/// A merchant (or service provider) that signs its requests.
#[derive(Clone)]
pub struct MerchantSigner {
    mchid: String,
    serial_no: String,
    key: PrivateKey,
}

impl std::fmt::Debug for MerchantSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantSigner")
            .field("mchid", &self.mchid)
            .field("serial_no", &self.serial_no)
            .finish_non_exhaustive()
    }
}

impl MerchantSigner {
    /// `mchid` is the caller: for a service provider its own mchid, never a sub-merchant's.
    /// `serial_no` is the merchant API certificate's serial number (hex); it is sent as WeChat
    /// Pay writes it (upper case, no leading zeros), however it was copied.
    pub fn new(mchid: impl Into<String>, serial_no: impl Into<String>, key: PrivateKey) -> Self {
        let serial_no = serial_no.into();
        Self {
            mchid: mchid.into(),
            serial_no: crate::serial::normalise(&serial_no)
                .unwrap_or_else(|| serial_no.to_uppercase()),
            key,
        }
    }

    pub fn mchid(&self) -> &str {
        &self.mchid
    }

    /// The `Authorization` header value for a request.
    pub fn authorization(
        &self,
        method: &str,
        canonical_url: &str,
        timestamp: i64,
        nonce: &str,
        body: &str,
    ) -> Result<String, SignError> {
        let message = request_message(method, canonical_url, timestamp, nonce, body);
        let sig = sign(&self.key, &message)?;
        Ok(format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{}\",nonce_str=\"{nonce}\",timestamp=\"{timestamp}\",serial_no=\"{}\",signature=\"{sig}\"",
            self.mchid, self.serial_no
        ))
    }
}

/// A 32-character random nonce (letters and digits), as the official SDKs send.
pub fn nonce() -> String {
    use rand::Rng;
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// The canonical URL of a request: raw path and `?` raw query exactly as sent, no host.
pub fn canonical_url(url: &reqwest::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4_key() -> PrivateKey {
        let pem = include_str!("../tests/data/sign_test_key.pem");
        PrivateKey::parse(pem).expect("the V4 key")
    }

    #[test]
    fn v4_signature_matches_the_public_vector() {
        // Test vector from wechatpay-go utils/sign_test.go: PKCS#1 v1.5 is deterministic.
        let expected = "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg==";
        assert_eq!(sign(&v4_key(), "source").as_deref(), Ok(expected));
    }

    #[test]
    fn request_message_matches_wechatpay_java() {
        // wechatpay-java WechatPay2CredentialTest.
        let url = reqwest::Url::parse("https://api.mch.weixin.qq.com/v3/pay/transactions/id/1217752501201407033233368018?mchid=1230000109").expect("url");
        let msg = request_message(
            "GET",
            &canonical_url(&url),
            1652750623,
            "eBYqCOxa0QudMnPvVilkTzOg3gHh5Z3u",
            "",
        );
        assert_eq!(
            msg,
            "GET\n/v3/pay/transactions/id/1217752501201407033233368018?mchid=1230000109\n1652750623\neBYqCOxa0QudMnPvVilkTzOg3gHh5Z3u\n\n"
        );
    }

    #[test]
    fn canonical_url_keeps_the_query_as_sent() {
        let url = reqwest::Url::parse("https://x/v3/merchant-service/complaints-v2?limit=5&offset=0&begin_date=2024-01-01&end_date=2024-01-30").expect("url");
        assert_eq!(
            canonical_url(&url),
            "/v3/merchant-service/complaints-v2?limit=5&offset=0&begin_date=2024-01-01&end_date=2024-01-30"
        );
        let encoded = reqwest::Url::parse("https://x/v3/a?name=%E4%B8%AD&b=1").expect("url");
        assert_eq!(canonical_url(&encoded), "/v3/a?name=%E4%B8%AD&b=1");
    }

    #[test]
    fn authorization_header_has_the_documented_shape() {
        let s = MerchantSigner::new(
            "1900000109",
            "5157f09efdc096de15ebe81a47057a7232f1b8e1",
            v4_key(),
        );
        let h = s
            .authorization(
                "GET",
                "/v3/certificates",
                1554208460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                "",
            )
            .expect("sign");
        let sig = sign(
            &v4_key(),
            "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n",
        )
        .expect("sign");
        assert_eq!(
            h,
            format!(
                "WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\",nonce_str=\"593BEC0C930BF1AFEB40B4A08C8FB242\",timestamp=\"1554208460\",serial_no=\"5157F09EFDC096DE15EBE81A47057A7232F1B8E1\",signature=\"{sig}\""
            )
        );
        assert_eq!(nonce().len(), 32);
        assert_ne!(nonce(), nonce());
    }
}
