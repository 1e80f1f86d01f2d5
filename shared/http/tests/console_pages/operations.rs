//! The tokens and operations pages (`/console/tokens`, `/console/dead-letters`,
//! `/console/deliveries`): a new token is shown once and a form sent twice makes one; the scopes
//! offered are those the staff member may mint and a wider one is refused at its field;
//! revoking a token ends its sessions; a dead letter made by the real worker is listed with its
//! reason and replayed once; the delivery filters narrow the list; agents and viewers get 403
//! on every page and form.

use super::common::console::{Page, get, post_form, session};
use super::common::{self, ADMIN, Harness, provider_body};
use axum::http::{Method, StatusCode};
use domain::job::{JobEnvelope, queues};
use domain::notification::{Audience, Channel, Delivery, DeliveryStatus, NotificationSubject};
use domain::ports::Item;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SUB: &str = "1900000201";

/// The value of the attribute `attr` of the element whose text starts at `marker`.
fn attr_after(body: &str, marker: &str, attr: &str) -> String {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {body}"));
    let rest = &body[at..];
    let start = rest
        .find(&format!("{attr}=\""))
        .unwrap_or_else(|| panic!("{attr} after {marker}"))
        + attr.len()
        + 2;
    rest[start..start + rest[start..].find('"').expect("end")].replace("&amp;", "&")
}

/// The create form's address (with its one-time id) and CSRF value.
fn create_form(page: &Page) -> (String, String) {
    (
        attr_after(&page.body, "id=\"new-token-card\"", "action"),
        page.csrf(),
    )
}

/// Tokens named `name`, through the admin API.
async fn tokens_named(h: &Harness, name: &str) -> Vec<Value> {
    let (s, list) = h
        .admin(Method::GET, "/admin/v1/tokens?limit=200", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|t| t["name"] == name)
        .cloned()
        .collect()
}

/// A token made through the admin API: (id, bearer).
async fn api_token(h: &Harness, body: Value) -> (String, String) {
    let (s, t) = h.admin(Method::POST, "/admin/v1/tokens", Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    (
        t["id"].as_str().expect("id").to_string(),
        t["token"].as_str().expect("token").to_string(),
    )
}

#[tokio::test]
async fn a_new_token_is_shown_once_and_a_form_sent_twice_makes_one() {
    let h = common::harness();
    let admin = format!("{}; desk_lang=en", session(&h, ADMIN).await);
    let page = get(&h, "/console/tokens?lang=en", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let (action, csrf) = create_form(&page);
    assert!(action.starts_with("/console/tokens?form="), "{action}");
    let form = [
        ("csrf", csrf.as_str()),
        ("name", "Wang, support"),
        ("role", "agent"),
        ("scope", "all"),
        ("expires", "30"),
        ("expires_on", ""),
    ];
    let created = post_form(&h, &action, &admin, &form, &[]).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    assert!(
        created.location().is_empty(),
        "no redirect carries the token"
    );
    let token = attr_after(&created.body, "id=\"new-token\"", "value");
    assert!(token.len() > 20, "{token}");
    assert!(
        created.body.contains("will not be shown again"),
        "{}",
        created.body
    );
    assert!(created.body.contains("id=\"copy-token\""));
    assert_eq!(
        created.headers["cache-control"], "no-store",
        "the page with the token is not kept"
    );
    // The token works, as an agent.
    let (s, _) = h
        .call(Method::GET, "/admin/v1/complaints", Some(&token), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let made = tokens_named(&h, "Wang, support").await;
    assert_eq!(made.len(), 1, "{made:?}");
    assert_eq!(made[0]["role"], "agent");
    assert!(made[0]["expires_at"].is_string(), "30 days: {made:?}");

    // The same form again (a double tap, a reload of the answer): refused, nothing made, the
    // token not shown again.
    let again = post_form(&h, &action, &admin, &form, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
    assert!(again.body.contains("sent before"), "{}", again.body);
    assert!(!again.body.contains(&token), "the token is shown once");
    assert!(!again.body.contains("id=\"new-token\""));
    assert_eq!(tokens_named(&h, "Wang, support").await.len(), 1);

    // The list: named, role in words, last used, never the token.
    let list = get(&h, "/console/tokens?lang=en", &admin).await;
    assert!(!list.body.contains(&token));
    assert!(list.body.contains("Wang, support"), "{}", list.body);
    assert!(list.body.contains("agent (acts on complaints)"));
    assert!(
        list.body.contains("ago ·"),
        "last used, relative: {}",
        list.body
    );
    // A form refused by the API keeps what was typed and says why at the field.
    let page = get(&h, "/console/tokens?lang=en", &admin).await;
    let (action, csrf) = create_form(&page);
    let refused = post_form(
        &h,
        &action,
        &admin,
        &[
            ("csrf", csrf.as_str()),
            ("name", "Old"),
            ("role", "viewer"),
            ("scope", "all"),
            ("expires", ""),
            ("expires_on", "2001-01-01"),
        ],
        &[],
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
    assert!(
        refused.body.contains("id=\"error-expires\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"Old\""));
    assert!(refused.body.contains("value=\"2001-01-01\""));
    assert!(tokens_named(&h, "Old").await.is_empty());
}

#[tokio::test]
async fn a_scoped_administrator_is_offered_and_may_mint_only_narrower_tokens() {
    let h = common::harness();
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{a}/sub-merchants"),
            Some(json!({"sub_mchid": SUB, "name": "门店"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    let (_, scoped) = api_token(
        &h,
        json!({"name": "A's admin", "role": "admin", "scope": {"type": "account", "account_id": a}}),
    )
    .await;
    let cookie = session(&h, &scoped).await;
    let page = get(&h, "/console/tokens?lang=en", &cookie).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains(&format!("value=\"account:{a}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains(&format!("value=\"sub:{a}:{SUB}\"")));
    assert!(
        page.body.contains("account: Provider 1900000109"),
        "by name"
    );
    assert!(!page.body.contains("value=\"all\""), "{}", page.body);
    assert!(!page.body.contains(&b), "another account is not offered");

    // Forged wider scopes are refused at the scope field, what was typed kept.
    for wider in ["all".to_string(), format!("account:{b}")] {
        let page = get(&h, "/console/tokens?lang=en", &cookie).await;
        let (action, csrf) = create_form(&page);
        let refused = post_form(
            &h,
            &action,
            &cookie,
            &[
                ("csrf", csrf.as_str()),
                ("name", "Wider"),
                ("role", "viewer"),
                ("scope", wider.as_str()),
                ("expires", ""),
            ],
            &[],
        )
        .await;
        assert!(
            matches!(
                refused.status,
                StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
            ),
            "{wider}: {}",
            refused.status
        );
        assert!(
            refused.body.contains("id=\"error-scope\""),
            "{wider}: {}",
            refused.body
        );
        assert!(refused.body.contains("value=\"Wider\""));
    }
    assert!(tokens_named(&h, "Wider").await.is_empty());

    // A narrower one is made.
    let page = get(&h, "/console/tokens", &cookie).await;
    let (action, csrf) = create_form(&page);
    let scope = format!("sub:{a}:{SUB}");
    let made = post_form(
        &h,
        &action,
        &cookie,
        &[
            ("csrf", csrf.as_str()),
            ("name", "Shop staff"),
            ("role", "agent"),
            ("scope", scope.as_str()),
            ("expires", "7"),
        ],
        &[],
    )
    .await;
    assert_eq!(made.status, StatusCode::OK, "{}", made.body);
    let made = tokens_named(&h, "Shop staff").await;
    assert_eq!(made[0]["scope"]["sub_mchid"], SUB, "{made:?}");
}

#[tokio::test]
async fn revoking_a_token_ends_its_sessions_and_revoking_ones_own_signs_out() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let (id, bearer) = api_token(
        &h,
        json!({"name": "Leaving", "role": "admin", "scope": {"type": "all"}}),
    )
    .await;
    let theirs = session(&h, &bearer).await;
    assert_eq!(get(&h, "/console/", &theirs).await.status, StatusCode::OK);

    let confirm = get(&h, &format!("/console/tokens/{id}/revoke?lang=en"), &admin).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    assert!(confirm.body.contains("Leaving"));
    assert!(
        !confirm.body.contains("id=\"revoke-self\""),
        "not this session's"
    );
    let done = post_form(
        &h,
        &format!("/console/tokens/{id}/revoke"),
        &admin,
        &[("csrf", &confirm.csrf())],
        &[],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(done.location(), "/console/tokens?revoked=1");
    assert!(tokens_named(&h, "Leaving").await.is_empty());
    let ended = get(&h, "/console/", &theirs).await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert!(ended.location().contains("ended=1"), "{}", ended.location());
    let list = get(&h, "/console/tokens?revoked=1", &admin).await;
    assert!(list.body.contains("id=\"revoked\""));

    // One's own token: the list marks it, the confirmation says so, and revoking signs out.
    let (own_id, own) = api_token(
        &h,
        json!({"name": "Myself", "role": "admin", "scope": {"type": "all"}}),
    )
    .await;
    let mine = session(&h, &own).await;
    let list = get(&h, "/console/tokens?lang=en", &mine).await;
    let row = &list.body[list
        .body
        .find(&format!("id=\"token-{own_id}\""))
        .expect("row")..];
    assert!(
        row[..row.find("</li>").expect("end")].contains("this is you"),
        "{row}"
    );
    let confirm = get(&h, &format!("/console/tokens/{own_id}/revoke"), &mine).await;
    assert!(
        confirm.body.contains("id=\"revoke-self\""),
        "{}",
        confirm.body
    );
    let done = post_form(
        &h,
        &format!("/console/tokens/{own_id}/revoke"),
        &mine,
        &[("csrf", &confirm.csrf())],
        &[],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert!(
        done.location().starts_with("/console/sign-in"),
        "{}",
        done.location()
    );
    let after = get(&h, "/console/tokens", &mine).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(after.location().starts_with("/console/sign-in"));
}

/// A WeChat Pay push's job for `account` as its callback queues it.
fn complaint_job(account: &str, complaint_id: &str) -> JobEnvelope {
    JobEnvelope::new(
        "wechatpay.complaint",
        json!({"create_time": "2026-11-26T19:49:57+08:00", "event_type": "COMPLAINT.CREATE",
               "mchid": "1900000109", "notification_id": "EV-ops-1",
               "resource": {"action_type": "CREATE_COMPLAINT", "complaint_id": complaint_id}}),
        chrono::Utc::now(),
    )
    .for_account(account, None)
}

/// The dead letters of the events queue, through the admin API.
async fn letters(h: &Harness) -> Vec<Value> {
    let (s, page) = h
        .admin(Method::GET, "/admin/v1/dead-letters?queue=events", None)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// The real worker with every job handler, retrying fast, on the events queue: its stop and
/// its task (awaited after the stop, so nothing runs behind the test's back).
fn worker(
    h: &Harness,
) -> (
    desk_core::worker::CancellationToken,
    tokio::task::JoinHandle<()>,
) {
    let stop = desk_core::worker::CancellationToken::new();
    let registry = std::sync::Arc::new(desk_core::policy::registry(&h.state, h.state.platforms()));
    let task = tokio::spawn(desk_core::worker::run(
        h.state.ports.queue.clone(),
        registry,
        desk_core::worker::WorkerSettings {
            concurrency: 2,
            wait: Duration::from_millis(200),
            retry: desk_core::worker::RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(100),
                max_delay: Duration::from_millis(400),
            },
            ..desk_core::worker::WorkerSettings::for_queue(queues::EVENTS)
        },
        stop.clone(),
    ));
    (stop, task)
}

/// Run the worker until the job is dead-lettered; its dead letter.
async fn run_until_dead(h: &Harness, job: &JobEnvelope) -> Value {
    let (stop, task) = worker(h);
    let start = Instant::now();
    let letter = loop {
        if let Some(l) = letters(h)
            .await
            .into_iter()
            .find(|l| l["job_id"] == job.id.as_str())
        {
            break l;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "no dead letter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    stop.cancel();
    task.await.expect("the worker stopped");
    letter
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_with_its_reason_and_replayed_once() {
    let h = common::harness();
    // An account without credentials: the worker cannot read the pushed complaint.
    let account = h.create(provider_body("1900000109")).await;
    let job = complaint_job(&account, "200201820261127080000000077");
    h.state
        .ports
        .queue
        .send(
            queues::EVENTS,
            &serde_json::to_string(&job).expect("json"),
            Duration::ZERO,
        )
        .await
        .expect("send");
    let letter = run_until_dead(&h, &job).await;
    let reason = letter["reason"].as_str().expect("reason").to_string();
    assert!(!reason.is_empty());

    let admin = session(&h, ADMIN).await;
    let page = get(&h, "/console/dead-letters?lang=en", &admin).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let escaped = reason
        .replace('&', "&amp;")
        .replace('"', "&#34;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&#39;");
    assert!(
        page.body.contains(&escaped),
        "the reason {reason}: {}",
        page.body
    );
    assert!(
        page.body.contains("WeChat Pay complaint push"),
        "kind in words"
    );
    assert!(
        page.body.contains("Provider 1900000109"),
        "the account by name"
    );
    let action = attr_after(&page.body, "class=\"dead-letter\"", "action");
    assert!(action.contains("/replay?form="), "{action}");
    let csrf = page.csrf();

    let first = post_form(&h, &action, &admin, &[("csrf", &csrf)], &[]).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    assert_eq!(
        first.location(),
        "/console/dead-letters?queue=events&replayed=1"
    );
    assert!(letters(&h).await.is_empty(), "it left the list");
    let page = get(&h, "/console/dead-letters?lang=en&replayed=1", &admin).await;
    assert!(page.body.contains("id=\"replayed\""));
    assert!(
        page.body.contains("id=\"no-dead-letters\""),
        "{}",
        page.body
    );

    // It was back on its queue: the worker runs it again, and it fails again (the account
    // still has no credentials) and is a dead letter again.
    let again = run_until_dead(&h, &job).await;
    assert_eq!(again["id"], letter["id"]);
    // The same form sent again (a late double tap, a resubmission): not replayed again.
    let second = post_form(&h, &action, &admin, &[("csrf", &csrf)], &[]).await;
    assert_eq!(
        second.location(),
        "/console/dead-letters?queue=events&replayed=again"
    );
    assert_eq!(
        letters(&h).await.len(),
        1,
        "still a dead letter: the form acted once"
    );
    let page = get(&h, "/console/dead-letters?lang=en&replayed=again", &admin).await;
    assert!(page.body.contains("id=\"replayed-again\""));
}

/// A delivery as the notifier stores it (its list keys with it).
async fn store_delivery(h: &Harness, d: &Delivery) {
    let item = desk_core::deliveries::delivery_keys(d).into_iter().fold(
        Item::new(
            format!("DELIVERY#{}", d.id),
            "META",
            serde_json::to_value(d).expect("json"),
        ),
        |i, (x, k)| i.with_index(x, k),
    );
    h.state.ports.records.create(item).await.expect("delivery");
}

fn delivery(
    n: u32,
    audience: (&str, Option<&str>),
    channel: Channel,
    status: DeliveryStatus,
    recipient: &str,
) -> Delivery {
    let at = chrono::Utc::now() - chrono::Duration::minutes(i64::from(10 - n));
    Delivery {
        id: format!("dlv_ops_{n}"),
        job_id: format!("job_ops_{n}"),
        channel,
        recipients: vec![recipient.to_string()],
        idempotency_key: format!("event-{n}"),
        status,
        attempts: if status == DeliveryStatus::Sent { 1 } else { 3 },
        last_error: (status != DeliveryStatus::Sent).then(|| "connection refused".to_string()),
        results: Default::default(),
        subject: Some(NotificationSubject::Complaint {
            complaint_id: format!("cmp_ops_{n}"),
        }),
        audience: Some(Audience {
            account_id: audience.0.to_string(),
            sub_mchid: audience.1.map(String::from),
        }),
        folded: vec![],
        created_at: at,
        updated_at: at,
    }
}

fn rows(page: &Page) -> usize {
    page.body.matches("class=\"delivery\"").count()
}

#[tokio::test]
async fn the_delivery_filters_narrow_the_list() {
    let h = common::harness();
    let a = h.create(provider_body("1900000109")).await;
    let b = h.create(provider_body("1900000110")).await;
    let (s, res) = h
        .admin(
            Method::POST,
            &format!("/admin/v1/accounts/{a}/sub-merchants"),
            Some(json!({"sub_mchid": SUB, "name": "门店"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{res}");
    for d in [
        delivery(
            1,
            (&a, None),
            Channel::Email,
            DeliveryStatus::Sent,
            "ops@example.com",
        ),
        delivery(
            2,
            (&a, Some(SUB)),
            Channel::Sms,
            DeliveryStatus::Failed,
            "138****0000",
        ),
        delivery(
            3,
            (&b, None),
            Channel::Bot,
            DeliveryStatus::Retrying,
            "bot-1",
        ),
    ] {
        store_delivery(&h, &d).await;
    }
    desk_core::reindex::run(&*h.state.ports.records, 7)
        .await
        .expect("list keys ready");
    let admin = session(&h, ADMIN).await;
    let all = get(&h, "/console/deliveries?lang=en", &admin).await;
    assert_eq!(all.status, StatusCode::OK, "{}", all.body);
    assert_eq!(rows(&all), 3, "{}", all.body);
    assert!(
        all.body.contains("href=\"/console/complaints/cmp_ops_1\""),
        "subject linked"
    );
    assert!(
        all.body.contains("Provider 1900000109 / 门店 (1900000201)"),
        "audience by name"
    );
    assert!(all.body.contains("138****0000"));

    let cases: Vec<(String, usize, &str)> = vec![
        (
            "status=failed".into(),
            1,
            "failed after 3 attempts, given up",
        ),
        ("status=sent".into(), 1, "delivered"),
        ("channel=bot".into(), 1, "not yet delivered, will retry"),
        (format!("account={a}"), 2, "e-mail"),
        (format!("account={a}:{SUB}"), 1, "SMS"),
        (format!("account={b}&status=sent"), 0, "No deliveries match"),
    ];
    for (query, n, text) in cases {
        let page = get(&h, &format!("/console/deliveries?lang=en&{query}"), &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
        assert_eq!(rows(&page), n, "{query}: {}", page.body);
        assert!(page.body.contains(text), "{query}: {text}");
    }
    // An account outside the list, and a complaint that is not there: said at the filter.
    let page = get(&h, "/console/deliveries?lang=en&account=acc_nobody", &admin).await;
    assert!(page.body.contains("id=\"error-account\""), "{}", page.body);
    let page = get(
        &h,
        "/console/deliveries?lang=en&complaint=cmp_nobody",
        &admin,
    )
    .await;
    assert!(
        page.body.contains("id=\"error-complaint\""),
        "{}",
        page.body
    );
    assert_eq!(rows(&page), 0);

    // A token scoped to account B sees only B's, and cannot filter its way into A's.
    let (_, scoped) = api_token(
        &h,
        json!({"name": "B admin", "role": "admin", "scope": {"type": "account", "account_id": b}}),
    )
    .await;
    let cookie = session(&h, &scoped).await;
    let page = get(&h, "/console/deliveries", &cookie).await;
    assert_eq!(rows(&page), 1, "{}", page.body);
    let page = get(&h, &format!("/console/deliveries?account={a}"), &cookie).await;
    assert_eq!(rows(&page), 0);
    assert!(page.body.contains("id=\"error-account\""));
}

#[tokio::test]
async fn agents_and_viewers_get_403_on_every_page_and_form() {
    let h = common::harness();
    let admin = session(&h, ADMIN).await;
    let (id, _) = api_token(
        &h,
        json!({"name": "Some token", "role": "viewer", "scope": {"type": "all"}}),
    )
    .await;
    let page = get(&h, "/console/tokens", &admin).await;
    let (action, _) = create_form(&page);
    for role in ["agent", "viewer"] {
        let (_, bearer) = api_token(
            &h,
            json!({"name": role, "role": role, "scope": {"type": "all"}}),
        )
        .await;
        let cookie = session(&h, &bearer).await;
        for path in [
            "/console/tokens".to_string(),
            format!("/console/tokens/{id}/revoke"),
            "/console/dead-letters".to_string(),
            "/console/deliveries".to_string(),
        ] {
            let page = get(&h, &path, &cookie).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role} GET {path}");
        }
        // The forms, with this session's own CSRF value.
        let csrf = get(&h, "/console/", &cookie).await.csrf();
        for path in [
            action.clone(),
            format!("/console/tokens/{id}/revoke"),
            "/console/dead-letters/events:m1/replay?form=00000000000000000000000000000000"
                .to_string(),
        ] {
            let page = post_form(
                &h,
                &path,
                &cookie,
                &[
                    ("csrf", csrf.as_str()),
                    ("name", "x"),
                    ("role", "viewer"),
                    ("scope", "all"),
                ],
                &[],
            )
            .await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{role} POST {path}");
        }
    }
    assert_eq!(tokens_named(&h, "x").await.len(), 0);
    assert_eq!(tokens_named(&h, "Some token").await.len(), 1, "not revoked");
}
