//! `complaint-desk demo`: the WeChat Pay simulator in-process, a demo provider pointed at it,
//! and one complaint pushed through the real HTTP path (signed, encrypted callback → queue →
//! worker → reply, refund, complete → notification jobs). Each step is printed as it is
//! observed through the admin API and the simulator. Data lives in a temporary directory.

use crate::adapters::{Embedded, open, queue_worker};
use crate::fixtures::{WechatpayComplaint, WxminiComplaint, alipay_trade_complaint, hex_token};
use anyhow::{Context, bail};
use desk_core::fingerprint::Fingerprinter;
use desk_core::worker::CancellationToken;
use desk_http::AppState;
use desk_http::auth::AdminAuth;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::{KeyMode, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const PROVIDER: &str = "1900000109";
const SUB: &str = "1900000201";
const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";

fn step(n: u32, text: impl std::fmt::Display) {
    println!("[{n}] {text}");
}

struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    /// Poll (up to 10 s) the newest complaint of `list_path` until `done`; its detail.
    async fn wait_for(
        &self,
        list_path: &str,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> anyhow::Result<Value> {
        let mut detail = Value::Null;
        for _ in 0..100 {
            let list = self.call(reqwest::Method::GET, list_path, None).await?;
            if let Some(id) = list["items"][0]["id"].as_str() {
                detail = self
                    .call(reqwest::Method::GET, &format!("/complaints/{id}"), None)
                    .await?;
                if done(&detail) {
                    return Ok(detail);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("{what} within 10 s: {detail}")
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}/admin/v1{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.context("admin API")?;
        let status = res.status();
        let v: Value = res.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {v}");
        }
        Ok(v)
    }
}

pub async fn run() -> anyhow::Result<()> {
    println!("complaint desk demo: one WeChat Pay complaint, end to end, against the simulator\n");
    let dir = tempfile::tempdir()?;
    let Embedded {
        ports,
        master,
        retry,
        ..
    } = open(dir.path(), &dir.path().join("master.key"))?;

    let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey).await?;
    step(
        1,
        format!(
            "WeChat Pay simulator on {} (real RSA keys, AES-GCM, signature checks)",
            sim.base_url()
        ),
    );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let token = format!("demo-{}", hex_token());
    let services = desk_core::Services::new(
        ports.clone(),
        Fingerprinter::new(master.derive("complaint-desk fingerprints v1")),
    )
    .with_public_base_url(Some(format!("{base}/").parse()?));
    let platforms = desk_core::platforms::builtin();
    let registry = Arc::new(desk_core::policy::registry(&services, &platforms));
    let state = AppState::new(
        services,
        AdminAuth::from_hash(desk_http::auth::hash(&token)),
    )
    .with_platforms(platforms);
    let shutdown = CancellationToken::new();
    tokio::spawn(desk_http::server::serve_default(
        listener,
        desk_http::router::router(state),
        shutdown.clone(),
    ));
    let worker = tokio::spawn(queue_worker(
        &ports,
        domain::job::queues::EVENTS,
        registry,
        2,
        Duration::from_secs(60),
        retry,
        shutdown.clone(),
    ));
    step(
        2,
        format!(
            "complaint desk on {base} (embedded store and queue in {})",
            dir.path().display()
        ),
    );

    let merchant_key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
    let apiv3: String = hex_token()[..32].to_string();
    sim.add_merchant(SimMerchant {
        mchid: PROVIDER.into(),
        serial_no: SERIAL.into(),
        public_key: merchant_key.to_public_key(),
        apiv3_key: apiv3.clone(),
    });
    let admin = Admin {
        http: reqwest::Client::new(),
        base: base.clone(),
        token,
    };
    let account = admin
        .call(
            reqwest::Method::POST,
            "/accounts",
            Some(json!({
                "kind": "wechatpay_provider", "name": "Demo provider",
                "settings": {"mchid": PROVIDER, "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": SERIAL,
                             "default_reply_text": "您好，我们已收到您的投诉，正在处理。", "default_auto_refund": false,
                             "refund_cap_fen": 10_000, "api_base_url": sim.base_url()},
                "credentials": {"private_key": merchant_key.to_pkcs8_pem(LineEnding::LF)?.to_string(), "apiv3_key": apiv3,
                                "wechatpay_public_key": sim.keys().public_key_pem(), "wechatpay_public_key_id": sim.keys().pub_key_id},
            })),
        )
        .await?;
    let account_id = account["id"].as_str().context("account id")?.to_string();
    admin
        .call(
            reqwest::Method::POST,
            &format!("/accounts/{account_id}/sub-merchants"),
            Some(json!({"sub_mchid": SUB, "name": "Demo shop", "reply_text": "您好，门店已收到您的投诉，已为您全额退款。",
                        "auto_refund": true})),
        )
        .await?;
    step(
        3,
        format!(
            "provider {PROVIDER} (account {account_id}) with sub-merchant {SUB}: auto-reply and auto-refund on, cap 100.00 CNY"
        ),
    );

    let complaint_id = "200201820261122080000000001";
    sim.add_complaint_for(
        PROVIDER,
        WechatpayComplaint {
            complaint_id,
            sub_mchid: SUB,
            text: "充电宝无法使用，要求退款",
            transaction_id: "4200000000202611220000000001",
            out_trade_no: "DEMO-ORDER-1",
            amount_fen: 1999,
        }
        .to_json(),
    );
    let push = sim.notification(
        &apiv3,
        "COMPLAINT.CREATE",
        "complaint",
        &json!({"complaint_id": complaint_id, "action_type": "CREATE_COMPLAINT"}),
        KeyMode::PublicKey,
        0,
    );
    let url = format!("{base}/callbacks/wechatpay/{PROVIDER}/complaints");
    let status = push.post(&url).await.map_err(anyhow::Error::msg)?;
    step(
        4,
        format!(
            "platform pushed COMPLAINT.CREATE to {url}: HTTP {status} (signature and timestamp verified, resource decrypted, queued durably)"
        ),
    );
    if status != 204 {
        bail!("the callback was not accepted");
    }

    let detail = admin
        .wait_for("/complaints", "the complaint did not complete", |d| {
            d["complaint"]["completed"] == true
        })
        .await?;
    let c = &detail["complaint"];
    step(
        5,
        format!(
            "worker fetched the detail and history; record {} ({}, {} fen, sub-merchant {})",
            text(&c["id"]),
            text(&c["status"]),
            c["complaint_amount_fen"],
            text(&c["sub_mchid"])
        ),
    );
    let mut n = 6;
    for a in detail["actions"].as_array().into_iter().flatten() {
        step(
            n,
            format!(
                "{}: {} ({})",
                text(&a["action"]),
                text(&a["outcome"]),
                text(&a["detail"])
            ),
        );
        n += 1;
    }
    for j in detail["notifications"].as_array().into_iter().flatten() {
        let who = match j["audience"]["sub_mchid"].as_str() {
            Some(s) => format!("sub-merchant {s}'s staff"),
            None => "the provider's staff".into(),
        };
        step(
            n,
            format!(
                "notification job for {who}: {} about {}",
                text(&j["summary"]["event"]),
                text(&j["summary"]["reference"])
            ),
        );
        n += 1;
    }
    let reply = sim.writes_to("/response");
    let refund = sim.writes_to("/v3/refund/domestic/refunds");
    println!(
        "\nThe simulator saw {} reply ({}), {} refund ({} fen, out_refund_no {}), {} completion; the complaint is now {}.",
        reply.len(),
        reply
            .first()
            .map(|w| w.body["response_content"].to_string())
            .unwrap_or_default(),
        refund.len(),
        refund
            .first()
            .map(|w| w.body["amount"]["refund"].to_string())
            .unwrap_or_default(),
        refund
            .first()
            .map(|w| w.body["out_refund_no"].to_string())
            .unwrap_or_default(),
        sim.writes_to("/complete").len(),
        sim.complaint_state(complaint_id)
            .map(|c| c["complaint_state"].to_string())
            .unwrap_or_default(),
    );
    alipay_demo(&admin, &base).await?;
    wxmini_demo(&admin, &base, &sim, &account_id).await?;
    shutdown.cancel();
    let _ = worker.await;
    Ok(())
}

/// An Alipay trade complaint through the same server: a signed message to
/// `/callbacks/alipay/{app_id}`, then reply, refund and the finishing feedback.
async fn alipay_demo(admin: &Admin, base: &str) -> anyhow::Result<()> {
    use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
    const APP_ID: &str = "2021000000000001";
    println!(
        "
And an Alipay trade complaint (public-key certificate mode):
"
    );
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::Certificate).await?;
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
    let (app_cert, app_cert_sn) = sim.keys().issue_app_cert(&key.to_public_key());
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: key.to_public_key(),
        app_cert_sn: Some(app_cert_sn),
    });
    step(
        1,
        format!(
            "Alipay gateway simulator on {} (RSA2, certificate SNs checked)",
            sim.gateway_url()
        ),
    );
    admin
        .call(
            reqwest::Method::POST,
            "/accounts",
            Some(json!({
                "kind": "alipay_app", "name": "Demo Alipay app",
                "settings": {"app_id": APP_ID, "reply_text": "您好，已为您全额退款。", "auto_refund": true,
                             "refund_cap_fen": 10_000, "api_base_url": sim.gateway_url()},
                "credentials": {"mode": "certificate", "app_private_key": key.to_pkcs8_pem(LineEnding::LF)?.to_string(),
                                "app_cert": app_cert, "alipay_cert": sim.keys().alipay_cert_pem, "alipay_root_cert": sim.keys().root_pem},
            })),
        )
        .await?;
    step(
        2,
        format!("Alipay app {APP_ID}: auto-reply and auto-refund on"),
    );
    sim.add_trade_complaint(alipay_trade_complaint(
        "2026112200000001",
        "2026112222001400000001",
        "商品未收到，要求退款",
        1250,
        Some("2026-11-22 10:00:00"),
    ));
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2026112200000001"}),
    );
    let url = format!("{base}/callbacks/alipay/{APP_ID}");
    let answer = reqwest::Client::new()
        .post(&url)
        .form(&msg)
        .send()
        .await?
        .text()
        .await?;
    step(
        3,
        format!(
            "Alipay pushed alipay.merchant.tradecomplain.changed to {url}: {answer:?} (signature verified, queued durably)"
        ),
    );
    let detail = admin
        .wait_for(
            "/complaints?platform=alipay",
            "the Alipay complaint did not finish",
            |d| d["complaint"]["completed"] == true,
        )
        .await?;
    for (n, a) in (4..).zip(detail["actions"].as_array().into_iter().flatten()) {
        step(
            n,
            format!(
                "alipay {}: {} ({})",
                text(&a["action"]),
                text(&a["outcome"]),
                text(&a["detail"])
            ),
        );
    }
    println!(
        "\nThe Alipay simulator saw {} reply, {} refund ({} yuan), {} finishing feedback.",
        sim.calls("alipay.merchant.tradecomplain.reply.submit")
            .len(),
        sim.calls("alipay.trade.refund").len(),
        sim.calls("alipay.trade.refund")
            .first()
            .map(|c| text(&c.biz["refund_amount"]))
            .unwrap_or_default(),
        sim.calls("alipay.merchant.tradecomplain.feedback.submit")
            .len(),
    );
    Ok(())
}

/// A mini-program trade complaint (manual onboarding, safe-mode push): the WeChat API
/// simulator pushes an encrypted `complaint_callback`; the worker responds (agree to settle)
/// and refunds through the demo provider's sub-merchant on the WeChat Pay simulator.
async fn wxmini_demo(
    admin: &Admin,
    base: &str,
    pay: &WechatPaySim,
    provider_id: &str,
) -> anyhow::Result<()> {
    use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimMini, WechatSim};
    const APPID: &str = "wx1111111111111111";
    println!(
        "
And a WeChat Mini Program trade complaint (manual onboarding, encrypted push):
"
    );
    let wx = WechatSim::start().await?;
    let (secret, token, aes_key) = (
        hex_token(),
        "demoToken2026".to_string(),
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".to_string(),
    );
    wx.add_mini(SimMini {
        appid: APPID.into(),
        secret: secret.clone(),
        nick_name: "Demo mini program".into(),
        push: Some(PushConfig {
            token: token.clone(),
            encoding_aes_key: aes_key.clone(),
            mode: PushMode::Safe,
            format: PushFormat::Xml,
            url: format!("{base}/callbacks/wxmini/{APPID}"),
        }),
    });
    step(
        1,
        format!(
            "WeChat API simulator on {} (tokens, complaint APIs, AES-CBC message crypto)",
            wx.base_url()
        ),
    );
    admin
        .call(
            reqwest::Method::POST,
            "/accounts",
            Some(json!({
                "kind": "wxmini_app", "name": "Demo mini program",
                "settings": {"appid": APPID, "mode": "manual", "api_base_url": wx.base_url(),
                             "auto_response": {"enabled": true, "decision": "agree", "text": "您好，已为您全额退款，给您带来不便深表歉意。"},
                             "auto_refund": true, "refund_cap_fen": 10_000,
                             "payment": {"account_id": provider_id, "sub_mchid": SUB}},
                "credentials": {"secret": secret, "token": token, "encoding_aes_key": aes_key},
            })),
        )
        .await?;
    step(
        2,
        format!(
            "mini program {APPID}: automatic response (agree) and refund through sub-merchant {SUB}"
        ),
    );
    let now = chrono::Utc::now().timestamp();
    wx.add_complaint(
        APPID,
        WxminiComplaint {
            complaint_order_id: 2026112201,
            now,
            text: "收到的商品有破损",
            order_id: "4200000000202611220000000009",
            out_trade_no: "DEMO-MINI-1",
            product_name: "保温杯",
            amount_fen: 3900,
        }
        .to_json(),
    );
    pay.add_order("4200000000202611220000000009", "DEMO-MINI-1", 3900);
    let status = wx
        .push_complaint("2026112201")
        .await
        .map_err(anyhow::Error::msg)?;
    step(
        3,
        format!(
            "WeChat pushed complaint_callback to {base}/callbacks/wxmini/{APPID}: HTTP {status} (msg_signature verified, decrypted, queued durably)"
        ),
    );
    let detail = admin
        .wait_for(
            "/complaints?platform=wxmini",
            "the mini-program complaint was not answered",
            |d| {
                // refunded_fen moves once WeChat Pay took the refund (the refund record
                // itself is claimed before it is asked).
                d["complaint"]["replied"] == true
                    && d["complaint"]["refunded_fen"]
                        .as_u64()
                        .is_some_and(|f| f > 0)
            },
        )
        .await?;
    for (n, a) in (4..).zip(detail["actions"].as_array().into_iter().flatten()) {
        step(
            n,
            format!(
                "wxmini {}: {} ({})",
                text(&a["action"]),
                text(&a["outcome"]),
                text(&a["detail"])
            ),
        );
    }
    println!(
        "\nThe WeChat simulator saw {} response; the WeChat Pay simulator {} refund for DEMO-MINI-1; the complaint's status is now {}.",
        wx.writes_to("bussiRespondComplaint").len(),
        pay.refunds()
            .iter()
            .filter(|r| r["out_trade_no"] == "DEMO-MINI-1")
            .count(),
        wx.complaint("2026112201")
            .map(|c| c["complaintOrder"]["status"].to_string())
            .unwrap_or_default(),
    );
    Ok(())
}

fn text(v: &Value) -> String {
    v.as_str()
        .map(String::from)
        .unwrap_or_else(|| v.to_string())
}
