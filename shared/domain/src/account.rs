//! Accounts (Alipay apps, WeChat Pay merchants and providers, mini programs, third-party
//! platforms), provider sub-merchants, credentials and staff notification settings.

use crate::Sensitive;
use crate::deadline::DeadlineSettings;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

crate::names::open_name!(
    /// What kind of platform account this is: a name a platform declares with its facts
    /// ([`AccountKindFacts`]). The kind fixes the settings, the credentials and the callback
    /// path that belong to the account. Open: a platform declares its own
    /// (`AccountKind::new("toy_app")`).
    AccountKind,
    "An account kind a registered platform declares, e.g. `alipay_app`, `wechatpay_merchant`, `wechatpay_provider`, `wxmini_app`, `wxopen_component`."
);

#[allow(non_upper_case_globals)]
impl AccountKind {
    pub const AlipayApp: AccountKind = AccountKind::new("alipay_app");
    pub const WechatpayMerchant: AccountKind = AccountKind::new("wechatpay_merchant");
    pub const WechatpayProvider: AccountKind = AccountKind::new("wechatpay_provider");
    pub const WxminiApp: AccountKind = AccountKind::new("wxmini_app");
    pub const WxopenComponent: AccountKind = AccountKind::new("wxopen_component");

    /// What its platform declared about this kind, if a platform of this process did.
    pub fn facts(self) -> Option<AccountKindFacts> {
        declared_kinds().iter().find(|f| f.kind == self).copied()
    }

    /// Declare a kind's facts for this process (a platform's registration does it; a second
    /// declaration of the same kind replaces the first).
    pub fn declare(facts: AccountKindFacts) {
        crate::names::remember(facts.kind.as_str());
        crate::names::remember(facts.platform.as_str());
        let mut kinds = DECLARED.write().unwrap_or_else(|e| e.into_inner());
        kinds.retain(|f| f.kind != facts.kind);
        kinds.push(facts);
    }

    /// Every kind declared in this process, in the order of declaration.
    pub fn declared() -> Vec<AccountKindFacts> {
        declared_kinds().clone()
    }
}

/// What generic code needs to know about an account kind, declared by the platform it belongs
/// to: where its callbacks come in and which setting names the account there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountKindFacts {
    pub kind: AccountKind,
    /// The platform that declares it (a third-party platform belongs to the mini programs).
    pub platform: crate::complaint::Platform,
    /// Its accounts receive complaints of `platform` (false: a kind that only serves others,
    /// such as a third-party platform whose mini programs are accounts of their own).
    pub has_complaints: bool,
    /// The callback family whose path carries the account's platform id
    /// (`/callbacks/{family}/{platform_id}`). Kinds may share one (a WeChat Pay merchant and a
    /// provider share `wechatpay`): a platform id is then unique across them.
    pub callback_family: &'static str,
    /// The name of the platform id field in the kind's settings (`mchid`).
    pub platform_id_field: &'static str,
    /// Its accounts have sub-merchants.
    pub has_sub_merchants: bool,
    /// The calls made for its accounts are counted against the rate-limit budget under our
    /// account id; false: under the account's platform id (a WeChat Pay provider's calls for
    /// its sub-merchants are then counted under the provider's mchid).
    pub budget_by_account_id: bool,
}

static DECLARED: std::sync::RwLock<Vec<AccountKindFacts>> = std::sync::RwLock::new(Vec::new());

fn declared_kinds() -> std::sync::RwLockReadGuard<'static, Vec<AccountKindFacts>> {
    DECLARED.read().unwrap_or_else(|e| e.into_inner())
}

/// An account as stored and as shown by the admin API. Secrets are not here: only the status
/// of each credential (set or not, and a fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Account {
    /// Our stable id (`acc_...`).
    pub id: String,
    pub name: String,
    /// A disabled account's callbacks are still acknowledged and recorded; nothing is sent to
    /// the platform and its own staff are not told.
    pub enabled: bool,
    #[serde(flatten)]
    pub settings: AccountSettings,
    pub credentials: CredentialsStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Account {
    pub fn kind(&self) -> AccountKind {
        self.settings.kind()
    }

    pub fn platform_id(&self) -> &str {
        self.settings.platform_id()
    }
}

/// Kind-specific settings: `{"kind": "...", "settings": {...}}`. Today's kinds have typed
/// settings; a kind another platform declares keeps its settings as JSON ([`OpenSettings`]),
/// checked by that platform, written the same way.
#[derive(Debug, Clone, PartialEq)]
pub enum AccountSettings {
    AlipayApp(AlipayAppSettings),
    WechatpayMerchant(WechatpayMerchantSettings),
    WechatpayProvider(WechatpayProviderSettings),
    WxminiApp(WxminiAppSettings),
    WxopenComponent(WxopenComponentSettings),
    /// A kind with no typed settings in the domain.
    Open(OpenSettings),
}

/// The settings of a kind the domain has no type for: the kind and its settings object, as
/// the kind's platform accepted them.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenSettings {
    pub kind: AccountKind,
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl AccountSettings {
    pub fn kind(&self) -> AccountKind {
        match self {
            AccountSettings::AlipayApp(_) => AccountKind::AlipayApp,
            AccountSettings::WechatpayMerchant(_) => AccountKind::WechatpayMerchant,
            AccountSettings::WechatpayProvider(_) => AccountKind::WechatpayProvider,
            AccountSettings::WxminiApp(_) => AccountKind::WxminiApp,
            AccountSettings::WxopenComponent(_) => AccountKind::WxopenComponent,
            AccountSettings::Open(s) => s.kind,
        }
    }

    /// The account's id on its platform (empty for an open kind whose facts are not declared
    /// in this process, or whose settings lack the field).
    pub fn platform_id(&self) -> &str {
        match self {
            AccountSettings::AlipayApp(s) => &s.app_id,
            AccountSettings::WechatpayMerchant(s) => &s.mchid,
            AccountSettings::WechatpayProvider(s) => &s.mchid,
            AccountSettings::WxminiApp(s) => &s.appid,
            AccountSettings::WxopenComponent(s) => &s.component_appid,
            AccountSettings::Open(s) => s
                .kind
                .facts()
                .and_then(|f| s.settings.get(f.platform_id_field))
                .and_then(serde_json::Value::as_str)
                .unwrap_or(""),
        }
    }

    /// The account's deadline settings (`settings.deadlines`): the typed kinds' field, an open
    /// kind's `deadlines` object when it reads as one, the defaults otherwise (a kind without
    /// complaints, or none set).
    pub fn deadlines(&self) -> DeadlineSettings {
        match self {
            AccountSettings::AlipayApp(s) => s.deadlines.clone(),
            AccountSettings::WechatpayMerchant(s) => s.deadlines.clone(),
            AccountSettings::WechatpayProvider(s) => s.deadlines.clone(),
            AccountSettings::WxminiApp(s) => s.deadlines.clone(),
            AccountSettings::WxopenComponent(_) => DeadlineSettings::default(),
            AccountSettings::Open(s) => s
                .settings
                .get("deadlines")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
        }
    }

    /// Mask the escalation recipients in `settings.deadlines` (staff contacts, shown in full
    /// only to those who may read the notification settings).
    pub fn mask_escalation_recipients(&mut self) {
        let r = match self {
            AccountSettings::AlipayApp(s) => &mut s.deadlines.escalation_recipients,
            AccountSettings::WechatpayMerchant(s) => &mut s.deadlines.escalation_recipients,
            AccountSettings::WechatpayProvider(s) => &mut s.deadlines.escalation_recipients,
            AccountSettings::WxminiApp(s) => &mut s.deadlines.escalation_recipients,
            AccountSettings::WxopenComponent(_) => return,
            AccountSettings::Open(s) => {
                let lists = s
                    .settings
                    .get_mut("deadlines")
                    .and_then(|d| d.get_mut("escalation_recipients"))
                    .and_then(serde_json::Value::as_object_mut);
                for list in lists.into_iter().flat_map(|l| l.values_mut()) {
                    for v in list.as_array_mut().into_iter().flatten() {
                        if let Some(c) = v.as_str() {
                            *v = serde_json::Value::String(crate::deadline::mask_contact(c));
                        }
                    }
                }
                return;
            }
        };
        *r = r.masked();
    }

    /// The settings of `kind` from JSON: the typed settings of today's kinds (serde's message
    /// on a mismatch), any object for another kind.
    pub fn from_parts(kind: AccountKind, settings: serde_json::Value) -> Result<Self, String> {
        fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
            serde_json::from_value(v).map_err(|e| e.to_string())
        }
        Ok(match kind {
            AccountKind::AlipayApp => AccountSettings::AlipayApp(typed(settings)?),
            AccountKind::WechatpayMerchant => AccountSettings::WechatpayMerchant(typed(settings)?),
            AccountKind::WechatpayProvider => AccountSettings::WechatpayProvider(typed(settings)?),
            AccountKind::WxminiApp => AccountSettings::WxminiApp(typed(settings)?),
            AccountKind::WxopenComponent => AccountSettings::WxopenComponent(typed(settings)?),
            _ => match settings {
                serde_json::Value::Object(settings) => {
                    AccountSettings::Open(OpenSettings { kind, settings })
                }
                _ => return Err("settings must be a JSON object".into()),
            },
        })
    }

    /// The settings object alone (without the kind).
    pub fn settings_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self {
            AccountSettings::AlipayApp(s) => serde_json::to_value(s),
            AccountSettings::WechatpayMerchant(s) => serde_json::to_value(s),
            AccountSettings::WechatpayProvider(s) => serde_json::to_value(s),
            AccountSettings::WxminiApp(s) => serde_json::to_value(s),
            AccountSettings::WxopenComponent(s) => serde_json::to_value(s),
            AccountSettings::Open(s) => Ok(serde_json::Value::Object(s.settings.clone())),
        }
    }
}

impl Serialize for AccountSettings {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("AccountSettings", 2)?;
        out.serialize_field("kind", &self.kind())?;
        match self {
            AccountSettings::AlipayApp(v) => out.serialize_field("settings", v)?,
            AccountSettings::WechatpayMerchant(v) => out.serialize_field("settings", v)?,
            AccountSettings::WechatpayProvider(v) => out.serialize_field("settings", v)?,
            AccountSettings::WxminiApp(v) => out.serialize_field("settings", v)?,
            AccountSettings::WxopenComponent(v) => out.serialize_field("settings", v)?,
            AccountSettings::Open(v) => out.serialize_field("settings", &v.settings)?,
        }
        out.end()
    }
}

impl<'de> Deserialize<'de> for AccountSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Parts {
            kind: AccountKind,
            settings: serde_json::Value,
        }
        let p = Parts::deserialize(d)?;
        AccountSettings::from_parts(p.kind, p.settings).map_err(serde::de::Error::custom)
    }
}

/// The OpenAPI schema of an account's kind and settings: `{"kind", "settings"}`. Which settings
/// go with which kind is the platforms' to say (the admin API's document replaces this with
/// one schema per registered kind).
impl utoipa::PartialSchema for AccountSettings {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .property("kind", ObjectBuilder::new().schema_type(Type::String))
            .property("settings", ObjectBuilder::new().schema_type(Type::Object))
            .required("kind")
            .required("settings")
            .into()
    }
}

impl utoipa::ToSchema for AccountSettings {}

/// An Alipay open-platform app (商家应用).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlipayAppSettings {
    /// 应用 id.
    pub app_id: String,
    /// 商户回复用户内容: the text sent to the buyer automatically. No text, no automatic reply.
    #[serde(default)]
    pub reply_text: Option<String>,
    /// Refund the trade automatically, then finish the complaint.
    #[serde(default)]
    pub auto_refund: bool,
    /// No automatic refund above this amount (fen). None: no cap.
    #[serde(default)]
    pub refund_cap_fen: Option<u64>,
    /// The finishing feedback of a trade complaint once its refund is made (feedback code
    /// `02`, automatically or by the admin `complete` without a text). None:
    /// [`DEFAULT_ALIPAY_REFUND_FINISH_TEXT`].
    #[serde(default)]
    pub refund_finish_text: Option<String>,
    /// The `process.finish` remark of a consumer (RiskGO) complaint once its refund is made
    /// (process code `REFUND`, automatically or by the admin `complete` without a text). None:
    /// [`DEFAULT_ALIPAY_REFUND_FINISH_REMARK`].
    #[serde(default)]
    pub refund_finish_remark: Option<String>,
    /// Gateway override (the sandbox gateway, or a simulator). None: the production gateway.
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Deadline reminders, escalation and the daily digest (defaults on).
    #[serde(default)]
    pub deadlines: DeadlineSettings,
}

/// The finishing feedback of a refunded trade complaint when the app sets none.
pub const DEFAULT_ALIPAY_REFUND_FINISH_TEXT: &str =
    "您好，款项已原路退回，请注意查收。如有疑问请随时联系我们。";
/// The `process.finish` remark of a refunded consumer complaint when the app sets none.
pub const DEFAULT_ALIPAY_REFUND_FINISH_REMARK: &str = "已为用户退款，款项已原路退回。";
/// What the admin `complete` sends without a text when the outcome is not a refund.
pub const DEFAULT_ALIPAY_FINISH_TEXT: &str =
    "您好，您反馈的问题已处理完毕。如有疑问请随时联系我们。";

fn or_default<'a>(v: &'a Option<String>, default: &'a str) -> &'a str {
    v.as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .unwrap_or(default)
}

impl AlipayAppSettings {
    /// The trade complaint's finishing feedback after a refund (never the reply text).
    pub fn refund_finish_text(&self) -> &str {
        or_default(&self.refund_finish_text, DEFAULT_ALIPAY_REFUND_FINISH_TEXT)
    }

    /// The consumer complaint's `process.finish` remark after a refund.
    pub fn refund_finish_remark(&self) -> &str {
        or_default(
            &self.refund_finish_remark,
            DEFAULT_ALIPAY_REFUND_FINISH_REMARK,
        )
    }
}

/// A WeChat Pay direct merchant (普通商户).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatpayMerchantSettings {
    /// 商户号.
    pub mchid: String,
    /// The appid bound to the merchant number.
    pub appid: String,
    /// Serial number of the merchant API certificate (商户API证书序列号).
    pub merchant_serial_no: String,
    #[serde(default)]
    pub reply_text: Option<String>,
    #[serde(default)]
    pub auto_refund: bool,
    #[serde(default)]
    pub refund_cap_fen: Option<u64>,
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Deadline reminders, escalation and the daily digest (defaults on).
    #[serde(default)]
    pub deadlines: DeadlineSettings,
}

/// A WeChat Pay service provider (服务商) with sub-merchants.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WechatpayProviderSettings {
    /// The provider's own 商户号 (sp_mchid).
    pub mchid: String,
    /// The provider's appid (sp_appid).
    pub appid: String,
    pub merchant_serial_no: String,
    /// Reply for the provider's own complaints.
    #[serde(default)]
    pub reply_text: Option<String>,
    #[serde(default)]
    pub auto_refund: bool,
    #[serde(default)]
    pub refund_cap_fen: Option<u64>,
    /// Reply for complaints of sub-merchants this system does not know.
    #[serde(default)]
    pub default_reply_text: Option<String>,
    /// Auto-refund for complaints of sub-merchants this system does not know.
    #[serde(default)]
    pub default_auto_refund: bool,
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Deadline reminders, escalation and the daily digest (defaults on).
    #[serde(default)]
    pub deadlines: DeadlineSettings,
}

/// How a mini program is onboarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WxminiMode {
    /// appId, secret, token and EncodingAESKey entered by hand; message push configured in the
    /// mini program's console.
    Manual,
    /// One-click authorisation through a third-party platform (`wxopen_component` account).
    Authorised,
}

/// The mini program's answer to a complaint: agree to settle (1) or refuse (2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettlementDecision {
    Agree,
    Refuse,
}

impl SettlementDecision {
    /// The platform's code: 1 agree, 2 refuse.
    pub fn code(self) -> u8 {
        match self {
            SettlementDecision::Agree => 1,
            SettlementDecision::Refuse => 2,
        }
    }
}

/// Automatic response to new mini-program complaints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoResponse {
    pub enabled: bool,
    pub decision: SettlementDecision,
    /// 回应内容.
    #[serde(default)]
    pub text: String,
    /// 回应图片: ids from `POST /admin/v1/media`.
    #[serde(default)]
    pub images: Vec<String>,
}

/// Which WeChat Pay account takes a mini program's payments (used for refunds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentLink {
    /// Our id of a `wechatpay_merchant` or `wechatpay_provider` account.
    pub account_id: String,
    /// With a provider: the sub-merchant that receives the payments.
    #[serde(default)]
    pub sub_mchid: Option<String>,
}

/// What an authorised mini program granted us (filled in by the authorisation flow).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuthorizationInfo {
    /// Permission set ids (func_info) granted.
    pub permission_sets: Vec<u32>,
    pub authorized_at: DateTime<Utc>,
    /// False after an `unauthorized` event.
    pub active: bool,
}

/// A WeChat Mini Program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WxminiAppSettings {
    pub appid: String,
    pub mode: WxminiMode,
    /// With `authorised`: our id of the `wxopen_component` account.
    #[serde(default)]
    pub component_account_id: Option<String>,
    #[serde(default)]
    pub auto_response: Option<AutoResponse>,
    #[serde(default)]
    pub auto_refund: bool,
    #[serde(default)]
    pub refund_cap_fen: Option<u64>,
    #[serde(default)]
    pub payment: Option<PaymentLink>,
    /// Set by the authorisation flow; read-only through the API.
    #[serde(default)]
    pub authorization: Option<AuthorizationInfo>,
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Accept plaintext message pushes (manual mode only; default false). UNSAFE: a plaintext
    /// push's signature covers no body, so anyone who saw one signed URL (proxy logs keep
    /// query strings) can post their own body within the timestamp window. Needed only when
    /// the mini program's push is set to plaintext mode or it has no EncodingAESKey; prefer
    /// safe mode.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Deadline reminders, escalation and the daily digest (defaults on).
    #[serde(default)]
    pub deadlines: DeadlineSettings,
}

/// A WeChat Open Platform third-party platform (第三方平台) used for one-click authorisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WxopenComponentSettings {
    pub component_appid: String,
    #[serde(default)]
    pub api_base_url: Option<String>,
    /// Where WeChat's authorisation page lives (default `https://mp.weixin.qq.com/`; tests point
    /// it at a simulator).
    #[serde(default)]
    pub auth_page_base_url: Option<String>,
}

/// Whether one secret is set, and a fingerprint to compare with what you hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretStatus {
    pub set: bool,
    /// Keys and certificates: SHA-256 (hex) of the public key (SubjectPublicKeyInfo DER) or of
    /// the certificate DER. Short secrets: first 8 hex characters of an HMAC-SHA256 under the
    /// installation's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// For lists (platform certificates): how many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<usize>,
}

impl SecretStatus {
    pub fn unset() -> Self {
        Self {
            set: false,
            fingerprint: None,
            count: None,
        }
    }

    pub fn set(fingerprint: String) -> Self {
        Self {
            set: true,
            fingerprint: Some(fingerprint),
            count: None,
        }
    }
}

/// The credential status of an account: never the values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CredentialsStatus {
    /// Every credential the account's mode needs is set.
    pub complete: bool,
    /// Alipay key mode (`certificate` or `public_key`), when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Non-secret identifiers that came with the credentials (e.g. the WeChat Pay public key id).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub identifiers: BTreeMap<String, String>,
    pub fields: BTreeMap<String, SecretStatus>,
    /// What the mode still needs before the account can act on the platform.
    #[serde(default)]
    pub missing: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// Alipay key modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlipayKeyMode {
    /// 公钥证书模式: app private key, app certificate, Alipay certificate, Alipay root certificate.
    Certificate,
    /// 公钥模式: app private key and the Alipay public key.
    PublicKey,
}

impl AlipayKeyMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AlipayKeyMode::Certificate => "certificate",
            AlipayKeyMode::PublicKey => "public_key",
        }
    }
}

/// The credential bundle of an account, as kept in the secret store (one secret per account).
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Credentials {
    Alipay(AlipayCredentials),
    Wechatpay(WechatpayCredentials),
    WechatApp(WechatAppCredentials),
    /// The bundle of a kind another platform declares: its secrets by field name.
    Open(OpenCredentials),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

/// Alipay app keys; which fields are required depends on `mode`.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct AlipayCredentials {
    pub mode: Option<AlipayKeyMode>,
    pub app_private_key: Option<Sensitive>,
    pub app_cert: Option<Sensitive>,
    pub alipay_cert: Option<Sensitive>,
    pub alipay_root_cert: Option<Sensitive>,
    pub alipay_public_key: Option<Sensitive>,
}

/// WeChat Pay API v3 keys. Verification works with platform certificates, the WeChat Pay
/// public key, or both at once.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct WechatpayCredentials {
    /// Merchant API private key (apiclient_key.pem).
    pub private_key: Option<Sensitive>,
    /// API v3 key (32 characters).
    pub apiv3_key: Option<Sensitive>,
    /// Platform certificates (PEM), if entered by hand; more are downloaded as needed.
    #[serde(default)]
    pub platform_certificates: Vec<Sensitive>,
    /// WeChat Pay public key (PEM).
    pub wechatpay_public_key: Option<Sensitive>,
    /// Its id, `PUB_KEY_ID_...`.
    pub wechatpay_public_key_id: Option<String>,
}

/// App secret, message-push token and EncodingAESKey (mini program in manual mode, third-party
/// platform).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct WechatAppCredentials {
    pub secret: Option<Sensitive>,
    pub token: Option<Sensitive>,
    pub encoding_aes_key: Option<Sensitive>,
}

/// The secrets of a kind the domain has no type for, by field name, as its platform's
/// credentials check accepted them.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct OpenCredentials {
    pub kind: String,
    #[serde(default)]
    pub fields: BTreeMap<String, Sensitive>,
}

/// A provider's sub-merchant (子商户).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SubMerchant {
    /// Our id of the provider account.
    pub account_id: String,
    pub sub_mchid: String,
    pub name: String,
    /// 商户回复用户内容 for this sub-merchant's complaints. None: the provider's default.
    pub reply_text: Option<String>,
    pub auto_refund: bool,
    /// None: the provider's cap.
    pub refund_cap_fen: Option<u64>,
    /// Disabled: no automatic action and no notice to its own staff; the provider still hears.
    pub enabled: bool,
    /// Its own deadline settings for its complaints (reminders to its staff, whether to
    /// escalate); None: the provider account's. Its escalations go to the provider's staff, so
    /// it has no extra recipients of its own.
    #[serde(default)]
    pub deadlines: Option<DeadlineSettings>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A three-way field in a partial update: omitted keeps the value, `null` clears it, a value
/// replaces it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// Apply this patch to the current value.
    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Patch::Keep => current,
            Patch::Clear => None,
            Patch::Set(v) => Some(v),
        }
    }

    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Only called when the field is present (use with `#[serde(default)]`).
        Ok(match Option::<T>::deserialize(deserializer)? {
            None => Patch::Clear,
            Some(v) => Patch::Set(v),
        })
    }
}

/// TLS on the SMTP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// TLS from the first byte (port 465; 163 Mail).
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 587 or 25).
    Starttls,
    /// No TLS (a relay on the same host only).
    None,
}

/// E-mail channel (non-secret part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmailChannel {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// From address; with 163 Mail it must equal the login.
    pub sender: String,
    /// SMTP login; None means the sender address.
    pub username: Option<String>,
    pub recipients: Vec<String>,
    /// Extra trusted root certificate (PEM) for a server with a private CA; public mail
    /// services need none.
    #[serde(default)]
    pub tls_root_pem: Option<String>,
}

/// Official-account template message channel (non-secret part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OaTemplateChannel {
    /// The official account's appId.
    pub appid: String,
    pub template_id: String,
    /// Recipients' openids under that official account.
    pub openids: Vec<String>,
    /// Template key → complaint field (`platform`, `merchant`, `complaint_id`, `time`,
    /// `amount`, `user_text`, `deadline`, `event`).
    pub field_mapping: BTreeMap<String, String>,
    pub api_base_url: Option<String>,
}

/// Tencent Cloud SMS channel (non-secret part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SmsChannel {
    /// Tencent Cloud SecretId (an identifier; the SecretKey is the secret).
    pub secret_id: String,
    /// SmsSdkAppId.
    pub sdk_app_id: String,
    /// SignName (短信签名).
    pub sign_name: String,
    pub template_id: String,
    /// E.164 numbers (+8613...).
    pub phone_numbers: Vec<String>,
    /// Region (default ap-guangzhou).
    pub region: Option<String>,
    pub api_base_url: Option<String>,
    /// The template variable (1-based, [`SMS_LINK_PARAMS`]) that carries the link to the
    /// console: the path after the console's base URL (`CONSOLE_BASE_URL`, by default
    /// `PUBLIC_BASE_URL`), the template holding `https://your-host/`
    /// as fixed text (Tencent refuses a URL in a variable). None: the template has the three
    /// variables only and no link is sent.
    #[serde(default)]
    pub link_param: Option<u8>,
}

/// The positions an SMS link variable may take: the first three carry what happened, who
/// and the complaint's number.
pub const SMS_LINK_PARAMS: std::ops::RangeInclusive<u8> = 4..=10;

/// Group bot kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BotKind {
    Wecom,
    Dingtalk,
    Feishu,
}

/// Group bot channel (non-secret part; the webhook URL and signing secret are secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BotChannel {
    /// Your name for this bot, unique within the settings.
    pub id: String,
    pub kind: BotKind,
}

/// Staff notification settings of an account or a sub-merchant (non-secret part). Any
/// channels at the same time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NotificationSettings {
    pub email: Option<EmailChannel>,
    pub oa_template: Option<OaTemplateChannel>,
    pub sms: Option<SmsChannel>,
    pub bots: Vec<BotChannel>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// The secret part of notification settings, kept in the secret store.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct NotificationSecrets {
    /// SMTP authorisation code (授权码).
    pub email_auth_code: Option<Sensitive>,
    /// Official account AppSecret.
    pub oa_secret: Option<Sensitive>,
    /// Tencent Cloud SecretKey.
    pub sms_secret_key: Option<Sensitive>,
    /// Per bot id.
    #[serde(default)]
    pub bots: BTreeMap<String, BotSecrets>,
    /// Where each secret was saved to be sent ([`NotificationSettings::destination`] by
    /// channel key, when it was saved): a secret is only ever sent there. Empty in secrets
    /// saved by versions before the binding.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub destinations: BTreeMap<String, String>,
}

/// The channels whose secret goes to a destination named in the settings (a bot's webhook
/// URL is itself the secret, so a bot's secrets always go where they say).
pub const BOUND_CHANNELS: [&str; 3] = ["email", "oa_template", "sms"];

impl NotificationSettings {
    /// Where the channel's secret is sent, by channel key ([`BOUND_CHANNELS`]): every setting
    /// that changes the receiving server. None when the channel is not configured.
    pub fn destination(&self, channel: &str) -> Option<String> {
        match channel {
            "email" => self.email.as_ref().map(|e| {
                format!(
                    "smtp|{}|{}|{:?}|{}",
                    e.host.trim().to_ascii_lowercase(),
                    e.port,
                    e.tls,
                    e.tls_root_pem.as_deref().unwrap_or("")
                )
            }),
            "oa_template" => self
                .oa_template
                .as_ref()
                .map(|o| format!("oa|{}|{}", o.appid, o.api_base_url.as_deref().unwrap_or(""))),
            "sms" => self.sms.as_ref().map(|s| {
                format!(
                    "sms|{}|{}|{}|{}",
                    s.sdk_app_id,
                    s.secret_id,
                    s.region.as_deref().unwrap_or(""),
                    s.api_base_url.as_deref().unwrap_or("")
                )
            }),
            _ => None,
        }
    }
}

impl NotificationSecrets {
    /// Bind every secret to where the settings send it (done on every save).
    pub fn bind(&mut self, settings: &NotificationSettings) {
        self.destinations = BOUND_CHANNELS
            .iter()
            .filter_map(|c| settings.destination(c).map(|d| (c.to_string(), d)))
            .collect();
    }

    /// Is the channel's secret, if any, saved for where these settings send it? A channel
    /// without a secret has nothing to give away; secrets saved before the binding existed
    /// (no destinations at all) are taken as they are.
    pub fn fits(&self, channel: &str, settings: &NotificationSettings) -> bool {
        let has_secret = match channel {
            "email" => self.email_auth_code.is_some(),
            "oa_template" => self.oa_secret.is_some(),
            "sms" => self.sms_secret_key.is_some(),
            _ => false,
        };
        !has_secret
            || self.destinations.is_empty()
            || self.destinations.get(channel) == settings.destination(channel).as_ref()
    }

    /// Forget the secrets that were not saved for where these settings send them (a write
    /// of other settings is under way, or failed half-way): they may not be kept.
    pub fn drop_unfit(&mut self, settings: &NotificationSettings) {
        if !self.fits("email", settings) {
            self.email_auth_code = None;
        }
        if !self.fits("oa_template", settings) {
            self.oa_secret = None;
        }
        if !self.fits("sms", settings) {
            self.sms_secret_key = None;
        }
    }

    /// Does every secret fit these settings, and was it bound when saved? If not, a cached
    /// copy may be stale: read it again past the cache before using it.
    pub fn needs_fresh_read(&self, settings: &NotificationSettings) -> bool {
        let any_secret = self.email_auth_code.is_some()
            || self.oa_secret.is_some()
            || self.sms_secret_key.is_some();
        (any_secret && self.destinations.is_empty())
            || BOUND_CHANNELS.iter().any(|c| !self.fits(c, settings))
    }
}

impl std::fmt::Debug for NotificationSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotificationSecrets([redacted])")
    }
}

/// A bot's webhook URL (it carries the access token) and optional signing secret.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct BotSecrets {
    pub webhook_url: Option<Sensitive>,
    pub signing_secret: Option<Sensitive>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct P {
        #[serde(default)]
        a: Patch<String>,
    }

    #[test]
    fn patch_distinguishes_omitted_null_and_value() {
        let omitted: P = serde_json::from_str("{}").expect("json");
        let null: P = serde_json::from_str(r#"{"a":null}"#).expect("json");
        let value: P = serde_json::from_str(r#"{"a":"x"}"#).expect("json");
        assert_eq!(omitted.a, Patch::Keep);
        assert_eq!(null.a, Patch::Clear);
        assert_eq!(value.a, Patch::Set("x".to_string()));
        assert_eq!(Patch::Keep.apply(Some(1)), Some(1));
        assert_eq!(Patch::<i32>::Clear.apply(Some(1)), None);
        assert_eq!(Patch::Set(2).apply(Some(1)), Some(2));
    }

    #[test]
    fn account_serialises_kind_and_settings_side_by_side() {
        let a = Account {
            id: "acc_1".into(),
            name: "Shop".into(),
            enabled: true,
            settings: AccountSettings::AlipayApp(AlipayAppSettings {
                app_id: "2021000000000001".into(),
                reply_text: Some("hi".into()),
                auto_refund: true,
                refund_cap_fen: Some(1000),
                refund_finish_text: None,
                refund_finish_remark: Some("已退款".into()),
                api_base_url: None,
                deadlines: DeadlineSettings::default(),
            }),
            credentials: CredentialsStatus::default(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        let v = serde_json::to_value(&a).expect("serialise");
        assert_eq!(v["kind"], "alipay_app");
        assert_eq!(v["settings"]["app_id"], "2021000000000001");
        let back: Account = serde_json::from_value(v).expect("deserialise");
        assert_eq!(back, a);
        assert_eq!(back.platform_id(), "2021000000000001");
    }

    #[test]
    fn alipay_finishing_texts_have_their_own_defaults_not_the_reply_text() {
        let mut s: AlipayAppSettings = serde_json::from_value(serde_json::json!({
            "app_id": "2021000000000001", "reply_text": "您好，我们将在24小时内为您处理"
        }))
        .expect("settings without the new fields still read");
        assert_eq!(s.refund_finish_text(), DEFAULT_ALIPAY_REFUND_FINISH_TEXT);
        assert_eq!(
            s.refund_finish_remark(),
            DEFAULT_ALIPAY_REFUND_FINISH_REMARK
        );
        s.refund_finish_text = Some("退款已完成".into());
        s.refund_finish_remark = Some(" ".into());
        assert_eq!(s.refund_finish_text(), "退款已完成");
        assert_eq!(
            s.refund_finish_remark(),
            DEFAULT_ALIPAY_REFUND_FINISH_REMARK
        );
    }

    #[test]
    fn an_open_kind_is_stored_as_kind_and_settings_and_found_by_its_declared_field() {
        const KIND: AccountKind = AccountKind::new("domain_test_shop");
        let v = serde_json::json!({
            "id": "acc_2", "name": "Toy", "enabled": true,
            "kind": "domain_test_shop", "settings": {"shop_no": "42", "x": [1]},
            "credentials": {"complete": false, "fields": {}},
            "created_at": "2026-11-26T00:00:00Z", "updated_at": "2026-11-26T00:00:00Z",
        });
        let a: Account = serde_json::from_value(v.clone()).expect("an open kind reads");
        assert_eq!(a.kind(), KIND);
        assert!(matches!(a.settings, AccountSettings::Open(_)));
        assert_eq!(a.platform_id(), "", "no facts declared yet");
        AccountKind::declare(AccountKindFacts {
            kind: KIND,
            platform: crate::complaint::Platform::new("domain_test"),
            has_complaints: true,
            callback_family: "domain_test",
            platform_id_field: "shop_no",
            has_sub_merchants: false,
            budget_by_account_id: false,
        });
        assert_eq!(a.platform_id(), "42");
        assert_eq!(KIND.facts().map(|f| f.callback_family), Some("domain_test"));
        let back = serde_json::to_value(&a).expect("serialise");
        assert_eq!(back["kind"], v["kind"]);
        assert_eq!(back["settings"], v["settings"]);
        // Today's kinds keep their typed settings and serde's messages.
        let e = AccountSettings::from_parts(AccountKind::AlipayApp, serde_json::json!({}))
            .expect_err("app_id is required");
        assert!(e.contains("missing field `app_id`"), "{e}");
        assert!(AccountSettings::from_parts(KIND, serde_json::json!([])).is_err());
    }

    #[test]
    fn deadline_settings_read_with_defaults_from_every_kind_and_mask_their_recipients() {
        let stored = AccountSettings::from_parts(
            AccountKind::WechatpayMerchant,
            serde_json::json!({"mchid": "1900000109", "appid": "wx2c2769f8efd9abc2",
                               "merchant_serial_no": "AB12"}),
        )
        .expect("settings stored before the field existed still read");
        assert_eq!(stored.deadlines(), DeadlineSettings::default());
        let open = |deadlines: serde_json::Value| {
            AccountSettings::from_parts(
                AccountKind::new("domain_test_deadlines"),
                serde_json::json!({"shop": "1", "deadlines": deadlines}),
            )
            .expect("open")
        };
        let mut o = open(serde_json::json!({"reminders": false,
            "escalation_recipients": {"emails": ["boss@example.com"], "phones": ["+8613800001234"]}}));
        assert!(!o.deadlines().reminders);
        assert_eq!(o.deadlines().remind_at_percent, vec![50, 80]);
        assert_eq!(
            open(serde_json::json!("nonsense")).deadlines(),
            DeadlineSettings::default()
        );
        o.mask_escalation_recipients();
        let r = o.deadlines().escalation_recipients;
        assert_eq!(r.emails, vec!["b***@example.com".to_string()]);
        assert_eq!(r.phones, vec!["+86****1234".to_string()]);
        let mut typed = stored;
        if let AccountSettings::WechatpayMerchant(s) = &mut typed {
            s.deadlines.escalation_recipients.oa_openids =
                vec!["oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()];
        }
        typed.mask_escalation_recipients();
        assert_eq!(
            typed.deadlines().escalation_recipients.oa_openids,
            vec!["oUpF***".to_string()]
        );
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let c = Credentials::WechatApp(WechatAppCredentials {
            secret: Some(Sensitive::new("s3cr3t-value")),
            ..Default::default()
        });
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
