//! The gateway client: form POST to `gateway.do` with the common parameters and
//! `biz_content`, signed RSA2; the answer verified over its raw `*_response` text with the
//! Alipay public key (key mode) or the Alipay certificate whose SN the answer names
//! (certificate mode); business errors (`code` != 10000) typed with `sub_code`.

use crate::response::{node, raw_value, string_field};
use crypto::{PrivateKey, PublicKey};
use serde_json::Value;
use std::collections::HashMap;

pub const PRODUCTION: &str = "https://openapi.alipay.com/gateway.do";

/// How Alipay's answers are verified and what our requests carry.
#[derive(Clone)]
pub enum KeyMode {
    /// Plain public-key mode: the Alipay public key.
    PublicKey(PublicKey),
    /// Public-key certificate mode: our `app_cert_sn`, the `alipay_root_cert_sn`, and the
    /// Alipay certificates' keys by SN.
    Certificate {
        app_cert_sn: String,
        alipay_root_cert_sn: String,
        alipay_keys: HashMap<String, PublicKey>,
    },
}

#[derive(Clone)]
pub struct ClientConfig {
    pub gateway: url::Url,
    pub app_id: String,
    /// The app private key, parsed (see [`PrivateKey::parse`]).
    pub private_key: PrivateKey,
    pub mode: KeyMode,
}

#[derive(Debug, thiserror::Error)]
pub enum AlipayError {
    /// A business error: Alipay's `code`, `msg`, `sub_code`, `sub_msg`.
    #[error("Alipay answered {code} {msg}: {sub_code} {sub_msg}")]
    Api {
        code: String,
        msg: String,
        sub_code: String,
        sub_msg: String,
    },
    #[error("cannot reach Alipay: {0}")]
    Transport(String),
    /// The answer's signature does not verify (or names an unknown certificate): never trust it.
    #[error("the answer's signature does not verify: {0}")]
    Verify(String),
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// The request could not be signed (never caused by outside input).
    #[error("cannot sign the request: {0}")]
    Sign(String),
}

impl AlipayError {
    /// Worth retrying: transport failures and Alipay's "system busy" codes.
    pub fn is_retryable(&self) -> bool {
        match self {
            AlipayError::Transport(_) => true,
            AlipayError::Api { .. } if self.is_throttled() => true,
            AlipayError::Api { code, sub_code, .. } => {
                code == "20000"
                    || sub_code.ends_with("SYSTEM_ERROR")
                    || sub_code == "aop.ACQ.SYSTEM_ERROR"
            }
            _ => false,
        }
    }

    /// Alipay throttled the call: `code 40005` with `sub_code` `isv.app-call-limited` (the
    /// app's rate) or `isv.method-call-limited` (the method's), which the v3 API writes
    /// without the `isv.` prefix. Back off with jitter; every retry is signed again.
    pub fn is_throttled(&self) -> bool {
        match self {
            AlipayError::Api { sub_code, .. } => matches!(
                sub_code.strip_prefix("isv.").unwrap_or(sub_code),
                "app-call-limited" | "method-call-limited"
            ),
            _ => false,
        }
    }

    /// The complaint is in a state that does not allow this operation (already finished or
    /// fed back): the caller's view of the complaint is out of date, not a platform failure.
    pub fn is_complaint_state_conflict(&self) -> bool {
        self.sub_code() == Some("COMPLAIN_STATUS_NOT_SUPPORT")
    }

    pub fn sub_code(&self) -> Option<&str> {
        match self {
            AlipayError::Api { sub_code, .. } => Some(sub_code),
            _ => None,
        }
    }
}

/// Image ids go in as one comma-separated field, only when there are any.
fn with_images(biz: &mut Value, key: &str, images: &[String]) {
    if !images.is_empty() {
        biz[key] = images.join(",").into();
    }
}

pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
}

impl Client {
    pub fn new(config: ClientConfig) -> Self {
        crypto::tls::install_default();
        Self {
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
            config,
        }
    }

    pub fn app_id(&self) -> &str {
        &self.config.app_id
    }

    /// The common parameters, signed, for `method` with `biz_content` and extra text params.
    pub fn signed_params(
        &self,
        method: &str,
        biz: Option<&Value>,
        extra: &[(&str, &str)],
        timestamp: &str,
    ) -> Result<Vec<(String, String)>, AlipayError> {
        let mut p: Vec<(String, String)> = vec![
            ("app_id".into(), self.config.app_id.clone()),
            ("method".into(), method.into()),
            ("format".into(), "JSON".into()),
            ("charset".into(), "utf-8".into()),
            ("sign_type".into(), "RSA2".into()),
            ("timestamp".into(), timestamp.into()),
            ("version".into(), "1.0".into()),
        ];
        if let Some(b) = biz {
            p.push(("biz_content".into(), b.to_string()));
        }
        if let KeyMode::Certificate {
            app_cert_sn,
            alipay_root_cert_sn,
            ..
        } = &self.config.mode
        {
            p.push(("app_cert_sn".into(), app_cert_sn.clone()));
            p.push(("alipay_root_cert_sn".into(), alipay_root_cert_sn.clone()));
        }
        for (k, v) in extra {
            p.push(((*k).into(), (*v).into()));
        }
        let content =
            crate::sign::sign_content(p.iter().map(|(k, v)| (k.as_str(), v.as_str())), &[]);
        let sign = crate::sign::sign(&self.config.private_key, &content)
            .map_err(|e| AlipayError::Sign(e.to_string()))?;
        p.push(("sign".into(), sign));
        Ok(p)
    }

    fn now() -> String {
        let tz = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
        chrono::Utc::now()
            .with_timezone(&tz)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// Call a gateway method; the verified `*_response` object.
    pub async fn call(&self, method: &str, biz: &Value) -> Result<Value, AlipayError> {
        observed(method, self.call_now(method, biz).await)
    }

    async fn call_now(&self, method: &str, biz: &Value) -> Result<Value, AlipayError> {
        let params = self.signed_params(method, Some(biz), &[], &Self::now())?;
        let res = self
            .http
            .post(self.config.gateway.clone())
            .form(&params)
            .send()
            .await
            .map_err(|e| AlipayError::Transport(e.without_url().to_string()))?;
        let body = res
            .text()
            .await
            .map_err(|e| AlipayError::Transport(e.without_url().to_string()))?;
        self.verify_response(method, &body)
    }

    /// Upload a file (`alipay.merchant.image.upload`: `image_type` + `image_content`; RiskGO
    /// `file_content`). The file part is not signed; text params are.
    pub async fn upload(
        &self,
        method: &str,
        text: &[(&str, &str)],
        file_field: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<Value, AlipayError> {
        let answer = self.upload_now(method, text, file_field, filename, bytes);
        observed(method, answer.await)
    }

    async fn upload_now(
        &self,
        method: &str,
        text: &[(&str, &str)],
        file_field: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<Value, AlipayError> {
        let params = self.signed_params(method, None, text, &Self::now())?;
        let mut form = reqwest::multipart::Form::new();
        for (k, v) in params {
            form = form.text(k, v);
        }
        form = form.part(
            file_field.to_string(),
            reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()),
        );
        let res = self
            .http
            .post(self.config.gateway.clone())
            .multipart(form)
            .send()
            .await
            .map_err(|e| AlipayError::Transport(e.without_url().to_string()))?;
        let body = res
            .text()
            .await
            .map_err(|e| AlipayError::Transport(e.without_url().to_string()))?;
        self.verify_response(method, &body)
    }

    /// Verify an answer body and turn business errors into [`AlipayError::Api`].
    pub fn verify_response(&self, method: &str, body: &str) -> Result<Value, AlipayError> {
        let name = node(method);
        let (raw, is_error) = match raw_value(body, &name) {
            Some(r) => (r, false),
            None => (
                raw_value(body, "error_response")
                    .ok_or_else(|| AlipayError::Decode(format!("no {name} in the answer")))?,
                true,
            ),
        };
        let sign = string_field(body, "sign");
        if let Some(sign) = &sign {
            let key = match &self.config.mode {
                KeyMode::PublicKey(k) => k,
                KeyMode::Certificate { alipay_keys, .. } => {
                    let sn = string_field(body, "alipay_cert_sn")
                        .ok_or_else(|| AlipayError::Verify("no alipay_cert_sn".into()))?;
                    alipay_keys.get(&sn).ok_or_else(|| {
                        AlipayError::Verify(format!("unknown Alipay certificate {sn}"))
                    })?
                }
            };
            if !crate::sign::verify(key, raw.as_bytes(), sign) {
                return Err(AlipayError::Verify("signature mismatch".into()));
            }
        }
        // Alipay leaves gateway-level errors (bad signature, bad SN, unknown app) unsigned;
        // they are believed only as errors: they carry no data to trust.
        let v: Value = serde_json::from_str(raw).map_err(|e| AlipayError::Decode(e.to_string()))?;
        if sign.is_none() && !is_error && v["code"].as_str() == Some("10000") {
            return Err(AlipayError::Verify("unsigned success answer".into()));
        }
        let code = v["code"].as_str().unwrap_or_default();
        if code != "10000" {
            return Err(AlipayError::Api {
                code: code.to_string(),
                msg: v["msg"].as_str().unwrap_or_default().to_string(),
                sub_code: v["sub_code"].as_str().unwrap_or_default().to_string(),
                sub_msg: v["sub_msg"].as_str().unwrap_or_default().to_string(),
            });
        }
        Ok(v)
    }

    // ---- trade complaints

    pub async fn tradecomplain_query(&self, complain_event_id: &str) -> Result<Value, AlipayError> {
        self.call(
            "alipay.merchant.tradecomplain.query",
            &serde_json::json!({"complain_event_id": complain_event_id}),
        )
        .await
    }

    pub async fn tradecomplain_reply(
        &self,
        complain_event_id: &str,
        content: &str,
        images: &[String],
    ) -> Result<Value, AlipayError> {
        let mut b =
            serde_json::json!({"complain_event_id": complain_event_id, "reply_content": content});
        with_images(&mut b, "reply_images", images);
        self.call("alipay.merchant.tradecomplain.reply.submit", &b)
            .await
    }

    pub async fn tradecomplain_feedback(
        &self,
        complain_event_id: &str,
        code: &str,
        content: &str,
        images: &[String],
    ) -> Result<Value, AlipayError> {
        let mut b = serde_json::json!({"complain_event_id": complain_event_id, "feedback_code": code, "feedback_content": content});
        with_images(&mut b, "feedback_images", images);
        self.call("alipay.merchant.tradecomplain.feedback.submit", &b)
            .await
    }

    pub async fn tradecomplain_supplement(
        &self,
        complain_event_id: &str,
        content: &str,
        images: &[String],
    ) -> Result<Value, AlipayError> {
        let mut b = serde_json::json!({"complain_event_id": complain_event_id, "supplement_content": content});
        with_images(&mut b, "supplement_images", images);
        self.call("alipay.merchant.tradecomplain.supplement.submit", &b)
            .await
    }

    pub async fn image_upload(
        &self,
        image_type: &str,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, AlipayError> {
        let v = self
            .upload(
                "alipay.merchant.image.upload",
                &[("image_type", image_type)],
                "image_content",
                filename,
                bytes,
            )
            .await?;
        v["image_id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| AlipayError::Decode("no image_id".into()))
    }

    // ---- RiskGO consumer complaints

    /// Upload evidence for `process.finish`; its `file_key`.
    pub async fn risk_file_upload(
        &self,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, AlipayError> {
        let v = self
            .upload(
                "alipay.security.risk.complaint.file.upload",
                &[],
                "file_content",
                filename,
                bytes,
            )
            .await?;
        v["file_key"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| AlipayError::Decode("no file_key".into()))
    }

    pub async fn risk_complaint_query(&self, complain_id: i64) -> Result<Value, AlipayError> {
        self.call(
            "alipay.security.risk.complaint.info.query",
            &serde_json::json!({"complain_id": complain_id}),
        )
        .await
    }

    pub async fn risk_complaint_finish(
        &self,
        ids: &[i64],
        process_code: &str,
        remark: &str,
    ) -> Result<Value, AlipayError> {
        self.call(
            "alipay.security.risk.complaint.process.finish",
            &serde_json::json!({"id_list": ids, "process_code": process_code, "remark": remark}),
        )
        .await
    }

    // ---- refunds

    /// `alipay.trade.refund`; `out_request_no` makes it idempotent.
    pub async fn trade_refund(
        &self,
        trade_no: &str,
        amount_fen: u64,
        out_request_no: &str,
        reason: &str,
    ) -> Result<Value, AlipayError> {
        self.call(
            "alipay.trade.refund",
            &serde_json::json!({"trade_no": trade_no, "refund_amount": crate::money::fen_to_yuan(amount_fen),
                                "out_request_no": out_request_no, "refund_reason": reason}),
        )
        .await
    }

    pub async fn refund_query(
        &self,
        trade_no: &str,
        out_request_no: &str,
    ) -> Result<Value, AlipayError> {
        self.call(
            "alipay.trade.fastpay.refund.query",
            &serde_json::json!({"trade_no": trade_no, "out_request_no": out_request_no}),
        )
        .await
    }
}

// ---- who hears of every call (the desk counts them by method and outcome): the gateway
// method (`alipay.merchant.tradecomplain.query`) and how the call ended. One observer per
// process, set once; without one, nothing is told.

/// Told of each call: the gateway method and its result.
pub type CallObserver = fn(method: &str, result: Result<(), &AlipayError>);

static OBSERVER: std::sync::OnceLock<CallObserver> = std::sync::OnceLock::new();

/// Set the process's observer (the first one set stays).
pub fn set_call_observer(observer: CallObserver) {
    let _ = OBSERVER.set(observer);
}

/// Tell the observer of a call's result, and hand the result on.
pub(crate) fn observed<T>(method: &str, result: Result<T, AlipayError>) -> Result<T, AlipayError> {
    if let Some(tell) = OBSERVER.get() {
        tell(method, result.as_ref().map(|_| ()));
    }
    result
}

#[cfg(test)]
mod throttling_tests {
    use super::AlipayError;

    fn api(code: &str, sub_code: &str) -> AlipayError {
        AlipayError::Api {
            code: code.into(),
            msg: String::new(),
            sub_code: sub_code.into(),
            sub_msg: String::new(),
        }
    }

    #[test]
    fn call_limited_answers_are_throttling_in_both_api_versions() {
        for sub in [
            "isv.app-call-limited",
            "isv.method-call-limited",
            "app-call-limited",
            "method-call-limited",
        ] {
            let e = api("40005", sub);
            assert!(e.is_throttled(), "{sub}");
            assert!(e.is_retryable(), "{sub}");
        }
        let other = api("40004", "isv.invalid-parameter");
        assert!(!other.is_throttled());
        assert!(!other.is_retryable());
    }
}

#[cfg(test)]
mod verify_tests {
    use super::{Client, ClientConfig, KeyMode};
    use crate::response::node;
    use crypto::PrivateKey;

    fn client(key: &PrivateKey) -> Client {
        Client::new(ClientConfig {
            gateway: url::Url::parse(super::PRODUCTION).expect("url"),
            app_id: "2021000000000001".into(),
            private_key: key.clone(),
            mode: KeyMode::PublicKey(key.public_key().clone()),
        })
    }

    #[test]
    fn an_answer_verifies_over_its_envelope_signature_not_a_nested_sign_member() {
        let key = PrivateKey::parse(include_str!("../tests/data/test_app_key.pem")).expect("key");
        // The platform's data has members named like the envelope's: they are neither the
        // signature nor the certificate SN.
        let inner = r#"{"code":"10000","msg":"Success","sign":"c2_quer","alipay_cert_sn":"x","list":[{"sign":"y"}]}"#;
        let sig = crate::sign::sign(&key, inner).expect("sign");
        let method = "alipay.merchant.tradecomplain.query";
        let body = format!(
            "{{\"{}\":{inner},\"alipay_cert_sn\":\"abc\",\"sign\":\"{}\"}}",
            node(method),
            sig.replace('/', "\\/")
        );
        let v = client(&key)
            .verify_response(method, &body)
            .expect("a signed answer verifies");
        assert_eq!(v["sign"], "c2_quer");
    }
}
