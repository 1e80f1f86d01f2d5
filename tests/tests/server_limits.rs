//! The real binary's server limits over real sockets: a connection cap that idle sockets and
//! slow bodies cannot use to keep a callback out, body limits applied before a body is read,
//! one memory budget for bodies, head / body / idle keep-alive timeouts, `/healthz` on a
//! store that cannot write (a full file system), and owner-only file modes.

use e2e_tests::Server;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use sandbox::alipay::{AlipayKeys, AlipayMode, AlipaySim, SimApp};
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ADMIN: &str = "e2e-admin-token-0123456789abcdef";
const APP_ID: &str = "2021000000000077";

fn addr(server: &Server) -> String {
    server
        .base_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string()
}

/// An Alipay app account on the simulator, and a signed complaint notification for it.
async fn alipay_account(server: &Server) -> (AlipaySim, Vec<(String, String)>) {
    let sim = AlipaySim::start(AlipayKeys::generate(), AlipayMode::PublicKey)
        .await
        .expect("sim");
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("keygen");
    sim.add_app(SimApp {
        app_id: APP_ID.into(),
        public_key: key.to_public_key(),
        app_cert_sn: None,
    });
    let (s, b) = server.admin(ADMIN, reqwest::Method::POST, "/accounts", Some(json!({
        "kind": "alipay_app", "name": "Limits test app",
        "settings": {"app_id": APP_ID, "api_base_url": sim.gateway_url()},
        "credentials": {"mode": "public_key", "app_private_key": key.to_pkcs8_pem(LineEnding::LF).expect("pem").to_string(),
                        "alipay_public_key": sim.keys().alipay_key.to_public_key().to_public_key_pem(LineEnding::LF).expect("pem")}
    }))).await;
    assert_eq!(s, 201, "{b}");
    let msg = sim.message(
        APP_ID,
        "alipay.merchant.tradecomplain.changed",
        &json!({"complain_event_id": "2024052100077"}),
    );
    (sim, msg)
}

/// Whether the server has closed this socket (end of stream or reset), without waiting.
fn closed_by_server(s: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    loop {
        match s.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Wait until the server closes `s` (reads to the end); false if `limit` passes first.
async fn wait_closed(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// One HTTP/1.1 request on a kept-alive connection; returns the status line and headers.
async fn keep_alive_get(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
        .await
        .expect("write request");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.expect("read response");
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_gets_its_answer_within_a_second_while_idle_sockets_fill_the_cap() {
    const CAP: usize = 64;
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(
        dir.path(),
        &[
            ("ADMIN_TOKEN", ADMIN),
            ("MAX_CONNECTIONS", &CAP.to_string()),
        ],
    );
    let (_sim, form) = alipay_account(&server).await;
    let target = addr(&server);

    // More idle sockets than the cap, of every kind: kept-alive after a request, silent since
    // connecting, and stuck half-way through a request head.
    let mut idle = Vec::new();
    for _ in 0..30 {
        let mut s = TcpStream::connect(&target).await.expect("connect");
        let head = keep_alive_get(&mut s, "/healthz").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        idle.push(s);
    }
    for i in 0..(CAP + 36) {
        let mut s = TcpStream::connect(&target).await.expect("connect");
        if i % 2 == 1 {
            s.write_all(b"POST /callbacks/alipay/x HTTP/1.1\r\nHost: te")
                .await
                .expect("partial head");
        }
        idle.push(s);
    }

    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(server.url(&format!("/callbacks/alipay/{APP_ID}")))
        .form(&form)
        .send()
        .await
        .expect("callback");
    let elapsed = started.elapsed();
    let status = res.status();
    let body = res.text().await.expect("body");
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body, "success");
    assert!(
        elapsed < Duration::from_secs(1),
        "the callback waited {elapsed:?} behind idle sockets"
    );

    // The cap held: of all the idle sockets, at most CAP are still open (the rest were closed
    // to make room, oldest first).
    let deadline = Instant::now() + Duration::from_secs(10);
    let open = loop {
        let open = idle.iter().filter(|s| !closed_by_server(s)).count();
        if open <= CAP || Instant::now() > deadline {
            break open;
        }
        tokio::task::yield_now().await;
    };
    assert!(open <= CAP, "{open} idle sockets still open, cap {CAP}");
    assert!(
        closed_by_server(&idle[0]),
        "the oldest idle connection gives way first"
    );
}

/// Read one response (head and a `Content-Length` body) within `limit`: status line, head,
/// body. None if it does not come in time.
async fn read_response(s: &mut TcpStream, limit: Duration) -> Option<(String, String, String)> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if got.len() >= end + 4 + len {
                let status = head.lines().next().unwrap_or_default().to_string();
                let body = String::from_utf8_lossy(&got[end + 4..end + 4 + len]).to_string();
                return Some((status, head, body));
            }
        }
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_gets_its_answer_within_a_second_while_slow_bodies_fill_the_cap() {
    const CAP: usize = 64;
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(
        dir.path(),
        &[
            ("ADMIN_TOKEN", ADMIN),
            ("MAX_CONNECTIONS", &CAP.to_string()),
        ],
    );
    let (_sim, form) = alipay_account(&server).await;
    let target = addr(&server);

    // The whole cap: clients that sent a head announcing 60000 bytes and then trickle the body.
    // They ask for `100 Continue`, so the test knows the server is reading each one's body.
    let mut slow = Vec::new();
    for _ in 0..CAP {
        let mut s = TcpStream::connect(&target).await.expect("connect");
        s.write_all(
            format!(
                "POST /callbacks/alipay/{APP_ID} HTTP/1.1\r\nHost: test\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 60000\r\n\
                 Expect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("head");
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf))
                .await
                .expect("100 Continue in time")
                .expect("read");
            assert!(n > 0, "closed before 100 Continue");
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 100"), "{text}");
        s.write_all(b"a").await.expect("first byte");
        slow.push(s);
    }
    // They keep trickling, a byte every 100 ms each, while the callback comes.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let trickle = tokio::spawn(async move {
        loop {
            for s in &slow {
                let _ = s.try_write(b"a");
            }
            tokio::select! {
                _ = &mut stopped => return slow,
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
    });

    let started = Instant::now();
    let res = reqwest::Client::new()
        .post(server.url(&format!("/callbacks/alipay/{APP_ID}")))
        .form(&form)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("callback not answered: {e}\n{}", server.output_text()));
    let elapsed = started.elapsed();
    let status = res.status();
    let body = res.text().await.expect("body");
    let _ = stop.send(());
    let slow = trickle.await.expect("trickle");
    assert!(status.is_success(), "{status} {body}");
    assert_eq!(body, "success");
    assert!(
        elapsed < Duration::from_secs(1),
        "the callback waited {elapsed:?} behind slow bodies"
    );
    // It got in because a slow body gave way.
    let closed = slow.iter().filter(|s| closed_by_server(s)).count();
    assert!(closed >= 1, "no slow body was closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_route_limit_are_refused_without_waiting_for_them() {
    let dir = tempfile::tempdir().expect("dir");
    // A server that waited for these bodies would wait a minute.
    let server = Server::start(
        dir.path(),
        &[("ADMIN_TOKEN", ADMIN), ("BODY_TIMEOUT_SECS", "60")],
    );
    let target = addr(&server);
    // Declared lengths above the route's limit (and below anything the server used to read
    // first), and no body at all: each route's own answer, at once, and the connection closes.
    let cases = [
        (
            "/callbacks/alipay/2021000000000001",
            "application/x-www-form-urlencoded",
            1_000_000,
            "400",
            Some("fail"),
        ),
        (
            "/callbacks/wxmini/wx1111111111111111?signature=0&timestamp=1&nonce=n",
            "text/xml",
            100_000,
            "400",
            Some("fail"),
        ),
        (
            "/callbacks/wechatpay/1900000109/complaints",
            "application/json",
            65 * 1024 + 1,
            "400",
            None,
        ),
        (
            "/admin/v1/accounts",
            "application/json",
            1024 * 1024 + 1,
            "413",
            None,
        ),
        (
            "/admin/v1/media",
            "image/png",
            2 * 1024 * 1024 + 1,
            "413",
            None,
        ),
    ];
    for (path, ct, len, status, text) in cases {
        let mut s = TcpStream::connect(&target).await.expect("connect");
        s.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN}\r\n\
                 Content-Type: {ct}\r\nContent-Length: {len}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .expect("head");
        let (line, head, body) = read_response(&mut s, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{path}: no answer while the body was not sent"));
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {line} {body}"
        );
        assert!(
            head.to_ascii_lowercase().contains("connection: close"),
            "{path}: {head}"
        );
        match text {
            Some(t) => assert_eq!(body, t, "{path}"),
            None if path.starts_with("/callbacks/wechatpay") => {
                let v: Value = serde_json::from_str(&body).expect("FAIL body");
                assert_eq!(v["code"], "FAIL", "{v}");
            }
            None => {
                let v: Value = serde_json::from_str(&body).expect("JSON envelope");
                assert_eq!(v["error"]["code"], "payload_too_large", "{path}: {v}");
            }
        }
        assert!(
            wait_closed(&mut s, Duration::from_secs(10)).await,
            "{path}: left open"
        );
    }
    // A chunked callback body is cut off at the limit: answered as soon as it goes over,
    // though its end never comes.
    let mut s = TcpStream::connect(&target).await.expect("connect");
    let chunk = "x".repeat(64 * 1024 + 1);
    s.write_all(
        format!(
            "POST /callbacks/alipay/2021000000000001 HTTP/1.1\r\nHost: test\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n\
             {:x}\r\n{chunk}\r\n",
            chunk.len()
        )
        .as_bytes(),
    )
    .await
    .expect("chunked head and one chunk");
    let (line, _, body) = read_response(&mut s, Duration::from_secs(10))
        .await
        .expect("an answer before the chunked body ends");
    assert!(line.starts_with("HTTP/1.1 400"), "{line} {body}");
    assert_eq!(body, "fail");
    // The server still answers others.
    let res = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_memory_budget_gets_503_until_the_memory_is_free_again() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(
        dir.path(),
        &[("ADMIN_TOKEN", ADMIN), ("BODY_MEMORY_MIB", "4")],
    );
    let target = addr(&server);
    // The budget is at least the largest body a route accepts (a console form, 4 MiB). Two
    // uploads take 3 MiB of it: 1.5 MiB each of a declared 2 MiB sent, the rest withheld.
    let first_upload = || async {
        let mut upload = TcpStream::connect(&target).await.expect("connect");
        upload
            .write_all(
                format!(
                    "POST /admin/v1/media HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN}\r\n\
                     Content-Type: image/png\r\nContent-Length: {}\r\n\r\n",
                    2 * 1024 * 1024
                )
                .as_bytes(),
            )
            .await
            .expect("head");
        upload
            .write_all(&vec![0u8; 1536 * 1024])
            .await
            .expect("most of the body");
        upload
    };
    // A second upload as large needs more than is left: refused with 503 once the server
    // has read the first one so far (its bytes may still be on the way).
    let second = || async {
        let res = reqwest::Client::new()
            .post(server.url("/admin/v1/media"))
            .bearer_auth(ADMIN)
            .header("content-type", "image/png")
            .body(vec![0u8; 1536 * 1024])
            .send()
            .await;
        match res {
            Ok(res) => {
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap_or(Value::Null))
            }
            // Refused before it was all sent: the connection may be reset under the answer.
            Err(e) => (0, Value::String(e.to_string())),
        }
    };
    // Whether the server has answered the first upload (a 503: a second upload that arrived
    // before the first one's bytes were read took the memory first). The race is the
    // client's, not the server's: then the first upload is sent again.
    let answered = |upload: &mut TcpStream| {
        let mut byte = [0u8; 1];
        matches!(upload.try_read(&mut byte), Ok(1))
    };
    let mut upload = (first_upload().await, first_upload().await);
    let mut restarts = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (status, v) = loop {
        let (status, v) = second().await;
        if status == 503 || Instant::now() > deadline {
            break (status, v);
        }
        if (answered(&mut upload.0) || answered(&mut upload.1)) && restarts < 5 {
            restarts += 1;
            upload = (first_upload().await, first_upload().await);
        }
    };
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
    // The first uploads give up: their memory comes back, and the second is read again.
    drop(upload);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (status, v) = loop {
        let (status, v) = second().await;
        if (status != 503 && status != 0) || Instant::now() > deadline {
            break (status, v);
        }
    };
    assert_eq!(status, 415, "read to its end and answered: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_one_byte_a_second_is_cut_off_after_the_head_timeout() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(
        dir.path(),
        &[("ADMIN_TOKEN", ADMIN), ("HEADER_TIMEOUT_SECS", "2")],
    );
    let mut s = TcpStream::connect(addr(&server)).await.expect("connect");
    let head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    for byte in head {
        if s.write_all(&[*byte]).await.is_err() || closed_by_server(&s) {
            break;
        }
        sent += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        sent < head.len(),
        "the whole slow head was accepted ({sent} bytes over {:?})",
        started.elapsed()
    );
    assert!(wait_closed(&mut s, Duration::from_secs(5)).await);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "cut off only after {:?}",
        started.elapsed()
    );
    // The server still answers others.
    let res = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_outlives_the_head_timeout_then_closes() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(
        dir.path(),
        &[
            ("ADMIN_TOKEN", ADMIN),
            ("HEADER_TIMEOUT_SECS", "1"),
            ("IDLE_TIMEOUT_SECS", "3"),
        ],
    );
    let mut s = TcpStream::connect(addr(&server)).await.expect("connect");
    assert!(
        keep_alive_get(&mut s, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    // Idle longer than the head timeout: still open, and serves the next request.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !closed_by_server(&s),
        "closed by the head timeout while idle"
    );
    assert!(
        keep_alive_get(&mut s, "/healthz")
            .await
            .starts_with("HTTP/1.1 200")
    );
    // Then idle past the idle timeout: closed.
    let started = Instant::now();
    assert!(wait_closed(&mut s, Duration::from_secs(10)).await);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "closed after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(
        dir.path(),
        &[("ADMIN_TOKEN", ADMIN), ("BODY_TIMEOUT_SECS", "1")],
    );
    let mut s = TcpStream::connect(addr(&server)).await.expect("connect");
    s.write_all(
        format!(
            "POST /admin/v1/accounts HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {ADMIN}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"kind\":"
        )
        .as_bytes(),
    )
    .await
    .expect("write");
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut got)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    let body = &text[text.find("\r\n\r\n").expect("head end") + 4..];
    let v: Value = serde_json::from_str(body).expect("json error body");
    assert_eq!(v["error"]["code"], "request_timeout", "{v}");
    let (_, accounts) = server
        .admin(ADMIN, reqwest::Method::GET, "/accounts", None)
        .await;
    assert_eq!(accounts["items"], json!([]), "nothing was created");
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_directory_database_and_blobs_are_the_owners_only() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let server = Server::start(&data, &[("ADMIN_TOKEN", ADMIN)]);
    // A write, and a blob upload.
    let (s, b) = server
        .admin(
            ADMIN,
            reqwest::Method::POST,
            "/tokens",
            Some(json!({"name": "ops", "scope": {"type": "all"}})),
        )
        .await;
    assert!(s < 300, "{s} {b}");
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 64]].concat();
    let res = reqwest::Client::new()
        .post(server.url("/admin/v1/media?filename=proof.png"))
        .bearer_auth(ADMIN)
        .header("content-type", "image/png")
        .body(png)
        .send()
        .await
        .expect("upload");
    assert_eq!(
        res.status(),
        201,
        "{}",
        res.text().await.unwrap_or_default()
    );

    assert_eq!(mode(&data), 0o700, "data directory");
    for f in [
        "complaint-desk.db",
        "complaint-desk.db-wal",
        "complaint-desk.db-shm",
        "master.key",
    ] {
        let p = data.join(f);
        assert!(p.exists(), "{f} missing");
        assert_eq!(mode(&p), 0o600, "{f}");
    }
    let mut blobs = 0;
    let mut stack = vec![data.join("blobs")];
    while let Some(d) = stack.pop() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).expect("read dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                blobs += 1;
                assert_eq!(mode(&p), 0o600, "{}", p.display());
            }
        }
    }
    assert!(blobs >= 2, "the upload left no blob files");
}

/// A tiny tmpfs mounted for the test, unmounted when dropped.
struct TinyFs {
    dir: tempfile::TempDir,
}

impl TinyFs {
    /// None when this process may not mount (not root, or no CAP_SYS_ADMIN).
    fn mount(size: &str) -> Option<TinyFs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(TinyFs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fill the file system to the last byte.
    fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let p = self.path().join("filler");
        let mut f = std::fs::File::create(&p).expect("filler");
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        while f.write_all(&[0]).is_ok() {}
        p
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_503_when_the_disk_is_full_and_200_once_it_is_not() {
    let Some(fs) = TinyFs::mount("8m") else {
        eprintln!("skipped: mounting a tmpfs needs root (CI runs this as root)");
        return;
    };
    let data = fs.path().join("data");
    let server = Server::start(&data, &[("ADMIN_TOKEN", ADMIN)]);
    let res = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(res.status(), 200);

    let filler = fs.fill();
    // Writes go on while the write-ahead log still has room it allocated before (that is
    // still durable), but the checkpoints that would let it start over cannot grow the
    // database file: soon a write needs a new block, fails, and the admin API says the store
    // is unavailable ...
    let mut refused = None;
    for n in 0..2000 {
        let (s, b) = server
            .admin(
                ADMIN,
                reqwest::Method::POST,
                "/tokens",
                Some(json!({"name": format!("ops{n}"), "scope": {"type": "all"}})),
            )
            .await;
        match s {
            201 => continue,
            503 => {
                refused = Some(n);
                break;
            }
            other => panic!("a write on a full disk answered {other}: {b}"),
        }
    }
    assert!(refused.is_some(), "no write failed on a full disk");
    // ... and the health check says so, naming the writer.
    let res = reqwest::get(server.url("/healthz")).await.expect("healthz");
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["status"], "unavailable", "{v}");
    assert!(
        v["failing"]
            .as_array()
            .is_some_and(|f| f.contains(&json!("writer"))),
        "{v}"
    );
    assert_eq!(v["writer"]["ok"], false, "{v}");
    assert_eq!(v["writer"]["error"], "the disk is full", "{v}");

    // Room again: the next write succeeds and the health check follows it.
    std::fs::remove_file(filler).expect("free the disk");
    let (s, b) = server
        .admin(
            ADMIN,
            reqwest::Method::POST,
            "/tokens",
            Some(json!({"name": "ops-again", "scope": {"type": "all"}})),
        )
        .await;
    assert!(s < 300, "{s} {b}");
    let res = reqwest::get(server.url("/healthz")).await.expect("healthz");
    let status = res.status();
    let v: Value = res.json().await.expect("json");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["writer"]["ok"], true, "{v}");
    drop(server);
}

/// A client that sends a whole body over the route's limit reads the answer (413) instead of a
/// reset: after answering, the server reads and drops what is still coming for a moment before
/// it closes (a socket closed with unread data resets the connection, and an HTTP client still
/// writing then reports the reset, not the answer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_still_sending_an_oversized_body_reads_the_answer() {
    let dir = tempfile::tempdir().expect("dir");
    let server = Server::start(dir.path(), &[("ADMIN_TOKEN", ADMIN)]);
    let http = reqwest::Client::new();
    let body = vec![b'x'; 3 * 1024 * 1024];
    for attempt in 0..20 {
        let res = http
            .post(server.url("/admin/v1/accounts"))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("attempt {attempt}: no answer but {e:?}"));
        assert_eq!(res.status(), 413, "attempt {attempt}");
        let v: Value = res.json().await.expect("json");
        assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    }
}
