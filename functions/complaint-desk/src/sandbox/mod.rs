//! `--sandbox`: sandbox accounts in the instance's own store, one per platform, against the
//! platform simulators started inside this process (127.0.0.1, ports of the moment), and the
//! engine that pushes a test complaint for one of them ([`desk_http::try_it::TryIt`]) over our
//! own signed callback routes, exactly as the platform would.
//!
//! - WeChat Pay: a service provider with one sub-merchant (`沙箱门店`), refunds through the
//!   simulator's refund API;
//! - Alipay: an app in public-key mode;
//! - mini program: manual onboarding, encrypted (safe-mode) pushes, refunds through the
//!   WeChat Pay provider's sub-merchant.
//!
//! Each replies automatically and refunds automatically up to [`REFUND_CAP_FEN`], so a test
//! complaint under it is refunded and one above it waits for staff; each notifies its staff
//! through a bot on the bot simulator, so every notice has a delivery in the delivery log.
//! The simulators keep their complaints in memory: after a restart the accounts and their
//! complaints stay in the store, and new test complaints work as before.

mod accounts;
mod keys;

use accounts::Wanted;
use anyhow::Context;
use desk_core::Services;
use desk_core::complaints::complaint_id;
use desk_core::platform::Platforms;
use desk_http::try_it::{
    Pushed, SANDBOX_NAME_PREFIX, SandboxAccount, TestComplaint, TryIt, TryItError,
};
use domain::account::{AccountKind, SubMerchant};
use domain::complaint::Platform;
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
use sandbox::notify::NotifySim;
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimMini, WechatSim};
use serde_json::json;
use std::path::Path;
use std::sync::Arc;

/// Automatic refunds of the sandbox accounts stop above this: 5.00 yuan.
pub const REFUND_CAP_FEN: u64 = 500;

/// The sandbox's platform ids (not real merchants: numbers and appids no platform issues to
/// anyone we know of, apart from the demo's).
const PROVIDER_MCHID: &str = "1999999001";
const SUB_MCHID: &str = "1999999002";
const PAY_APPID: &str = "wxsandbox00000001a";
const ALIPAY_APP_ID: &str = "2021999999000001";
const MINI_APPID: &str = "wxsandbox00000002b";

/// The running sandbox: the simulators and the accounts pointed at them.
pub struct Sandbox {
    /// Our own server, as the platforms' pushes reach it.
    our_base: String,
    http: reqwest::Client,
    pay: WechatPaySim,
    alipay: AlipaySim,
    wx: WechatSim,
    /// Kept running: the staff bot's webhook.
    _bots: NotifySim,
    accounts: Vec<SandboxAccount>,
}

/// Start the simulators and make (or find and re-point) the sandbox accounts. `our_base`:
/// where this server listens, `http://127.0.0.1:PORT`.
pub async fn start(
    services: &Services,
    platforms: &Platforms,
    data_dir: &Path,
    our_base: &str,
) -> anyhow::Result<Arc<Sandbox>> {
    sandbox::install_tls_provider();
    let path = keys::path(data_dir);
    let mut kept = keys::load_or_create(&path)?;
    let sims = Simulators::start(&kept, our_base).await?;
    let before = kept.accounts.clone();
    let (pay, alipay, wx) = (&sims.pay, &sims.alipay, &sims.wx);
    // Each id is kept as soon as its account exists: a start that fails half-way finds the
    // accounts it made on the next one.
    let provider = accounts::ensure(
        services,
        platforms,
        before.wechatpay.as_deref(),
        provider_account(&kept, pay, &sims.merchant_key, &sims.webhook)?,
    )
    .await?;
    remember(&path, &mut kept, |a| &mut a.wechatpay, &provider)?;
    let alipay_id = accounts::ensure(
        services,
        platforms,
        before.alipay.as_deref(),
        alipay_account(alipay, &sims.app_key, &sims.webhook)?,
    )
    .await?;
    remember(&path, &mut kept, |a| &mut a.alipay, &alipay_id)?;
    let mini = accounts::ensure(
        services,
        platforms,
        before.wxmini.as_deref(),
        mini_account(&kept, wx, &provider, &sims.webhook),
    )
    .await?;
    remember(&path, &mut kept, |a| &mut a.wxmini, &mini)?;
    let account = |id: String, platform: Platform, name: &str| SandboxAccount {
        account_id: id,
        platform: platform.as_str().to_string(),
        name: format!("{SANDBOX_NAME_PREFIX}{name}"),
        refund_cap_fen: REFUND_CAP_FEN,
    };
    Ok(Arc::new(Sandbox {
        our_base: our_base.trim_end_matches('/').to_string(),
        http: reqwest::Client::new(),
        pay: sims.pay,
        alipay: sims.alipay,
        wx: sims.wx,
        _bots: sims.bots,
        accounts: vec![
            account(provider, Platform::Wechatpay, PROVIDER_NAME),
            account(alipay_id, Platform::Alipay, ALIPAY_NAME),
            account(mini, Platform::Wxmini, MINI_NAME),
        ],
    }))
}

/// Keep `id` as the account of `slot` (writing the kept file when it changed).
fn remember(
    path: &Path,
    kept: &mut keys::Kept,
    slot: fn(&mut keys::AccountIds) -> &mut Option<String>,
    id: &str,
) -> anyhow::Result<()> {
    let held = slot(&mut kept.accounts);
    if held.as_deref() != Some(id) {
        *held = Some(id.to_string());
        keys::save(path, kept)?;
    }
    Ok(())
}

/// The simulators of one run, knowing the sandbox's merchant, app and mini program with the
/// kept keys, and the keys the accounts are made with.
struct Simulators {
    pay: WechatPaySim,
    alipay: AlipaySim,
    wx: WechatSim,
    bots: NotifySim,
    merchant_key: rsa::RsaPrivateKey,
    app_key: rsa::RsaPrivateKey,
    /// The sandbox bot's webhook URL on `bots`.
    webhook: String,
}

impl Simulators {
    async fn start(kept: &keys::Kept, our_base: &str) -> anyhow::Result<Self> {
        let w = &kept.wechatpay;
        let pay_keys = PlatformKeys {
            cert_key: keys::key(&w.platform_cert_key, "WeChat Pay certificate key")?,
            cert_pem: w.platform_cert.clone(),
            cert_serial: w.platform_cert_serial.clone(),
            pub_key: keys::key(&w.platform_pub_key, "WeChat Pay public key")?,
            pub_key_id: w.platform_pub_key_id.clone(),
        };
        let merchant_key = keys::key(&w.merchant_key, "provider key")?;
        let pay = WechatPaySim::start(pay_keys, KeyMode::PublicKey)
            .await
            .context("cannot start the WeChat Pay simulator")?;
        pay.add_merchant(SimMerchant {
            mchid: PROVIDER_MCHID.into(),
            serial_no: w.merchant_serial_no.clone(),
            public_key: merchant_key.to_public_key(),
            apiv3_key: w.apiv3_key.clone(),
        });
        pay.add_sub_merchant(PROVIDER_MCHID, SUB_MCHID);

        let a = &kept.alipay;
        let app_key = keys::key(&a.app_key, "Alipay app key")?;
        let alipay = AlipaySim::start(
            AlipayKeys::from_keys(
                keys::key(&a.alipay_key, "Alipay key")?,
                keys::key(&a.root_key, "Alipay root key")?,
            ),
            AlipayMode::PublicKey,
        )
        .await
        .context("cannot start the Alipay simulator")?;
        alipay.add_app(SimApp {
            app_id: ALIPAY_APP_ID.into(),
            public_key: app_key.to_public_key(),
            app_cert_sn: None,
        });

        let m = &kept.wxmini;
        let wx = WechatSim::start()
            .await
            .context("cannot start the WeChat API simulator")?;
        wx.add_mini(SimMini {
            appid: MINI_APPID.into(),
            secret: m.secret.clone(),
            nick_name: "沙箱小程序".into(),
            push: Some(PushConfig {
                token: m.token.clone(),
                encoding_aes_key: m.encoding_aes_key.clone(),
                mode: PushMode::Safe,
                format: PushFormat::Xml,
                url: format!("{our_base}/callbacks/wxmini/{MINI_APPID}"),
            }),
        });
        let bots = NotifySim::start()
            .await
            .context("cannot start the bot simulator")?;
        let webhook = bots.add_bot("wecom", &kept.bot_token, None);
        Ok(Self {
            pay,
            alipay,
            wx,
            bots,
            merchant_key,
            app_key,
            webhook,
        })
    }
}

const PROVIDER_NAME: &str = "微信支付服务商 WeChat Pay provider";
const ALIPAY_NAME: &str = "支付宝应用 Alipay app";
const MINI_NAME: &str = "小程序 Mini Program";

fn provider_account(
    kept: &keys::Kept,
    pay: &WechatPaySim,
    key: &rsa::RsaPrivateKey,
    webhook: &str,
) -> anyhow::Result<Wanted> {
    let w = &kept.wechatpay;
    Ok(Wanted {
        kind: AccountKind::WechatpayProvider,
        name: format!("{SANDBOX_NAME_PREFIX}{PROVIDER_NAME}"),
        settings: json!({"mchid": PROVIDER_MCHID, "appid": PAY_APPID, "merchant_serial_no": w.merchant_serial_no,
            "reply_text": "您好，我们已收到您的投诉，正在处理。", "auto_refund": true,
            "default_reply_text": "您好，我们已收到您的投诉，正在处理。", "default_auto_refund": true,
            "refund_cap_fen": REFUND_CAP_FEN, "api_base_url": pay.base_url()}),
        credentials: json!({"private_key": keys::pem(key)?, "apiv3_key": w.apiv3_key,
            "wechatpay_public_key": pay.keys().public_key_pem(), "wechatpay_public_key_id": w.platform_pub_key_id}),
        sub_merchant: Some(SubMerchant {
            account_id: String::new(),
            sub_mchid: SUB_MCHID.into(),
            name: "沙箱门店 Sandbox shop".into(),
            reply_text: Some("您好，门店已收到您的投诉，正在为您处理退款。".into()),
            auto_refund: true,
            refund_cap_fen: None,
            enabled: true,
            deadlines: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }),
        bot_webhook: webhook.to_string(),
    })
}

fn alipay_account(
    alipay: &AlipaySim,
    app_key: &rsa::RsaPrivateKey,
    webhook: &str,
) -> anyhow::Result<Wanted> {
    Ok(Wanted {
        kind: AccountKind::AlipayApp,
        name: format!("{SANDBOX_NAME_PREFIX}{ALIPAY_NAME}"),
        settings: json!({"app_id": ALIPAY_APP_ID, "reply_text": "您好，我们已收到您的投诉，正在为您处理。",
            "auto_refund": true, "refund_cap_fen": REFUND_CAP_FEN, "api_base_url": alipay.gateway_url()}),
        credentials: json!({"mode": "public_key", "app_private_key": keys::pem(app_key)?,
            "alipay_public_key": alipay.keys().alipay_public_key_pem()}),
        sub_merchant: None,
        bot_webhook: webhook.to_string(),
    })
}

fn mini_account(kept: &keys::Kept, wx: &WechatSim, provider: &str, webhook: &str) -> Wanted {
    let m = &kept.wxmini;
    Wanted {
        kind: AccountKind::WxminiApp,
        name: format!("{SANDBOX_NAME_PREFIX}{MINI_NAME}"),
        settings: json!({"appid": MINI_APPID, "mode": "manual", "api_base_url": wx.base_url(),
            "auto_response": {"enabled": true, "decision": "agree", "text": "您好，我们已收到您的投诉，正在为您处理。"},
            "auto_refund": true, "refund_cap_fen": REFUND_CAP_FEN,
            "payment": {"account_id": provider, "sub_mchid": SUB_MCHID}}),
        credentials: json!({"secret": m.secret, "token": m.token, "encoding_aes_key": m.encoding_aes_key}),
        sub_merchant: None,
        bot_webhook: webhook.to_string(),
    }
}

/// A number unique to this push (milliseconds now and a random part), for the platforms' ids.
fn unique() -> (i64, u32) {
    (
        chrono::Utc::now().timestamp_millis(),
        rand::random::<u32>() % 1_000_000,
    )
}

/// What was pushed: the platform's complaint id and our record's.
struct Sent {
    platform_complaint_id: String,
    complaint_id: String,
    callback_status: u16,
}

impl Sandbox {
    /// A WeChat Pay complaint about the sub-merchant's order: `COMPLAINT.CREATE`, signed with
    /// the platform's public key and encrypted with the provider's API v3 key.
    async fn push_wechatpay(
        &self,
        account_id: &str,
        test: &TestComplaint,
    ) -> Result<Sent, TryItError> {
        let (ms, r) = unique();
        let id = format!("2002{ms:013}{r:06}");
        self.pay.add_complaint_for(
            PROVIDER_MCHID,
            crate::fixtures::WechatpayComplaint {
                complaint_id: &id,
                sub_mchid: SUB_MCHID,
                text: &test.text,
                transaction_id: &format!("4200{ms:013}{r:06}"),
                out_trade_no: &format!("SANDBOX-{ms}-{r}"),
                amount_fen: test.amount_fen,
            }
            .to_json(),
        );
        let push = self
            .pay
            .complaint_push(&id, "CREATE_COMPLAINT", chrono::Utc::now())
            .ok_or_else(|| TryItError::Failed("the simulator has no such complaint".into()))?;
        let url = format!(
            "{}/callbacks/wechatpay/{PROVIDER_MCHID}/complaints",
            self.our_base
        );
        let status = push.post(&url).await.map_err(TryItError::Failed)?;
        if status != 204 {
            return Err(TryItError::Refused(format!("HTTP {status}")));
        }
        Ok(Sent {
            complaint_id: complaint_id(Platform::Wechatpay, account_id, &id),
            platform_complaint_id: id,
            callback_status: status,
        })
    }

    /// An Alipay trade complaint: `alipay.merchant.tradecomplain.changed`, RSA2-signed form.
    async fn push_alipay(
        &self,
        account_id: &str,
        test: &TestComplaint,
    ) -> Result<Sent, TryItError> {
        let (ms, r) = unique();
        let id = format!("{ms}{r:06}");
        let trade_no = format!("{}2200{ms:013}{r:06}", chrono::Utc::now().format("%Y%m%d"));
        self.alipay
            .add_trade_complaint(crate::fixtures::alipay_trade_complaint(
                &id,
                &trade_no,
                &test.text,
                test.amount_fen,
                None,
            ));
        let msg = self.alipay.trade_message(ALIPAY_APP_ID, &id);
        let url = format!("{}/callbacks/alipay/{ALIPAY_APP_ID}", self.our_base);
        let res = self
            .http
            .post(&url)
            .form(&msg)
            .timeout(std::time::Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| TryItError::Failed(e.without_url().to_string()))?;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        if body.trim() != "success" {
            return Err(TryItError::Refused(format!(
                "HTTP {status} {:?}",
                body.chars().take(100).collect::<String>()
            )));
        }
        Ok(Sent {
            // The record id of a trade complaint (the family is part of it).
            complaint_id: complaint_id(Platform::Alipay, account_id, &format!("trade:{id}")),
            platform_complaint_id: id,
            callback_status: status,
        })
    }

    /// A mini-program trade complaint: an encrypted `complaint_callback` push (safe mode); the
    /// order is one paid to the WeChat Pay simulator, so it can be refunded.
    async fn push_wxmini(
        &self,
        account_id: &str,
        test: &TestComplaint,
    ) -> Result<Sent, TryItError> {
        let (ms, r) = unique();
        // At most 16 digits: exact in any JSON reader.
        let coid =
            u64::try_from(ms).unwrap_or_default() % 10_000_000_000_000 * 100 + u64::from(r % 100);
        let order_id = format!("4200{ms:013}{r:06}");
        let out_trade_no = format!("SANDBOX-MINI-{ms}-{r}");
        self.wx.add_complaint(
            MINI_APPID,
            crate::fixtures::WxminiComplaint {
                complaint_order_id: coid,
                now: chrono::Utc::now().timestamp(),
                text: &test.text,
                order_id: &order_id,
                out_trade_no: &out_trade_no,
                product_name: "沙箱商品",
                amount_fen: test.amount_fen,
            }
            .to_json(),
        );
        self.pay
            .add_order(&order_id, &out_trade_no, test.amount_fen);
        let id = coid.to_string();
        let status = self
            .wx
            .push_complaint(&id)
            .await
            .map_err(TryItError::Failed)?;
        if !(200..300).contains(&status) {
            return Err(TryItError::Refused(format!("HTTP {status}")));
        }
        Ok(Sent {
            complaint_id: complaint_id(Platform::Wxmini, account_id, &id),
            platform_complaint_id: id,
            callback_status: status,
        })
    }
}

#[async_trait::async_trait]
impl TryIt for Sandbox {
    async fn accounts(&self) -> Vec<SandboxAccount> {
        self.accounts.clone()
    }

    async fn push(&self, account_id: &str, test: TestComplaint) -> Result<Pushed, TryItError> {
        let account = self
            .accounts
            .iter()
            .find(|a| a.account_id == account_id)
            .ok_or_else(|| TryItError::UnknownAccount(account_id.to_string()))?;
        let sent = match account.platform.as_str() {
            p if p == Platform::Wechatpay.as_str() => {
                self.push_wechatpay(account_id, &test).await?
            }
            p if p == Platform::Alipay.as_str() => self.push_alipay(account_id, &test).await?,
            _ => self.push_wxmini(account_id, &test).await?,
        };
        tracing::info!(account_id, platform = %account.platform, platform_complaint_id = %sent.platform_complaint_id, "sandbox: test complaint pushed");
        Ok(Pushed {
            account_id: account_id.to_string(),
            platform: account.platform.clone(),
            platform_complaint_id: sent.platform_complaint_id,
            complaint_id: Some(sent.complaint_id),
            amount_fen: test.amount_fen,
            within_refund_cap: test.amount_fen <= account.refund_cap_fen,
            callback_status: sent.callback_status,
        })
    }
}
