//! Mini-program reconciliation against the WeChat API simulator. The platform's `Reconciler`
//! alone: the re-read of an open complaint whose status moved without a push; the penalty
//! list's complaints we never saw, with their real status, page by page; WeChat's quota
//! errcodes; both onboarding modes; the job it builds is the push's. Then end to end through
//! passes on our server with a manual clock: a dropped push found through the penalty list, an
//! expiry and a complaint reaching the merchant caught by the re-read, each handled once, and
//! the push arriving afterwards changing nothing.

mod common;

use axum::http::{Method, StatusCode};
use common::*;
use desk_core::Ports;
use desk_core::complaints::{ComplaintRepo, complaint_id};
use desk_core::platforms::wxmini::events::Facts;
use desk_core::reconcile::{Reconciler, Seen, Window};
use desk_core::repo::AccountRepo;
use desk_core::worker::JobRegistry;
use desk_core::worker::{CancellationToken, JobError};
use domain::account::Account;
use domain::clock::ManualClock;
use domain::complaint::{Complaint, Platform};
use domain::job::JobEnvelope;
use domain::job::{queues, wxmini};
use domain::ports::Clock;
use sandbox::wxapi::{PushConfig, PushFormat, PushMode, SimComponent, SimMini, WechatSim};
use serde_json::{Value, json};
use std::sync::Arc;

const APPID: &str = "wx3333333333333333";
const AUTH_APPID: &str = "wx4444444444444444";
const COMPONENT: &str = "wx8888888888888888";
const SECRET: &str = "mini-secret-reconcile-0123456";
const COMPONENT_SECRET: &str = "component-secret-reconcile-01";
const TOKEN: &str = "miniToken789";
const COMPONENT_TOKEN: &str = "platformToken012";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const COMPONENT_AES_KEY: &str = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj";

struct Env {
    h: Harness,
    wx: WechatSim,
    base: String,
    stop: CancellationToken,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Our server on a loopback port (no worker: jobs stay queued for the test to read) and the
/// WeChat simulator.
async fn env() -> Env {
    let (h, base, stop) = served(|_| {}).await;
    let wx = WechatSim::start().await.expect("wechat sim");
    Env { h, wx, base, stop }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn reconciler(h: &Harness) -> &dyn Reconciler {
    h.state
        .platforms()
        .get(Platform::Wxmini)
        .and_then(|p| p.reconciler())
        .expect("the mini-program platform reconciles")
}

impl Env {
    /// A mini program with its own secret (no automatic handling); its account id.
    async fn manual(&self) -> String {
        self.wx.add_mini(SimMini {
            appid: APPID.into(),
            secret: SECRET.into(),
            nick_name: "手动小程序".into(),
            push: Some(PushConfig {
                token: TOKEN.into(),
                encoding_aes_key: AES_KEY.into(),
                mode: PushMode::Safe,
                format: PushFormat::Xml,
                url: format!("{}/callbacks/wxmini/{APPID}", self.base),
            }),
        });
        self.h
            .create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
                "appid": APPID, "mode": "manual", "api_base_url": self.wx.base_url()},
                "credentials": {"secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}}))
            .await
    }

    async fn account(&self, id: &str) -> Account {
        AccountRepo::new(&*self.h.state.ports.records)
            .get(id)
            .await
            .expect("read account")
            .expect("account")
            .0
    }

    /// A complaint at the simulator in `status`, created `age` seconds ago; never pushed.
    fn complaint(&self, appid: &str, id: u64, status: i64, age: i64) {
        let created = now() - age;
        self.wx.add_complaint(
            appid,
            json!({"complaintOrderId": id, "openid": "o_user", "createTime": created,
                "phoneNumber": "13812345678", "type": 3, "status": status,
                "customerMaterial": {"content": "商品与描述不符，要求退款", "mediaIdList": []},
                "orderId": format!("42000{id}"), "outTradeNo": format!("T{id}"),
                "productName": "充电宝", "payTime": created - 3600, "totalCost": 1_500,
                "appealState": 0}),
        );
    }

    /// Our record of a complaint (as a handled push leaves it), in `raw_status`.
    async fn record(
        &self,
        account_id: &str,
        id: &str,
        raw_status: &str,
        replied: bool,
    ) -> Complaint {
        let mut c = Complaint::new(
            complaint_id(Platform::Wxmini, account_id, id),
            Platform::Wxmini,
            None,
            account_id.into(),
            id.into(),
            chrono::Utc::now(),
        );
        c.raw_status = raw_status.into();
        c.replied = replied;
        ComplaintRepo::new(&*self.h.state.ports.records)
            .save(&c, 0)
            .await
            .expect("save record");
        c
    }
}

/// A window from `start` (unix seconds) to now.
fn window(start: i64) -> Window {
    Window {
        start: chrono::DateTime::from_timestamp(start, 0).expect("time"),
        end: chrono::Utc::now(),
    }
}

/// A penalty record (`appealList[]`), about a complaint or not.
fn penalty(n: u64, complaint_order_id: Option<u64>, update_time: i64) -> Value {
    json!({"illegalOrderId": format!("ILL{n}"), "complaintOrderId": complaint_order_id.unwrap_or(0),
        "illegalWording": "商家未在规定时间内处理投诉", "status": 2, "minusScore": 2,
        "orderId": format!("42000{n}"), "illegalTime": update_time - 60, "updateTime": update_time})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_moved_without_a_push_is_seen_by_the_reread_and_its_job_is_the_pushs() {
    let e = env().await;
    let account_id = e.manual().await;
    let account = e.account(&account_id).await;
    let r = reconciler(&e.h);
    assert!(!r.lists(), "mini programs have no list API");
    e.complaint(APPID, 910_001, 201, 3 * 3600);
    let local = e.record(&account_id, "910001", "201", false).await;

    // Nothing moved: the re-read sees what we have.
    let seen = r
        .reread(&e.h.state, &account, &local)
        .await
        .expect("reread")
        .expect("known to WeChat");
    assert_eq!(seen.raw_status, "201");
    assert_eq!(seen.record_id, local.id);
    assert!(!r.pushed_change(Some(&local), &seen));
    assert_eq!(seen.changed_at, None, "no entry newer than our record");

    // The merchant's 48 hours ran out (201 → 202) and no push came.
    e.wx.set_status("910001", 202);
    let seen = r
        .reread(&e.h.state, &account, &local)
        .await
        .expect("reread")
        .expect("known");
    assert_eq!(seen.raw_status, "202");
    assert!(r.pushed_change(Some(&local), &seen));
    assert_eq!(
        seen.created_at.map(|t| t.timestamp()),
        e.wx.complaint("910001").expect("sim")["complaintOrder"]["createTime"].as_i64()
    );
    // The buyer writes again later: the newest history entry dates the change.
    let at = now() + 120;
    e.wx.buyer_message("910001", "还没处理吗？", at);
    let seen = r
        .reread(&e.h.state, &account, &local)
        .await
        .expect("reread")
        .expect("known");
    assert_eq!(seen.changed_at.map(|t| t.timestamp()), Some(at));

    // The job is the one the push of the same state queues: push it now (no worker runs)
    // and compare.
    let built = r.job(&account, &seen, chrono::Utc::now()).expect("job");
    assert_eq!(e.wx.push_complaint("910001").await, Ok(200));
    let queued = e.h.queued_jobs(queues::EVENTS).await;
    let pushed = queued
        .iter()
        .find(|j| j.job_type == wxmini::COMPLAINT.name())
        .expect("the push's job");
    assert_eq!(built.job_type, pushed.job_type);
    assert_eq!(built.account_id, pushed.account_id);
    assert_eq!(built.sub_mchid, pushed.sub_mchid);
    let (b, p) = (
        wxmini::COMPLAINT.payload(&built).expect("built payload"),
        wxmini::COMPLAINT.payload(pushed).expect("pushed payload"),
    );
    assert_eq!(b.appid, p.appid);
    assert_eq!(b.complaint_order_id, p.complaint_order_id);
    assert_eq!(b.status, p.status);
    for key in b.info.as_object().expect("info").keys() {
        assert!(p.info.get(key).is_some(), "the push has no `{key}`");
    }
    // What the handler reads from the push (a disabled account's record) is the same.
    let (fb, fp) = (Facts::from_push(&b.info), Facts::from_push(&p.info));
    assert_eq!(
        (
            &fb.id,
            fb.status,
            &fb.order_id,
            &fb.out_trade_no,
            fb.total_fen
        ),
        (
            &fp.id,
            fp.status,
            &fp.order_id,
            &fp.out_trade_no,
            fp.total_fen
        )
    );
    assert_eq!(
        (&fb.content, &fb.media, &fb.problem_type),
        (&fp.content, &fp.media, &fp.problem_type)
    );
    assert_eq!((fb.created, fb.expires), (fp.created, fp.expires));
    assert_eq!(fb.history.len(), fp.history.len());
    assert_eq!(
        fb.phone.as_deref(),
        Some("138****5678"),
        "masked in our job"
    );
    assert!(!built.payload.to_string().contains("13812345678"));

    // A complaint WeChat does not know: None.
    let gone = e.record(&account_id, "910009", "201", false).await;
    assert_eq!(
        r.reread(&e.h.state, &account, &gone).await.expect("reread"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_penalty_lists_unknown_complaints_come_back_with_their_real_status_page_by_page() {
    let e = env().await;
    let account_id = e.manual().await;
    let account = e.account(&account_id).await;
    let r = reconciler(&e.h);
    let since = now() - 3600;
    // 250 records: three pages of 100. Most are about no complaint.
    let mut list: Vec<Value> = (0..250).map(|n| penalty(n, None, since + 60)).collect();
    // Page 1: one we know (nothing to read), one 40 days old (older than a first pass
    // looks: left alone).
    e.complaint(APPID, 920_001, 201, 5 * 3600);
    e.record(&account_id, "920001", "201", false).await;
    list[5] = penalty(5, Some(920_001), since + 60);
    e.complaint(APPID, 920_002, 202, 45 * 86_400);
    list[20] = penalty(20, Some(920_002), now() - 40 * 86_400);
    // Page 2: one whose push never came, now expired (202); page 3: one WeChat no longer
    // knows, and the page-2 one again.
    e.complaint(APPID, 920_003, 202, 50 * 3600);
    list[180] = penalty(180, Some(920_003), since + 600);
    list[230] = penalty(230, Some(920_009), since + 600);
    list[240] = penalty(240, Some(920_003), since + 900);
    e.wx.set_penalties(APPID, 88, list);

    let page = r
        .list_page(&e.h.state, &account, window(since), None)
        .await
        .expect("list");
    assert_eq!(page.next, None, "the whole list was read");
    let ids: Vec<&str> = page
        .items
        .iter()
        .map(|s| s.platform_complaint_id.as_str())
        .collect();
    assert_eq!(ids, ["920003"]);
    let s: &Seen = &page.items[0];
    assert_eq!(s.raw_status, "202", "read from the detail");
    assert_eq!(
        s.record_id,
        complaint_id(Platform::Wxmini, &account_id, "920003")
    );
    assert_eq!(
        s.created_at.map(|t| t.timestamp()),
        e.wx.complaint("920003").expect("sim")["complaintOrder"]["createTime"].as_i64()
    );
    assert!(r.pushed_change(None, s));
    let calls = e.wx.requests();
    let pages: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains("get_penalty_list"))
        .collect();
    assert_eq!(
        pages,
        [
            "GET /wxaapi/wxamptrade/get_penalty_list?limit=100&offset=0",
            "GET /wxaapi/wxamptrade/get_penalty_list?limit=100&offset=100",
            "GET /wxaapi/wxamptrade/get_penalty_list?limit=100&offset=200",
        ]
    );
    let details: Vec<&String> = calls
        .iter()
        .filter(|c| c.contains("complaintOrderDetail"))
        .collect();
    assert_eq!(
        details,
        [
            "GET /wxaapi/minishop/complaintOrderDetail?complaintOrderId=920003",
            "GET /wxaapi/minishop/complaintOrderDetail?complaintOrderId=920009",
        ],
        "only ids we do not know, each once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_unknown_complaints_than_a_call_reads_continue_from_its_cursor() {
    let e = env().await;
    let account_id = e.manual().await;
    let account = e.account(&account_id).await;
    let r = reconciler(&e.h);
    let since = now() - 3600;
    let n = desk_core::platforms::wxmini::reconcile::MAX_NEW_DETAILS as u64 + 5;
    let list: Vec<Value> = (0..n)
        .map(|i| {
            e.complaint(APPID, 930_000 + i, 202, 50 * 3600);
            penalty(i, Some(930_000 + i), since + 60)
        })
        .collect();
    e.wx.set_penalties(APPID, 80, list);
    let first = r
        .list_page(&e.h.state, &account, window(since), None)
        .await
        .expect("first");
    assert_eq!(first.items.len() as u64, n - 5);
    let next = first.next.clone().expect("a cursor: more to read");
    let second = r
        .list_page(&e.h.state, &account, window(since), Some(next))
        .await
        .expect("second");
    assert_eq!(second.next, None);
    let mut ids: Vec<String> = first
        .items
        .iter()
        .chain(&second.items)
        .map(|s| s.platform_complaint_id.clone())
        .collect();
    ids.dedup();
    assert_eq!(
        ids,
        (0..n)
            .map(|i| (930_000 + i).to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        e.wx.calls_to("complaintOrderDetail") as u64,
        n,
        "each read once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wechat_quota_errcodes_are_throttling() {
    let e = env().await;
    let account_id = e.manual().await;
    let account = e.account(&account_id).await;
    let r = reconciler(&e.h);
    e.complaint(APPID, 940_001, 202, 50 * 3600);
    let local = e.record(&account_id, "940001", "201", false).await;
    e.wx.set_penalties(APPID, 90, vec![penalty(1, Some(940_002), now())]);
    e.complaint(APPID, 940_002, 202, 50 * 3600);

    e.wx.throttle_next("complaintOrderDetail", 1, 45009);
    let err = r.reread(&e.h.state, &account, &local).await;
    assert!(matches!(err, Err(JobError::Throttled { .. })), "{err:?}");
    e.wx.throttle_next("get_penalty_list", 1, 45011);
    let err = r
        .list_page(&e.h.state, &account, window(now() - 3600), None)
        .await;
    assert!(matches!(err, Err(JobError::Throttled { .. })), "{err:?}");
    // The unknown complaint's detail throttled: the call fails, nothing is half-listed.
    e.wx.throttle_next("complaintOrderDetail", 1, 45011);
    let err = r
        .list_page(&e.h.state, &account, window(now() - 3600), None)
        .await;
    assert!(matches!(err, Err(JobError::Throttled { .. })), "{err:?}");
    // The quota back: both work.
    let seen = r
        .reread(&e.h.state, &account, &local)
        .await
        .expect("reread");
    assert_eq!(seen.map(|s| s.raw_status), Some("202".to_string()));
    let page = r
        .list_page(&e.h.state, &account, window(now() - 3600), None)
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_authorised_mini_program_is_read_with_its_platforms_token() {
    let e = env().await;
    spawn_worker(&e.h, queues::EVENTS, &e.stop);
    e.wx.add_component(SimComponent {
        appid: COMPONENT.into(),
        secret: COMPONENT_SECRET.into(),
        events: PushConfig {
            token: COMPONENT_TOKEN.into(),
            encoding_aes_key: COMPONENT_AES_KEY.into(),
            mode: PushMode::Safe,
            format: PushFormat::Xml,
            url: format!("{}/callbacks/wxopen/{COMPONENT}/events", e.base),
        },
        messages: PushConfig {
            token: COMPONENT_TOKEN.into(),
            encoding_aes_key: COMPONENT_AES_KEY.into(),
            mode: PushMode::Safe,
            format: PushFormat::Json,
            url: format!("{}/callbacks/wxopen/{COMPONENT}/messages/$APPID$", e.base),
        },
    });
    let component_id =
        e.h.create(
            json!({"kind": "wxopen_component", "name": "Our platform", "settings": {
            "component_appid": COMPONENT, "api_base_url": e.wx.base_url(),
            "auth_page_base_url": e.wx.base_url()},
            "credentials": {"secret": COMPONENT_SECRET, "token": COMPONENT_TOKEN,
                "encoding_aes_key": COMPONENT_AES_KEY}}),
        )
        .await;
    assert_eq!(e.wx.push_ticket(COMPONENT).await, Ok(200));
    assert_eq!(
        e.wx.push_authorized(COMPONENT, AUTH_APPID, "授权小程序", &[18, 76, 151])
            .await,
        Ok(200)
    );
    let account_id = wait_for_mini(&e.h, AUTH_APPID).await;
    let account = e.account(&account_id).await;
    let r = reconciler(&e.h);

    e.complaint(AUTH_APPID, 950_001, 206, 10 * 3600);
    let local = e.record(&account_id, "950001", "201", false).await;
    let seen = r
        .reread(&e.h.state, &account, &local)
        .await
        .expect("reread")
        .expect("known");
    assert_eq!(seen.raw_status, "206");
    e.complaint(AUTH_APPID, 950_002, 202, 60 * 3600);
    e.wx.set_penalties(AUTH_APPID, 90, vec![penalty(2, Some(950_002), now())]);
    let page = r
        .list_page(&e.h.state, &account, window(now() - 3600), None)
        .await
        .expect("list");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].raw_status, "202");
    let job = r
        .job(&account, &page.items[0], chrono::Utc::now())
        .expect("job");
    assert_eq!(job.account_id.as_deref(), Some(account_id.as_str()));
    assert_eq!(
        wxmini::COMPLAINT.payload(&job).expect("payload").appid,
        AUTH_APPID
    );
    // The third-party platform's own account has no complaints: nothing to list.
    let component = e.account(&component_id).await;
    let none = r
        .list_page(&e.h.state, &component, window(now() - 3600), None)
        .await
        .expect("component");
    assert!(none.items.is_empty() && none.next.is_none());
}

/// The account of an authorised mini program, once the `authorized` event's job made it.
async fn wait_for_mini(h: &Harness, appid: &str) -> String {
    for _ in 0..100 {
        let (_, list) = h
            .admin(axum::http::Method::GET, "/admin/v1/accounts", None)
            .await;
        if let Some(id) = list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["kind"] == "wxmini_app" && a["settings"]["appid"] == appid)
            .and_then(|a| a["id"].as_str())
        {
            return id.to_string();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the authorised mini program was never onboarded");
}

// ---- End to end: our server, the pass (`POST /accounts/{id}/reconcile`), the job handler,
// ---- with a manual clock. Jobs are run here one by one off the events queue, so "nothing
// ---- more happened" is known without waiting.

const RESPONSE: &str = "您好，已收到您的反馈，我们会尽快为您处理。";

struct Desk {
    h: Harness,
    wx: WechatSim,
    clock: Arc<ManualClock>,
    registry: JobRegistry,
    account_id: String,
    stop: CancellationToken,
}

impl Drop for Desk {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Our server (its clock manual, starting now) and a mini program with its own secret whose
/// pushes reach it; `auto_response`: answer new complaints automatically.
async fn desk(auto_response: bool) -> Desk {
    // The account is added 60 days ago (what happened before an account was added is no
    // missed push); the clock then stands at now.
    let start = chrono::Utc::now();
    let clock = Arc::new(ManualClock::new(start - chrono::Duration::days(60)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let c = clock.clone();
    let h = harness_over(Some(&format!("{base}/")), move |p| Ports { clock: c, ..p });
    let stop = CancellationToken::new();
    tokio::spawn(desk_http::server::serve_default(
        listener,
        h.router.clone(),
        stop.clone(),
    ));
    let wx = WechatSim::start().await.expect("wechat sim");
    wx.add_mini(SimMini {
        appid: APPID.into(),
        secret: SECRET.into(),
        nick_name: "手动小程序".into(),
        push: Some(PushConfig {
            token: TOKEN.into(),
            encoding_aes_key: AES_KEY.into(),
            mode: PushMode::Safe,
            format: PushFormat::Xml,
            url: format!("{base}/callbacks/wxmini/{APPID}"),
        }),
    });
    let account_id = h
        .create(json!({"kind": "wxmini_app", "name": "Mini", "settings": {
            "appid": APPID, "mode": "manual", "api_base_url": wx.base_url(),
            "auto_response": {"enabled": auto_response, "decision": "agree", "text": RESPONSE},
            "auto_refund": false},
            "credentials": {"secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY}}))
        .await;
    clock.set(start);
    let registry = desk_core::policy::registry(&h.state, h.state.platforms());
    Desk {
        h,
        wx,
        clock,
        registry,
        account_id,
        stop,
    }
}

impl Desk {
    /// A complaint at the simulator, created `age` seconds ago; never pushed.
    fn complaint(&self, id: u64, status: i64, age: i64) {
        let created = now() - age;
        self.wx.add_complaint(
            APPID,
            json!({"complaintOrderId": id, "openid": "o_user", "createTime": created,
                "phoneNumber": "13812345678", "type": 3, "status": status,
                "customerMaterial": {"content": "商品与描述不符，要求退款", "mediaIdList": []},
                "orderId": format!("42000{id}"), "outTradeNo": format!("T{id}"),
                "productName": "充电宝", "payTime": created - 3600, "totalCost": 1_500,
                "appealState": 0}),
        );
    }

    /// Run the jobs waiting on the events queue (and those they queue) with the worker's
    /// handlers; how many ran.
    async fn run_jobs(&self) -> usize {
        let queue = &self.h.state.ports.queue;
        let mut ran = 0;
        loop {
            let msgs = queue
                .receive(
                    queues::EVENTS,
                    10,
                    std::time::Duration::from_secs(60),
                    std::time::Duration::ZERO,
                )
                .await
                .expect("receive");
            if msgs.is_empty() {
                return ran;
            }
            for m in msgs {
                let job: JobEnvelope = serde_json::from_str(&m.body).expect("job");
                let handler = self
                    .registry
                    .get(&job.job_type)
                    .unwrap_or_else(|| panic!("no handler for {}", job.job_type));
                if let Err(e) = handler.handle(&job).await {
                    panic!("{} failed: {e}", job.job_type);
                }
                queue
                    .delete(queues::EVENTS, &m.receipt)
                    .await
                    .expect("delete");
                ran += 1;
            }
        }
    }

    /// A pass now, as staff ask for it; its report.
    async fn pass(&self) -> Value {
        let (s, report) = self
            .h
            .admin(
                Method::POST,
                &format!("/admin/v1/accounts/{}/reconcile", self.account_id),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{report}");
        assert_eq!(report["complete"], true, "{report}");
        report
    }

    async fn detail(&self, id: &str) -> Value {
        self.h.complaint_detail(id).await.expect("recorded")
    }

    fn responds(&self, id: u64) -> usize {
        self.wx
            .writes_to("bussiRespondComplaint")
            .iter()
            .filter(|(_, b)| b["complaintOrderId"] == id)
            .count()
    }
}

/// The staff notices of a complaint: (event, key) in order.
fn notices(d: &Value) -> Vec<String> {
    d["notifications"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|n| {
            n["summary"]["event"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_push_in_the_penalty_list_is_found_by_a_pass_and_handled_once() {
    let d = desk(true).await;
    // The buyer complained two days ago; the push never came; the merchant's 48 hours ran
    // out (202) and WeChat took points for it.
    d.complaint(960_001, 202, 50 * 3600);
    d.wx.add_penalty(APPID, penalty(1, Some(960_001), now() - 3600));
    d.wx.add_penalty(APPID, penalty(2, None, now() - 3600));

    let report = d.pass().await;
    assert_eq!(report["found"], 1, "{report}");
    assert_eq!(
        report["found_complaints"][0]["platform_complaint_id"],
        "960001"
    );
    assert_eq!(report["found_complaints"][0]["why"], "unknown");
    assert_eq!(report["found_complaints"][0]["raw_status"], "202");
    assert_eq!(d.run_jobs().await, 1, "the push's job, once");
    let c = d.detail("960001").await;
    assert_eq!(c["complaint"]["raw_status"], "202");
    assert_eq!(c["complaint"]["payer_phone_masked"], "138****5678");
    assert_eq!(notices(&c), ["complaint updated"], "staff are told once");
    assert_eq!(d.responds(960_001), 0, "nothing to answer in 202");

    // The next pass knows it: nothing is queued.
    d.clock.advance(chrono::Duration::minutes(10));
    let report = d.pass().await;
    assert_eq!(report["found"], 0, "{report}");
    assert_eq!(report["already_queued"], 0, "{report}");
    assert_eq!(d.run_jobs().await, 0);

    // The push arrives after all: its job runs and changes nothing.
    assert_eq!(d.wx.push_complaint("960001").await, Ok(200));
    assert_eq!(d.run_jobs().await, 1);
    let after = d.detail("960001").await;
    assert_eq!(
        notices(&after),
        ["complaint updated"],
        "nothing new to tell"
    );
    assert_eq!(after["complaint"]["raw_status"], "202");
    assert_eq!(d.responds(960_001), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_without_a_push_is_caught_by_the_reread_after_its_grace_and_handled_once() {
    // Staff answer by hand: nothing automatic.
    let d = desk(false).await;
    d.complaint(970_001, 201, 3 * 3600);
    assert_eq!(d.wx.push_complaint("970001").await, Ok(200));
    assert_eq!(d.run_jobs().await, 1);
    assert_eq!(notices(&d.detail("970001").await), ["new complaint"]);

    // 48 hours later nobody answered: 201 → 202, and WeChat pushes nothing.
    d.clock.advance(chrono::Duration::hours(48));
    d.wx.set_status("970001", 202);
    // The platform dates no change: the first pass that sees it waits out the grace.
    let report = d.pass().await;
    assert_eq!(
        (report["found"].clone(), report["waiting"].clone()),
        (json!(0), json!(1)),
        "{report}"
    );
    assert_eq!(d.run_jobs().await, 0);
    d.clock.advance(chrono::Duration::minutes(16));
    let report = d.pass().await;
    assert_eq!(report["found"], 1, "{report}");
    assert_eq!(report["found_complaints"][0]["why"], "state_moved");
    assert_eq!(d.run_jobs().await, 1);
    let c = d.detail("970001").await;
    assert_eq!(c["complaint"]["raw_status"], "202");
    assert_eq!(notices(&c), ["new complaint", "complaint updated"]);

    // The push of the expiry comes late: nothing new.
    assert_eq!(d.wx.push_complaint("970001").await, Ok(200));
    assert_eq!(d.run_jobs().await, 1);
    let after = d.detail("970001").await;
    assert_eq!(notices(&after), ["new complaint", "complaint updated"]);
    d.clock.advance(chrono::Duration::minutes(10));
    assert_eq!(d.pass().await["found"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complaint_reaching_the_merchant_without_a_push_is_answered_once() {
    let d = desk(true).await;
    // Pushed while it waits on the buyer's side (1xx): recorded, nothing to answer yet.
    d.complaint(980_001, 105, 2 * 3600);
    assert_eq!(d.wx.push_complaint("980001").await, Ok(200));
    assert_eq!(d.run_jobs().await, 1);
    assert_eq!(notices(&d.detail("980001").await), ["complaint updated"]);
    assert_eq!(d.responds(980_001), 0);

    // A minute later it reaches the merchant (201) without a push; the buyer's message
    // there dates the change.
    let start = d.clock.now();
    d.wx.set_status("980001", 201);
    d.wx.buyer_message("980001", "请尽快处理", start.timestamp() + 60);
    d.clock.advance(chrono::Duration::minutes(5));
    let report = d.pass().await;
    assert_eq!(
        report["waiting"], 1,
        "inside its grace: a push may be on its way: {report}"
    );
    // 15 minutes after the change, though only 12 after the pass first saw it.
    d.clock.advance(chrono::Duration::minutes(12));
    let report = d.pass().await;
    assert_eq!(report["found"], 1, "{report}");
    assert_eq!(d.run_jobs().await, 1);
    let c = d.detail("980001").await;
    assert_eq!(d.responds(980_001), 1, "answered automatically, once");
    assert_eq!(c["complaint"]["replied"], true);
    assert_eq!(notices(&c), ["complaint updated", "new complaint"]);

    // Our own answer (201 → 203) is no missed push: later passes queue nothing.
    d.clock.advance(chrono::Duration::minutes(20));
    let report = d.pass().await;
    assert_eq!(report["found"], 0, "{report}");
    assert_eq!(d.run_jobs().await, 0);
    // A push delivered afterwards answers nothing again and tells staff nothing more about
    // the complaint reaching them (its job records the answered state, 203, as any push after
    // an automatic answer does).
    assert_eq!(d.wx.push_complaint("980001").await, Ok(200));
    assert_eq!(d.run_jobs().await, 1);
    let after = d.detail("980001").await;
    assert_eq!(d.responds(980_001), 1);
    assert_eq!(
        notices(&after)
            .iter()
            .filter(|e| *e == "new complaint")
            .count(),
        1
    );
    assert_eq!(after["complaint"]["raw_status"], "203");
}
