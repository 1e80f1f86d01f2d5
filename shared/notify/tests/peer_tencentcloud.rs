//! Interop with an independent peer: tencentcloud-sdk-python-sms (PyPI, installed into
//! `.venv-test` by `./scripts/test`). For the same SendSms request and time, our TC3
//! Authorization header equals the one the official SDK builds.

use serde_json::{Value, json};

fn peer(req: &Value) -> Value {
    sandbox::peer::run("peer_tencentcloud.py", req)
}

#[test]
fn our_tc3_authorization_equals_the_official_sdks() {
    for (ts, key, params) in [
        (
            1_763_800_000_i64,
            "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            json!({"PhoneNumberSet": ["+8613711112222", "+8613711113333"], "SmsSdkAppId": "1400006666",
                   "SignName": "投诉台", "TemplateId": "449739", "TemplateParamSet": ["新投诉", "门店一", "200201820261122080000000001"]}),
        ),
        // Just before midnight UTC (08:00 in China): the credential date is the UTC one.
        (
            1_763_855_999_i64,
            "another-secret-key-0123456789",
            json!({"PhoneNumberSet": ["+8613711112222"], "SmsSdkAppId": "1400000001",
                   "SignName": "Desk", "TemplateId": "1", "TemplateParamSet": []}),
        ),
    ] {
        let theirs = peer(
            &json!({"timestamp": ts, "secret_id": "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
                                  "secret_key": key, "region": "ap-guangzhou", "params": params}),
        );
        let payload = theirs["payload"].as_str().expect("payload");
        let ours = notify::tc3::authorization(
            "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            key,
            &notify::tc3::Request {
                service: "sms",
                host: theirs["host"].as_str().expect("host"),
                content_type: theirs["content_type"].as_str().expect("content type"),
                payload: payload.as_bytes(),
                timestamp: ts,
            },
        );
        assert_eq!(
            ours,
            theirs["authorization"].as_str().expect("authorization"),
            "at {ts}"
        );
    }
}
