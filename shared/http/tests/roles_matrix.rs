//! Roles on tokens (`viewer` < `agent` < `admin`), checked against the served document: every
//! secured operation × every role. A role at least the operation's gets the handler's answer;
//! a lower one gets 403 naming the role needed, and not one row of the store (nor one blob)
//! changes. The operations come from the document, so a new route joins the matrix by itself;
//! its sample request and the role the rules give it are one line in [`SAMPLES`] (the test
//! names any documented operation that lacks one, and any whose `x-required-role` says
//! otherwise). Also: what tokens may mint, expiry, tokens stored before roles existed,
//! `last_used_at`, and the token named in a complaint's action log.

mod common;

use chrono::SubsecRound;

use async_trait::async_trait;
use axum::body::Body as HttpBody;
use axum::http::{Method, Request, StatusCode};
use common::*;
use desk_core::Services;
use desk_core::platform::{Platform, Platforms};
use desk_core::repo::{TokenRepo, keys};
use desk_core::staff_actions::{
    ActionAnswer, ActionBody, Staff, StaffAction, StaffActions, log_admin,
};
use desk_core::worker::JobRegistry;
use domain::complaint::{ActionKind, ActionOutcome, Complaint, Platform as PlatformName};
use domain::ports::{IndexKey, Item};
use domain::token::Role::{self, Admin, Agent, Viewer};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

const BASE: &str = "/admin/v1";
/// The key of the line all complaint actions share (one route per action a platform offers).
const COMPLAINT_ACTIONS: &str = "/complaints/{id}/{action}";

/// A 1×1 PNG.
const PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// What a sample request sends.
#[derive(Clone, Copy)]
enum Body {
    None,
    /// JSON made from a number unique to the call (for ids that must not repeat).
    Json(fn(u32) -> Value),
    /// A small real PNG (`image/png`).
    Png,
}

/// How a call with a role high enough ends.
#[derive(Clone, Copy)]
enum Allowed {
    /// It works without a platform: this status.
    Ok(u16),
    /// It needs a platform (none answers here) or refuses the sample for a reason of its own:
    /// one of these statuses from the handler, which proves the role check let it through.
    Handled(&'static [u16]),
}

/// One operation's sample request.
struct Sample {
    /// The role the operation needs, by the rules of roles: `viewer` reads, `agent` also acts
    /// on complaints (and uploads their images), `admin` does the rest and reads tokens,
    /// notification settings and dead letters. The document must state the same.
    role: Role,
    /// The operation id; for the complaint actions (one route per action a platform offers),
    /// the shared path pattern `/complaints/{id}/{action}`.
    key: &'static str,
    /// The path below `/admin/v1`, its parameters as fixtures: `{account}` (a WeChat Pay
    /// provider), `{sub}` (its sub-merchant), `{complaint}` (one of its complaints), and made
    /// for the one call: `{new_account}`, `{new_sub}`, `{new_token}`; `{action}` is the
    /// operation's own action name.
    path: &'static str,
    body: Body,
    allowed: Allowed,
}

/// The statuses of a handler that needs the platform: its account or complaint has no
/// credentials (409), the platform cannot be reached (502/503), or the route is not one of the
/// fixture kind's (409).
const NEEDS_PLATFORM: &[u16] = &[409, 502, 503];

/// One line per documented operation (the complaint actions share one). A new route: add its
/// line here; the matrix names any documented operation without one.
#[rustfmt::skip]
static SAMPLES: &[Sample] = &[
    s(Viewer, "list_accounts", "/accounts", Body::None, Allowed::Ok(200)),
    s(Admin, "create_account", "/accounts", Body::Json(|n| provider_body(&format!("15{n:08}"))), Allowed::Ok(201)),
    s(Viewer, "get_account", "/accounts/{account}", Body::None, Allowed::Ok(200)),
    s(Admin, "patch_account", "/accounts/{account}", Body::Json(|_| json!({"enabled": true})), Allowed::Ok(200)),
    s(Admin, "delete_account", "/accounts/{new_account}", Body::None, Allowed::Ok(204)),
    s(Admin, "put_credentials", "/accounts/{account}/credentials", Body::Json(|_| json!({"apiv3_key": "0123456789abcdef0123456789abcdef"})), Allowed::Ok(200)),
    s(Viewer, "list_sub_merchants", "/accounts/{account}/sub-merchants", Body::None, Allowed::Ok(200)),
    s(Admin, "create_sub_merchant", "/accounts/{account}/sub-merchants", Body::Json(|n| json!({"sub_mchid": format!("18{n:08}"), "name": "Shop"})), Allowed::Ok(201)),
    s(Viewer, "get_sub_merchant", "/accounts/{account}/sub-merchants/{sub}", Body::None, Allowed::Ok(200)),
    s(Admin, "patch_sub_merchant", "/accounts/{account}/sub-merchants/{sub}", Body::Json(|_| json!({"enabled": true})), Allowed::Ok(200)),
    s(Admin, "delete_sub_merchant", "/accounts/{account}/sub-merchants/{new_sub}", Body::None, Allowed::Ok(204)),
    s(Admin, "get_account_notifications", "/accounts/{account}/notifications", Body::None, Allowed::Ok(200)),
    s(Admin, "put_account_notifications", "/accounts/{account}/notifications", Body::Json(|_| json!({"bots": []})), Allowed::Ok(200)),
    s(Admin, "get_sub_merchant_notifications", "/accounts/{account}/sub-merchants/{sub}/notifications", Body::None, Allowed::Ok(200)),
    s(Admin, "put_sub_merchant_notifications", "/accounts/{account}/sub-merchants/{sub}/notifications", Body::Json(|_| json!({"bots": []})), Allowed::Ok(200)),
    // No channel is configured in the fixture: 409 proves the role check let it through.
    s(Admin, "test_account_notifications", "/accounts/{account}/notifications/test", Body::None, Allowed::Handled(&[409])),
    s(Admin, "test_sub_merchant_notifications", "/accounts/{account}/sub-merchants/{sub}/notifications/test", Body::None, Allowed::Handled(&[409])),
    // Account routes the platforms bring: each asks the platform (the provider has no
    // credentials), or is not the provider's (409).
    s(Viewer, "get_registration", "/accounts/{account}/callback-registration", Body::None, Allowed::Handled(NEEDS_PLATFORM)),
    s(Admin, "register", "/accounts/{account}/callback-registration", Body::Json(|_| json!({})), Allowed::Handled(NEEDS_PLATFORM)),
    s(Admin, "unregister", "/accounts/{account}/callback-registration", Body::None, Allowed::Handled(NEEDS_PLATFORM)),
    s(Admin, "authorization_link", "/accounts/{account}/authorization-link", Body::Json(|_| json!({})), Allowed::Handled(NEEDS_PLATFORM)),
    s(Viewer, "trade_score", "/accounts/{account}/trade-score", Body::None, Allowed::Handled(NEEDS_PLATFORM)),
    s(Viewer, "trade_score_history", "/accounts/{account}/trade-score/history?from=2026-11-01&to=2026-11-30", Body::None, Allowed::Handled(NEEDS_PLATFORM)),
    // Reconciliation: a pass answers what it did (200, its platform failing without
    // credentials), or 409 while the platform has no reconciler.
    s(Agent, "reconcile_account", "/accounts/{account}/reconcile", Body::None, Allowed::Handled(&[200, 409])),
    s(Viewer, "account_health", "/accounts/{account}/health", Body::None, Allowed::Ok(200)),
    s(Viewer, "list_complaints", "/complaints", Body::None, Allowed::Ok(200)),
    s(Viewer, "get_complaint", "/complaints/{complaint}", Body::None, Allowed::Ok(200)),
    // Every platform's actions on a WeChat Pay complaint: an empty body is refused by the
    // action's own rules (400), another platform's action is 409, one that gets as far as the
    // platform cannot call it (409 without credentials, 502/503 unreachable).
    s(Agent, COMPLAINT_ACTIONS, "/complaints/{complaint}/{action}", Body::Json(|_| json!({})), Allowed::Handled(&[400, 409, 502, 503])),
    // The image is fetched from the platform.
    s(Viewer, "download_media", "/complaints/{complaint}/media/0", Body::None, Allowed::Handled(NEEDS_PLATFORM)),
    // The fixture complaint has no history: no such entry.
    s(Viewer, "download_history_media", "/complaints/{complaint}/history/0000/media/0", Body::None, Allowed::Handled(&[404])),
    s(Agent, "upload_media", "/media", Body::Png, Allowed::Ok(201)),
    s(Viewer, "list_violations", "/violations?account={account}", Body::None, Allowed::Ok(200)),
    s(Admin, "list_deliveries", "/deliveries", Body::None, Allowed::Ok(200)),
    s(Admin, "list_dead_letters", "/dead-letters", Body::None, Allowed::Ok(200)),
    // No dead letter has this id.
    s(Admin, "replay_dead_letter", "/dead-letters/0195e7a0-0000-7000-8000-000000000000/replay", Body::None, Allowed::Handled(&[404])),
    // This router has no sandbox engine (the binary's `--sandbox` gives one): 404 saying so.
    s(Viewer, "list_sandbox_accounts", "/sandbox/accounts", Body::None, Allowed::Handled(&[404])),
    s(Agent, "push_sandbox_complaint", "/sandbox/push", Body::Json(|_| json!({})), Allowed::Handled(&[404])),
    s(Admin, "list_tokens", "/tokens", Body::None, Allowed::Ok(200)),
    s(Admin, "create_token", "/tokens", Body::Json(|_| json!({"name": "made", "scope": {"type": "all"}, "role": "viewer"})), Allowed::Ok(201)),
    s(Admin, "delete_token", "/tokens/{new_token}", Body::None, Allowed::Ok(204)),
];

const fn s(
    role: Role,
    key: &'static str,
    path: &'static str,
    body: Body,
    allowed: Allowed,
) -> Sample {
    Sample {
        role,
        key,
        path,
        body,
        allowed,
    }
}

/// A secured operation of the served document.
#[derive(Debug)]
struct Operation {
    method: Method,
    /// The document's path template (`/admin/v1/accounts/{id}`).
    path: String,
    id: String,
    /// Its `x-required-role`.
    stated: Role,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {} ({})", self.method, self.path, self.id)
    }

    /// Its line in [`SAMPLES`]: by operation id, or the complaint actions' shared line.
    fn sample(&self) -> Option<&'static Sample> {
        SAMPLES.iter().find(|s| s.key == self.id).or_else(|| {
            self.complaint_action()?;
            SAMPLES.iter().find(|s| s.key == COMPLAINT_ACTIONS)
        })
    }

    /// `reply` for `POST /admin/v1/complaints/{id}/reply`.
    fn complaint_action(&self) -> Option<&str> {
        let rest = self
            .path
            .strip_prefix(&format!("{BASE}/complaints/{{id}}/"))?;
        (self.method == Method::POST && !rest.contains('/') && !rest.starts_with('{'))
            .then_some(rest)
    }
}

/// Every operation of the document that has `security`, with the role it states.
fn operations(doc: &Value) -> Vec<Operation> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if op.get("security").is_none() {
                continue;
            }
            let id = op["operationId"].as_str().expect("operationId").to_string();
            let stated: Role = serde_json::from_value(op["x-required-role"].clone())
                .unwrap_or_else(|e| panic!("{method} {path} ({id}) states no role: {e}"));
            ops.push(Operation {
                method: Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                path: path.clone(),
                id,
                stated,
            });
        }
    }
    ops
}

/// The fixtures the samples' paths name, made by the administrator.
struct World {
    account: String,
    sub: String,
    complaint: String,
    /// Numbers unique to each call.
    next: AtomicU32,
}

impl World {
    async fn new(h: &Harness) -> World {
        let account = h.create(provider_body("1900000109")).await;
        let sub = "1900000201".to_string();
        let (s, b) = h
            .admin(
                Method::POST,
                &format!("{BASE}/accounts/{account}/sub-merchants"),
                Some(json!({"sub_mchid": sub, "name": "Shop"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        let complaint =
            record_complaint(h, PlatformName::Wechatpay, &account, "200000000001").await;
        World {
            account,
            sub,
            complaint,
            next: AtomicU32::new(1),
        }
    }

    fn number(&self) -> u32 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// The sample's path for `op`, its fixtures made. A scoped caller's calls all aim at the
    /// fixture account (its scope), even those that would delete a fresh one.
    async fn path(&self, h: &Harness, op: &Operation, sample: &Sample, scoped: bool) -> String {
        let mut path = format!("{BASE}{}", sample.path);
        if let Some(action) = op.complaint_action() {
            path = path.replace("{action}", action);
        }
        if path.contains("{new_account}") {
            let id = if scoped {
                self.account.clone()
            } else {
                h.create(provider_body(&format!("17{:08}", self.number())))
                    .await
            };
            path = path.replace("{new_account}", &id);
        }
        if path.contains("{new_sub}") {
            let sub = format!("16{:08}", self.number());
            let (s, b) = h
                .admin(
                    Method::POST,
                    &format!("{BASE}/accounts/{}/sub-merchants", self.account),
                    Some(json!({"sub_mchid": sub, "name": "To delete"})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{b}");
            path = path.replace("{new_sub}", &sub);
        }
        if path.contains("{new_token}") {
            let made = mint(h, ADMIN, "to delete", Role::Viewer, json!({"type": "all"})).await;
            path = path.replace("{new_token}", &made.id);
        }
        let path = path
            .replace("{account}", &self.account)
            .replace("{sub}", &self.sub)
            .replace("{complaint}", &self.complaint);
        assert!(
            !path.contains('{'),
            "{}: a fixture SAMPLES names is unknown: {path}",
            op.name()
        );
        path
    }
}

/// A complaint of `platform` on `account`, recorded directly.
async fn record_complaint(
    h: &Harness,
    platform: PlatformName,
    account: &str,
    platform_id: &str,
) -> String {
    let id = desk_core::complaints::complaint_id(platform, account, platform_id);
    let c = Complaint::new(
        id.clone(),
        platform,
        None,
        account.to_string(),
        platform_id.to_string(),
        chrono::Utc::now(),
    );
    desk_core::complaints::ComplaintRepo::new(&*h.state.ports.records)
        .save(&c, 0)
        .await
        .expect("save the complaint");
    id
}

/// A token minted through the API.
struct Minted {
    id: String,
    token: String,
    view: Value,
}

/// `POST /tokens` by `by`, expected to succeed.
async fn mint(h: &Harness, by: &str, name: &str, role: Role, scope: Value) -> Minted {
    let (s, b) = h
        .call(
            Method::POST,
            &format!("{BASE}/tokens"),
            Some(by),
            Some(json!({"name": name, "scope": scope, "role": role})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["role"], role.as_str(), "{b}");
    Minted {
        id: b["id"].as_str().expect("id").to_string(),
        token: b["token"].as_str().expect("token").to_string(),
        view: b,
    }
}

/// Send the sample's body to `path` with `token`: the status and the JSON answer (Null when
/// empty, a string when not JSON).
async fn send(
    h: &Harness,
    method: Method,
    path: &str,
    token: &str,
    body: Body,
    n: u32,
) -> (StatusCode, Value) {
    use base64::Engine;
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let req = match body {
        Body::None => req.body(HttpBody::empty()),
        Body::Json(make) => req
            .header("content-type", "application/json")
            .body(HttpBody::from(make(n).to_string())),
        Body::Png => req.header("content-type", "image/png").body(HttpBody::from(
            base64::engine::general_purpose::STANDARD
                .decode(PNG_BASE64)
                .expect("the PNG"),
        )),
    }
    .expect("request");
    let res = h.router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, json)
}

/// Every row of every table of the store and every blob, as text, sorted. The calling token's
/// own `last_used_at` (and the version its record takes when that is written) is left out: a
/// refused call still records that the token was presented.
fn dump(h: &Harness, caller: &str) -> BTreeMap<String, Vec<String>> {
    use rusqlite::types::ValueRef;
    let conn = rusqlite::Connection::open_with_flags(
        h.db.path(),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open the store to read");
    let mut tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .expect("tables");
    tables.sort();
    assert!(
        tables.iter().any(|t| t == "records") && tables.iter().any(|t| t == "queue_messages"),
        "{tables:?}"
    );
    let caller_pk = keys::token(caller);
    let mut out = BTreeMap::new();
    for table in tables {
        let mut st = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))
            .expect("select");
        let columns: Vec<String> = st.column_names().iter().map(|c| c.to_string()).collect();
        let mut rows: Vec<String> = st
            .query_map([], |r| {
                let mut row = serde_json::Map::new();
                for (i, c) in columns.iter().enumerate() {
                    let v = match r.get_ref(i)? {
                        ValueRef::Null => Value::Null,
                        ValueRef::Integer(n) => json!(n),
                        ValueRef::Real(f) => json!(f),
                        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
                        ValueRef::Blob(b) => json!(hex::encode(b)),
                    };
                    row.insert(c.clone(), v);
                }
                Ok(row)
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .expect("rows")
            .into_iter()
            .map(|mut row| {
                if table == "records" && row.get("pk") == Some(&json!(caller_pk)) {
                    let mut data: Value = row
                        .get("data")
                        .and_then(Value::as_str)
                        .and_then(|d| serde_json::from_str(d).ok())
                        .unwrap_or(Value::Null);
                    if let Some(d) = data.as_object_mut() {
                        d.remove("last_used_at");
                    }
                    row.insert("data".into(), data);
                    row.remove("version");
                }
                Value::Object(row).to_string()
            })
            .collect();
        rows.sort();
        out.insert(table, rows);
    }
    let mut blobs = Vec::new();
    let mut dirs = vec![h.dir.path().join("blobs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                use sha2::Digest;
                let bytes = std::fs::read(&path).unwrap_or_default();
                blobs.push(format!(
                    "{} {}",
                    path.display(),
                    hex::encode(sha2::Sha256::digest(bytes))
                ));
            }
        }
    }
    blobs.sort();
    out.insert("(blobs)".into(), blobs);
    out
}

/// The rows that differ between two dumps.
fn changes(
    before: &BTreeMap<String, Vec<String>>,
    after: &BTreeMap<String, Vec<String>>,
) -> Vec<String> {
    let tables: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut out = Vec::new();
    for table in tables {
        let b = before.get(table).cloned().unwrap_or_default();
        let a = after.get(table).cloned().unwrap_or_default();
        out.extend(
            b.iter()
                .filter(|r| !a.contains(r))
                .map(|r| format!("{table} -{r}")),
        );
        out.extend(
            a.iter()
                .filter(|r| !b.contains(r))
                .map(|r| format!("{table} +{r}")),
        );
    }
    out
}

/// A caller of the matrix: its role, its bearer string and id, and its scope's type when it
/// is not `all`.
struct Holder {
    role: Role,
    token: String,
    id: String,
    scoped: Option<&'static str>,
}

impl Holder {
    fn name(&self) -> String {
        format!("{} (scope {})", self.role, self.scoped.unwrap_or("all"))
    }
}

/// A role at least the operation's: the handler's answer.
async fn allowed(h: &Harness, world: &World, op: &Operation, sample: &Sample, who: &Holder) {
    let path = world.path(h, op, sample, who.scoped.is_some()).await;
    let before = dump(h, &who.id);
    let (s, b) = send(
        h,
        op.method.clone(),
        &path,
        &who.token,
        sample.body,
        world.number(),
    )
    .await;
    let at = format!("{} as {}: {s} {b}", op.name(), who.name());
    assert!(
        s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
        "let through the role check: {at}"
    );
    match sample.allowed {
        Allowed::Ok(code) => assert_eq!(s.as_u16(), code, "{at}"),
        Allowed::Handled(codes) => assert!(
            codes.contains(&s.as_u16()),
            "expected one of {codes:?}: {at}"
        ),
    }
    // A HEAD is answered as the GET, whatever the role.
    if op.method == Method::GET {
        let (head, _) = send(h, Method::HEAD, &path, &who.token, Body::None, 0).await;
        assert_eq!(head, s, "HEAD as GET: {at}");
    }
    // The dump sees what a write does, so an empty difference after a refused call means
    // something.
    if op.method != Method::GET && matches!(sample.allowed, Allowed::Ok(_)) {
        assert!(
            !changes(&before, &dump(h, &who.id)).is_empty(),
            "the store shows no change: {at}"
        );
    }
}

/// A role below the operation's: 403 naming the role needed, and nothing changed.
async fn denied(h: &Harness, world: &World, op: &Operation, sample: &Sample, who: &Holder) {
    let path = world.path(h, op, sample, who.scoped.is_some()).await;
    let before = dump(h, &who.id);
    let (s, b) = send(
        h,
        op.method.clone(),
        &path,
        &who.token,
        sample.body,
        world.number(),
    )
    .await;
    let at = format!("{} as {}: {s} {b}", op.name(), who.name());
    assert_eq!(s, StatusCode::FORBIDDEN, "{at}");
    assert_eq!(b["error"]["code"], "forbidden", "{at}");
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("role \"{}\"", sample.role)),
        "the message names the role needed ({}): {at}",
        sample.role
    );
    let changed = changes(&before, &dump(h, &who.id));
    assert!(
        changed.is_empty(),
        "a refused call changed the store: {at}\n{changed:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_each_role_as_its_document_states() {
    let h = harness();
    let world = World::new(&h).await;
    let (s, doc) = h
        .call(Method::GET, &format!("{BASE}/openapi.json"), None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let ops = operations(&doc);

    // The table covers the document, and only it.
    let missing: Vec<String> = ops
        .iter()
        .filter(|op| op.sample().is_none())
        .map(|op| {
            format!(
                "add a line for {} to SAMPLES ({} {})",
                op.id, op.method, op.path
            )
        })
        .collect();
    assert!(missing.is_empty(), "{missing:#?}");
    let stale: Vec<&str> = SAMPLES
        .iter()
        .filter(|s| {
            !ops.iter()
                .any(|op| op.sample().is_some_and(|o| o.key == s.key))
        })
        .map(|s| s.key)
        .collect();
    assert!(
        stale.is_empty(),
        "lines in SAMPLES no documented operation uses: {stale:?}"
    );
    // Each line's path has its operation's shape.
    for op in &ops {
        let sample = op.sample().expect("checked above");
        let theirs: Vec<&str> = op.path.split('/').collect();
        let ours = format!(
            "{BASE}{}",
            sample.path.split('?').next().unwrap_or_default()
        );
        let ours: Vec<&str> = ours.split('/').collect();
        let same = theirs.len() == ours.len()
            && theirs.iter().zip(&ours).all(|(t, o)| {
                t == o
                    || t.starts_with('{')
                    || o.starts_with('{') && op.complaint_action() == Some(t)
            });
        assert!(
            same,
            "the SAMPLES line of {} has another path: {}",
            op.name(),
            sample.path
        );
    }
    // Each role is needed somewhere, so each row of the matrix refuses and allows something.
    for role in Role::ALL {
        assert!(
            SAMPLES.iter().any(|s| s.role == role),
            "no operation needs {role}"
        );
    }

    let mut holders = Vec::new();
    for role in Role::ALL {
        let m = mint(
            &h,
            ADMIN,
            &format!("{role} of all"),
            role,
            json!({"type": "all"}),
        )
        .await;
        holders.push(Holder {
            role,
            token: m.token,
            id: m.id,
            scoped: None,
        });
    }
    let mut calls = (0, 0);
    for who in &holders {
        for op in &ops {
            let sample = op.sample().expect("checked above");
            if who.role >= sample.role {
                allowed(&h, &world, op, sample, who).await;
                calls.0 += 1;
            } else {
                denied(&h, &world, op, sample, who).await;
                calls.1 += 1;
            }
        }
    }

    // Scoped to the fixture account or its sub-merchant: the role is checked before the scope
    // (403, not 404), on the account's own routes and everywhere else.
    let scopes = [
        json!({"type": "account", "account_id": world.account}),
        json!({"type": "sub_merchant", "account_id": world.account, "sub_mchid": world.sub}),
    ];
    for (role, scope) in [Viewer, Agent]
        .into_iter()
        .flat_map(|r| scopes.iter().map(move |s| (r, s)))
    {
        let kind = if scope["type"] == "account" {
            "account"
        } else {
            "sub_merchant"
        };
        let m = mint(
            &h,
            ADMIN,
            &format!("{role} of the {kind}"),
            role,
            scope.clone(),
        )
        .await;
        let who = Holder {
            role,
            token: m.token,
            id: m.id,
            scoped: Some(kind),
        };
        for op in &ops {
            let sample = op.sample().expect("checked above");
            if sample.role > role {
                denied(&h, &world, op, sample, &who).await;
                calls.1 += 1;
            }
        }
        // For instance: changing the account is an admin's.
        let path = format!("{BASE}/accounts/{}", world.account);
        let (s, b) = h
            .call(
                Method::PATCH,
                &path,
                Some(&who.token),
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    }
    assert!(
        calls.0 >= ops.len() && calls.1 >= ops.len(),
        "{calls:?} calls"
    );

    // The document states the role each operation was held to.
    let misstated: Vec<String> = ops
        .iter()
        .filter_map(|op| {
            let rule = op.sample()?.role;
            (op.stated != rule).then(|| {
                format!(
                    "{}: the document states {}, the rules give {rule}",
                    op.name(),
                    op.stated
                )
            })
        })
        .collect();
    assert!(misstated.is_empty(), "{misstated:#?}");
}

#[tokio::test]
async fn tokens_mint_only_roles_and_scopes_within_their_own() {
    let h = harness();
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    let tokens = format!("{BASE}/tokens");
    let all = json!({"type": "all"});
    let of_a = json!({"type": "account", "account_id": a});

    // An agent mints nothing: tokens are an admin's.
    let agent = mint(&h, ADMIN, "agent", Role::Agent, all.clone()).await;
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(&agent.token),
            Some(json!({"name": "x", "scope": of_a, "role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{res}");
    assert!(
        res["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("role \"admin\""),
        "{res}"
    );

    // An admin of account A: not scope all (403), not another account (404), an agent of A yes.
    let admin_a = mint(&h, ADMIN, "admin of A", Role::Admin, of_a.clone()).await;
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(&admin_a.token),
            Some(json!({"name": "x", "scope": all, "role": "viewer"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{res}");
    let (s, res) = h
        .call(Method::POST, &tokens, Some(&admin_a.token), Some(json!({"name": "x", "scope": {"type": "account", "account_id": b}, "role": "viewer"})))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{res}");
    let agent_a = mint(&h, &admin_a.token, "agent of A", Role::Agent, of_a.clone()).await;
    assert_eq!(agent_a.view["scope"], of_a);

    // Role omitted: admin (within the scope asked for).
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(&admin_a.token),
            Some(json!({"name": "ci", "scope": of_a})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    assert_eq!(res["role"], "admin", "{res}");
    assert_eq!(res["expires_at"], Value::Null, "{res}");

    // An expiry in the past is refused, naming the field.
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(ADMIN),
            Some(json!({"name": "x", "scope": all, "expires_at": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{res}");
    assert_eq!(res["error"]["field"], "expires_at", "{res}");

    // A token works until its expiry, then is refused with 401. The stored expiry is moved into
    // the past instead of waiting for it.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(ADMIN),
            Some(json!({"name": "temp", "scope": all, "role": "viewer", "expires_at": later})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    let temp = res["token"].as_str().expect("token").to_string();
    let temp_id = res["id"].as_str().expect("id").to_string();
    let complaints = format!("{BASE}/complaints");
    assert_eq!(
        h.call(Method::GET, &complaints, Some(&temp), None).await.0,
        StatusCode::OK
    );
    let repo = TokenRepo::new(&*h.state.ports.records);
    let mut stored = repo.get(&temp_id).await.expect("read").expect("stored");
    stored.expires_at = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
    assert!(repo.delete(&temp_id).await.expect("delete"));
    repo.create(&stored).await.expect("store it expired");
    let (s, res) = h.call(Method::GET, &complaints, Some(&temp), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{res}");
    assert_eq!(res["error"]["message"], "the token has expired", "{res}");
}

#[tokio::test]
async fn a_token_creates_no_token_that_outlives_it() {
    let h = harness();
    let tokens = format!("{BASE}/tokens");
    let all = json!({"type": "all"});
    let expiry = (chrono::Utc::now() + chrono::Duration::hours(1)).trunc_subsecs(0);
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(ADMIN),
            Some(json!({"name": "for a day", "scope": all, "expires_at": expiry})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    let parent = res["token"].as_str().expect("token").to_string();
    // Later than its own expiry: 403 naming the field, and nothing created.
    let before = h.call(Method::GET, &tokens, Some(ADMIN), None).await.1["items"].clone();
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(&parent),
            Some(json!({"name": "forever", "scope": all,
                "expires_at": expiry + chrono::Duration::seconds(1)})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{res}");
    assert_eq!(res["error"]["field"], "expires_at", "{res}");
    let after = h.call(Method::GET, &tokens, Some(ADMIN), None).await.1["items"].clone();
    assert_eq!(
        before.as_array().map(Vec::len),
        after.as_array().map(Vec::len)
    );
    // Omitted: its own expiry. Earlier: as asked.
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(&parent),
            Some(json!({"name": "child", "scope": all, "role": "agent"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    let got = res["expires_at"]
        .as_str()
        .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
    assert_eq!(got, Some(expiry), "{res}");
    let sooner = expiry - chrono::Duration::minutes(30);
    let (s, res) = h
        .call(
            Method::POST,
            &tokens,
            Some(&parent),
            Some(json!({"name": "shorter", "scope": all, "expires_at": sooner})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    let got = res["expires_at"]
        .as_str()
        .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok());
    assert_eq!(got, Some(sooner), "{res}");
}

#[tokio::test]
async fn a_token_stored_before_roles_reads_as_admin() {
    let h = harness();
    // As the previous version wrote it: no role, expiry or last use.
    let (id, token) = desk_http::auth::new_token();
    let created_at = chrono::Utc::now() - chrono::Duration::days(30);
    let old = json!({
        "id": id, "name": "integration", "scope": {"type": "all"},
        "hash": hex::encode(desk_http::auth::hash(&token)), "created_at": created_at,
    });
    let sort = format!("{}#{id}", created_at.to_rfc3339());
    h.state
        .ports
        .records
        .create(
            Item::new(keys::token(&id), keys::META, old)
                .with_gsi1(IndexKey::new(keys::TOKENS, sort)),
        )
        .await
        .expect("store the old token");

    // Admin-only operations: minting an admin token, and the token list.
    let made = mint(
        &h,
        &token,
        "made by the old one",
        Role::Admin,
        json!({"type": "all"}),
    )
    .await;
    assert_eq!(made.view["role"], "admin");
    let (s, list) = h
        .call(Method::GET, &format!("{BASE}/tokens"), Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let own = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["id"] == id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("the old token is listed: {list}"));
    assert_eq!(own["role"], "admin", "{own}");
    assert_eq!(own["expires_at"], Value::Null, "{own}");
}

#[tokio::test]
async fn a_call_records_when_the_token_was_last_used() {
    let h = harness();
    let m = mint(&h, ADMIN, "reader", Role::Viewer, json!({"type": "all"})).await;
    assert_eq!(m.view["last_used_at"], Value::Null, "{}", m.view);
    let created: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(m.view["created_at"].clone()).expect("created_at");
    let (s, _) = h
        .call(
            Method::GET,
            &format!("{BASE}/complaints"),
            Some(&m.token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let now = chrono::Utc::now();
    let (_, list) = h.admin(Method::GET, &format!("{BASE}/tokens"), None).await;
    let view = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|t| t["id"] == m.id.as_str())
        .cloned()
        .unwrap_or_else(|| panic!("listed: {list}"));
    let used: chrono::DateTime<chrono::Utc> = serde_json::from_value(view["last_used_at"].clone())
        .unwrap_or_else(|e| panic!("last_used_at set: {e}: {view}"));
    assert!(
        created <= used && used <= now,
        "{created} <= {used} <= {now}"
    );
}

/// A platform with one staff action, `nudge`, that logs what staff did.
struct Nudger {
    log: Arc<Mutex<Vec<String>>>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NudgeBody {
    /// Why the platform should look again.
    reason: String,
}

const NUDGER: PlatformName = PlatformName::new("nudger");

impl Platform for Nudger {
    fn name(&self) -> PlatformName {
        NUDGER
    }

    fn register_jobs(&self, _jobs: &mut JobRegistry, _services: &Services) {}

    fn staff_actions(&self) -> &dyn StaffActions {
        self
    }
}

#[async_trait]
impl StaffActions for Nudger {
    fn actions(&self) -> Vec<StaffAction> {
        vec![StaffAction::new::<NudgeBody>(
            "nudge",
            ActionKind::Feedback,
            "Ask the platform to look again",
        )]
    }

    async fn run(
        &self,
        services: &Services,
        staff: &Staff,
        complaint: &Complaint,
        action: &str,
        body: ActionBody,
    ) -> Result<ActionAnswer, desk_core::Error> {
        let b: NudgeBody = body.parse()?;
        self.log
            .lock()
            .expect("log")
            .push(format!("{action} {}", b.reason));
        log_admin(
            services,
            staff,
            &complaint.id,
            ActionKind::Feedback,
            ActionOutcome::Succeeded,
            format!("nudged: {}", b.reason),
            None,
        )
        .await?;
        Ok(ActionAnswer::done(
            &complaint.id,
            ActionKind::Feedback,
            None,
        ))
    }
}

#[tokio::test]
async fn the_action_log_names_the_token_that_acted() {
    let mut h = harness();
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut platforms: Platforms = desk_core::platforms::builtin();
    platforms.register(Arc::new(Nudger { log: log.clone() }));
    h.state.callbacks.platforms = Arc::new(platforms);
    h.router = desk_http::router::router(h.state.clone());
    let id = record_complaint(&h, NUDGER, "acc_nudged", "N-1").await;
    let path = format!("{BASE}/complaints/{id}/nudge");

    // A platform's own action needs an agent.
    let viewer = mint(
        &h,
        ADMIN,
        "Han Meimei (viewer)",
        Role::Viewer,
        json!({"type": "all"}),
    )
    .await;
    let (s, res) = h
        .call(
            Method::POST,
            &path,
            Some(&viewer.token),
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{res}");
    assert!(log.lock().expect("log").is_empty());

    let agent = mint(
        &h,
        ADMIN,
        "Li Lei (support)",
        Role::Agent,
        json!({"type": "all"}),
    )
    .await;
    let (s, res) = h
        .call(
            Method::POST,
            &path,
            Some(&agent.token),
            Some(json!({"reason": "the buyer called"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{res}");
    assert_eq!(*log.lock().expect("log"), ["nudge the buyer called"]);
    let (s, detail) = h
        .admin(Method::GET, &format!("{BASE}/complaints/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    let entries: Vec<&Value> = detail["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["action"] == "feedback")
        .collect();
    assert_eq!(entries.len(), 1, "{detail}");
    assert_eq!(
        entries[0]["trigger"],
        json!({"by": "admin", "token_id": agent.id, "token_name": "Li Lei (support)"}),
        "{detail}"
    );
}
