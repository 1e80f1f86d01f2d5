//! Mini-program trade complaints (交易保障-交易投诉), media, trade experience score and
//! violation records. Every call takes the app's access token from [`Tokens`] and, if WeChat
//! refuses it (40001/42001/40014), refreshes it once and tries again.

use crate::error::{WechatError, check, send_json};
use crate::token::{Access, Tokens};
use serde_json::{Value, json};
use std::time::Duration;

/// A mini program's API client.
#[derive(Clone)]
pub struct Client {
    tokens: Tokens,
    access: Access,
}

/// The body of respond / supplement / refund evidence / appeal.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    pub content: String,
    /// Media ids from [`Client::upload_image`] (they expire: upload per action).
    pub media_ids: Vec<String>,
}

impl Client {
    pub fn new(tokens: Tokens, access: Access) -> Self {
        Self { tokens, access }
    }

    pub fn appid(&self) -> &str {
        self.access.appid()
    }

    /// Run `f` with the access token; if WeChat refuses the token (40001/42001/40014), refresh
    /// it once and run `f` again.
    async fn with_token<T, F, Fut>(&self, f: F) -> Result<T, WechatError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, WechatError>>,
    {
        let mut rejected: Option<String> = None;
        loop {
            let token = self.tokens.token(&self.access, rejected.as_deref()).await?;
            match f(token.clone()).await {
                Err(e) if e.is_token_error() && rejected.is_none() => {
                    tracing::info!(appid = %self.appid(), code = e.code(), "access token refused; refreshing once");
                    rejected = Some(token);
                }
                other => return other,
            }
        }
    }

    /// `path` with the token and `query`.
    fn url(
        &self,
        path: &str,
        token: &str,
        query: &[(&str, &str)],
    ) -> Result<url::Url, WechatError> {
        let mut url = self
            .tokens
            .base
            .join(path)
            .map_err(|e| WechatError::Invalid(e.to_string()))?;
        url.query_pairs_mut()
            .append_pair("access_token", token)
            .extend_pairs(query);
        Ok(url)
    }

    /// A JSON call, `errcode` checked.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &'static str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, WechatError> {
        let answer = self.call_now(method, path, query, body).await;
        crate::observe::observed(path, answer)
    }

    async fn call_now(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Value, WechatError> {
        self.with_token(|token| {
            let method = method.clone();
            async move {
                let mut req = self
                    .tokens
                    .http
                    .request(method, self.url(path, &token, query)?)
                    .timeout(Duration::from_secs(15));
                if let Some(b) = body {
                    req = req.json(b);
                }
                send_json(req).await
            }
        })
        .await
    }

    /// `GET /wxaapi/minishop/complaintOrderDetail`: `complaintOrder`, `item[]`, `returnBill`.
    pub async fn complaint_detail(&self, complaint_order_id: &str) -> Result<Value, WechatError> {
        if !is_complaint_order_id(complaint_order_id) {
            return Err(WechatError::Invalid(
                "complaint_order_id is not a mini-program complaint id (1 to 20 digits)".into(),
            ));
        }
        self.call(
            reqwest::Method::GET,
            "wxaapi/minishop/complaintOrderDetail",
            &[("complaintOrderId", complaint_order_id)],
            None,
        )
        .await
    }

    fn evidence_body(complaint_order_id: &str, e: &Evidence) -> Result<Value, WechatError> {
        if e.content.trim().is_empty() && e.media_ids.is_empty() {
            return Err(WechatError::Invalid(
                "content or images are required (内容或者图片不能为空)".into(),
            ));
        }
        let id: u64 = complaint_order_id
            .parse()
            .ok()
            .filter(|_| is_complaint_order_id(complaint_order_id))
            .ok_or_else(|| {
                WechatError::Invalid(
                    "complaint_order_id is not a mini-program complaint id (1 to 20 digits)".into(),
                )
            })?;
        Ok(json!({"complaintOrderId": id, "content": e.content, "mediaIdList": e.media_ids}))
    }

    /// `POST /wxaapi/minishop/bussiRespondComplaint`: `bussi_handle` 1 agree to settle, 2 refuse.
    pub async fn respond(
        &self,
        complaint_order_id: &str,
        bussi_handle: u8,
        e: &Evidence,
    ) -> Result<(), WechatError> {
        let mut body = Self::evidence_body(complaint_order_id, e)?;
        body["bussiHandle"] = json!(bussi_handle);
        self.call(
            reqwest::Method::POST,
            "wxaapi/minishop/bussiRespondComplaint",
            &[],
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    /// `POST /wxaapi/minishop/bussiSupplyProof`: supplementary evidence.
    pub async fn supply_proof(&self, id: &str, e: &Evidence) -> Result<(), WechatError> {
        self.evidence("wxaapi/minishop/bussiSupplyProof", id, e)
            .await
    }

    /// `POST /wxaapi/minishop/bussiSupplyRefund`: refund-handling evidence.
    pub async fn supply_refund(&self, id: &str, e: &Evidence) -> Result<(), WechatError> {
        self.evidence("wxaapi/minishop/bussiSupplyRefund", id, e)
            .await
    }

    /// `POST /wxaapi/minishop/busiAppeal`: appeal the platform's judgement.
    pub async fn appeal(&self, id: &str, e: &Evidence) -> Result<(), WechatError> {
        self.evidence("wxaapi/minishop/busiAppeal", id, e).await
    }

    async fn evidence(
        &self,
        path: &'static str,
        id: &str,
        e: &Evidence,
    ) -> Result<(), WechatError> {
        let body = Self::evidence_body(id, e)?;
        self.call(reqwest::Method::POST, path, &[], Some(&body))
            .await
            .map(|_| ())
    }

    /// `POST /cgi-bin/media/upload?type=image` (multipart field `media`): a temporary media id.
    pub async fn upload_image(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, WechatError> {
        let answer = self.upload_image_now(filename, content_type, bytes).await;
        crate::observe::observed("cgi-bin/media/upload", answer)
    }

    async fn upload_image_now(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, WechatError> {
        let v = self
            .with_token(|token| {
                let bytes = bytes.clone();
                async move {
                    let part = reqwest::multipart::Part::bytes(bytes)
                        .file_name(filename.to_string())
                        .mime_str(content_type)
                        .map_err(|e| WechatError::Invalid(e.without_url().to_string()))?;
                    send_json(
                        self.tokens
                            .http
                            .post(self.url("cgi-bin/media/upload", &token, &[("type", "image")])?)
                            .multipart(reqwest::multipart::Form::new().part("media", part))
                            .timeout(Duration::from_secs(30)),
                    )
                    .await
                }
            })
            .await?;
        v["media_id"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| WechatError::Transport("upload answer without media_id".into()))
    }

    /// `GET /cgi-bin/media/get`: the bytes and content type of a temporary media.
    pub async fn get_media(&self, media_id: &str) -> Result<(Vec<u8>, String), WechatError> {
        let answer = self.get_media_now(media_id).await;
        crate::observe::observed("cgi-bin/media/get", answer)
    }

    async fn get_media_now(&self, media_id: &str) -> Result<(Vec<u8>, String), WechatError> {
        self.with_token(|token| async move {
            let resp = self
                .tokens
                .http
                .get(self.url("cgi-bin/media/get", &token, &[("media_id", media_id)])?)
                .timeout(Duration::from_secs(30))
                .send()
                .await
                .map_err(WechatError::transport)?;
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("application/octet-stream")
                .to_string();
            let bytes = resp.bytes().await.map_err(WechatError::transport)?.to_vec();
            // Errors come back as JSON instead of the file.
            if ct.starts_with("application/json") || ct.starts_with("text/plain") {
                let v: Value = serde_json::from_slice(&bytes)
                    .map_err(|e| WechatError::Transport(e.to_string()))?;
                check(&v)?;
            }
            Ok((bytes, ct))
        })
        .await
    }

    /// `GET /wxaapi/wxamptrade/get_penalty_list`: `currentScore`, `totalNum`, `appealList[]`.
    pub async fn penalty_list(&self, offset: u32, limit: u32) -> Result<Value, WechatError> {
        let (o, l) = (offset.to_string(), limit.min(100).to_string());
        self.call(
            reqwest::Method::GET,
            "wxaapi/wxamptrade/get_penalty_list",
            &[("offset", &o), ("limit", &l)],
            None,
        )
        .await
    }

    /// `POST /wxa/getillegalrecords` between two unix times: `records[]`.
    pub async fn illegal_records(&self, start: i64, end: i64) -> Result<Value, WechatError> {
        self.call(
            reqwest::Method::POST,
            "wxa/getillegalrecords",
            &[],
            Some(&json!({"start_time": start, "end_time": end})),
        )
        .await
    }

    /// `POST /wxa/getappealrecords`: the appeals of one violation record.
    pub async fn appeal_records(&self, illegal_record_id: &str) -> Result<Value, WechatError> {
        self.call(
            reqwest::Method::POST,
            "wxa/getappealrecords",
            &[],
            Some(&json!({"illegal_record_id": illegal_record_id})),
        )
        .await
    }
}

/// Is `v` a mini-program complaint order id (`complaintOrderId`: digits only)?
pub fn is_complaint_order_id(v: &str) -> bool {
    (1..=20).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}
