//! `POST /callbacks/wxopen/{component_appid}/events`: the third-party platform's events.
//! `component_verify_ticket` is kept in the token cache; authorized / updateauthorized /
//! unauthorized are queued for the worker; others are acknowledged. Encrypted only.

use super::shared::{answer, component_crypto, enqueue, query, refused};
use crate::callback::{CallbackContext, CallbackHandler, CallbackRequest, CallbackResponse};
use crate::platforms::wechat::tokens;
use async_trait::async_trait;
use domain::job::wxopen;
use serde_json::json;
use wechat::crypt::Plaintext;
use wechat::xml;

pub(super) struct Events;

#[async_trait]
impl CallbackHandler for Events {
    #[tracing::instrument(skip_all, fields(platform = "wxopen", component_appid = %req.param("component_appid"), info_type))]
    async fn handle(&self, state: CallbackContext<'_>, req: CallbackRequest) -> CallbackResponse {
        let component_appid = req.param("component_appid");
        let (component, crypto) = match component_crypto(state, component_appid).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let msg = match crypto.open(&query(&req), &req.body, Plaintext::Refused) {
            Ok(opened) => opened.message,
            Err(e) => return refused(&e),
        };
        let info_type = msg["InfoType"].as_str().unwrap_or_default().to_string();
        tracing::Span::current().record("info_type", info_type.as_str());
        if xml::text(&msg["AppId"]).is_some_and(|a| a != component_appid) {
            tracing::warn!("event names another third-party platform");
            return answer(400, "fail");
        }
        match info_type.as_str() {
            "component_verify_ticket" => {
                let Some(ticket) = msg["ComponentVerifyTicket"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                else {
                    return answer(400, "fail");
                };
                let t = match tokens(state.services, component.api_base_url.as_deref()) {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::error!(reason = %e, "third-party platform not usable");
                        return answer(503, "fail");
                    }
                };
                match t.put_ticket(component_appid, ticket).await {
                    Ok(()) => {
                        tracing::debug!("component_verify_ticket kept");
                        answer(200, "success")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "could not keep the ticket");
                        answer(503, "fail")
                    }
                }
            }
            "authorized" | "updateauthorized" | "unauthorized" => {
                let Some(appid) = xml::text(&msg["AuthorizerAppid"]).filter(|a| !a.is_empty())
                else {
                    return answer(400, "fail");
                };
                let create_time = xml::text(&msg["CreateTime"]).unwrap_or_default();
                let now = req.received_at;
                let event = wxopen::Authorization {
                    component_appid: component_appid.to_string(),
                    info_type: info_type.clone(),
                    authorizer_appid: appid.clone(),
                    authorization_code: msg["AuthorizationCode"].as_str().map(String::from),
                };
                let Ok(job) = wxopen::AUTHORIZATION.envelope(&event, now) else {
                    return answer(500, "fail");
                };
                let job = job.for_account(&component.account.id, None);
                let record =
                    json!({"info_type": info_type, "authorizer_appid": appid, "received_at": now});
                enqueue(
                    state,
                    &format!("wxopen:{component_appid}:{info_type}:{appid}:{create_time}"),
                    job,
                    record,
                    component.account.enabled,
                )
                .await
            }
            other => {
                tracing::info!(info_type = other, "event not handled; acknowledged");
                answer(200, "success")
            }
        }
    }
}
