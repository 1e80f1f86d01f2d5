//! The HTTP client: every request signed, every response verified.

use crate::error::PlatformError;
use crate::ids;
use crate::model::*;
use crate::observe::observed;
use crate::sign::{MerchantSigner, canonical_url, nonce};
use crate::verify::{SignedHeaders, Verifier, VerifyError};
use crypto::PrivateKey;
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The production host.
pub const PRODUCTION: &str = "https://api.mch.weixin.qq.com";

/// Platform certificates are downloaded at most this often per merchant when an unknown serial
/// shows up.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// The most complaints one page of the complaint list holds (`limit`).
pub const MAX_LIST_LIMIT: u32 = 50;

/// Everything the client needs for one merchant or service provider.
pub struct ClientConfig {
    pub base_url: Url,
    pub mchid: String,
    /// Merchant API certificate serial (hex; leading zeros and case do not matter).
    pub serial_no: String,
    /// The merchant API private key, parsed (see [`PrivateKey::parse`]).
    pub private_key: PrivateKey,
    /// The API v3 key (32 bytes).
    pub apiv3_key: Vec<u8>,
    /// The WeChat Pay public key and its `PUB_KEY_ID_...`, if the merchant has one.
    pub public_key: Option<(String, String)>,
    /// Platform certificates (PEM) known already.
    pub platform_certificates: Vec<String>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("base_url", &self.base_url.as_str())
            .field("mchid", &self.mchid)
            .field("serial_no", &self.serial_no)
            .finish_non_exhaustive()
    }
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    signer: MerchantSigner,
    private_key: PrivateKey,
    apiv3_key: Vec<u8>,
    public_key_id: Option<String>,
    verifier: Arc<Verifier>,
    last_refresh: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// A verified response.
#[derive(Debug)]
pub struct Verified {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

/// The platform's error answer as a typed error.
fn api_error(status: StatusCode, body: &[u8]) -> PlatformError {
    let err: Option<ErrorBody> = serde_json::from_slice(body).ok();
    PlatformError::Api {
        status: status.as_u16(),
        code: err.as_ref().map(|e| e.code.clone()).unwrap_or_default(),
        message: err.map(|e| e.message).unwrap_or_default(),
    }
}

/// A notification URL resource: its path and the name of its URL field.
#[derive(Debug, Clone, Copy)]
pub enum NotificationUrl {
    /// `/v3/merchant-service/complaint-notifications` (`url`).
    Complaints,
    /// `/v3/merchant-risk-manage/violation-notifications` (`notify_url`), service providers.
    Violations,
}

/// What [`Client::set_notification_url`] had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The platform already held this URL: nothing was written.
    Unchanged,
    /// Another URL was registered: replaced with `PUT`.
    Updated,
    /// None was registered: created with `POST`.
    Created,
}

impl NotificationUrl {
    fn path(self) -> &'static str {
        match self {
            NotificationUrl::Complaints => "/v3/merchant-service/complaint-notifications",
            NotificationUrl::Violations => "/v3/merchant-risk-manage/violation-notifications",
        }
    }

    fn field(self) -> &'static str {
        match self {
            NotificationUrl::Complaints => "url",
            NotificationUrl::Violations => "notify_url",
        }
    }
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Self, PlatformError> {
        let verifier = Arc::new(Verifier::new());
        if let Some((id, pem)) = &config.public_key {
            verifier
                .add_public_key(id, pem)
                .map_err(|e| PlatformError::Invalid(format!("WeChat Pay public key: {e}")))?;
        }
        for pem in &config.platform_certificates {
            verifier
                .add_certificate(pem)
                .map_err(|e| PlatformError::Invalid(format!("platform certificate: {e}")))?;
        }
        crypto::tls::install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("complaint-desk/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            http,
            base: config.base_url,
            signer: MerchantSigner::new(
                &config.mchid,
                &config.serial_no,
                config.private_key.clone(),
            ),
            private_key: config.private_key,
            apiv3_key: config.apiv3_key,
            public_key_id: config.public_key.map(|(id, _)| id),
            verifier,
            last_refresh: Mutex::new(None),
        })
    }

    /// The verifier (callbacks are checked with the same keys).
    pub fn verifier(&self) -> &Arc<Verifier> {
        &self.verifier
    }

    pub fn apiv3_key(&self) -> &[u8] {
        &self.apiv3_key
    }

    /// Decrypt a sensitive field meant for this merchant (e.g. `payer_phone`).
    pub fn decrypt_sensitive(&self, b64: &str) -> Result<String, crate::oaep::OaepError> {
        crate::oaep::decrypt(&self.private_key, b64)
    }

    fn url(&self, path_and_query: &str) -> Result<Url, PlatformError> {
        self.base
            .join(path_and_query)
            .map_err(|e| PlatformError::Invalid(format!("bad path: {e}")))
    }

    /// A request to `url` carrying the `Authorization` header for `signed_body` (the JSON body,
    /// the `meta` part of an upload, or "" without a body), signed now with a fresh nonce.
    fn signed(
        &self,
        method: Method,
        url: Url,
        signed_body: &str,
    ) -> Result<reqwest::RequestBuilder, PlatformError> {
        let auth = self
            .signer
            .authorization(
                method.as_str(),
                &canonical_url(&url),
                chrono::Utc::now().timestamp(),
                &nonce(),
                signed_body,
            )
            .map_err(|e| PlatformError::Invalid(e.to_string()))?;
        Ok(self.http.request(method, url).header("Authorization", auth))
    }

    /// Send a signed request and verify the response. Error bodies become `PlatformError::Api`.
    pub async fn send(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<Verified, PlatformError> {
        let operation = crate::observe::operation(&method, path_and_query);
        observed(operation, self.send_now(method, path_and_query, body).await)
    }

    async fn send_now(
        &self,
        method: Method,
        path_and_query: &str,
        body: Option<String>,
    ) -> Result<Verified, PlatformError> {
        let url = self.url(path_and_query)?;
        let body_text = body.clone().unwrap_or_default();
        let mut req = self
            .signed(method, url, &body_text)?
            .header("Accept", "application/json");
        if let Some(id) = &self.public_key_id {
            req = req.header("Wechatpay-Serial", id);
        }
        if let Some(b) = body {
            req = req.header("Content-Type", "application/json").body(b);
        }
        let res = req.send().await?;
        self.finish(res).await
    }

    async fn finish(&self, res: reqwest::Response) -> Result<Verified, PlatformError> {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await?.to_vec();
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let signed = SignedHeaders::read(get);
        match signed {
            Ok(h) => self.verify_response(&h, &body).await?,
            // Success must be signed; an unsigned error (a gateway's 5xx) is reported as is.
            Err(e) if status.is_success() => return Err(PlatformError::Verify(e)),
            Err(_) => {}
        }
        if status.is_success() {
            return Ok(Verified { status, body });
        }
        Err(api_error(status, &body))
    }

    async fn verify_response(&self, h: &SignedHeaders, body: &[u8]) -> Result<(), PlatformError> {
        match self.verifier.verify(h, body, chrono::Utc::now()) {
            Err(VerifyError::UnknownSerial(serial)) if !serial.starts_with("PUB_KEY_ID_") => {
                self.refresh_certificates().await?;
                self.verifier
                    .verify(h, body, chrono::Utc::now())
                    .map_err(PlatformError::Verify)
            }
            other => other.map_err(PlatformError::Verify),
        }
    }

    /// Download platform certificates, unless that was done in the last minute. The response
    /// is verified with the certificates it carries (the SDKs' bootstrap).
    pub async fn refresh_certificates(&self) -> Result<usize, PlatformError> {
        {
            let mut last = self.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < REFRESH_INTERVAL) {
                return Ok(0);
            }
            *last = Some(Instant::now());
        }
        observed("certificates", self.download_certificates().await)
    }

    async fn download_certificates(&self) -> Result<usize, PlatformError> {
        let url = self.url("/v3/certificates")?;
        let res = self
            .signed(Method::GET, url, "")?
            .header("Accept", "application/json")
            .send()
            .await?;
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await?.to_vec();
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        let list: CertificateList = serde_json::from_slice(&body)
            .map_err(|e| PlatformError::Decode(format!("certificate list: {e}")))?;
        let fresh = Verifier::new();
        let mut pems = Vec::new();
        for c in &list.data {
            if c.encrypt_certificate.algorithm != "AEAD_AES_256_GCM" {
                return Err(PlatformError::Decode(format!(
                    "certificate {} uses {}",
                    c.serial_no, c.encrypt_certificate.algorithm
                )));
            }
            let pem = crate::aead::decrypt(
                &self.apiv3_key,
                &c.encrypt_certificate.nonce,
                &c.encrypt_certificate.associated_data,
                &c.encrypt_certificate.ciphertext,
            )?;
            let serial = fresh
                .add_certificate(&pem)
                .map_err(|e| PlatformError::Decode(format!("certificate {}: {e}", c.serial_no)))?;
            // The list names each certificate by the number, not by its DER bytes.
            if !crate::serial::same(&serial, &c.serial_no) {
                return Err(PlatformError::Decode(format!(
                    "certificate listed as {} has serial {serial}",
                    c.serial_no
                )));
            }
            pems.push(pem);
        }
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let h = SignedHeaders::read(get).map_err(PlatformError::Verify)?;
        fresh
            .verify(&h, &body, chrono::Utc::now())
            .map_err(PlatformError::Verify)?;
        for pem in &pems {
            let _ = self.verifier.add_certificate(pem);
        }
        tracing::info!(mchid = %self.signer.mchid(), count = pems.len(), "platform certificates downloaded");
        Ok(pems.len())
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<T, PlatformError> {
        let v = self.send(method, path, body).await?;
        serde_json::from_slice(&v.body).map_err(|e| PlatformError::Decode(e.to_string()))
    }

    fn body<T: Serialize>(v: &T) -> Result<Option<String>, PlatformError> {
        serde_json::to_string(v)
            .map(Some)
            .map_err(|e| PlatformError::Invalid(e.to_string()))
    }

    // ---- consumer complaints 2.0

    /// One page of complaints created (Beijing date, `yyyy-MM-dd`) in a window of at most 30
    /// days, `limit` in [1, 50] from `offset`. A provider omits `complainted_mchid` for all its
    /// sub-merchants at once. `total_count` is in the answer only at `offset` 0.
    pub async fn list_complaints(
        &self,
        begin_date: &str,
        end_date: &str,
        limit: u32,
        offset: u32,
        complainted_mchid: Option<&str>,
    ) -> Result<Page<Complaint>, PlatformError> {
        for (field, d) in [("begin_date", begin_date), ("end_date", end_date)] {
            if chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err() || d.len() != 10 {
                return Err(PlatformError::Invalid(format!(
                    "{field} must be yyyy-MM-dd"
                )));
            }
        }
        if !(1..=MAX_LIST_LIMIT).contains(&limit) {
            return Err(PlatformError::Invalid(format!(
                "limit must be 1 to {MAX_LIST_LIMIT}"
            )));
        }
        let mut q = format!(
            "/v3/merchant-service/complaints-v2?limit={limit}&offset={offset}&begin_date={begin_date}&end_date={end_date}"
        );
        if let Some(m) = complainted_mchid {
            let m = ids::mchid("complainted_mchid", m)?;
            q.push_str(&format!("&complainted_mchid={m}"));
        }
        self.json(Method::GET, &q, None).await
    }

    pub async fn complaint(&self, complaint_id: &str) -> Result<Complaint, PlatformError> {
        let complaint_id = ids::complaint_id(complaint_id)?;
        self.json(
            Method::GET,
            &format!("/v3/merchant-service/complaints-v2/{complaint_id}"),
            None,
        )
        .await
    }

    pub async fn negotiation_history(
        &self,
        complaint_id: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Page<NegotiationEntry>, PlatformError> {
        let complaint_id = ids::complaint_id(complaint_id)?;
        self.json(
            Method::GET,
            &format!("/v3/merchant-service/complaints-v2/{complaint_id}/negotiation-historys?limit={limit}&offset={offset}"),
            None,
        )
        .await
    }

    pub async fn respond(
        &self,
        complaint_id: &str,
        req: &ResponseRequest,
    ) -> Result<(), PlatformError> {
        let complaint_id = ids::complaint_id(complaint_id)?;
        self.send(
            Method::POST,
            &format!("/v3/merchant-service/complaints-v2/{complaint_id}/response"),
            Self::body(req)?,
        )
        .await
        .map(|_| ())
    }

    /// Reply to a complaint flagged `need_immediate_service`; `idempotent_id` makes retries safe.
    pub async fn respond_immediate(
        &self,
        complaint_id: &str,
        complainted_mchid: &str,
        text: &str,
        idempotent_id: &str,
    ) -> Result<String, PlatformError> {
        let complaint_id = ids::complaint_id(complaint_id)?;
        let body = serde_json::json!({
            "complainted_mchid": complainted_mchid,
            "message": {"blocks": [{"type": "TEXT", "text": {"text": text}}], "sender_identity": "MACHINE"},
            "idempotent_id": idempotent_id,
        });
        let v: serde_json::Value = self
            .json(
                Method::POST,
                &format!(
                    "/v3/merchant-service/complaints-v2/{complaint_id}/response-immediate-service"
                ),
                Some(body.to_string()),
            )
            .await?;
        Ok(v["log_id"].as_str().unwrap_or_default().to_string())
    }

    pub async fn complete(
        &self,
        complaint_id: &str,
        complainted_mchid: &str,
    ) -> Result<(), PlatformError> {
        let complaint_id = ids::complaint_id(complaint_id)?;
        let body = serde_json::json!({ "complainted_mchid": complainted_mchid });
        self.send(
            Method::POST,
            &format!("/v3/merchant-service/complaints-v2/{complaint_id}/complete"),
            Some(body.to_string()),
        )
        .await
        .map(|_| ())
    }

    pub async fn update_refund_progress(
        &self,
        complaint_id: &str,
        req: &RefundProgressRequest,
    ) -> Result<(), PlatformError> {
        let complaint_id = ids::complaint_id(complaint_id)?;
        self.send(
            Method::POST,
            &format!("/v3/merchant-service/complaints-v2/{complaint_id}/update-refund-progress"),
            Self::body(req)?,
        )
        .await
        .map(|_| ())
    }

    /// Upload an evidence image (jpg, png or bmp, at most 2 MB); returns its media id. The
    /// signature covers the `meta` part, which carries the file's SHA-256.
    pub async fn upload_image(
        &self,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, PlatformError> {
        observed("image_upload", self.upload_image_now(filename, bytes).await)
    }

    async fn upload_image_now(
        &self,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String, PlatformError> {
        let content_type = match filename
            .rsplit('.')
            .next()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("png") => "image/png",
            Some("bmp") => "image/bmp",
            _ => {
                return Err(PlatformError::Invalid(
                    "images must be jpg, png or bmp".into(),
                ));
            }
        };
        if bytes.len() > 2 * 1024 * 1024 {
            return Err(PlatformError::Invalid("images must be at most 2 MB".into()));
        }
        let meta = serde_json::json!({"filename": filename, "sha256": hex::encode(Sha256::digest(&bytes))}).to_string();
        let url = self.url("/v3/merchant-service/images/upload")?;
        let form = reqwest::multipart::Form::new()
            .part(
                "meta",
                reqwest::multipart::Part::text(meta.clone())
                    .mime_str("application/json")
                    .map_err(|e| PlatformError::Invalid(e.to_string()))?,
            )
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(filename.to_string())
                    .mime_str(content_type)
                    .map_err(|e| PlatformError::Invalid(e.to_string()))?,
            );
        let res = self
            .signed(Method::POST, url, &meta)?
            .header("Accept", "application/json")
            .multipart(form)
            .send()
            .await?;
        let v = self.finish(res).await?;
        let out: serde_json::Value =
            serde_json::from_slice(&v.body).map_err(|e| PlatformError::Decode(e.to_string()))?;
        out["media_id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| PlatformError::Decode("no media_id".into()))
    }

    /// Download an image from a complaint's media URL (absolute, on this client's host).
    pub async fn download_image(&self, media_url: &str) -> Result<Vec<u8>, PlatformError> {
        let url =
            Url::parse(media_url).map_err(|e| PlatformError::Invalid(format!("media URL: {e}")))?;
        if url.host_str() != self.base.host_str()
            || !url.path().starts_with("/v3/merchant-service/images/")
        {
            return Err(PlatformError::Invalid(
                "not a WeChat Pay complaint image URL".into(),
            ));
        }
        observed("image_download", self.download(url).await)
    }

    async fn download(&self, url: Url) -> Result<Vec<u8>, PlatformError> {
        let res = self.signed(Method::GET, url, "")?.send().await?;
        let status = res.status();
        let body = res.bytes().await?.to_vec();
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        Ok(body)
    }

    // ---- refunds

    pub async fn create_refund(&self, req: &RefundRequest) -> Result<Refund, PlatformError> {
        if let Some(s) = &req.sub_mchid {
            ids::mchid("sub_mchid", s)?;
        }
        if let Some(t) = &req.transaction_id {
            ids::transaction_id(t)?;
        }
        if let Some(o) = &req.out_trade_no {
            ids::order_number("out_trade_no", o)?;
        }
        ids::order_number("out_refund_no", &req.out_refund_no)?;
        self.json(
            Method::POST,
            "/v3/refund/domestic/refunds",
            Self::body(req)?,
        )
        .await
    }

    pub async fn query_refund(
        &self,
        out_refund_no: &str,
        sub_mchid: Option<&str>,
    ) -> Result<Refund, PlatformError> {
        let out_refund_no = ids::order_number("out_refund_no", out_refund_no)?;
        let mut p = format!("/v3/refund/domestic/refunds/{out_refund_no}");
        if let Some(s) = sub_mchid {
            let s = ids::mchid("sub_mchid", s)?;
            p.push_str(&format!("?sub_mchid={s}"));
        }
        self.json(Method::GET, &p, None).await
    }

    // ---- notification URLs

    /// Make the platform hold `url` for this notification, converging: read what is
    /// registered first; the same URL → no write; a different one → `PUT`; none → `POST`.
    /// (What a second `POST` does when one exists is undocumented: never rely on it.)
    pub async fn set_notification_url(
        &self,
        which: NotificationUrl,
        url: &str,
    ) -> Result<Registered, PlatformError> {
        let method = match self.notification_url(which).await? {
            Some(current) if current == url => return Ok(Registered::Unchanged),
            Some(_) => Method::PUT,
            None => Method::POST,
        };
        let body = serde_json::json!({ which.field(): url }).to_string();
        self.send(method.clone(), which.path(), Some(body)).await?;
        Ok(if method == Method::PUT {
            Registered::Updated
        } else {
            Registered::Created
        })
    }

    /// The registered notification URL, if any. "None registered" is a 404, or the
    /// complaint API's `RESOURCE_NOT_EXISTS` (a 400 in older documentation); any other
    /// error stays an error.
    pub async fn notification_url(
        &self,
        which: NotificationUrl,
    ) -> Result<Option<String>, PlatformError> {
        match self
            .json::<serde_json::Value>(Method::GET, which.path(), None)
            .await
        {
            Ok(v) => Ok(v[which.field()]
                .as_str()
                .filter(|u| !u.is_empty())
                .map(String::from)),
            Err(PlatformError::Api { status: 404, .. }) => Ok(None),
            Err(PlatformError::Api {
                status: 400, code, ..
            }) if code == "RESOURCE_NOT_EXISTS" || code == "NOT_FOUND" => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_notification_url(
        &self,
        which: NotificationUrl,
    ) -> Result<(), PlatformError> {
        self.send(Method::DELETE, which.path(), None)
            .await
            .map(|_| ())
    }
}
