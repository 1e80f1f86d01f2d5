//! The all-in-one binary's HTTP server: read timeouts (request head, body, idle keep-alive),
//! a connection cap below the file-descriptor limit, and bounded memory for request bodies.
//!
//! At the cap the server stops accepting (back-pressure), except that connections with no
//! request in flight (fresh ones that have not sent a complete request head, idle keep-alive
//! ones) give way: the oldest of them is closed so a new client is accepted at once. Next in
//! line are connections sending a body slower than [`SLOW_BODY_FLOOR`] (after a grace of
//! [`SLOW_BODY_GRACE`]): the one furthest behind is closed. A socket that sends nothing, or
//! trickles a body, therefore never keeps a real request out for long.
//!
//! A body is read only up to its route's limit ([`crate::http::body_rule`]): a
//! `Content-Length` above it is refused before a byte of the body is read, a chunked body is
//! cut off at it. All bodies being read share one memory budget
//! ([`ServerLimits::body_memory_bytes`]); a body that would go over it is refused with 503.

use crate::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// File descriptors kept free for everything but client connections (the database, blobs,
/// outgoing HTTP and SMTP connections, logs).
const RESERVED_FDS: u64 = 128;
/// The default connection cap when the file-descriptor limit allows more.
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// The default memory all request bodies being read may hold together (128 MiB).
const DEFAULT_BODY_MEMORY_MIB: usize = 128;
/// At the connection cap, a connection reading a body more slowly than this many bytes a
/// second (counted from the end of its request head) gives way to a new client ...
pub const SLOW_BODY_FLOOR: u64 = 16 * 1024;
/// ... once it is this many bytes behind (a quarter of a second at the floor).
pub const SLOW_BODY_GRACE: u64 = 4 * 1024;

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request head (request line and headers) must arrive within this, counted from the
    /// connection's start or from its first byte after an idle keep-alive pause.
    pub header_timeout: Duration,
    /// A request body must arrive within this, counted from the end of its head (then 408).
    pub body_timeout: Duration,
    /// A keep-alive connection with no request is closed after this.
    pub idle_timeout: Duration,
    /// Open client connections at most.
    pub max_connections: usize,
    /// Bytes all request bodies being read (and handled) may hold together; a body that would
    /// go over it is refused with 503. Never below the largest route limit.
    pub body_memory_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS.min(fd_ceiling(nofile_soft_limit())),
            body_memory_bytes: DEFAULT_BODY_MEMORY_MIB * 1024 * 1024,
        }
    }
}

/// The server's configuration as flags and environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Seconds a client has to send a request's head (request line and headers).
    #[arg(long, env = "HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's body once its head arrived (then 408).
    #[arg(long, env = "BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Seconds an idle keep-alive connection stays open.
    #[arg(long, env = "IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub idle_timeout_secs: u64,
    /// Open client connections at most. Default: 4096, or less when the file-descriptor
    /// limit (raised to its hard limit at start) leaves less room; never more than the limit
    /// allows.
    #[arg(long, env = "MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// MiB all request bodies being read may hold together; a body that would go over it is
    /// refused with 503. At least 4 (the largest body a route accepts).
    #[arg(long, env = "BODY_MEMORY_MIB", default_value_t = DEFAULT_BODY_MEMORY_MIB)]
    pub body_memory_mib: usize,
}

impl ServerArgs {
    /// The limits, with the connection cap fitted below the file-descriptor limit (raising
    /// the soft limit to the hard one first).
    pub fn limits(&self) -> ServerLimits {
        let soft = raise_nofile_limit();
        let ceiling = fd_ceiling(soft);
        let max_connections = match self.max_connections {
            Some(0) => {
                tracing::warn!("MAX_CONNECTIONS=0 would refuse every client; using 1");
                1
            }
            Some(n) if n > ceiling => {
                tracing::warn!(
                    requested = n,
                    allowed = ceiling,
                    fd_limit = soft,
                    "MAX_CONNECTIONS is above what the file-descriptor limit allows; lowered"
                );
                ceiling
            }
            Some(n) => n,
            None => DEFAULT_MAX_CONNECTIONS.min(ceiling),
        };
        let body_memory_bytes = self.body_memory_mib.saturating_mul(1024 * 1024);
        let body_memory_bytes = if body_memory_bytes < LARGEST_BODY {
            tracing::warn!(
                requested_mib = self.body_memory_mib,
                "BODY_MEMORY_MIB is below the largest body a route accepts; raised to 4"
            );
            LARGEST_BODY
        } else {
            body_memory_bytes.min(Semaphore::MAX_PERMITS)
        };
        ServerLimits {
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections,
            body_memory_bytes,
        }
    }
}

/// The largest body any route accepts (a console form with evidence images).
const LARGEST_BODY: usize = if crate::http::CONSOLE_FORM_LIMIT > crate::http::MEDIA_LIMIT {
    crate::http::CONSOLE_FORM_LIMIT
} else {
    crate::http::MEDIA_LIMIT
};

/// Most connections the descriptor limit `soft` leaves room for.
fn fd_ceiling(soft: u64) -> usize {
    let room = if soft > 2 * RESERVED_FDS {
        soft - RESERVED_FDS
    } else {
        soft / 2
    };
    usize::try_from(room.max(1)).unwrap_or(usize::MAX)
}

#[cfg(unix)]
fn nofile_soft_limit() -> u64 {
    use rustix::process::{Resource, getrlimit};
    getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX)
}

#[cfg(not(unix))]
fn nofile_soft_limit() -> u64 {
    (DEFAULT_MAX_CONNECTIONS as u64) + RESERVED_FDS
}

/// Raise the soft file-descriptor limit to the hard limit; returns the soft limit in force.
#[cfg(unix)]
fn raise_nofile_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the file-descriptor limit");
        }
    }
    nofile_soft_limit()
}

#[cfg(not(unix))]
fn raise_nofile_limit() -> u64 {
    nofile_soft_limit()
}

/// Files and folders this process creates are its owner's only (umask `077`): the database,
/// its `-wal` and `-shm` files, blobs and the data directory, from the moment they exist.
pub fn owner_only_umask() {
    #[cfg(unix)]
    {
        use rustix::fs::Mode;
        rustix::process::umask(Mode::from_raw_mode(0o077));
    }
}

/// Serve `router` with `limits` until `shutdown` is cancelled, then finish the requests in
/// flight and return.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let cap = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(cap));
    let budget = Arc::new(Semaphore::new(
        limits
            .body_memory_bytes
            .clamp(LARGEST_BODY, Semaphore::MAX_PERMITS),
    ));
    let tracker = Arc::new(Tracker::default());
    loop {
        let mut permit = permits.clone().try_acquire_owned().ok();
        if permit.is_none() {
            match tracker.next_reclaimable() {
                // One can give way to the next client.
                Some(at) if at <= Instant::now() => {}
                later => {
                    // Full of connections with requests in flight: stop accepting until one
                    // ends, goes idle or falls behind reading its body (clients wait in the
                    // listen backlog).
                    let behind = async move {
                        match later {
                            Some(at) => tokio::time::sleep_until(at).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        p = permits.clone().acquire_owned() => match p {
                            Ok(p) => permit = Some(p),
                            Err(_) => break,
                        },
                        _ = tracker.became_idle.notified() => continue,
                        () = behind => continue,
                        _ = shutdown.cancelled() => break,
                    }
                }
            }
        }
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let (stream, remote) = match accepted {
            Ok((stream, remote)) => {
                tracing::trace!(%remote, "connection accepted");
                (stream, remote)
            }
            Err(e) => {
                // Out of descriptors or a connection reset before accept: wait a little so
                // the loop does not spin, then go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match permit.or_else(|| permits.clone().try_acquire_owned().ok()) {
            Some(p) => p,
            None => {
                // Full, and a new client is here: the oldest connection without a request in
                // flight, or else the slowest body, gives way to it (as soon as one may).
                match make_room(&tracker, &permits, &shutdown).await {
                    Some(p) => p,
                    None => break,
                }
            }
        };
        let conn = tracker.register();
        let router = router.clone();
        let shutdown = shutdown.clone();
        let tracker = tracker.clone();
        let budget = budget.clone();
        tokio::spawn(async move {
            serve_connection(
                stream,
                remote,
                router,
                limits,
                conn.clone(),
                budget,
                shutdown,
            )
            .await;
            tracing::trace!(conn = conn.id, "connection closed");
            tracker.forget(conn.id);
            drop(permit);
        });
    }
    // Every permit back means every connection has finished.
    let _all = permits
        .acquire_many(u32::try_from(cap).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// Close a connection that may give way (waiting until one may, e.g. until a slow body falls
/// behind) and take its place; None when shutting down.
async fn make_room(
    tracker: &Tracker,
    permits: &Arc<Semaphore>,
    shutdown: &CancellationToken,
) -> Option<OwnedSemaphorePermit> {
    loop {
        if tracker.reclaim_one() {
            return tokio::select! {
                p = permits.clone().acquire_owned() => p.ok(),
                _ = shutdown.cancelled() => None,
            };
        }
        let later = tracker.next_reclaimable();
        let behind = async move {
            match later {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            p = permits.clone().acquire_owned() => return p.ok(),
            _ = tracker.became_idle.notified() => {}
            () = behind => {}
            _ = shutdown.cancelled() => return None,
        }
    }
}

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Waiting for a request's first byte after a response (keep-alive).
    Idle { since: Instant },
    /// Reading a request head (also a fresh connection, before its first byte).
    Head { since: Instant },
    /// Reading a request's body, since its head arrived (bytes so far: `Conn::body_read`).
    Body { since: Instant },
    /// Requests in flight.
    Busy { requests: usize },
    /// Being closed (timed out, or reclaimed to make room).
    Closing,
}

struct Conn {
    id: u64,
    phase: Mutex<Phase>,
    /// Bytes of the body being read so far.
    body_read: AtomicU64,
    /// A body was refused unread: after the answer, the rest is read and dropped for a while
    /// before the socket closes, so the client sees the answer instead of a reset.
    linger: std::sync::atomic::AtomicBool,
    /// The phase changed (the watchdog recomputes its deadline).
    changed: Notify,
    /// The tracker's "a connection went idle" signal.
    became_idle: Arc<Notify>,
}

impl Conn {
    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, f: impl FnOnce(Phase) -> Phase) -> Phase {
        let mut p = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        *p = f(*p);
        let now = *p;
        drop(p);
        self.changed.notify_one();
        now
    }

    /// Whether and from when it may give way to a new client at the cap: at once with no
    /// request in flight (the longer it waited, the sooner), when it falls behind the floor
    /// rate while reading a body (if nothing more arrives), never with a request handled.
    fn reclaimable(&self) -> Option<Reclaimable> {
        match self.phase() {
            Phase::Idle { since } | Phase::Head { since } => Some(Reclaimable::Idle(since)),
            Phase::Body { since } => {
                let owed = self
                    .body_read
                    .load(Ordering::Relaxed)
                    .saturating_add(SLOW_BODY_GRACE);
                let ms = owed.saturating_mul(1000) / SLOW_BODY_FLOOR;
                Some(Reclaimable::Behind(since + Duration::from_millis(ms)))
            }
            Phase::Busy { .. } | Phase::Closing => None,
        }
    }
}

/// When a connection may give way to a new client; idle ones go first (oldest first), then
/// slow bodies (furthest behind first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Reclaimable {
    Idle(Instant),
    Behind(Instant),
}

impl Reclaimable {
    fn at(self) -> Instant {
        match self {
            Reclaimable::Idle(at) | Reclaimable::Behind(at) => at,
        }
    }
}

#[derive(Default)]
struct Tracker {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Arc<Conn>>>,
    /// A connection finished a request (it may now be reclaimed).
    became_idle: Arc<Notify>,
}

impl Tracker {
    fn register(&self) -> Arc<Conn> {
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            phase: Mutex::new(Phase::Head {
                since: Instant::now(),
            }),
            body_read: AtomicU64::new(0),
            linger: std::sync::atomic::AtomicBool::new(false),
            changed: Notify::new(),
            became_idle: self.became_idle.clone(),
        });
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn.id, conn.clone());
        conn
    }

    fn forget(&self, id: u64) {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    fn all(&self) -> Vec<Arc<Conn>> {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The earliest time some connection may give way to a new client (in the past: now).
    fn next_reclaimable(&self) -> Option<Instant> {
        self.all()
            .iter()
            .filter_map(|c| c.reclaimable())
            .map(Reclaimable::at)
            .min()
    }

    /// Close the connection that gives way first: without a request in flight and waiting
    /// longest, else reading a body and furthest behind the floor rate. False if none may.
    fn reclaim_one(&self) -> bool {
        let now = Instant::now();
        let mut candidates: Vec<(Reclaimable, Arc<Conn>)> = self
            .all()
            .into_iter()
            .filter_map(|c| c.reclaimable().map(|r| (r, c)))
            .filter(|(r, _)| r.at() <= now)
            .collect();
        candidates.sort_by_key(|(r, _)| *r);
        for (why, conn) in candidates {
            let mut closed = false;
            conn.set(|p| match (p, why) {
                (Phase::Idle { .. } | Phase::Head { .. }, Reclaimable::Idle(_))
                | (Phase::Body { .. }, Reclaimable::Behind(_)) => {
                    closed = true;
                    Phase::Closing
                }
                (other, _) => other,
            });
            if closed {
                match why {
                    Reclaimable::Idle(_) => tracing::debug!(
                        conn = conn.id,
                        "at the connection cap: idle connection closed"
                    ),
                    Reclaimable::Behind(_) => tracing::info!(
                        conn = conn.id,
                        read = conn.body_read.load(Ordering::Relaxed),
                        "at the connection cap: connection sending its body too slowly closed"
                    ),
                }
                return true;
            }
        }
        false
    }
}

/// One connection: HTTP/1.1 with keep-alive, watched for the head and idle timeouts.
async fn serve_connection(
    stream: TcpStream,
    remote: std::net::SocketAddr,
    router: Router,
    limits: ServerLimits,
    conn: Arc<Conn>,
    budget: Arc<Semaphore>,
    shutdown: CancellationToken,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        conn: conn.clone(),
    });
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |mut req: Request<Incoming>| {
            // The peer's address, for the routes that need it (the console's sign-in
            // throttle): axum's `ConnectInfo`.
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(remote));
            // Boxed (Unpin), so the connection can be polled without shutting its socket down.
            Box::pin(handle(
                req,
                router.clone(),
                limits,
                conn.clone(),
                budget.clone(),
            ))
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    let mut http = builder.serve_connection(io, service);
    let watchdog = watchdog(&conn, limits);
    tokio::pin!(watchdog);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = std::future::poll_fn(|cx| Pin::new(&mut http).poll_without_shutdown(cx)) => {
                match r {
                    Err(e) => tracing::debug!(error = %e, "connection ended with an error"),
                    Ok(()) if conn.linger.load(Ordering::Relaxed) => {
                        linger(http.into_parts().io.into_inner().inner).await;
                    }
                    Ok(()) => {}
                }
                break;
            }
            // Dropping the connection closes the socket.
            () = watchdog.as_mut() => break,
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                Pin::new(&mut http).graceful_shutdown();
            }
        }
    }
}

/// How long, and how much, a connection whose body was refused unread is still read (and the
/// bytes dropped) after its answer.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: u64 = 8 * 1024 * 1024;

/// Lingering close: the answer is sent; shut our side down, then read and drop what the client
/// is still sending (bounded in time and bytes) so that closing does not reset the connection
/// before the client has read the answer.
async fn linger(mut stream: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if stream.shutdown().await.is_err() {
        return;
    }
    let until = Instant::now() + LINGER_TIME;
    let mut buf = vec![0u8; 16 * 1024];
    let mut dropped = 0u64;
    while dropped < LINGER_BYTES {
        match tokio::time::timeout_at(until, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => dropped += n as u64,
            _ => break,
        }
    }
}

/// Resolves when the connection must be closed: its head or idle time ran out, or it was
/// reclaimed.
async fn watchdog(conn: &Conn, limits: ServerLimits) {
    loop {
        let observed = conn.phase();
        let deadline = match observed {
            Phase::Closing => return,
            // The body timeout is the handler's (it answers 408).
            Phase::Busy { .. } | Phase::Body { .. } => None,
            Phase::Head { since } => Some(since + limits.header_timeout),
            Phase::Idle { since } => Some(since + limits.idle_timeout),
        };
        let changed = conn.changed.notified();
        let Some(at) = deadline else {
            changed.await;
            continue;
        };
        tokio::select! {
            () = changed => {}
            () = tokio::time::sleep_until(at) => {
                // Close only if nothing happened meanwhile (a request may just have begun).
                let now = conn.set(|p| if p == observed { Phase::Closing } else { p });
                if now == Phase::Closing {
                    if matches!(observed, Phase::Head { .. }) {
                        tracing::debug!(conn = conn.id, "request head not received in time");
                    }
                    return;
                }
            }
        }
    }
}

/// Marks the connection busy while a request is handled, idle again after.
struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.set(|p| match p {
            Phase::Busy { requests } if requests > 1 => Phase::Busy {
                requests: requests - 1,
            },
            Phase::Busy { .. } | Phase::Body { .. } => Phase::Idle {
                since: Instant::now(),
            },
            other => other,
        });
        if matches!(now, Phase::Idle { .. }) {
            self.0.became_idle.notify_one();
        }
    }
}

/// Read the body within the body timeout, its route's limit and the memory budget, then run
/// the router.
async fn handle(
    req: Request<Incoming>,
    router: Router,
    limits: ServerLimits,
    conn: Arc<Conn>,
    budget: Arc<Semaphore>,
) -> Result<Response, Infallible> {
    let mut refused = false;
    conn.body_read.store(0, Ordering::Relaxed);
    conn.set(|p| match p {
        Phase::Busy { requests } => Phase::Busy {
            requests: requests + 1,
        },
        Phase::Closing => {
            refused = true;
            Phase::Closing
        }
        _ => Phase::Body {
            since: Instant::now(),
        },
    });
    if refused {
        // Reclaimed in the instant its request arrived: ask the client to come again.
        return Ok(close(
            ApiError::Busy("the server is closing this connection; retry").into_response(),
        ));
    }
    let _in_flight = InFlight(conn.clone());
    let (parts, body) = req.into_parts();
    let rule = crate::http::body_rule(&parts.method, parts.uri.path());
    let deadline = Instant::now() + limits.body_timeout;
    let read = read_body(body, rule.limit, deadline, &budget, &conn).await;
    conn.set(|p| match p {
        Phase::Body { .. } => Phase::Busy { requests: 1 },
        other => other,
    });
    if matches!(
        read,
        Err(BodyError::TooLarge | BodyError::TimedOut | BodyError::OverBudget)
    ) {
        conn.linger.store(true, Ordering::Relaxed);
    }
    let (body, _held, unread) = match read {
        Ok((bytes, held)) => (Body::from(bytes), held, false),
        // A callback's route answers as it does to any body over its limit (each platform's
        // "malformed body" answer).
        Err(BodyError::TooLarge) if rule.callback => (over_limit_body(), None, true),
        Err(BodyError::TooLarge) => return Ok(close(ApiError::PayloadTooLarge.into_response())),
        Err(BodyError::TimedOut) => return Ok(close(ApiError::RequestTimeout.into_response())),
        Err(BodyError::OverBudget) => {
            tracing::warn!("request body refused: the memory for request bodies is in use");
            return Ok(close(
                ApiError::Busy("the server is busy reading other requests; retry").into_response(),
            ));
        }
        Err(BodyError::Unreadable(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            return Ok(close(
                ApiError::InvalidJson("the request body could not be read".into()).into_response(),
            ));
        }
    };
    let res = match router.oneshot(Request::from_parts(parts, body)).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    Ok(if unread { close(res) } else { res })
}

/// Why a request body was not read.
#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("the body is larger than its route's limit")]
    TooLarge,
    #[error("the body did not arrive in time")]
    TimedOut,
    #[error("the memory for request bodies is in use")]
    OverBudget,
    #[error("the body could not be read")]
    Unreadable(#[source] hyper::Error),
}

/// Read a body of at most `limit` bytes by `deadline`: a declared length above the limit is
/// refused before anything is read. The memory it takes is drawn from `budget` as it grows
/// and held (the returned permit) until the request has been handled.
async fn read_body(
    mut body: Incoming,
    limit: usize,
    deadline: Instant,
    budget: &Arc<Semaphore>,
    conn: &Conn,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), BodyError> {
    if body.size_hint().lower() > limit as u64 {
        return Err(BodyError::TooLarge);
    }
    let mut buf: Vec<u8> = Vec::new();
    let mut held: Option<OwnedSemaphorePermit> = None;
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::TimedOut),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Unreadable(e)),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        let needed = buf.len() + data.len();
        if needed > limit {
            return Err(BodyError::TooLarge);
        }
        if needed > buf.capacity() {
            // Grow by doubling (at most to the limit), paying for the growth first.
            let capacity = needed.max(buf.capacity().saturating_mul(2)).min(limit);
            let more = u32::try_from(capacity - buf.capacity()).map_err(|_| BodyError::TooLarge)?;
            let permit = budget
                .clone()
                .try_acquire_many_owned(more)
                .map_err(|_| BodyError::OverBudget)?;
            match held.as_mut() {
                Some(h) => h.merge(permit),
                None => held = Some(permit),
            }
            buf.reserve_exact(capacity - buf.len());
        }
        buf.extend_from_slice(&data);
        conn.body_read.store(buf.len() as u64, Ordering::Relaxed);
    }
    Ok((Bytes::from(buf), held))
}

/// A body that fails as soon as it is read, as one over its limit does (the same error), so
/// the route answers it as it answers any body over its limit.
fn over_limit_body() -> Body {
    Body::new(Limited::new(Full::new(Bytes::from_static(b"\0")), 0))
}

/// The body was not read to its end: the connection cannot carry another request.
fn close(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The socket, noting a request head's first byte on an idle keep-alive connection (from then
/// on the head timeout runs).
struct Watched {
    inner: TcpStream,
    conn: Arc<Conn>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before && matches!(self.conn.phase(), Phase::Idle { .. }) {
            self.conn.set(|p| match p {
                Phase::Idle { .. } => Phase::Head {
                    since: Instant::now(),
                },
                other => other,
            });
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Serve `router` with the default limits (see [`crate::server`]) until `shutdown` is
/// cancelled, then finish the requests in flight.
pub async fn serve_default(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: tokio_util::sync::CancellationToken,
) -> std::io::Result<()> {
    serve(listener, router, ServerLimits::default(), shutdown).await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn terminated() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_cap_stays_below_the_descriptor_limit() {
        assert_eq!(fd_ceiling(1024), 1024 - 128);
        assert_eq!(fd_ceiling(200), 100);
        assert_eq!(fd_ceiling(1), 1);
        assert!(fd_ceiling(u64::MAX) > DEFAULT_MAX_CONNECTIONS);
    }
}
