//! A WeChat Pay service provider against the platform simulator, made through the admin API of
//! a running binary, and complaints pushed to it through the real callback: the set-up the
//! binary and browser tests share.

use crate::Server;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use sandbox::wechatpay::{KeyMode, Notification, PlatformKeys, SimMerchant, WechatPaySim};
use serde_json::{Value, json};

/// The provider's merchant number.
pub const PROVIDER: &str = "1900000109";
/// The sub-merchant the tests' complaints are against.
pub const SUB: &str = "1900000201";
/// The provider's API certificate serial number.
pub const SERIAL: &str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1";
/// The provider's API v3 key.
pub const APIV3: &str = "0123456789abcdefghijABCDEFGHIJ01";

/// The simulator with the provider's key registered, the provider account made through the
/// admin API (public-key mode), and what signs its pushes.
pub struct SimProvider {
    pub sim: WechatPaySim,
    pub key: rsa::RsaPrivateKey,
    /// Our id of the provider account.
    pub account_id: String,
}

impl SimProvider {
    /// Start a simulator and make the provider `name` on `server` with `token`.
    pub async fn create(server: &Server, token: &str, name: &str) -> SimProvider {
        let sim = WechatPaySim::start(PlatformKeys::generate(), KeyMode::PublicKey)
            .await
            .expect("simulator");
        let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
        sim.add_merchant(SimMerchant {
            mchid: PROVIDER.into(),
            serial_no: SERIAL.into(),
            public_key: key.to_public_key(),
            apiv3_key: APIV3.into(),
        });
        let (s, account) = server
            .admin(
                token,
                reqwest::Method::POST,
                "/accounts",
                Some(json!({
                    "kind": "wechatpay_provider", "name": name,
                    "settings": {"mchid": PROVIDER, "appid": "wx2c2769f8efd9abc2", "merchant_serial_no": SERIAL,
                                 "api_base_url": sim.base_url()},
                    "credentials": {"private_key": key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                                    "apiv3_key": APIV3, "wechatpay_public_key": sim.keys().public_key_pem(),
                                    "wechatpay_public_key_id": sim.keys().pub_key_id},
                })),
            )
            .await;
        assert_eq!(s, 201, "{account}");
        let account_id = account["id"].as_str().expect("id").to_string();
        SimProvider {
            sim,
            key,
            account_id,
        }
    }

    /// Add the sub-merchant [`SUB`] with these settings (`sub_mchid` is added).
    pub async fn add_sub(&self, server: &Server, token: &str, mut settings: Value) {
        settings["sub_mchid"] = json!(SUB);
        let (s, b) = server
            .admin(
                token,
                reqwest::Method::POST,
                &format!("/accounts/{}/sub-merchants", self.account_id),
                Some(settings),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }

    /// The signed, encrypted push of a new complaint.
    pub fn create_push(&self, complaint_id: &str) -> Notification {
        self.sim.notification(
            APIV3,
            "COMPLAINT.CREATE",
            "complaint",
            &json!({"complaint_id": complaint_id, "action_type": "CREATE_COMPLAINT"}),
            KeyMode::PublicKey,
            0,
        )
    }

    /// Push a new complaint (already in the simulator) to `server`'s callback: 204.
    pub async fn push_new(&self, server: &Server, complaint_id: &str) {
        assert_eq!(
            self.create_push(complaint_id)
                .post(&server.url(&format!("/callbacks/wechatpay/{PROVIDER}/complaints")))
                .await,
            Ok(204),
            "push of {complaint_id} accepted"
        );
    }
}
