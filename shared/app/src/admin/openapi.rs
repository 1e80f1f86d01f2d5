//! The OpenAPI document, generated from the handlers' annotations and the types.

use super::{
    accounts, complaints, dead_letters, notifications, registration, sub_merchants, tokens,
    wxmini_actions,
};
use crate::credentials;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "complaint desk admin API",
        description = "Accounts, credentials, sub-merchants, staff notifications, tokens and operations. Errors: {\"error\":{\"code\",\"message\",\"field\"}}. A scoped token sees only its scope; anything else answers 404."
    ),
    modifiers(&Bearer),
    paths(
        accounts::create_account, accounts::list_accounts, accounts::get_account,
        accounts::patch_account, accounts::delete_account, accounts::put_credentials,
        registration::register, registration::get_registration, registration::unregister,
        sub_merchants::list_sub_merchants, sub_merchants::create_sub_merchant,
        sub_merchants::get_sub_merchant, sub_merchants::patch_sub_merchant,
        sub_merchants::delete_sub_merchant,
        notifications::get_account_notifications, notifications::put_account_notifications,
        notifications::get_sub_merchant_notifications, notifications::put_sub_merchant_notifications,
        tokens::create_token, tokens::list_tokens, tokens::delete_token,
        dead_letters::list_dead_letters, dead_letters::replay_dead_letter,
        complaints::list_complaints, complaints::get_complaint, complaints::reply,
        complaints::complete, complaints::refund, complaints::refund_progress,
        complaints::other_action, complaints::upload_media, complaints::download_media,
        complaints::list_violations, complaints::list_deliveries,
        crate::wxopen::authorization_link, wxmini_actions::trade_score,
    ),
    components(schemas(
        domain::account::AlipayAppSettings, domain::account::WechatpayMerchantSettings,
        domain::account::WechatpayProviderSettings, domain::account::WxminiAppSettings,
        domain::account::WxopenComponentSettings,
        credentials::AlipayCredentialsInput, credentials::WechatpayCredentialsInput,
        credentials::WechatAppCredentialsInput,
    ))
)]
pub struct ApiDoc;

/// `GET /admin/v1/openapi.json` (no token needed).
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
