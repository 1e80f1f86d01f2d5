//! Mini-program message push and third-party platform events.
//!
//! - `GET /callbacks/wxmini/{appid}`: the URL check (echo `echostr` when the signature holds).
//! - `POST /callbacks/wxmini/{appid}`: pushes of a mini program onboarded by hand (its own Token
//!   and EncodingAESKey).
//! - `POST /callbacks/wxopen/{component_appid}/messages/{appid}`: pushes of an authorised mini
//!   program (the third-party platform's Token and key; the ciphertext names the component).
//! - `POST /callbacks/wxopen/{component_appid}/events`: `component_verify_ticket` (kept in the
//!   token cache) and authorized / updateauthorized / unauthorized (queued for the worker).
//!
//! Safe and compatible modes (only the decrypted copy is read), XML or JSON. The third-party
//! platform's endpoints accept nothing else. A manual mini program accepts plaintext only when
//! its settings say `allow_plaintext` (unsafe: the signature covers no body): then the
//! timestamp must be within the window (`PLAINTEXT_PUSH_WINDOW_SECS`, default 15 minutes) and a
//! (timestamp, nonce, signature) seen before must carry the same body (see [`super::replay`]).
//! Encrypted pushes have no window (WeChat retries later). A `complaint_callback` is deduped on
//! complaint id + status + `CreateTime` and durably queued before `success`. Answers:
//! `success`; 401 bad signature, another app's ciphertext, plaintext where
//! encryption is required, a stale plaintext push, or a replayed one with another body; 400
//! malformed (or over the size, depth and element limits) or undecryptable; 404 unknown app;
//! 503 store or queue unavailable.

use crate::state::CallbackState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use desk_core::platforms::wechat::{component_by_appid, tokens};
use domain::account::{Account, AccountSettings, Credentials, WxminiMode};
use domain::job::{JobEnvelope, queues, wxmini, wxopen};
use domain::ports::{Accepted, InboxError};
use serde_json::{Value, json};
use std::sync::Arc;
use wechat::crypt::{Crypto, Opened, Plaintext, PushError, PushQuery};
use wechat::xml;

fn answer(status: StatusCode, body: &'static str) -> Response {
    (status, [("content-type", "text/plain;charset=utf-8")], body).into_response()
}

fn query(raw: &Option<String>) -> PushQuery {
    PushQuery::from_query(raw.as_deref())
}

fn refused(e: &PushError) -> Response {
    match e {
        PushError::BadSignature => {
            tracing::warn!("push signature does not verify");
            answer(StatusCode::UNAUTHORIZED, "fail")
        }
        PushError::WrongAppid(other) => {
            tracing::warn!(cipher_appid = %other, "push encrypted for another app");
            answer(StatusCode::UNAUTHORIZED, "fail")
        }
        PushError::Malformed(m) => {
            tracing::warn!(reason = %m, "malformed push");
            answer(StatusCode::BAD_REQUEST, "fail")
        }
        PushError::PlaintextRefused => {
            tracing::warn!("plaintext push where encryption is required; refused");
            answer(StatusCode::UNAUTHORIZED, "fail")
        }
        PushError::Stale => {
            tracing::warn!("plaintext push outside the timestamp window; refused");
            answer(StatusCode::UNAUTHORIZED, "fail")
        }
    }
}

/// What a manual mini program accepts besides encrypted pushes.
fn plaintext_rule(state: &CallbackState, account: &Account) -> Plaintext {
    match &account.settings {
        AccountSettings::WxminiApp(s) if s.allow_plaintext && s.mode == WxminiMode::Manual => {
            Plaintext::Allowed {
                now: state.ports.clock.now().timestamp(),
                window_secs: state.plaintext_push_window_secs,
            }
        }
        _ => Plaintext::Refused,
    }
}

/// A plaintext push's (timestamp, nonce, signature) must not have carried another body before.
async fn not_replayed(
    state: &CallbackState,
    appid: &str,
    q: &PushQuery,
    body: &[u8],
) -> Result<(), Response> {
    let triple = (
        q.timestamp.as_str(),
        q.nonce.as_str(),
        q.signature.as_deref().unwrap_or_default(),
    );
    match super::replay::check(
        &*state.ports.records,
        appid,
        triple,
        body,
        state.ports.clock.now().timestamp(),
        state.plaintext_push_window_secs,
    )
    .await
    {
        Ok(super::replay::Replay::Fresh) => Ok(()),
        Ok(super::replay::Replay::Forged) => {
            tracing::warn!("plaintext push replays a signed query with another body; refused");
            Err(answer(StatusCode::UNAUTHORIZED, "fail"))
        }
        Err(e) => Err(unavailable(&e)),
    }
}

fn unavailable(e: &(dyn std::error::Error + 'static)) -> Response {
    tracing::error!(error = %desk_core::error::chain(e), "records unavailable");
    answer(StatusCode::SERVICE_UNAVAILABLE, "fail")
}

/// A manual mini program's push crypto.
async fn manual(state: &CallbackState, appid: &str) -> Result<(Arc<Account>, Crypto), Response> {
    let account = match state
        .accounts
        .find(&*state.ports.records, "wxmini", appid)
        .await
    {
        Ok(Some(a)) => a,
        Ok(None) => {
            tracing::warn!("push for an unknown mini program");
            return Err(answer(StatusCode::NOT_FOUND, "fail"));
        }
        Err(e) => return Err(unavailable(&e)),
    };
    if matches!(&account.settings, AccountSettings::WxminiApp(s) if s.mode != WxminiMode::Manual) {
        tracing::warn!("push on the manual path for an authorised mini program");
        return Err(answer(StatusCode::NOT_FOUND, "fail"));
    }
    let bundle = state
        .accounts
        .credentials(&*state.ports.secrets, &account)
        .await;
    let creds = match bundle.as_ref().map(|b| b.as_deref()) {
        Ok(Some(Credentials::WechatApp(c))) => c,
        Ok(_) => {
            tracing::error!(account_id = %account.id, "cannot verify: the mini program's Token is not set");
            return Err(answer(StatusCode::SERVICE_UNAVAILABLE, "fail"));
        }
        Err(e) => {
            tracing::error!(error = ?e, "secrets unavailable");
            return Err(answer(StatusCode::SERVICE_UNAVAILABLE, "fail"));
        }
    };
    let Some(token) = creds.token.as_ref() else {
        tracing::error!(account_id = %account.id, "cannot verify: the mini program's Token is not set");
        return Err(answer(StatusCode::SERVICE_UNAVAILABLE, "fail"));
    };
    let key = creds
        .encoding_aes_key
        .as_ref()
        .map(|k| k.expose().to_string());
    match Crypto::new(token.expose(), key.as_deref(), appid) {
        Ok(c) => Ok((account, c)),
        Err(e) => {
            tracing::error!(account_id = %account.id, reason = %e, "the EncodingAESKey is unusable");
            Err(answer(StatusCode::SERVICE_UNAVAILABLE, "fail"))
        }
    }
}

/// A third-party platform's push crypto (its ciphertexts name the component appid).
async fn component_crypto(
    state: &CallbackState,
    component_appid: &str,
) -> Result<(desk_core::platforms::wechat::ComponentAccount, Crypto), Response> {
    let c = match component_by_appid(state, component_appid).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            tracing::warn!("push for an unknown third-party platform");
            return Err(answer(StatusCode::NOT_FOUND, "fail"));
        }
        Err(e) => {
            tracing::error!(reason = %e, "third-party platform not usable");
            return Err(answer(StatusCode::SERVICE_UNAVAILABLE, "fail"));
        }
    };
    match Crypto::new(&c.token, c.encoding_aes_key.as_deref(), component_appid) {
        Ok(crypto) => Ok((c, crypto)),
        Err(e) => {
            tracing::error!(reason = %e, "the third-party platform's EncodingAESKey is unusable");
            Err(answer(StatusCode::SERVICE_UNAVAILABLE, "fail"))
        }
    }
}

#[tracing::instrument(skip_all, fields(platform = "wxmini", appid = %appid))]
pub async fn url_check(
    State(state): State<CallbackState>,
    Path(appid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let (_, crypto) = match manual(&state, &appid).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match crypto.verify_url(&query(&raw)) {
        Ok(echo) => {
            tracing::info!("URL check passed");
            (
                StatusCode::OK,
                [("content-type", "text/plain;charset=utf-8")],
                echo,
            )
                .into_response()
        }
        Err(e) => refused(&e),
    }
}

#[tracing::instrument(skip_all, fields(platform = "wxmini", appid = %appid, complaint_order_id))]
pub async fn receive(
    State(state): State<CallbackState>,
    Path(appid): Path<String>,
    RawQuery(raw): RawQuery,
    body: crate::http::CallbackBody,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(reason = %e, "push body refused");
            return answer(StatusCode::BAD_REQUEST, "fail");
        }
    };
    let (account, crypto) = match manual(&state, &appid).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let q = query(&raw);
    match crypto.open(&q, &body, plaintext_rule(&state, &account)) {
        Ok(Opened { message, plaintext }) => {
            if plaintext && let Err(r) = not_replayed(&state, &appid, &q, &body).await {
                return r;
            }
            accept_message(&state, &account, &appid, message).await
        }
        Err(e) => refused(&e),
    }
}

#[tracing::instrument(skip_all, fields(platform = "wxmini", component_appid = %component_appid, appid = %appid, complaint_order_id))]
pub async fn receive_authorised(
    State(state): State<CallbackState>,
    Path((component_appid, appid)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: crate::http::CallbackBody,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(reason = %e, "push body refused");
            return answer(StatusCode::BAD_REQUEST, "fail");
        }
    };
    let (component, crypto) = match component_crypto(&state, &component_appid).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let account = match state
        .accounts
        .find(&*state.ports.records, "wxmini", &appid)
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
            return answer(StatusCode::NOT_FOUND, "fail");
        }
        Err(e) => return unavailable(&e),
    };
    match crypto.open(&query(&raw), &body, Plaintext::Refused) {
        Ok(opened) => accept_message(&state, &account, &appid, opened.message).await,
        Err(e) => refused(&e),
    }
}

async fn enqueue(
    state: &CallbackState,
    dedupe_key: &str,
    job: JobEnvelope,
    record: Value,
) -> Response {
    let Ok(text) = serde_json::to_string(&job) else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, "fail");
    };
    match state
        .ports
        .inbox
        .accept(dedupe_key, record, queues::EVENTS, &text)
        .await
    {
        Ok(Accepted::Queued) => {
            tracing::info!(job_type = %job.job_type, "push accepted and queued");
            answer(StatusCode::OK, "success")
        }
        Ok(Accepted::Duplicate) => {
            tracing::info!("duplicate push; nothing more to do");
            answer(StatusCode::OK, "success")
        }
        Err(InboxError::Invalid(m)) => {
            tracing::error!(%m, "inbox refused the push");
            answer(StatusCode::INTERNAL_SERVER_ERROR, "fail")
        }
        Err(e) => {
            tracing::error!(error = %desk_core::error::chain(&e), "inbox unavailable");
            answer(StatusCode::SERVICE_UNAVAILABLE, "fail")
        }
    }
}

async fn accept_message(
    state: &CallbackState,
    account: &Account,
    appid: &str,
    msg: Value,
) -> Response {
    let event = msg["Event"].as_str().unwrap_or_default();
    if msg["MsgType"] != "event" || event != "complaint_callback" {
        tracing::info!(msg_type = %msg["MsgType"], event, "message not handled; acknowledged");
        return answer(StatusCode::OK, "success");
    }
    let info = &msg["BussiCallBackInfo"];
    let Some(id) = xml::text(&info["complaint_order_id"]).filter(|s| !s.is_empty()) else {
        tracing::warn!("complaint_callback without complaint_order_id");
        return answer(StatusCode::BAD_REQUEST, "fail");
    };
    tracing::Span::current().record("complaint_order_id", id.as_str());
    if xml::text(&info["appid"]).is_some_and(|a| !a.is_empty() && a != appid) {
        tracing::warn!("complaint_callback names another mini program");
        return answer(StatusCode::BAD_REQUEST, "fail");
    }
    let status = xml::text(&info["status"]).unwrap_or_default();
    let create_time = xml::text(&msg["CreateTime"]).unwrap_or_default();
    let now = state.ports.clock.now();
    let push = wxmini::ComplaintPush {
        appid: appid.to_string(),
        complaint_order_id: id.clone(),
        status: status.clone(),
        create_time: create_time.clone(),
        info: info.clone(),
    };
    let Ok(job) = wxmini::COMPLAINT.envelope(&push, now) else {
        return answer(StatusCode::INTERNAL_SERVER_ERROR, "fail");
    };
    let job = job.for_account(&account.id, None);
    let record = json!({"event": event, "received_at": now, "account_id": account.id});
    enqueue(
        state,
        &format!("wxmini:{appid}:{id}:{status}:{create_time}"),
        job,
        record,
    )
    .await
}

#[tracing::instrument(skip_all, fields(platform = "wxopen", component_appid = %component_appid, info_type))]
pub async fn events(
    State(state): State<CallbackState>,
    Path(component_appid): Path<String>,
    RawQuery(raw): RawQuery,
    body: crate::http::CallbackBody,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(reason = %e, "push body refused");
            return answer(StatusCode::BAD_REQUEST, "fail");
        }
    };
    let (component, crypto) = match component_crypto(&state, &component_appid).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let msg = match crypto.open(&query(&raw), &body, Plaintext::Refused) {
        Ok(opened) => opened.message,
        Err(e) => return refused(&e),
    };
    let info_type = msg["InfoType"].as_str().unwrap_or_default().to_string();
    tracing::Span::current().record("info_type", info_type.as_str());
    if xml::text(&msg["AppId"]).is_some_and(|a| a != component_appid) {
        tracing::warn!("event names another third-party platform");
        return answer(StatusCode::BAD_REQUEST, "fail");
    }
    match info_type.as_str() {
        "component_verify_ticket" => {
            let Some(ticket) = msg["ComponentVerifyTicket"]
                .as_str()
                .filter(|t| !t.is_empty())
            else {
                return answer(StatusCode::BAD_REQUEST, "fail");
            };
            let t = match tokens(&state, component.api_base_url.as_deref()) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(reason = %e, "third-party platform not usable");
                    return answer(StatusCode::SERVICE_UNAVAILABLE, "fail");
                }
            };
            match t.put_ticket(&component_appid, ticket).await {
                Ok(()) => {
                    tracing::debug!("component_verify_ticket kept");
                    answer(StatusCode::OK, "success")
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not keep the ticket");
                    answer(StatusCode::SERVICE_UNAVAILABLE, "fail")
                }
            }
        }
        "authorized" | "updateauthorized" | "unauthorized" => {
            let Some(appid) = xml::text(&msg["AuthorizerAppid"]).filter(|a| !a.is_empty()) else {
                return answer(StatusCode::BAD_REQUEST, "fail");
            };
            let create_time = xml::text(&msg["CreateTime"]).unwrap_or_default();
            let now = state.ports.clock.now();
            let event = wxopen::Authorization {
                component_appid: component_appid.clone(),
                info_type: info_type.clone(),
                authorizer_appid: appid.clone(),
                authorization_code: msg["AuthorizationCode"].as_str().map(String::from),
            };
            let Ok(job) = wxopen::AUTHORIZATION.envelope(&event, now) else {
                return answer(StatusCode::INTERNAL_SERVER_ERROR, "fail");
            };
            let job = job.for_account(&component.account.id, None);
            let record =
                json!({"info_type": info_type, "authorizer_appid": appid, "received_at": now});
            enqueue(
                &state,
                &format!("wxopen:{component_appid}:{info_type}:{appid}:{create_time}"),
                job,
                record,
            )
            .await
        }
        other => {
            tracing::info!(info_type = other, "event not handled; acknowledged");
            answer(StatusCode::OK, "success")
        }
    }
}
