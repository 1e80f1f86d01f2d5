//! TC3-HMAC-SHA256, Tencent Cloud API 3.0 request signing. The signed
//! headers are `content-type;host`, as the official SDKs sign them.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn hmac(key: &[u8], msg: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg.as_bytes());
    m.finalize().into_bytes().to_vec()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// One request to sign.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// e.g. `sms`.
    pub service: &'a str,
    /// The Host header exactly as sent (with the port if not the default).
    pub host: &'a str,
    /// The Content-Type header exactly as sent.
    pub content_type: &'a str,
    /// The body bytes exactly as sent.
    pub payload: &'a [u8],
    /// Unix seconds (the `X-TC-Timestamp` header).
    pub timestamp: i64,
}

/// The intermediate values, for tests against the documented example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub hashed_payload: String,
    pub hashed_canonical_request: String,
    pub credential_scope: String,
    pub signature: String,
}

pub fn sign(secret_key: &str, r: &Request<'_>) -> Signed {
    let hashed_payload = sha256_hex(r.payload);
    let canonical = format!(
        "POST\n/\n\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{hashed_payload}",
        r.content_type.trim().to_ascii_lowercase(),
        r.host.trim().to_ascii_lowercase()
    );
    let hashed_canonical_request = sha256_hex(canonical.as_bytes());
    // The date is UTC (not local time).
    let date = chrono::DateTime::from_timestamp(r.timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string();
    let credential_scope = format!("{date}/{}/tc3_request", r.service);
    let string_to_sign = format!(
        "TC3-HMAC-SHA256\n{}\n{credential_scope}\n{hashed_canonical_request}",
        r.timestamp
    );
    let k_date = hmac(format!("TC3{secret_key}").as_bytes(), &date);
    let k_service = hmac(&k_date, r.service);
    let k_signing = hmac(&k_service, "tc3_request");
    let signature = hex::encode(hmac(&k_signing, &string_to_sign));
    Signed {
        hashed_payload,
        hashed_canonical_request,
        credential_scope,
        signature,
    }
}

/// The `Authorization` header value.
pub fn authorization(secret_id: &str, secret_key: &str, r: &Request<'_>) -> String {
    let s = sign(secret_key, r);
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{}, SignedHeaders=content-type;host, Signature={}",
        s.credential_scope, s.signature
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tencent Cloud's own worked example from its TC3 signing documentation.
    #[test]
    fn the_official_worked_example() {
        let payload = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
        let s = sign(
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            &Request {
                service: "cvm",
                host: "cvm.tencentcloudapi.com",
                content_type: "application/json; charset=utf-8",
                payload: payload.as_bytes(),
                timestamp: 1_551_113_065,
            },
        );
        assert_eq!(
            s.hashed_payload,
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            s.hashed_canonical_request,
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(s.credential_scope, "2019-02-25/cvm/tc3_request");
        assert_eq!(
            s.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }
}
