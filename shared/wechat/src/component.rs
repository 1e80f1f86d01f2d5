//! Third-party platform (第三方平台) calls for one-click authorisation of mini programs.

use crate::error::WechatError;
use crate::token::{Component, Tokens};
use serde_json::{Value, json};

/// `https://mp.weixin.qq.com/` (the PC authorisation page's host).
pub const AUTH_PAGE: &str = "https://mp.weixin.qq.com/";

/// What `api_query_auth` granted.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub authorizer_appid: String,
    /// Permission set ids (`func_info[].funcscope_category.id`).
    pub permission_sets: Vec<u32>,
}

/// `POST /cgi-bin/component/api_create_preauthcode`: a pre-auth code, passed on verbatim.
pub async fn pre_auth_code(tokens: &Tokens, c: &Component) -> Result<String, WechatError> {
    let v = tokens
        .component_post(
            c,
            "cgi-bin/component/api_create_preauthcode",
            &json!({"component_appid": c.appid}),
        )
        .await?;
    v["pre_auth_code"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| WechatError::Transport("answer without pre_auth_code".into()))
}

/// The PC authorisation page (`componentloginpage`), mini programs only (`auth_type=2`).
pub fn authorization_url(
    page_base: &url::Url,
    component_appid: &str,
    pre_auth_code: &str,
    redirect_uri: &str,
) -> Result<url::Url, WechatError> {
    let mut u = page_base
        .join("cgi-bin/componentloginpage")
        .map_err(|e| WechatError::Invalid(e.to_string()))?;
    u.query_pairs_mut()
        .append_pair("component_appid", component_appid)
        .append_pair("pre_auth_code", pre_auth_code)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("auth_type", "2");
    Ok(u)
}

/// `POST /cgi-bin/component/api_query_auth`: exchange the auth code; the authorizer's tokens
/// are stored in the token cache.
pub async fn query_auth(
    tokens: &Tokens,
    c: &Component,
    auth_code: &str,
) -> Result<Authorization, WechatError> {
    let v = tokens
        .component_post(
            c,
            "cgi-bin/component/api_query_auth",
            &json!({"component_appid": c.appid, "authorization_code": auth_code}),
        )
        .await?;
    let info = &v["authorization_info"];
    let appid = info["authorizer_appid"]
        .as_str()
        .ok_or_else(|| WechatError::Transport("answer without authorizer_appid".into()))?;
    let (Some(access), Some(refresh)) = (
        info["authorizer_access_token"].as_str(),
        info["authorizer_refresh_token"].as_str(),
    ) else {
        return Err(WechatError::Transport(
            "answer without the authorizer's tokens".into(),
        ));
    };
    tokens
        .put_authorizer(
            c,
            appid,
            access,
            refresh,
            info["expires_in"].as_i64().unwrap_or(7200),
        )
        .await?;
    Ok(Authorization {
        authorizer_appid: appid.to_string(),
        permission_sets: permission_sets(&info["func_info"]),
    })
}

/// `func_info[].funcscope_category.id`.
pub fn permission_sets(func_info: &Value) -> Vec<u32> {
    let mut ids: Vec<u32> = func_info
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["funcscope_category"]["id"].as_u64())
        .map(|i| i as u32)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// `POST /cgi-bin/component/api_get_authorizer_info`: `authorizer_info` (nick_name, ...) and
/// `authorization_info` (func_info).
pub async fn authorizer_info(
    tokens: &Tokens,
    c: &Component,
    authorizer_appid: &str,
) -> Result<Value, WechatError> {
    tokens
        .component_post(
            c,
            "cgi-bin/component/api_get_authorizer_info",
            &json!({"component_appid": c.appid, "authorizer_appid": authorizer_appid}),
        )
        .await
}
