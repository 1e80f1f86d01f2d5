//! The pushes of mini programs: the URL check and pushes of one onboarded by hand
//! (`/callbacks/wxmini/{appid}`), and pushes of one authorised to our third-party platform
//! (`/callbacks/wxopen/{component_appid}/messages/{appid}`).

use super::replay;
use super::shared::{answer, component_crypto, enqueue, query, refused, unavailable};
use crate::callback::{CallbackContext, CallbackHandler, CallbackRequest, CallbackResponse};
use async_trait::async_trait;
use domain::account::{Account, AccountSettings, Credentials, WxminiMode};
use domain::job::wxmini;
use serde_json::{Value, json};
use std::sync::Arc;
use wechat::crypt::{Crypto, Opened, Plaintext, PushQuery};
use wechat::xml;

/// What a manual mini program accepts besides encrypted pushes.
fn plaintext_rule(state: CallbackContext<'_>, account: &Account, now: i64) -> Plaintext {
    match &account.settings {
        AccountSettings::WxminiApp(s) if s.allow_plaintext && s.mode == WxminiMode::Manual => {
            Plaintext::Allowed {
                now,
                window_secs: state.settings.plaintext_push_window_secs,
            }
        }
        _ => Plaintext::Refused,
    }
}

/// A plaintext push's (timestamp, nonce, signature) must not have carried another body before.
async fn not_replayed(
    state: CallbackContext<'_>,
    appid: &str,
    q: &PushQuery,
    req: &CallbackRequest,
) -> Result<(), CallbackResponse> {
    let triple = (
        q.timestamp.as_str(),
        q.nonce.as_str(),
        q.signature.as_deref().unwrap_or_default(),
    );
    match replay::check(
        &*state.ports.records,
        appid,
        triple,
        &req.body,
        req.received_at.timestamp(),
        state.settings.plaintext_push_window_secs,
    )
    .await
    {
        Ok(replay::Replay::Fresh) => Ok(()),
        Ok(replay::Replay::Forged) => {
            tracing::warn!("plaintext push replays a signed query with another body; refused");
            Err(answer(401, "fail"))
        }
        Err(e) => Err(unavailable(&e)),
    }
}

/// A manual mini program's push crypto.
async fn manual(
    state: CallbackContext<'_>,
    appid: &str,
) -> Result<(Arc<Account>, Crypto), CallbackResponse> {
    let account = match state
        .accounts
        .find(&*state.ports.records, "wxmini", appid)
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!("push for an unknown mini program");
            return Err(answer(404, "fail"));
        }
        Err(e) => return Err(unavailable(&e)),
    };
    if matches!(&account.settings, AccountSettings::WxminiApp(s) if s.mode != WxminiMode::Manual) {
        tracing::warn!("push on the manual path for an authorised mini program");
        return Err(answer(404, "fail"));
    }
    let bundle = state
        .accounts
        .credentials(&*state.ports.secrets, &account)
        .await;
    let creds = match bundle.as_ref().map(|b| b.as_deref()) {
        Ok(Some(Credentials::WechatApp(c))) => c,
        Ok(_) => {
            tracing::error!(account_id = %account.id, "cannot verify: the mini program's Token is not set");
            return Err(answer(503, "fail"));
        }
        Err(e) => {
            tracing::error!(error = ?e, "secrets unavailable");
            return Err(answer(503, "fail"));
        }
    };
    let Some(token) = creds.token.as_ref() else {
        tracing::error!(account_id = %account.id, "cannot verify: the mini program's Token is not set");
        return Err(answer(503, "fail"));
    };
    let key = creds
        .encoding_aes_key
        .as_ref()
        .map(|k| k.expose().to_string());
    match Crypto::new(token.expose(), key.as_deref(), appid) {
        Ok(c) => Ok((account, c)),
        Err(e) => {
            tracing::error!(account_id = %account.id, reason = %e, "the EncodingAESKey is unusable");
            Err(answer(503, "fail"))
        }
    }
}

pub(super) struct UrlCheck;

#[async_trait]
impl CallbackHandler for UrlCheck {
    #[tracing::instrument(skip_all, fields(platform = "wxmini", appid = %req.param("appid")))]
    async fn handle(&self, state: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        let (_, crypto) = match manual(state, req.param("appid")).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        match crypto.verify_url(&query(&req)) {
            Ok(echo) => {
                tracing::info!("URL check passed");
                CallbackResponse::text(200, echo)
            }
            Err(e) => refused(&e),
        }
    }
}

pub(super) struct Receive;

#[async_trait]
impl CallbackHandler for Receive {
    #[tracing::instrument(skip_all, fields(platform = "wxmini", appid = %req.param("appid"), complaint_order_id))]
    async fn handle(&self, state: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        let appid = req.param("appid");
        let (account, crypto) = match manual(state, appid).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let q = query(&req);
        let rule = plaintext_rule(state, &account, req.received_at.timestamp());
        match crypto.open(&q, &req.body, rule) {
            Ok(Opened { message, plaintext }) => {
                if plaintext && let Err(r) = not_replayed(state, appid, &q, &req).await {
                    return r;
                }
                accept_message(state, &account, appid, message, &req).await
            }
            Err(e) => refused(&e),
        }
    }
}

pub(super) struct ReceiveAuthorised;

#[async_trait]
impl CallbackHandler for ReceiveAuthorised {
    #[tracing::instrument(skip_all, fields(platform = "wxmini", component_appid = %req.param("component_appid"), appid = %req.param("appid"), complaint_order_id))]
    async fn handle(&self, state: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        let appid = req.param("appid");
        let (component, crypto) = match component_crypto(state, req.param("component_appid")).await
        {
            Ok(v) => v,
            Err(r) => return r,
        };
        let account = match state
            .accounts
            .find(&*state.ports.records, "wxmini", appid)
            .await
        {
            Ok(Some(a))
                if matches!(&a.settings, AccountSettings::WxminiApp(s)
                    if s.mode == WxminiMode::Authorised
                        && s.component_account_id.as_deref() == Some(component.account.id.as_str())) =>
            {
                a
            }
            Ok(_) => {
                tracing::warn!("push for a mini program not authorised to this platform");
                return answer(404, "fail");
            }
            Err(e) => return unavailable(&e),
        };
        match crypto.open(&query(&req), &req.body, Plaintext::Refused) {
            Ok(opened) => accept_message(state, &account, appid, opened.message, &req).await,
            Err(e) => refused(&e),
        }
    }
}

async fn accept_message(
    state: CallbackContext<'_>,
    account: &Account,
    appid: &str,
    msg: Value,
    req: &CallbackRequest,
) -> CallbackResponse {
    let event = msg["Event"].as_str().unwrap_or_default();
    if msg["MsgType"] != "event" || event != "complaint_callback" {
        tracing::info!(msg_type = %msg["MsgType"], event, "message not handled; acknowledged");
        return answer(200, "success");
    }
    let info = &msg["BussiCallBackInfo"];
    let Some(id) = xml::text(&info["complaint_order_id"]).filter(|s| !s.is_empty()) else {
        tracing::warn!("complaint_callback without complaint_order_id");
        return answer(400, "fail");
    };
    tracing::Span::current().record("complaint_order_id", id.as_str());
    if xml::text(&info["appid"]).is_some_and(|a| !a.is_empty() && a != appid) {
        tracing::warn!("complaint_callback names another mini program");
        return answer(400, "fail");
    }
    let status = xml::text(&info["status"]).unwrap_or_default();
    let create_time = xml::text(&msg["CreateTime"]).unwrap_or_default();
    let now = req.received_at;
    let push = wxmini::ComplaintPush {
        appid: appid.to_string(),
        complaint_order_id: id.clone(),
        status: status.clone(),
        create_time: create_time.clone(),
        info: info.clone(),
    };
    let Ok(job) = wxmini::COMPLAINT.envelope(&push, now) else {
        return answer(500, "fail");
    };
    let job = job.for_account(&account.id, None);
    let record = json!({"event": event, "received_at": now, "account_id": account.id});
    enqueue(
        state,
        &format!("wxmini:{appid}:{id}:{status}:{create_time}"),
        job,
        record,
        account.enabled,
    )
    .await
}
