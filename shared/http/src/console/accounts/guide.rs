//! What the account pages say about each kind: who it is for, where in the platform's own
//! console each value is found, and which callback URLs to paste there. The inputs themselves
//! come from the kind's schemas (see [`super::form`]); this is only the words around them.

use crate::console::Lang;
use domain::account::AccountKindFacts;

/// One step of a guide: `(中文, English)`.
pub type Step = (&'static str, &'static str);

/// A callback URL the platform must be told: what it is called there, and its path with
/// `{id}` where the account's platform id goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallbackPath {
    pub label: Step,
    pub path: &'static str,
}

/// The words of one account kind.
#[derive(Debug, Clone, Copy)]
pub struct Guide {
    pub title: Step,
    /// One sentence: who the kind is for.
    pub who: Step,
    pub steps: &'static [Step],
    pub callbacks: &'static [CallbackPath],
    /// The platform registers its callback through the API (a "register" button on the
    /// account's page) rather than by pasting.
    pub registered_by_api: bool,
}

const WECHATPAY_STEPS: &[Step] = &[
    (
        "打开微信支付商户平台（pay.weixin.qq.com）→ 账户中心 → 商户信息：把「微信支付商户号」填到「mchid」。",
        "Open the WeChat Pay merchant platform (pay.weixin.qq.com) → 账户中心 (Account) → 商户信息: copy the 微信支付商户号 (merchant number) into \"mchid\".",
    ),
    (
        "产品中心 → AppID账号管理：把与商户号绑定的 AppID 填到「appid」。",
        "产品中心 → AppID账号管理: copy the AppID bound to the merchant number into \"appid\".",
    ),
    (
        "账户中心 → API安全 → 商户API证书：把「证书序列号」填到「merchant_serial_no」，把下载的 apiclient_key.pem 的全部内容粘贴到「private_key」。",
        "账户中心 → API安全 → 商户API证书: copy the certificate serial number (证书序列号) into \"merchant_serial_no\" and paste the whole apiclient_key.pem you downloaded into \"private_key\".",
    ),
    (
        "账户中心 → API安全 → APIv3密钥：填入您设置的 32 位密钥（平台不再显示它；忘了就重新设置）。",
        "账户中心 → API安全 → APIv3密钥: type the 32-character key you set (the platform never shows it again; if lost, set a new one).",
    ),
    (
        "如果商户平台给了「微信支付公钥」（API安全 → 微信支付公钥），粘贴公钥 PEM 并填写它的公钥 ID（PUB_KEY_ID_…）；没有就留空，平台证书会自动下载。",
        "If the merchant platform offers a WeChat Pay public key (API安全 → 微信支付公钥), paste its PEM and its id (PUB_KEY_ID_…); otherwise leave both empty and the platform certificates are downloaded automatically.",
    ),
    (
        "创建后，在账户页点「向微信支付登记回调地址」：投诉通知地址由本系统通过接口登记，不用在商户平台里手填。",
        "After creating it, press \"Register with WeChat Pay\" on the account's page: the complaint notification URL is registered through the API; nothing to type in the merchant platform.",
    ),
];

const ALIPAY_STEPS: &[Step] = &[
    (
        "打开支付宝开放平台（open.alipay.com）→ 控制台 → 我的应用：把应用的 APPID 填到「app_id」。",
        "Open the Alipay open platform (open.alipay.com) → 控制台 → 我的应用: copy the app's APPID into \"app_id\".",
    ),
    (
        "应用 → 开发设置 → 接口加签方式：看是「公钥证书」还是「公钥」模式，在下面的「mode」里选同一种。",
        "App → 开发设置 (development settings) → 接口加签方式 (signing method): see whether it is 公钥证书 (certificate) or 公钥 (public key) mode, and choose the same \"mode\" below.",
    ),
    (
        "用支付宝密钥工具生成的「应用私钥」粘贴到「app_private_key」。",
        "Paste the app private key (应用私钥) made with Alipay's key tool into \"app_private_key\".",
    ),
    (
        "公钥证书模式：粘贴 appCertPublicKey_*.crt、alipayCertPublicKey_RSA2.crt、alipayRootCert.crt 三个文件的内容；公钥模式：粘贴「支付宝公钥」。",
        "Certificate mode: paste the contents of appCertPublicKey_*.crt, alipayCertPublicKey_RSA2.crt and alipayRootCert.crt; public-key mode: paste the Alipay public key (支付宝公钥).",
    ),
    (
        "开发设置 → 应用网关：填下面的回调地址；消息服务里订阅 alipay.merchant.tradecomplain.changed 和 alipay.security.risk.complaints.merchants.notify。",
        "开发设置 → 应用网关 (app gateway): paste the callback URL below; in the message service subscribe alipay.merchant.tradecomplain.changed and alipay.security.risk.complaints.merchants.notify.",
    ),
];

const WXMINI_STEPS: &[Step] = &[
    (
        "打开微信公众平台（mp.weixin.qq.com），用小程序管理员登录 → 开发 → 开发管理 → 开发设置：把 AppID 填到「appid」，把 AppSecret 填到「secret」（忘了就重置）。",
        "Open the WeChat official platform (mp.weixin.qq.com) as the mini program's administrator → 开发 → 开发管理 → 开发设置: copy the AppID into \"appid\" and the AppSecret into \"secret\" (reset it if lost).",
    ),
    (
        "「mode」选 manual（手动接入）；经第三方平台一键授权的小程序不用在这里创建，授权后会自动出现。",
        "Choose \"manual\" for \"mode\"; a mini program authorised through a third-party platform is not created here: it appears by itself once authorised.",
    ),
    (
        "自己设定一个 Token 和一个 43 位的 EncodingAESKey（也可以在下一步的微信页面上随机生成），填到下面的「token」和「encoding_aes_key」。",
        "Choose a Token and a 43-character EncodingAESKey (or let the WeChat page in the next step generate one) and type them into \"token\" and \"encoding_aes_key\" below.",
    ),
    (
        "创建账户后，回到微信公众平台 → 开发 → 开发管理 → 开发设置 → 消息推送（旧版后台：开发 → 开发设置 → 消息推送），管理员扫码启用：URL 填下面的回调地址，Token 和 EncodingAESKey 填与这里完全相同的值，消息加解密方式选「安全模式」，数据格式 JSON 或 XML 都可以。提交时微信会立即访问这个地址做验证，所以必须先创建账户。",
        "After creating the account, go back to the WeChat official platform → 开发 → 开发管理 → 开发设置 → 消息推送 (older console: 开发 → 开发设置 → 消息推送) and enable it by scanning as the administrator: set the URL to the callback URL below, the Token and EncodingAESKey to exactly the values typed here, choose 安全模式 (safe mode); JSON or XML both work. WeChat checks the URL as soon as you submit, so the account must exist first.",
    ),
];

const WXOPEN_STEPS: &[Step] = &[
    (
        "打开微信开放平台（open.weixin.qq.com）→ 管理中心 → 第三方平台 → 详情：把 AppID 填到「component_appid」，AppSecret 填到「secret」。",
        "Open the WeChat open platform (open.weixin.qq.com) → 管理中心 → 第三方平台 → details: copy the AppID into \"component_appid\" and the AppSecret into \"secret\".",
    ),
    (
        "开发资料 → 开发配置：把「消息校验Token」和「消息加解密Key」填到「token」和「encoding_aes_key」。",
        "开发资料 → 开发配置: copy 消息校验Token and 消息加解密Key into \"token\" and \"encoding_aes_key\".",
    ),
    (
        "同一页把下面两个地址分别填到「授权事件接收URL」和「消息与事件接收URL」，「授权发起页域名」填本系统的域名。",
        "On the same page paste the two URLs below into 授权事件接收URL and 消息与事件接收URL, and set 授权发起页域名 to this desk's domain.",
    ),
    (
        "微信每 10 分钟推送一次 component_verify_ticket；收到第一次之前不能授权。创建后在账户页生成「一键授权链接」发给小程序管理员。",
        "WeChat pushes a component_verify_ticket every 10 minutes; nothing can be authorised before the first one. After creating it, make a one-click authorisation link on the account's page and send it to the mini program's administrator.",
    ),
];

const WECHATPAY_MERCHANT: Guide = Guide {
    title: ("微信支付普通商户", "WeChat Pay merchant"),
    who: (
        "直接用自己的商户号收款的商家。",
        "A business that takes payments with its own WeChat Pay merchant number.",
    ),
    steps: WECHATPAY_STEPS,
    callbacks: &[CallbackPath {
        label: ("投诉通知回调地址", "Complaint notification URL"),
        path: "/callbacks/wechatpay/{id}/complaints",
    }],
    registered_by_api: true,
};

const WECHATPAY_PROVIDER: Guide = Guide {
    title: ("微信支付服务商", "WeChat Pay service provider"),
    who: (
        "替多个子商户收款的服务商；子商户在创建后的账户页添加。",
        "A service provider that takes payments for sub-merchants; add the sub-merchants on the account's page once created.",
    ),
    steps: WECHATPAY_STEPS,
    callbacks: &[
        CallbackPath {
            label: ("投诉通知回调地址", "Complaint notification URL"),
            path: "/callbacks/wechatpay/{id}/complaints",
        },
        CallbackPath {
            label: ("违规通知回调地址", "Violation notification URL"),
            path: "/callbacks/wechatpay/{id}/violations",
        },
    ],
    registered_by_api: true,
};

const ALIPAY_APP: Guide = Guide {
    title: ("支付宝应用", "Alipay app"),
    who: (
        "在支付宝开放平台有应用（证书模式或公钥模式）、接收交易投诉和消费者投诉的商家。",
        "A business with an app on the Alipay open platform (certificate or public-key mode) that receives trade and consumer complaints.",
    ),
    steps: ALIPAY_STEPS,
    callbacks: &[CallbackPath {
        label: ("应用网关", "App gateway (应用网关)"),
        path: "/callbacks/alipay/{id}",
    }],
    registered_by_api: false,
};

const WXMINI_APP: Guide = Guide {
    title: ("微信小程序（手动接入）", "WeChat mini program (by hand)"),
    who: (
        "自己有小程序 AppSecret、能在公众平台设置消息推送的商家。",
        "A business that holds its mini program's AppSecret and can set its message push in the WeChat official platform.",
    ),
    steps: WXMINI_STEPS,
    callbacks: &[CallbackPath {
        label: ("消息推送 URL", "Message push URL"),
        path: "/callbacks/wxmini/{id}",
    }],
    registered_by_api: false,
};

const WXOPEN_COMPONENT: Guide = Guide {
    title: ("微信第三方平台", "WeChat third-party platform"),
    who: (
        "用自己的第三方平台让多个小程序一键授权接入的服务商。",
        "A service provider whose own third-party platform lets many mini programs join with one-click authorisation.",
    ),
    steps: WXOPEN_STEPS,
    callbacks: &[
        CallbackPath {
            label: (
                "授权事件接收URL",
                "Authorisation event URL (授权事件接收URL)",
            ),
            path: "/callbacks/wxopen/{id}/events",
        },
        CallbackPath {
            label: (
                "消息与事件接收URL",
                "Message and event URL (消息与事件接收URL)",
            ),
            path: "/callbacks/wxopen/{id}/messages/$APPID$",
        },
    ],
    registered_by_api: false,
};

/// The guide of a kind (a kind a platform added later gets a plain one: its schema's
/// descriptions and its callback family).
pub fn of(facts: &AccountKindFacts) -> Guide {
    match facts.kind.as_str() {
        "wechatpay_merchant" => WECHATPAY_MERCHANT,
        "wechatpay_provider" => WECHATPAY_PROVIDER,
        "alipay_app" => ALIPAY_APP,
        "wxmini_app" => WXMINI_APP,
        "wxopen_component" => WXOPEN_COMPONENT,
        _ => Guide {
            title: ("账户", "Account"),
            who: ("", ""),
            steps: &[],
            callbacks: &[],
            registered_by_api: false,
        },
    }
}

/// The words of a settings or credentials field.
pub fn field_label(name: &str) -> Option<Step> {
    Some(match name {
        "mchid" => ("商户号（mchid）", "Merchant number (mchid)"),
        "appid" => ("AppID（appid）", "AppID (appid)"),
        "app_id" => ("应用 APPID（app_id）", "App id (app_id)"),
        "component_appid" => (
            "第三方平台 AppID（component_appid）",
            "Third-party platform AppID (component_appid)",
        ),
        "merchant_serial_no" => (
            "商户API证书序列号（merchant_serial_no）",
            "Merchant API certificate serial number (merchant_serial_no)",
        ),
        "reply_text" => ("自动回复内容", "Automatic reply text"),
        "default_reply_text" => (
            "子商户的默认自动回复内容",
            "Default reply for sub-merchants",
        ),
        "default_auto_refund" => (
            "未登记子商户的自动退款",
            "Automatic refund for sub-merchants not added here",
        ),
        "refund_finish_text" => (
            "退款后的交易投诉反馈",
            "Trade complaint feedback after a refund",
        ),
        "refund_finish_remark" => (
            "退款后的消费者投诉备注",
            "Consumer complaint remark after a refund",
        ),
        "api_base_url" => (
            "接口地址（高级，留空即正式环境）",
            "API address (advanced; empty: the real platform)",
        ),
        "auth_page_base_url" => (
            "授权页地址（高级，留空即微信）",
            "Authorisation page address (advanced; empty: WeChat's)",
        ),
        "mode" => ("模式（mode）", "Mode"),
        "component_account_id" => (
            "第三方平台账户（授权接入时）",
            "Third-party platform account (authorised mode)",
        ),
        "allow_plaintext" => (
            "接受明文推送（不安全，不推荐）",
            "Accept plaintext pushes (unsafe, not recommended)",
        ),
        "private_key" => (
            "商户API私钥 apiclient_key.pem（private_key）",
            "Merchant API private key, apiclient_key.pem (private_key)",
        ),
        "apiv3_key" => ("APIv3密钥（apiv3_key）", "API v3 key (apiv3_key)"),
        "wechatpay_public_key" => ("微信支付公钥（可选）", "WeChat Pay public key (optional)"),
        "wechatpay_public_key_id" => (
            "微信支付公钥 ID（可选）",
            "WeChat Pay public key id (optional)",
        ),
        "app_private_key" => (
            "应用私钥（app_private_key）",
            "App private key (app_private_key)",
        ),
        "app_cert" => (
            "应用公钥证书 appCertPublicKey_*.crt",
            "App certificate, appCertPublicKey_*.crt",
        ),
        "alipay_cert" => (
            "支付宝公钥证书 alipayCertPublicKey_RSA2.crt",
            "Alipay certificate, alipayCertPublicKey_RSA2.crt",
        ),
        "alipay_root_cert" => (
            "支付宝根证书 alipayRootCert.crt",
            "Alipay root certificate, alipayRootCert.crt",
        ),
        "alipay_public_key" => (
            "支付宝公钥（公钥模式）",
            "Alipay public key (public-key mode)",
        ),
        "secret" => ("AppSecret（secret）", "AppSecret (secret)"),
        "token" => ("消息推送 Token（token）", "Message push Token (token)"),
        "encoding_aes_key" => (
            "EncodingAESKey（encoding_aes_key）",
            "EncodingAESKey (encoding_aes_key)",
        ),
        _ => return None,
    })
}

/// A field's words in `lang` (its name when we have none).
pub fn label(lang: Lang, name: &str) -> String {
    match field_label(name) {
        Some((zh, en)) => lang.t(zh, en).to_string(),
        None => name.to_string(),
    }
}

/// A credential that is a PEM key or certificate (a text area).
pub fn is_pem(name: &str) -> bool {
    matches!(
        name,
        "private_key"
            | "wechatpay_public_key"
            | "app_private_key"
            | "app_cert"
            | "alipay_cert"
            | "alipay_root_cert"
            | "alipay_public_key"
    )
}

/// A credential that is not secret (shown and typed in the clear).
pub fn is_public_credential(name: &str) -> bool {
    matches!(name, "mode" | "wechatpay_public_key_id")
}

/// A callback URL of `path` for platform id `id` under `base` (none: the path alone).
pub fn callback_url(base: Option<&url::Url>, path: &str, id: &str) -> String {
    let path = path.replace("{id}", id);
    match base {
        Some(b) => format!("{}{path}", b.as_str().trim_end_matches('/')),
        None => path,
    }
}
