//! Why a send failed, and whether trying again later can help.

/// A failed send. Messages carry the service's own code and message, never a secret or URL.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The service answered with an error.
    #[error("{service} refused: {code}: {message}")]
    Refused {
        service: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },
    /// The request did not complete (connect, timeout, TLS, 5xx without a body).
    #[error("cannot reach {service}: {detail}")]
    Transport {
        service: &'static str,
        detail: String,
    },
    /// Our input cannot be sent (bad address, missing setting).
    #[error("invalid: {0}")]
    Invalid(String),
    /// Every recipient was refused for good: each one's result (the service's code and
    /// message), so each can be explained on its own.
    #[error("{service} refused every recipient: {}", joined(results))]
    EveryRecipient {
        service: &'static str,
        results: std::collections::BTreeMap<String, String>,
    },
    /// The whole send took longer than the caller allows (seconds): no answer in time.
    #[error("no answer within {0} s")]
    Deadline(u64),
    /// The settings send this channel to another server than the one its stored secret was
    /// saved for (changed without the secret): the secret is not sent there.
    #[error("settings changed without their secret")]
    Unbound,
    /// The channel's settings do not work with this server (authentication refused, no
    /// authentication offered, certificate not trusted): trying again cannot help until
    /// someone changes them. `reason` names the cause and what to change.
    #[error("{reason}")]
    Misconfigured {
        reason: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl SendError {
    pub fn is_retryable(&self) -> bool {
        match self {
            SendError::Refused { retryable, .. } => *retryable,
            SendError::Transport { .. } | SendError::Deadline(_) => true,
            SendError::Invalid(_)
            | SendError::Unbound
            | SendError::EveryRecipient { .. }
            | SendError::Misconfigured { .. } => false,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            SendError::Refused { code, .. } => Some(code),
            SendError::EveryRecipient { .. } => Some("all"),
            _ => None,
        }
    }

    pub(crate) fn transport(service: &'static str, e: reqwest::Error) -> Self {
        // Without the URL: webhook URLs and WeChat URLs carry tokens.
        let e = e.without_url();
        SendError::Transport {
            service,
            detail: if e.is_timeout() {
                "timed out".into()
            } else if e.is_connect() {
                "connection failed".into()
            } else {
                e.to_string()
            },
        }
    }
}

/// Why a send failed, in words a merchant can act on: Chinese and English. Built from the
/// service's code (every code we know is in [`KNOWN_CODES`]) or the kind of failure; the
/// service's own code stays in the words so support can look it up. Never carries a secret:
/// [`SendError`]'s messages carry none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub zh: String,
    pub en: String,
}

impl Explanation {
    fn new(zh: impl Into<String>, en: impl Into<String>) -> Self {
        Explanation {
            zh: zh.into(),
            en: en.into(),
        }
    }
}

/// The services' names, as [`SendError`]s carry them: an error code means something only
/// together with the service that answered it.
pub mod services {
    pub const WECHAT: &str = "WeChat";
    pub const SMS: &str = "Tencent Cloud SMS";
    pub const SMTP: &str = "SMTP server";
    pub const WECOM_BOT: &str = "WeCom bot";
    pub const DINGTALK_BOT: &str = "DingTalk bot";
    pub const FEISHU_BOT: &str = "Feishu bot";
}
use services::*;

/// The services' error codes we can explain: (service, code, Chinese, English). Sources: WeChat
/// official-account template message and `stable_token` errors; Tencent Cloud SMS
/// `SendSms` error codes (API 2021-01-11); WeCom, DingTalk and Feishu custom-bot errors.
pub const KNOWN_CODES: &[(&str, &str, &str, &str)] = &[
    // WeChat official account.
    (
        WECHAT,
        "40001",
        "公众号 AppSecret 错误，或本服务器的 IP 不在公众号的 IP 白名单里",
        "the official account's AppSecret is wrong, or this server's IP is not on its IP whitelist",
    ),
    (
        WECHAT,
        "40125",
        "公众号 AppSecret 无效",
        "the official account's AppSecret is not valid",
    ),
    (
        WECHAT,
        "40164",
        "本服务器的 IP 不在公众号的 IP 白名单里（公众平台 → 设置与开发 → 基本配置）",
        "this server's IP is not on the official account's IP whitelist (Settings and development → Basic configuration)",
    ),
    (
        WECHAT,
        "40013",
        "公众号 AppID 无效",
        "the official account's AppID is not valid",
    ),
    (
        WECHAT,
        "40037",
        "模板被拒绝：模板 ID 不存在或不属于这个公众号",
        "template rejected: the template id is unknown or not this official account's",
    ),
    (
        WECHAT,
        "40003",
        "openid 无效：不是这个公众号的用户",
        "openid not valid: not a user of this official account",
    ),
    (
        WECHAT,
        "43004",
        "该用户没有关注公众号（关注后才能收到模板消息）",
        "this user does not follow the official account (only followers get template messages)",
    ),
    (
        WECHAT,
        "47003",
        "模板字段不符合要求（字段名或长度不对），请检查字段对应关系",
        "template fields rejected (wrong key or too long): check the field mapping",
    ),
    (
        WECHAT,
        "48001",
        "公众号没有模板消息权限（需要已认证的服务号）",
        "the official account may not send template messages (a verified service account is needed)",
    ),
    (
        WECHAT,
        "45009",
        "公众号今天的调用次数已用完",
        "the official account's daily quota is used up",
    ),
    // Tencent Cloud SMS.
    (
        SMS,
        "AuthFailure.SecretIdNotFound",
        "腾讯云 SecretId 不存在",
        "the Tencent Cloud SecretId does not exist",
    ),
    (
        SMS,
        "AuthFailure.SignatureFailure",
        "腾讯云 SecretKey 与 SecretId 不匹配",
        "the Tencent Cloud SecretKey does not match the SecretId",
    ),
    (
        SMS,
        "AuthFailure.InvalidSecretId",
        "腾讯云 SecretId 格式不对",
        "the Tencent Cloud SecretId is not valid",
    ),
    (
        SMS,
        "UnauthorizedOperation.SmsSdkAppIdVerifyFail",
        "短信 SdkAppId 错误或不属于这个腾讯云账号",
        "the SMS SdkAppId is wrong or not this Tencent Cloud account's",
    ),
    (
        SMS,
        "InvalidParameterValue.SdkAppIdNotExist",
        "短信 SdkAppId 不存在",
        "the SMS SdkAppId does not exist",
    ),
    (
        SMS,
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "短信签名被拒绝（未审核通过，或与审核通过的签名内容不一致）",
        "SMS signature refused (not approved, or not exactly the approved text)",
    ),
    (
        SMS,
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "短信模板未审核通过，或模板 ID 错误",
        "SMS template not approved, or wrong template id",
    ),
    (
        SMS,
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
        "短信模板被拒绝：内容与审核通过的模板不符（变量个数不对）",
        "SMS template refused: the values do not match the approved template (number of variables)",
    ),
    (
        SMS,
        "InvalidParameterValue.ProhibitedUseUrlInTemplateParameter",
        "短信模板变量里不能放网址（网址要写在模板的固定文字里）",
        "no URL allowed in an SMS template variable (put the address in the template's fixed text)",
    ),
    (
        SMS,
        "InvalidParameterValue.IncorrectPhoneNumber",
        "手机号格式不对（中国大陆号码写成 +86 开头）",
        "phone number format wrong (write mainland numbers as +86…)",
    ),
    (
        SMS,
        "FailedOperation.InsufficientBalanceInSmsPackage",
        "短信套餐包余量不足，请在腾讯云购买",
        "insufficient balance: the SMS package is used up (buy more in Tencent Cloud)",
    ),
    (
        SMS,
        "InvalidParameterValue.TemplateParameterLengthLimit",
        "短信模板变量太长（个人认证的账号每个变量最多 12 个字符），请缩短内容或改用企业认证",
        "an SMS template value is too long (individually verified accounts: at most 12 characters per variable)",
    ),
    (
        SMS,
        "FailedOperation.PhoneNumberInBlacklist",
        "该号码退订了短信或在黑名单中",
        "this number unsubscribed or is blocked",
    ),
    (
        SMS,
        "LimitExceeded.PhoneNumberDailyLimit",
        "该号码今天收到的短信已达上限",
        "this number got its daily maximum of SMS",
    ),
    (
        SMS,
        "LimitExceeded.PhoneNumberOneHourLimit",
        "该号码一小时内收到的短信已达上限",
        "this number got its hourly maximum of SMS",
    ),
    (
        SMS,
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "该号码 30 秒内收到的短信已达上限",
        "this number got its maximum of SMS for 30 seconds",
    ),
    // Group bots.
    (
        WECOM_BOT,
        "45009",
        "企业微信机器人发送太频繁（每个机器人每分钟最多 20 条），请稍后再试",
        "WeCom bot rate limit: too many messages (at most 20 a minute per bot), try again shortly",
    ),
    (
        WECOM_BOT,
        "93000",
        "企业微信机器人的 webhook 地址无效（key 错误，或机器人已被移出群）",
        "WeCom bot webhook URL not valid (wrong key, or the bot left the group)",
    ),
    (
        DINGTALK_BOT,
        "300001",
        "钉钉机器人的 webhook 地址无效（access_token 错误）",
        "DingTalk bot webhook URL not valid (wrong access_token)",
    ),
    (
        DINGTALK_BOT,
        "310000",
        "钉钉机器人安全设置不通过：加签密钥错误、消息不含自定义关键词，或 IP 不在范围内",
        "DingTalk bot security check failed: wrong signing secret, a required keyword missing, or IP not allowed",
    ),
    (
        FEISHU_BOT,
        "19001",
        "飞书机器人的 webhook 地址无效",
        "Feishu bot webhook URL not valid",
    ),
    (
        FEISHU_BOT,
        "19021",
        "飞书机器人签名校验失败：签名密钥错误，或本服务器的时间与飞书相差超过 1 小时",
        "Feishu bot signature check failed: wrong signing secret, or this server's clock is more than an hour off",
    ),
    (
        FEISHU_BOT,
        "19022",
        "飞书机器人 IP 白名单不包含本服务器",
        "Feishu bot IP whitelist does not include this server",
    ),
    (
        FEISHU_BOT,
        "19024",
        "飞书机器人关键词校验失败：消息不含设定的关键词",
        "Feishu bot keyword check failed: a required keyword is missing",
    ),
];

/// Every recipient's result, one after another.
fn joined(results: &std::collections::BTreeMap<String, String>) -> String {
    results
        .iter()
        .map(|(r, v)| format!("{r}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What [`SendError::Misconfigured`]'s reasons start with (written in `email`).
pub(crate) const SMTP_AUTH_REFUSED: &str = "authentication refused by the SMTP server";
pub(crate) const SMTP_CERTIFICATE: &str = "certificate not trusted";
pub(crate) const SMTP_NO_AUTH_OFFERED: &str = "the SMTP server offers no authentication";
pub(crate) const SMTP_AUTH_REQUIRED: &str = "the SMTP server requires authentication";

/// The words for a code `service` answered, with the code.
pub fn explain_code(service: &str, code: &str) -> Option<Explanation> {
    KNOWN_CODES
        .iter()
        .find(|(s, c, _, _)| *s == service && *c == code)
        .map(|(_, c, zh, en)| Explanation::new(format!("{zh}（{c}）"), format!("{en} ({c})")))
}

/// The words for a failure as a channel reports it for one recipient (the service's code
/// and message, e.g. `FailedOperation.PhoneNumberInBlacklist: …` or `WeChat refused: 43004:
/// require subscribe`): the known code inside it, else the text as it is.
pub fn explain_text(service: &str, result: &str) -> Explanation {
    result
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
        .find_map(|code| explain_code(service, code))
        .unwrap_or_else(|| {
            Explanation::new(format!("被拒绝：{result}"), format!("refused: {result}"))
        })
}

impl SendError {
    /// Why this send failed, in words (see [`Explanation`]).
    pub fn explain(&self) -> Explanation {
        match self {
            SendError::Refused {
                service,
                code,
                message,
                ..
            } => explain_code(service, code).unwrap_or_else(|| {
                Explanation::new(
                    format!("{service} 拒绝了：{code} {message}"),
                    format!("{service} refused: {code} {message}"),
                )
            }),
            SendError::Transport { service, detail } => {
                let (zh, en, known) = match detail.as_str() {
                    "timed out" => ("连接超时", "timed out", true),
                    "connection failed" => ("连接失败", "connection failed", true),
                    _ => ("连接出错", "connection error", false),
                };
                // A known detail is said in words; another one is the library's own text
                // (English), given as a detail for support.
                let (zh_detail, en_detail) = if known {
                    (String::new(), String::new())
                } else {
                    (
                        format!("（详情：{detail}）"),
                        format!(" (detail: {detail})"),
                    )
                };
                Explanation::new(
                    format!("无法连接 {service}：{zh}，请检查地址、端口、网络和防火墙{zh_detail}"),
                    format!(
                        "cannot reach {service}: {en}, check the address, port, network and firewall{en_detail}"
                    ),
                )
            }
            SendError::EveryRecipient { service, results } => {
                explain_text(service, &joined(results))
            }
            SendError::Deadline(secs) => Explanation::new(
                format!("{secs} 秒内没有完成：服务没有及时回答（检查地址、端口和网络），稍后再试"),
                format!(
                    "timed out: no answer within {secs} seconds (check the address, port and network), try again later"
                ),
            ),
            SendError::Unbound => Explanation::new(
                "设置改了但没有重新填写密钥：服务器地址或账号变了，原来保存的密钥不会发往新的地址。请在通知设置里重新填写这个渠道的密钥（授权码、AppSecret 或 SecretKey）并保存",
                "settings changed without their secret: the server or account changed, and the saved secret is never sent to a new destination. Enter this channel's secret (authorisation code, AppSecret or SecretKey) again in the notification settings and save",
            ),
            SendError::Invalid(m) => Explanation::new(
                format!("设置不完整或有误：{m}"),
                format!("settings incomplete or wrong: {m}"),
            ),
            SendError::Misconfigured { reason, .. } => {
                let words = if reason.starts_with(SMTP_AUTH_REFUSED) {
                    Some((
                        "邮箱登录被拒绝：授权码错误。请填写邮箱设置里生成的授权码，不是邮箱登录密码（QQ 邮箱、163 邮箱都需要先开启 SMTP 服务）",
                        "login refused: wrong authorisation code (授权码), not the mailbox password (QQ and 163 Mail: turn on SMTP in the mailbox settings and generate one)",
                    ))
                } else if reason.starts_with(SMTP_CERTIFICATE) {
                    Some((
                        "邮件服务器的证书不受信任：检查服务器地址是否与证书一致，或填写它的根证书",
                        "the mail server's certificate is not trusted: check the host name matches the certificate, or give its root certificate",
                    ))
                } else if reason.starts_with(SMTP_NO_AUTH_OFFERED) {
                    Some((
                        "邮件服务器不提供登录：换用加密连接（465 端口 SSL），或不填授权码",
                        "the mail server offers no login: use an encrypted connection (port 465, SSL), or leave the authorisation code empty",
                    ))
                } else if reason.starts_with(SMTP_AUTH_REQUIRED) {
                    Some((
                        "邮件服务器要求登录：请填写授权码",
                        "the mail server requires a login: fill in the authorisation code",
                    ))
                } else {
                    None
                };
                match words {
                    Some((zh, en)) => {
                        Explanation::new(format!("{zh}。{reason}"), format!("{en}. {reason}"))
                    }
                    None => Explanation::new(
                        format!("设置不能用：{reason}"),
                        format!("these settings do not work: {reason}"),
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_are_explained_in_both_languages_with_the_code() {
        let e = SendError::Refused {
            service: "Tencent Cloud SMS",
            code: "FailedOperation.SignatureIncorrectOrUnapproved".into(),
            message: "签名未审核".into(),
            retryable: false,
        };
        let w = e.explain();
        assert!(
            w.en.starts_with("SMS signature refused (not approved"),
            "{w:?}"
        );
        assert!(w.zh.contains("短信签名被拒绝"), "{w:?}");
        assert!(w.en.contains("FailedOperation.SignatureIncorrectOrUnapproved"));
    }

    #[test]
    fn a_recipient_result_is_explained_by_the_code_inside_it() {
        let w = explain_text(WECHAT, "WeChat refused: 43004: require subscribe");
        assert!(w.en.contains("does not follow"), "{w:?}");
        let w = explain_text(SMS, "InvalidParameterValue.IncorrectPhoneNumber: bad");
        assert!(w.en.contains("phone number format"), "{w:?}");
        let w = explain_text(SMS, "Something.New: what");
        assert_eq!(w.en, "refused: Something.New: what");
    }

    #[test]
    fn a_code_means_what_the_service_that_answered_it_says() {
        let refused = |service: &'static str, code: &str| SendError::Refused {
            service,
            code: code.into(),
            message: "x".into(),
            retryable: false,
        };
        let w = refused(WECOM_BOT, "45009").explain();
        assert!(w.en.starts_with("WeCom bot rate limit"), "{w:?}");
        assert!(!w.en.contains("official account"), "{w:?}");
        let w = refused(WECHAT, "45009").explain();
        assert!(w.en.contains("official account's daily quota"), "{w:?}");
        let w = refused(FEISHU_BOT, "19021").explain();
        assert!(w.en.contains("more than an hour off"), "{w:?}");
        let w = refused(SMS, "InvalidParameterValue.TemplateParameterLengthLimit").explain();
        assert!(w.zh.contains("12 个字符"), "{w:?}");
        // A code another service uses says nothing it does not know.
        let w = refused(DINGTALK_BOT, "43004").explain();
        assert!(!w.en.contains("follow"), "{w:?}");
    }

    #[test]
    fn a_timeout_is_said_in_each_language_without_the_other() {
        let e = SendError::Transport {
            service: "SMTP server",
            detail: "timed out".into(),
        };
        let w = e.explain();
        assert!(w.zh.contains("连接超时"), "{w:?}");
        assert!(
            !w.zh.contains("timed out"),
            "no English in the Chinese: {w:?}"
        );
        let w = SendError::Deadline(20).explain();
        assert!(w.zh.contains("20 秒内没有完成"), "{w:?}");
        assert!(
            w.en.starts_with("timed out: no answer within 20 seconds"),
            "{w:?}"
        );
    }

    #[test]
    fn smtp_login_refusal_says_authorisation_code_not_password() {
        let e = SendError::Misconfigured {
            reason: format!("{SMTP_AUTH_REFUSED} (535 bad): check"),
            source: "x".into(),
        };
        assert!(
            e.explain()
                .en
                .contains("wrong authorisation code (授权码), not the mailbox password")
        );
    }
}
