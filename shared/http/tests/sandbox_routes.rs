//! The sandbox routes (`/admin/v1/sandbox/...`) over a toy engine behind the `TryIt` seam: what
//! they list, which account a push goes to, what they refuse before the engine is asked, how
//! the engine's refusals are answered, and 404 without an engine. (The real engine, the
//! binary's `--sandbox`, is tested in `tests/tests/sandbox_binary.rs`.)

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use desk_http::try_it::{
    DEFAULT_AMOUNT_FEN, MAX_AMOUNT_FEN, MAX_TEXT_CHARS, Pushed, SANDBOX_NAME_PREFIX,
    SandboxAccount, TestComplaint, TryIt, TryItError,
};
use serde_json::json;
use std::sync::{Arc, Mutex};

/// A toy engine: fixed accounts, every push recorded; pushes for `refusing` are refused as
/// our callback route would.
struct Toy {
    accounts: Vec<SandboxAccount>,
    refusing: String,
    pushes: Mutex<Vec<(String, TestComplaint)>>,
}

#[async_trait::async_trait]
impl TryIt for Toy {
    async fn accounts(&self) -> Vec<SandboxAccount> {
        self.accounts.clone()
    }

    async fn push(&self, account_id: &str, test: TestComplaint) -> Result<Pushed, TryItError> {
        let account = self
            .accounts
            .iter()
            .find(|a| a.account_id == account_id)
            .ok_or_else(|| TryItError::UnknownAccount(account_id.into()))?;
        self.pushes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((account_id.into(), test.clone()));
        if account_id == self.refusing {
            return Err(TryItError::Refused("HTTP 401".into()));
        }
        Ok(Pushed {
            account_id: account_id.into(),
            platform: account.platform.clone(),
            platform_complaint_id: "toy-1".into(),
            complaint_id: Some("cmp_toy".into()),
            amount_fen: test.amount_fen,
            within_refund_cap: test.amount_fen <= account.refund_cap_fen,
            callback_status: 204,
        })
    }
}

fn account(id: &str, platform: &str) -> SandboxAccount {
    SandboxAccount {
        account_id: id.into(),
        platform: platform.into(),
        name: format!("{SANDBOX_NAME_PREFIX}{platform}"),
        refund_cap_fen: 500,
    }
}

/// A harness whose router has the toy engine; the toy and the id of a real account (to scope
/// a token to) that the toy also calls its own.
async fn with_toy() -> (Harness, Arc<Toy>, String) {
    let mut h = harness();
    let real = h.create(provider_body("1900000109")).await;
    let toy = Arc::new(Toy {
        accounts: vec![
            account(&real, "wechatpay"),
            account("acc_toy_alipay", "alipay"),
            account("acc_toy_refusing", "wxmini"),
        ],
        refusing: "acc_toy_refusing".into(),
        pushes: Mutex::default(),
    });
    h.state = h.state.clone().with_try_it(toy.clone());
    h.router = desk_http::router::router(h.state.clone());
    (h, toy, real)
}

fn pushes(toy: &Toy) -> Vec<(String, TestComplaint)> {
    toy.pushes.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[tokio::test]
async fn without_an_engine_both_routes_say_how_to_turn_sandbox_accounts_on() {
    let h = harness();
    for (method, path, body) in [
        (Method::GET, "/admin/v1/sandbox/accounts", None),
        (Method::POST, "/admin/v1/sandbox/push", Some(json!({}))),
    ] {
        let (status, body) = h.admin(method, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(
            body["error"]["message"],
            "sandbox accounts are off (start with --sandbox)"
        );
    }
}

#[tokio::test]
async fn a_push_goes_to_the_account_asked_for_with_the_defaults_filled_in() {
    let (h, toy, real) = with_toy().await;
    let (status, list) = h
        .admin(Method::GET, "/admin/v1/sandbox/accounts", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(
        list["items"],
        json!(toy.accounts),
        "the engine's accounts, in its order"
    );

    // Nothing named: the first account, the default test complaint.
    let (status, pushed) = h
        .admin(Method::POST, "/admin/v1/sandbox/push", Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pushed}");
    assert_eq!(pushed["account_id"], real.as_str());
    assert_eq!(pushed["complaint_id"], "cmp_toy");
    // By platform, and by id, with an amount and a text.
    let (status, pushed) = h
        .admin(
            Method::POST,
            "/admin/v1/sandbox/push",
            Some(json!({"platform": "alipay", "amount_fen": 2000, "text": " 太贵了 "})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{pushed}");
    assert_eq!(pushed["within_refund_cap"], false);
    let (status, _) = h
        .admin(
            Method::POST,
            "/admin/v1/sandbox/push",
            Some(json!({"account_id": "acc_toy_alipay", "platform": "alipay", "amount_fen": null})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        pushes(&toy),
        vec![
            (real.clone(), TestComplaint::default()),
            (
                "acc_toy_alipay".into(),
                TestComplaint {
                    amount_fen: 2000,
                    text: "太贵了".into()
                }
            ),
            ("acc_toy_alipay".into(), TestComplaint::default()),
        ]
    );
    assert_eq!(TestComplaint::default().amount_fen, DEFAULT_AMOUNT_FEN);
}

#[tokio::test]
async fn what_is_wrong_with_a_push_is_refused_before_the_engine_is_asked() {
    let (h, toy, _) = with_toy().await;
    for (body, status, field) in [
        (
            json!({"account_id": "acc_toy_alipay", "platform": "wxmini"}),
            404,
            None,
        ),
        (json!({"amount_fen": 0}), 400, Some("amount_fen")),
        (
            json!({"amount_fen": MAX_AMOUNT_FEN + 1}),
            400,
            Some("amount_fen"),
        ),
        (json!({"text": ""}), 400, Some("text")),
        (json!({"text": " \n "}), 400, Some("text")),
        (json!({"text": "a\u{1}b"}), 400, Some("text")),
        (
            json!({"text": "x".repeat(MAX_TEXT_CHARS + 1)}),
            400,
            Some("text"),
        ),
        (json!({"unknown": 1}), 400, None),
        (json!({"account_id": "acc_nobody"}), 404, None),
        (json!({"platform": "toy"}), 404, None),
    ] {
        let (got, answer) = h
            .admin(Method::POST, "/admin/v1/sandbox/push", Some(body.clone()))
            .await;
        assert_eq!(got.as_u16(), status, "{body}: {answer}");
        if let Some(f) = field {
            assert_eq!(answer["error"]["field"], f, "{body}: {answer}");
        }
    }
    assert_eq!(pushes(&toy), vec![], "the engine was never asked");
}

#[tokio::test]
async fn a_scoped_token_sees_and_pushes_only_its_own_sandbox_account() {
    let (h, toy, real) = with_toy().await;
    let token = h
        .token(json!({"type": "account", "account_id": real}))
        .await;
    let (status, list) = h
        .call(
            Method::GET,
            "/admin/v1/sandbox/accounts",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([toy.accounts[0]]), "{list}");
    let (status, body) = h
        .call(
            Method::POST,
            "/admin/v1/sandbox/push",
            Some(&token),
            Some(json!({"platform": "alipay"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(pushes(&toy), vec![]);
}

#[tokio::test]
async fn a_token_scoped_to_a_sub_merchant_has_no_sandbox_account() {
    // A test complaint goes to the sandbox's own sub-merchant, which would be outside the
    // token's scope: such a token sees and pushes nothing.
    let (h, toy, real) = with_toy().await;
    let (status, sub) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{real}/sub-merchants"),
            Some(json!({"sub_mchid": "1900000201", "name": "门店"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sub}");
    let token = h
        .token(json!({"type": "sub_merchant", "account_id": real, "sub_mchid": "1900000201"}))
        .await;
    let (status, list) = h
        .call(
            Method::GET,
            "/admin/v1/sandbox/accounts",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["items"], json!([]), "{list}");
    let (status, body) = h
        .call(
            Method::POST,
            "/admin/v1/sandbox/push",
            Some(&token),
            Some(json!({"account_id": real})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(pushes(&toy), vec![]);
}

#[tokio::test]
async fn a_push_our_callback_route_refused_is_a_bad_gateway_saying_what_it_answered() {
    let (h, _, _) = with_toy().await;
    let (status, body) = h
        .admin(
            Method::POST,
            "/admin/v1/sandbox/push",
            Some(json!({"platform": "wxmini"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(
        body["error"]["message"],
        "our callback route refused the test complaint: HTTP 401"
    );
}

#[test]
fn the_document_states_the_bounds_that_are_checked() {
    let doc = desk_http::admin::openapi::document(&desk_core::platforms::builtin());
    let body = &doc["components"]["schemas"]["PushTestComplaint"]["properties"];
    assert_eq!(body["amount_fen"]["maximum"], MAX_AMOUNT_FEN, "{body}");
    assert_eq!(body["amount_fen"]["minimum"], 1, "{body}");
    assert_eq!(body["text"]["maxLength"], MAX_TEXT_CHARS, "{body}");
    assert!(
        body["text"]["pattern"].is_string(),
        "no control characters, not blank: {body}"
    );
    let push = &doc["paths"]["/admin/v1/sandbox/push"]["post"];
    assert_eq!(push["x-required-role"], "agent", "{push}");
    for status in ["202", "400", "403", "404", "502"] {
        assert!(push["responses"].get(status).is_some(), "{status}: {push}");
    }
    assert_eq!(
        doc["paths"]["/admin/v1/sandbox/accounts"]["get"]["x-required-role"],
        "viewer"
    );
}
