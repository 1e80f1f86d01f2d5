//! The notification settings form: its fields (one flat urlencoded form, one field per
//! setting, bots as numbered rows), filled from the stored settings or from what was typed,
//! read into the admin API's input, and the API's field errors put back next to their field.
//! Secrets are write-only: their inputs start empty and an empty input keeps the stored one.

use crate::ApiError;
use crate::admin::notifications::{
    BotInput, EmailInput, NotificationsInput, NotificationsView, OaTemplateInput, SmsInput,
};
use domain::Sensitive;
use domain::account::{BotKind, Patch, SecretStatus};
use std::collections::BTreeMap;

/// What the form holds, by input name.
pub type Values = BTreeMap<String, String>;

/// The secret inputs (bots' are per row: `bot_webhook_url_{n}`, `bot_signing_secret_{n}`).
pub const SECRET_FIELDS: [&str; 3] = ["email_auth_code", "oa_secret", "sms_secret_key"];

fn on(v: &Values, name: &str) -> bool {
    v.get(name).is_some_and(|s| s == "on")
}

fn text(v: &Values, name: &str) -> String {
    v.get(name)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn optional(v: &Values, name: &str) -> Option<String> {
    Some(text(v, name)).filter(|s| !s.is_empty())
}

/// One per line (commas and semicolons also separate).
fn lines(v: &Values, name: &str) -> Vec<String> {
    v.get(name)
        .map(|s| {
            s.split(['\n', ',', ';', '，', '；'])
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// A secret input: empty keeps the stored one.
fn secret(v: &Values, name: &str) -> Patch<Sensitive> {
    match v.get(name).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        Some(s) => Patch::Set(Sensitive::new(s)),
        None => Patch::Keep,
    }
}

fn kind_name(k: BotKind) -> &'static str {
    match k {
        BotKind::Wecom => "wecom",
        BotKind::Dingtalk => "dingtalk",
        BotKind::Feishu => "feishu",
    }
}

fn parse_kind(s: &str) -> Option<BotKind> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).ok()
}

/// The form filled from the stored settings (secret inputs empty).
pub fn from_view(view: &NotificationsView) -> Values {
    let mut v = Values::new();
    let mut set = |k: &str, val: String| {
        v.insert(k.to_string(), val);
    };
    if let Some(e) = &view.email {
        let c = &e.channel;
        set("email_on", "on".into());
        set("email_host", c.host.clone());
        set("email_port", c.port.to_string());
        set(
            "email_tls",
            serde_json::to_value(c.tls)
                .ok()
                .and_then(|t| t.as_str().map(String::from))
                .unwrap_or_default(),
        );
        set("email_sender", c.sender.clone());
        set("email_username", c.username.clone().unwrap_or_default());
        set("email_recipients", c.recipients.join("\n"));
        set(
            "email_tls_root_pem",
            c.tls_root_pem.clone().unwrap_or_default(),
        );
    }
    if let Some(o) = &view.oa_template {
        let c = &o.channel;
        set("oa_on", "on".into());
        set("oa_appid", c.appid.clone());
        set("oa_template_id", c.template_id.clone());
        set("oa_openids", c.openids.join("\n"));
        set(
            "oa_field_mapping",
            c.field_mapping
                .iter()
                .map(|(k, f)| format!("{k}={f}"))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        set(
            "oa_api_base_url",
            c.api_base_url.clone().unwrap_or_default(),
        );
    }
    if let Some(s) = &view.sms {
        let c = &s.channel;
        set("sms_on", "on".into());
        set("sms_secret_id", c.secret_id.clone());
        set("sms_sdk_app_id", c.sdk_app_id.clone());
        set("sms_sign_name", c.sign_name.clone());
        set("sms_template_id", c.template_id.clone());
        set("sms_phone_numbers", c.phone_numbers.join("\n"));
        set("sms_region", c.region.clone().unwrap_or_default());
        set(
            "sms_link_param",
            c.link_param.map(|p| p.to_string()).unwrap_or_default(),
        );
        set(
            "sms_api_base_url",
            c.api_base_url.clone().unwrap_or_default(),
        );
    }
    for (n, b) in view.bots.iter().enumerate() {
        set(&format!("bot_id_{n}"), b.channel.id.clone());
        set(&format!("bot_kind_{n}"), kind_name(b.channel.kind).into());
    }
    set("bot_count", (view.bots.len() + 1).to_string());
    v
}

/// What was typed, secrets removed (a refused form is shown again without them).
pub fn typed(mut v: Values) -> Values {
    v.retain(|k, _| {
        !SECRET_FIELDS.contains(&k.as_str())
            && !k.starts_with("bot_webhook_url_")
            && !k.starts_with("bot_signing_secret_")
            && k != "csrf"
    });
    v
}

/// The number of bot rows the form has (at most 20).
pub fn bot_rows(v: &Values) -> usize {
    text(v, "bot_count")
        .parse::<usize>()
        .unwrap_or(1)
        .clamp(1, 20)
}

/// The form read into the admin API's input; with it, which form row each input bot came
/// from (to put a bot's error next to its row). `stored`: what keeps an API address a caller
/// may not change (`may_set_base`: a scope-`all` token).
pub fn input(
    v: &Values,
    stored: &NotificationsView,
    may_set_base: bool,
) -> Result<(NotificationsInput, Vec<usize>), ApiError> {
    let base = |name: &str, stored: Option<String>| {
        if may_set_base {
            optional(v, name)
        } else {
            stored
        }
    };
    let email = if on(v, "email_on") {
        Some(EmailInput {
            host: text(v, "email_host"),
            port: text(v, "email_port").parse().map_err(|_| {
                ApiError::field(
                    "email.port",
                    "must be a port number, 1 to 65535 (465 for SSL)",
                )
            })?,
            tls: serde_json::from_value(serde_json::Value::String(text(v, "email_tls"))).map_err(
                |_| ApiError::field("email.tls", "choose how the connection is encrypted"),
            )?,
            sender: text(v, "email_sender"),
            username: optional(v, "email_username"),
            recipients: lines(v, "email_recipients"),
            // As saved (not trimmed: a change of it needs the code again); browsers send
            // a textarea's line breaks as CRLF.
            tls_root_pem: v
                .get("email_tls_root_pem")
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.replace("\r\n", "\n")),
            auth_code: secret(v, "email_auth_code"),
        })
    } else {
        None
    };
    let oa_template = if on(v, "oa_on") {
        let mut field_mapping = BTreeMap::new();
        for l in lines(v, "oa_field_mapping") {
            let Some((k, f)) = l.split_once(['=', ':', '：']) else {
                return Err(ApiError::field(
                    "oa_template.field_mapping",
                    "write one template key per line as key=field, e.g. thing1=merchant",
                ));
            };
            field_mapping.insert(k.trim().to_string(), f.trim().to_string());
        }
        Some(OaTemplateInput {
            appid: text(v, "oa_appid"),
            template_id: text(v, "oa_template_id"),
            openids: lines(v, "oa_openids"),
            field_mapping,
            api_base_url: base(
                "oa_api_base_url",
                stored
                    .oa_template
                    .as_ref()
                    .and_then(|o| o.channel.api_base_url.clone()),
            ),
            secret: secret(v, "oa_secret"),
        })
    } else {
        None
    };
    let sms = if on(v, "sms_on") {
        Some(SmsInput {
            secret_id: text(v, "sms_secret_id"),
            sdk_app_id: text(v, "sms_sdk_app_id"),
            sign_name: text(v, "sms_sign_name"),
            template_id: text(v, "sms_template_id"),
            phone_numbers: lines(v, "sms_phone_numbers"),
            region: optional(v, "sms_region"),
            api_base_url: base(
                "sms_api_base_url",
                stored
                    .sms
                    .as_ref()
                    .and_then(|s| s.channel.api_base_url.clone()),
            ),
            link_param: match optional(v, "sms_link_param") {
                None => None,
                Some(p) => Some(p.parse().map_err(|_| {
                    ApiError::field("sms.link_param", "must be a number, 4 to 10, or empty")
                })?),
            },
            secret_key: secret(v, "sms_secret_key"),
        })
    } else {
        None
    };
    let mut bots = Vec::new();
    let mut rows = Vec::new();
    for n in 0..bot_rows(v) {
        let id = text(v, &format!("bot_id_{n}"));
        if id.is_empty() || on(v, &format!("bot_remove_{n}")) {
            continue;
        }
        let kind = parse_kind(&text(v, &format!("bot_kind_{n}"))).ok_or_else(|| {
            ApiError::field(
                format!("bots[{}].kind", bots.len()),
                "choose WeCom, DingTalk or Feishu",
            )
        });
        rows.push(n);
        bots.push(BotInput {
            id,
            kind: kind?,
            webhook_url: secret(v, &format!("bot_webhook_url_{n}")),
            signing_secret: secret(v, &format!("bot_signing_secret_{n}")),
        });
    }
    Ok((
        NotificationsInput {
            email,
            oa_template,
            sms,
            bots,
        },
        rows,
    ))
}

/// The form input an API field error names: `email.recipients[2]` → `email_recipients`,
/// `bots[0].webhook_url` → `bot_webhook_url_{row}`.
pub fn input_name(field: &str, bot_rows: &[usize]) -> String {
    if let Some(rest) = field.strip_prefix("bots[") {
        let (i, name) = rest.split_once("].").unwrap_or((rest, "id"));
        let row = i
            .trim_end_matches(']')
            .parse::<usize>()
            .ok()
            .and_then(|i| bot_rows.get(i).copied())
            .unwrap_or_default();
        return format!("bot_{name}_{row}");
    }
    let (prefix, rest) = field.split_once('.').unwrap_or((field, ""));
    let prefix = match prefix {
        "oa_template" => "oa",
        other => other,
    };
    let name = rest.split(['.', '[']).next().unwrap_or_default();
    format!("{prefix}_{name}")
}

/// A secret's status in words: set with its fingerprint, or not set.
pub fn status_words(lang: crate::console::Lang, s: &SecretStatus) -> String {
    match (&s.set, &s.fingerprint) {
        (true, Some(fp)) => format!("{}{fp}", lang.t("已设置 · 指纹 ", "Set · fingerprint ")),
        (true, None) => lang.t("已设置", "Set").to_string(),
        _ => lang.t("未设置", "Not set").to_string(),
    }
}

/// One input as the page draws it.
pub struct FieldView {
    pub name: String,
    pub label: &'static str,
    pub help: &'static str,
    /// `text`, `password` (a secret: starts empty), `textarea`, `select`, `number`.
    pub kind: &'static str,
    pub value: String,
    pub error: Option<String>,
    /// A secret's status in words.
    pub status: Option<String>,
    /// A select's (value, label).
    pub options: Vec<(&'static str, &'static str)>,
}

/// One channel's part of the form, switched on by its checkbox.
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub on: bool,
    pub fields: Vec<FieldView>,
}

/// What the inputs need besides their definitions.
pub struct Fill<'a> {
    pub lang: crate::console::Lang,
    pub values: &'a Values,
    pub statuses: &'a BTreeMap<String, String>,
    pub errors: &'a BTreeMap<String, String>,
}

impl Fill<'_> {
    fn field(
        &self,
        name: &str,
        kind: &'static str,
        label: (&'static str, &'static str),
        help: (&'static str, &'static str),
    ) -> FieldView {
        let l = self.lang;
        FieldView {
            value: if kind == "password" {
                String::new()
            } else {
                self.values.get(name).cloned().unwrap_or_default()
            },
            error: self.errors.get(name).cloned(),
            status: (kind == "password")
                .then(|| self.statuses.get(name).cloned().unwrap_or_default()),
            name: name.to_string(),
            label: l.t(label.0, label.1),
            help: l.t(help.0, help.1),
            kind,
            options: vec![],
        }
    }

    fn select(
        &self,
        name: &str,
        label: (&'static str, &'static str),
        help: (&'static str, &'static str),
        options: Vec<(&'static str, &'static str)>,
    ) -> FieldView {
        FieldView {
            options,
            ..self.field(name, "select", label, help)
        }
    }
}

const KEEP: (&str, &str) = (
    "只写不读：留空表示保留已保存的值。",
    "Write-only: leave empty to keep the saved one.",
);

/// The channel sections of the form. `may_set_base`: the API address inputs are shown
/// (a scope-`all` token).
pub fn sections(f: &Fill<'_>, may_set_base: bool) -> Vec<Section> {
    let l = f.lang;
    let mut email = vec![
        f.field("email_host", "text", ("SMTP 服务器", "SMTP server"), ("QQ 邮箱 smtp.qq.com，163 邮箱 smtp.163.com，企业邮箱见其帮助页。", "QQ Mail smtp.qq.com, 163 Mail smtp.163.com; a business mailbox names its own in its help pages.")),
        f.field("email_port", "number", ("端口", "Port"), ("SSL 加密一般是 465；STARTTLS 是 587。", "465 for SSL; 587 for STARTTLS.")),
        f.select("email_tls", ("加密方式", "Encryption"), ("QQ、163 邮箱选 SSL（465）。", "QQ and 163 Mail: SSL (465)."), vec![
            ("implicit", l.t("SSL（465）", "SSL (465)")),
            ("starttls", l.t("STARTTLS（587）", "STARTTLS (587)")),
            ("none", l.t("不加密（仅限本机中继）", "None (a local relay only)")),
        ]),
        f.field("email_sender", "text", ("发件邮箱", "Sender address"), ("用来发信的邮箱地址，也是默认的登录名。", "The mailbox that sends; also the login unless you give another.")),
        f.field("email_username", "text", ("登录名（可选）", "Login (optional)"), ("留空则用发件邮箱登录。", "Empty: log in with the sender address.")),
        f.field("email_auth_code", "password", ("授权码", "Authorisation code (授权码)"), ("不是邮箱登录密码：在 QQ/163 邮箱网页版“设置 → 账户 → POP3/SMTP 服务”里开启后生成。只写不读，留空表示保留。", "Not the mailbox password: in QQ/163 Mail on the web, Settings → Account → POP3/SMTP, turn SMTP on and generate one. Write-only; leave empty to keep.")),
        f.field("email_recipients", "textarea", ("收件人", "Recipients"), ("每行一个邮箱地址。", "One address per line.")),
    ];
    email.push(f.field(
        "email_tls_root_pem",
        "textarea",
        (
            "额外信任的根证书（可选）",
            "Extra trusted root certificate (optional)",
        ),
        (
            "只有自建邮件服务器用私有证书时才需要（PEM 格式）。",
            "Only for your own mail server with a private certificate (PEM).",
        ),
    ));
    let mut oa = vec![
        f.field("oa_appid", "text", ("公众号 AppID", "Official account AppID"), ("微信公众平台 → 设置与开发 → 基本配置。", "WeChat Official Accounts Platform → Settings and development → Basic configuration.")),
        f.field("oa_secret", "password", ("公众号 AppSecret", "Official account AppSecret"), ("同一页面生成；还需把本服务器的 IP 加入 IP 白名单。只写不读，留空表示保留。", "Generated on the same page; also add this server's IP to the IP whitelist there. Write-only; leave empty to keep.")),
        f.field("oa_template_id", "text", ("模板 ID", "Template id"), ("公众平台 → 广告与服务 → 模板消息 → 我的模板，复制模板 ID。", "Platform → Ads and services → Template messages → My templates: copy the template id.")),
        f.field("oa_field_mapping", "textarea", ("模板字段", "Template fields"), ("每行一个：模板里的字段名=通知内容，例如 thing1=merchant、character_string2=complaint_id、time3=time、thing4=user_text。可用内容：platform、event、merchant、complaint_id、time、amount、user_text、deadline。", "One per line: the template's key=what to put there, e.g. thing1=merchant, character_string2=complaint_id, time3=time, thing4=user_text. Available: platform, event, merchant, complaint_id, time, amount, user_text, deadline.")),
        f.field("oa_openids", "textarea", ("接收人 openid", "Recipients' openids"), ("每行一个；接收人必须关注了这个公众号。", "One per line; each must follow the official account.")),
    ];
    let mut sms = vec![
        f.field("sms_secret_id", "text", ("腾讯云 SecretId", "Tencent Cloud SecretId"), ("腾讯云控制台 → 访问管理 → API 密钥。建议用只有短信权限的子用户。", "Tencent Cloud console → CAM → API keys; a sub-user with SMS rights only is best.")),
        f.field("sms_secret_key", "password", ("腾讯云 SecretKey", "Tencent Cloud SecretKey"), KEEP),
        f.field("sms_sdk_app_id", "text", ("SdkAppId", "SdkAppId"), ("短信控制台 → 应用管理 → 应用列表，1400 开头的数字。", "SMS console → Applications: the number starting 1400.")),
        f.field("sms_sign_name", "text", ("签名", "Signature"), ("审核通过的签名内容（不带【】），与控制台一字不差。", "The approved signature's text (without 【】), exactly as in the console.")),
        f.field("sms_template_id", "text", ("模板 ID", "Template id"), ("审核通过的正文模板 ID。模板要有 3 个变量：事件、商户、投诉单号。", "The approved template's id. It needs 3 variables: what happened, the merchant, the complaint number.")),
        f.field("sms_link_param", "number", ("链接变量（可选）", "Link variable (optional)"), ("模板里放链接的变量序号（4 到 10），链接的网址前缀写在模板的固定文字里。留空表示不发链接。", "The template variable (4 to 10) that carries the link; the address's start is fixed text in the template. Empty: no link.")),
        f.field("sms_phone_numbers", "textarea", ("手机号", "Phone numbers"), ("每行一个，中国大陆号码写成 +86 开头，例如 +8613800138000。", "One per line, mainland numbers as +86…, e.g. +8613800138000.")),
        f.field("sms_region", "text", ("地域（可选）", "Region (optional)"), ("默认 ap-guangzhou。", "Default ap-guangzhou.")),
    ];
    if may_set_base {
        oa.push(f.field(
            "oa_api_base_url",
            "text",
            ("接口地址（高级，可选）", "API address (advanced, optional)"),
            (
                "留空使用微信正式接口；只在测试或私有部署时填写。",
                "Empty: WeChat's own API; only for tests or private deployments.",
            ),
        ));
        sms.push(f.field(
            "sms_api_base_url",
            "text",
            ("接口地址（高级，可选）", "API address (advanced, optional)"),
            (
                "留空使用腾讯云正式接口；只在测试时填写。",
                "Empty: Tencent Cloud's own API; only for tests.",
            ),
        ));
    }
    let on = |n: &str| f.values.get(n).is_some_and(|v| v == "on");
    vec![
        Section {
            id: "email",
            title: l.t("邮件", "E-mail"),
            intro: l.t(
                "用您自己的邮箱通过 SMTP 发送。",
                "Sent over SMTP from a mailbox of yours.",
            ),
            on: on("email_on"),
            fields: email,
        },
        Section {
            id: "oa",
            title: l.t("公众号模板消息", "Official-account template message"),
            intro: l.t(
                "发到员工的微信里（需要已认证的服务号和一个模板）。",
                "Reaches staff in WeChat (needs a verified service account and a template).",
            ),
            on: on("oa_on"),
            fields: oa,
        },
        Section {
            id: "sms",
            title: l.t("腾讯云短信", "Tencent Cloud SMS"),
            intro: l.t(
                "需要审核通过的签名和模板。",
                "Needs an approved signature and template.",
            ),
            on: on("sms_on"),
            fields: sms,
        },
    ]
}

/// One bot row of the form.
pub struct BotRow {
    pub n: usize,
    pub saved: bool,
    pub fields: Vec<FieldView>,
}

pub fn bots(f: &Fill<'_>) -> Vec<BotRow> {
    let l = f.lang;
    (0..bot_rows(f.values))
        .map(|n| BotRow {
            n,
            saved: f.statuses.get(&format!("bot_webhook_url_{n}")).is_some_and(|s| s != l.t("未设置", "Not set")),
            fields: vec![
                f.field(&format!("bot_id_{n}"), "text", ("名称", "Name"), ("您给这个机器人起的名字（字母、数字、-、_），例如 ops-group。留空则不添加。", "Your name for this bot (letters, digits, - and _), e.g. ops-group. Empty: none added.")),
                f.select(&format!("bot_kind_{n}"), ("类型", "Kind"), ("", ""), vec![
                    ("wecom", l.t("企业微信", "WeCom")),
                    ("dingtalk", l.t("钉钉", "DingTalk")),
                    ("feishu", l.t("飞书", "Feishu")),
                ]),
                f.field(&format!("bot_webhook_url_{n}"), "password", ("Webhook 地址", "Webhook URL"), ("在群设置里添加“自定义机器人”后复制的地址（含 key 或 access_token）。只写不读，留空表示保留。", "The address shown when you add a custom bot in the group's settings (it carries the key or access_token). Write-only; leave empty to keep.")),
                f.field(&format!("bot_signing_secret_{n}"), "password", ("加签密钥（可选）", "Signing secret (optional)"), ("钉钉“加签”或飞书“签名校验”的密钥；企业微信没有。只写不读，留空表示保留。", "DingTalk's 加签 or Feishu's signature secret; WeCom has none. Write-only; leave empty to keep.")),
            ],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_fields_name_their_inputs() {
        assert_eq!(input_name("email.recipients[2]", &[]), "email_recipients");
        assert_eq!(
            input_name("oa_template.field_mapping.thing1", &[]),
            "oa_field_mapping"
        );
        assert_eq!(input_name("sms.secret_key", &[]), "sms_secret_key");
        assert_eq!(
            input_name("bots[1].webhook_url", &[0, 3]),
            "bot_webhook_url_3"
        );
    }
}
