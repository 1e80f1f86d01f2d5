//! The complaint actions go through the platform trait: the routes, the 409 for an action a
//! platform lacks and the document come from the registered platforms' own action lists, so a
//! platform written here (replacing WeChat Pay in the registry) gets its own action served,
//! documented and refused where it is not its own, without a change to the generic code.

mod common;

use async_trait::async_trait;
use axum::http::{Method, StatusCode};
use common::*;
use desk_core::Services;
use desk_core::platform::{Platform, Platforms};
use desk_core::staff_actions::{ActionAnswer, ActionBody, Staff, StaffAction, StaffActions};
use desk_core::worker::JobRegistry;
use domain::complaint::{ActionKind, Complaint, Platform as PlatformName};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A complaint of `platform`, recorded directly (no account needed before the platform is
/// asked).
async fn complaint(h: &Harness, platform: PlatformName, n: u32) -> String {
    let id = format!("cmp_{}_{n}", platform.as_str());
    let c = Complaint::new(
        id.clone(),
        platform,
        None,
        "acc_none".into(),
        format!("{n}"),
        chrono::Utc::now(),
    );
    desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
        .save(&c, 0)
        .await
        .expect("save");
    id
}

fn names(p: &dyn Platform) -> Vec<&'static str> {
    p.staff_actions().actions().iter().map(|a| a.name).collect()
}

/// `a, b and c`.
fn listed(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.to_string(),
        None => String::new(),
    }
}

#[tokio::test]
async fn an_action_a_platform_lacks_is_409_naming_exactly_the_actions_it_registers() {
    let h = harness();
    let platforms = desk_core::platforms::builtin();
    let all: Vec<&str> = platforms.iter().flat_map(|p| names(p.as_ref())).collect();
    let mut refused = 0;
    for (n, p) in platforms.iter().enumerate() {
        let id = complaint(&h, p.name(), n as u32).await;
        let own = names(p.as_ref());
        for action in all.iter().filter(|a| !own.contains(a)) {
            let (s, b) = h
                .admin(
                    Method::POST,
                    &format!("/admin/v1/complaints/{id}/{action}"),
                    Some(json!({})),
                )
                .await;
            assert_eq!(s, StatusCode::CONFLICT, "{action}: {b}");
            assert_eq!(b["error"]["code"], "conflict");
            assert_eq!(
                b["error"]["message"],
                format!(
                    "{} complaints have no {action} action: use {}",
                    p.name().as_str(),
                    listed(&own)
                ),
                "{action}"
            );
            refused += 1;
        }
    }
    assert!(refused >= 6, "{refused} actions refused");
    // Today's lists, as staff read them.
    let listed_of =
        |name: PlatformName| listed(&names(platforms.get(name).expect("registered").as_ref()));
    assert_eq!(
        listed_of(PlatformName::Wechatpay),
        "reply, refund-progress, refund and complete"
    );
    assert_eq!(
        listed_of(PlatformName::Alipay),
        "reply, feedback, supplement, refund and complete"
    );
    assert_eq!(
        listed_of(PlatformName::Wxmini),
        "reply, supplement, refund-evidence, appeal and refund"
    );
}

#[tokio::test]
async fn an_action_no_registered_platform_has_is_404_with_or_without_a_token() {
    let h = harness();
    let id = complaint(&h, PlatformName::Wechatpay, 1).await;
    let path = format!("/admin/v1/complaints/{id}/escalate");
    let (s, b) = h.admin(Method::POST, &path, Some(json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(b["error"]["code"], "not_found");
    let (s, _) = h.call(Method::POST, &path, None, Some(json!({}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an unknown path, not a 401");
    // A known action on an unknown complaint is 404 too (before the body is read).
    let (s, b) = h
        .admin(
            Method::POST,
            "/admin/v1/complaints/cmp_none/refund",
            Some(json!({"amount_fen": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
}

/// A platform written here: its actions are `reply` and `escalate`; it records what it was
/// asked.
#[derive(Default)]
struct Toy {
    asked: Mutex<Vec<(String, Value)>>,
}

/// `POST /complaints/{id}/escalate` on a toy complaint.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EscalateBody {
    /// Why.
    reason: String,
}

/// The toy's reply.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ToyReplyBody {
    words: String,
}

#[async_trait]
impl StaffActions for Toy {
    fn actions(&self) -> Vec<StaffAction> {
        vec![
            StaffAction::new::<ToyReplyBody>("reply", ActionKind::Reply, "Say something"),
            StaffAction::new::<EscalateBody>("escalate", ActionKind::Supplement, "Escalate"),
        ]
    }

    async fn run(
        &self,
        _services: &Services,
        _staff: &Staff,
        c: &Complaint,
        action: &str,
        body: ActionBody,
    ) -> Result<ActionAnswer, desk_core::Error> {
        let value = match action {
            "escalate" => {
                let b: EscalateBody = body.parse()?;
                json!({"reason": b.reason})
            }
            _ => {
                let b: ToyReplyBody = body.parse()?;
                json!({"words": b.words})
            }
        };
        self.asked
            .lock()
            .expect("lock")
            .push((action.to_string(), value));
        Ok(ActionAnswer::done(&c.id, ActionKind::Supplement, None))
    }
}

struct ToyPlatform(Arc<Toy>);

impl Platform for ToyPlatform {
    fn name(&self) -> PlatformName {
        PlatformName::Wechatpay
    }

    fn register_jobs(&self, _jobs: &mut JobRegistry, _services: &Services) {}

    fn staff_actions(&self) -> &dyn StaffActions {
        self.0.as_ref()
    }
}

#[tokio::test]
async fn a_platform_registered_in_a_test_gets_its_actions_served_refused_and_documented() {
    let toy = Arc::new(Toy::default());
    let mut h = harness();
    let mut platforms: Platforms = desk_core::platforms::builtin();
    platforms.register(Arc::new(ToyPlatform(toy.clone())));
    h.state.callbacks.platforms = Arc::new(platforms);
    h.router = desk_http::router::router(h.state.clone());
    let toy_id = complaint(&h, PlatformName::Wechatpay, 1).await;
    let alipay_id = complaint(&h, PlatformName::Alipay, 2).await;
    let post = |id: &str, action: &str, body: Value| {
        let path = format!("/admin/v1/complaints/{id}/{action}");
        let h = &h;
        async move { h.admin(Method::POST, &path, Some(body)).await }
    };

    // Its own action: served, the body parsed by its own type.
    let (s, b) = post(&toy_id, "escalate", json!({"reason": "slow"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["complaint_id"], toy_id.as_str());
    assert_eq!(b["outcome"], "succeeded");
    let (s, b) = post(&toy_id, "escalate", json!({"reason": 5})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["field"], "reason");
    let (s, b) = post(&toy_id, "reply", json!({"words": "hello"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        *toy.asked.lock().expect("lock"),
        vec![
            ("escalate".to_string(), json!({"reason": "slow"})),
            ("reply".to_string(), json!({"words": "hello"})),
        ]
    );

    // What it lacks: 409 from its own list (WeChat Pay's actions are gone with it).
    let (s, b) = post(&toy_id, "refund", json!({"amount_fen": 1})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(
        b["error"]["message"],
        "wechatpay complaints have no refund action: use reply and escalate"
    );
    // Another platform lacks the toy's action.
    let (s, b) = post(&alipay_id, "escalate", json!({"reason": "slow"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(
        b["error"]["message"],
        "alipay complaints have no escalate action: use reply, feedback, supplement, refund and complete"
    );
    // refund-progress was WeChat Pay's alone: no platform offers it now.
    let (s, _) = post(&toy_id, "refund-progress", json!({"action": "approve"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The document: its action with its body, its reply body among the reply bodies.
    let (_, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(!paths.contains_key("/admin/v1/complaints/{id}/refund-progress"));
    let escalate = &doc["paths"]["/admin/v1/complaints/{id}/escalate"]["post"];
    assert_eq!(
        escalate["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/EscalateBody"
    );
    assert_eq!(
        doc["components"]["schemas"]["EscalateBody"]["required"],
        json!(["reason"])
    );
    let reply = &doc["paths"]["/admin/v1/complaints/{id}/reply"]["post"]["requestBody"]["content"]
        ["application/json"]["schema"]["$ref"];
    let reply = reply
        .as_str()
        .and_then(|r| r.rsplit('/').next())
        .expect("a reference");
    let bodies: Vec<&str> = doc["components"]["schemas"][reply]["anyOf"]
        .as_array()
        .expect("anyOf")
        .iter()
        .filter_map(|r| r["$ref"].as_str()?.rsplit('/').next())
        .collect();
    assert!(bodies.contains(&"ToyReplyBody"), "{bodies:?}");
    assert!(!bodies.contains(&"WechatpayReplyBody"), "{bodies:?}");
}

#[tokio::test]
async fn the_document_states_each_action_of_the_registered_platforms_with_its_bodies() {
    let h = harness();
    let (_, doc) = h
        .call(Method::GET, "/admin/v1/openapi.json", None, None)
        .await;
    let schema_of = |action: &str| {
        doc["paths"][format!("/admin/v1/complaints/{{id}}/{action}")]["post"]["requestBody"]
            ["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .and_then(|r| r.rsplit('/').next())
            .map(str::to_string)
            .unwrap_or_default()
    };
    let of = |name: &str| -> Vec<String> {
        doc["components"]["schemas"][name]["anyOf"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["$ref"].as_str()?.rsplit('/').next())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(|| vec![name.to_string()])
    };
    assert_eq!(
        of(&schema_of("reply")),
        ["WechatpayReplyBody", "AlipayTextBody", "WxminiReplyBody"]
    );
    assert_eq!(
        of(&schema_of("supplement")),
        ["AlipayTextBody", "EvidenceBody"]
    );
    // One body where the platforms share it (or one platform has the action).
    assert_eq!(of(&schema_of("appeal")), ["EvidenceBody"]);
    assert_eq!(of(&schema_of("refund-progress")), ["RefundProgressBody"]);
    // The rules the types cannot state are in the schemas.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["WechatpayReplyBody"]["dependentRequired"]["jump_url"],
        json!(["jump_url_text"])
    );
    assert_eq!(
        schemas["RefundProgressBody"]["properties"]["action"]["enum"],
        json!(["approve", "reject"])
    );
    assert_eq!(
        schemas["WechatpayRefundBody"]["properties"]["amount_fen"]["minimum"],
        1
    );
    // complete may be sent without a body; refund answers the refund's record.
    let op = |action: &str| &doc["paths"][format!("/admin/v1/complaints/{{id}}/{action}")]["post"];
    assert_eq!(op("complete")["requestBody"]["required"], false);
    assert_eq!(op("reply")["requestBody"]["required"], true);
    assert_eq!(
        op("refund")["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/RefundRecord"
    );
}
