//! Each delivery's channel, built from its audience's current settings and secrets: the one
//! place that knows how an account's notification settings map onto `notify`'s channels.

use crate::console_links::{self, InboxFilter};
use crate::state::Services;
use async_trait::async_trait;
use domain::account::{BotKind, NotificationSecrets, NotificationSettings, SmtpTls};
use domain::notification::{Channel as ChannelKind, Delivery};
use notify::{Channel, SendError};

/// The channel of a delivery, built from the audience's current settings and secrets.
pub(crate) fn build<'a>(
    n: Tools<'a>,
    d: &Delivery,
    settings: NotificationSettings,
    secrets: &NotificationSecrets,
) -> Built<'a> {
    let key = match d.channel {
        ChannelKind::Email => "email",
        ChannelKind::OaTemplate => "oa_template",
        ChannelKind::Sms => "sms",
        ChannelKind::Bot => "bot",
    };
    if !secrets.fits(key, &settings) {
        // The settings name another server than the one the secret was saved for (changed
        // without the secret, or a write half done): the secret is not sent there.
        return Err(SendError::Unbound);
    }
    match d.channel {
        ChannelKind::Email => email(n, settings, secrets),
        ChannelKind::OaTemplate => template(n, settings, secrets),
        ChannelKind::Sms => sms(n, d, settings, secrets),
        ChannelKind::Bot => bot(n, d, settings, secrets),
    }
}

/// What building a channel needs from the notifier: the services (the token cache), the one
/// HTTP client of every HTTP channel, the SMTP connection pool.
#[derive(Clone, Copy)]
pub struct Tools<'a> {
    pub state: &'a Services,
    pub http: &'a reqwest::Client,
    pub mailer: &'a notify::email::Mailer,
}

type Built<'a> = Result<Box<dyn Channel + 'a>, SendError>;

fn email<'a>(
    n: Tools<'a>,
    settings: NotificationSettings,
    secrets: &NotificationSecrets,
) -> Built<'a> {
    let e = settings
        .email
        .ok_or_else(|| SendError::Invalid("e-mail is no longer configured".into()))?;
    Ok(Box::new(notify::email::EmailChannel {
        mailer: n.mailer,
        config: notify::email::SmtpConfig {
            host: e.host.clone(),
            port: e.port,
            security: match e.tls {
                SmtpTls::Implicit => notify::email::Security::Implicit,
                SmtpTls::Starttls => notify::email::Security::Starttls,
                SmtpTls::None => notify::email::Security::None,
            },
            username: e.username.clone().unwrap_or_else(|| e.sender.clone()),
            // No authorisation code: no AUTH (a relay that needs no login).
            password: secrets
                .email_auth_code
                .as_ref()
                .map(|c| c.expose().to_string()),
            sender: e.sender.clone(),
            extra_roots_pem: e.tls_root_pem.clone(),
        },
    }))
}

fn template<'a>(
    n: Tools<'a>,
    settings: NotificationSettings,
    secrets: &NotificationSecrets,
) -> Built<'a> {
    let o = settings
        .oa_template
        .ok_or_else(|| SendError::Invalid("template messages are no longer configured".into()))?;
    let secret = secrets
        .oa_secret
        .as_ref()
        .map(|c| c.expose().to_string())
        .ok_or_else(|| SendError::Invalid("the official account's secret is not set".into()))?;
    let base: url::Url = o
        .api_base_url
        .as_deref()
        .unwrap_or(notify::oa::PRODUCTION)
        .parse()
        .map_err(|_| SendError::Invalid("api_base_url".into()))?;
    Ok(Box::new(notify::oa::TemplateChannel {
        http: n.http,
        base: base.clone(),
        template_id: o.template_id,
        field_mapping: o.field_mapping,
        tokens: Box::new(OaTokens {
            state: n.state,
            base,
            appid: o.appid,
            secret: wechat::token::Secret::new(secret),
        }),
    }))
}

/// The SMS template's link variable: what follows the console's base URL in the notice's link;
/// when that cannot be sent, the audience's inbox, then the whole inbox. With console links
/// off (`CONSOLE_BASE_URL=off`) it is `-`: the template's fixed `https://your-host/` is not
/// where the console is.
fn sms_link(state: &Services, d: &Delivery, position: Option<u8>) -> Option<notify::sms::SmsLink> {
    let position = usize::from(position?);
    let mut fallbacks = Vec::new();
    if state.console_base == crate::state::ConsoleBase::Off {
        return Some(notify::sms::SmsLink {
            position,
            base: None,
            fallbacks,
        });
    }
    if let Some(a) = &d.audience {
        fallbacks.push(console_links::inbox_path(&InboxFilter::account(
            &a.account_id,
            a.sub_mchid.as_deref(),
        )));
    }
    fallbacks.push(console_links::INBOX.to_string());
    Some(notify::sms::SmsLink {
        position,
        base: state.console_url(""),
        fallbacks,
    })
}

fn sms<'a>(
    n: Tools<'a>,
    d: &Delivery,
    settings: NotificationSettings,
    secrets: &NotificationSecrets,
) -> Built<'a> {
    let s = settings
        .sms
        .ok_or_else(|| SendError::Invalid("SMS is no longer configured".into()))?;
    Ok(Box::new(notify::sms::SmsChannel {
        http: n.http,
        config: notify::sms::SmsConfig {
            base_url: s
                .api_base_url
                .as_deref()
                .unwrap_or(notify::sms::PRODUCTION)
                .parse()
                .map_err(|_| SendError::Invalid("api_base_url".into()))?,
            region: s.region.clone().unwrap_or_else(|| "ap-guangzhou".into()),
            secret_id: s.secret_id.clone(),
            secret_key: secrets
                .sms_secret_key
                .as_ref()
                .map(|c| c.expose().to_string())
                .unwrap_or_default(),
            sdk_app_id: s.sdk_app_id.clone(),
            sign_name: s.sign_name.clone(),
            template_id: s.template_id.clone(),
            link: sms_link(n.state, d, s.link_param),
        },
    }))
}

/// A bot delivery's one recipient is the bot's id.
fn bot<'a>(
    n: Tools<'a>,
    d: &Delivery,
    settings: NotificationSettings,
    secrets: &NotificationSecrets,
) -> Built<'a> {
    let bot_id = d.recipients.first().cloned().unwrap_or_default();
    let bot = settings
        .bots
        .iter()
        .find(|b| b.id == bot_id)
        .ok_or_else(|| SendError::Invalid(format!("bot {bot_id} is no longer configured")))?;
    let s = secrets.bots.get(&bot_id);
    let webhook_url = s
        .and_then(|s| s.webhook_url.as_ref())
        .map(|u| u.expose().to_string())
        .ok_or_else(|| SendError::Invalid(format!("bot {bot_id} has no webhook URL")))?;
    let signing_secret = s
        .and_then(|s| s.signing_secret.as_ref())
        .map(|u| u.expose().to_string());
    Ok(Box::new(notify::bots::BotChannel {
        http: n.http,
        kind: match bot.kind {
            BotKind::Wecom => notify::bots::Kind::Wecom,
            BotKind::Dingtalk => notify::bots::Kind::Dingtalk,
            BotKind::Feishu => notify::bots::Kind::Feishu,
        },
        webhook_url,
        signing_secret,
    }))
}

/// An official account's access tokens for the template channel: the one token cache
/// ([`wechat::token`]), fetched when missing or about to expire.
struct OaTokens<'a> {
    state: &'a Services,
    base: url::Url,
    appid: String,
    secret: wechat::token::Secret,
}

#[async_trait]
impl notify::oa::AccessTokens for OaTokens<'_> {
    async fn access_token(&self, rejected: Option<&str>) -> Result<String, SendError> {
        let tokens = crate::platforms::wechat::tokens(self.state, Some(self.base.as_str()))
            .map_err(SendError::Invalid)?;
        tokens
            .stable_token(&self.appid, &self.secret, rejected)
            .await
            .map_err(|e| match e {
                wechat::WechatError::Api { code, message } => SendError::Refused {
                    service: "WeChat",
                    code: code.to_string(),
                    message,
                    retryable: code == -1 || code == 45009,
                },
                wechat::WechatError::Invalid(m) => SendError::Invalid(m),
                other => SendError::Transport {
                    service: "WeChat",
                    detail: other.to_string(),
                },
            })
    }
}
