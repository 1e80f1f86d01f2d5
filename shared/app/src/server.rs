//! The all-in-one binary's HTTP server: read timeouts (request head, body, idle keep-alive) and
//! a connection cap below the file-descriptor limit.
//!
//! At the cap the server stops accepting (back-pressure), except that connections with no
//! request in flight (fresh ones that have not sent a complete request head, idle keep-alive
//! ones) give way: the oldest of them is closed so a new client is accepted at once. A socket
//! that sends nothing therefore never keeps a real request out.

use crate::error::ApiError;
use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
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
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// File descriptors kept free for everything but client connections (the database, blobs,
/// outgoing HTTP and SMTP connections, logs).
const RESERVED_FDS: u64 = 128;
/// The default connection cap when the file-descriptor limit allows more.
const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Bodies above this are refused while they arrive; routes apply their own, smaller limits.
const OUTER_BODY_LIMIT: usize = 4 * 1024 * 1024;

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
    /// Request bodies larger than this are refused (413) while they are read.
    pub max_body_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: DEFAULT_MAX_CONNECTIONS.min(fd_ceiling(nofile_soft_limit())),
            max_body_bytes: OUTER_BODY_LIMIT,
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
        ServerLimits {
            header_timeout: Duration::from_secs(self.header_timeout_secs.max(1)),
            body_timeout: Duration::from_secs(self.body_timeout_secs.max(1)),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_connections,
            ..ServerLimits::default()
        }
    }
}

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
    let tracker = Arc::new(Tracker::default());
    loop {
        let mut permit = permits.clone().try_acquire_owned().ok();
        if permit.is_none() && !tracker.has_idle() {
            // Full of connections with requests in flight: stop accepting until one ends or
            // goes idle (clients wait in the listen backlog).
            tokio::select! {
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => permit = Some(p),
                    Err(_) => break,
                },
                _ = tracker.became_idle.notified() => {}
                _ = shutdown.cancelled() => break,
            }
        }
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, remote)) => {
                tracing::trace!(%remote, "connection accepted");
                stream
            }
            Err(e) => {
                // Out of descriptors or a connection reset before accept: wait a little so
                // the loop does not spin, then go on.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match permit {
            Some(p) => p,
            None => {
                // Full, and a new client is here: the oldest connection without a request in
                // flight gives way to it.
                tracker.reclaim_oldest_idle();
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = shutdown.cancelled() => break,
                }
            }
        };
        let conn = tracker.register();
        let router = router.clone();
        let shutdown = shutdown.clone();
        let tracker = tracker.clone();
        tokio::spawn(async move {
            serve_connection(stream, router, limits, conn.clone(), shutdown).await;
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

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Waiting for a request's first byte after a response (keep-alive).
    Idle { since: Instant },
    /// Reading a request head (also a fresh connection, before its first byte).
    Head { since: Instant },
    /// Requests in flight.
    Busy { requests: usize },
    /// Being closed (timed out, or reclaimed to make room).
    Closing,
}

struct Conn {
    id: u64,
    phase: Mutex<Phase>,
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

    /// Since when it has had no request in flight, if so.
    fn idle_since(&self) -> Option<Instant> {
        match self.phase() {
            Phase::Idle { since } | Phase::Head { since } => Some(since),
            _ => None,
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

    /// Whether some connection has no request in flight.
    fn has_idle(&self) -> bool {
        self.conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .any(|c| c.idle_since().is_some())
    }

    /// Close the connection without a request in flight that has waited longest.
    fn reclaim_oldest_idle(&self) {
        let candidates: Vec<Arc<Conn>> = self
            .conns
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        let mut by_age: Vec<(Instant, Arc<Conn>)> = candidates
            .into_iter()
            .filter_map(|c| c.idle_since().map(|s| (s, c)))
            .collect();
        by_age.sort_by_key(|(since, _)| *since);
        for (_, conn) in by_age {
            let mut closed = false;
            conn.set(|p| match p {
                Phase::Idle { .. } | Phase::Head { .. } => {
                    closed = true;
                    Phase::Closing
                }
                other => other,
            });
            if closed {
                tracing::debug!(
                    conn = conn.id,
                    "at the connection cap: idle connection closed"
                );
                return;
            }
        }
    }
}

/// One connection: HTTP/1.1 with keep-alive, watched for the head and idle timeouts.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    limits: ServerLimits,
    conn: Arc<Conn>,
    shutdown: CancellationToken,
) {
    let io = TokioIo::new(Watched {
        inner: stream,
        conn: conn.clone(),
    });
    let service = {
        let conn = conn.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(req, router.clone(), limits, conn.clone())
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
    let http = builder.serve_connection(io, service);
    tokio::pin!(http);
    let watchdog = watchdog(&conn, limits);
    tokio::pin!(watchdog);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = http.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            // Dropping the connection closes the socket.
            () = watchdog.as_mut() => break,
            _ = shutdown.cancelled(), if !stopping => {
                stopping = true;
                http.as_mut().graceful_shutdown();
            }
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
            Phase::Busy { .. } => None,
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
            Phase::Busy { .. } => Phase::Idle {
                since: Instant::now(),
            },
            other => other,
        });
        if matches!(now, Phase::Idle { .. }) {
            self.0.became_idle.notify_one();
        }
    }
}

/// Read the body within the body timeout and the size limit, then run the router.
async fn handle(
    req: Request<Incoming>,
    router: Router,
    limits: ServerLimits,
    conn: Arc<Conn>,
) -> Result<Response, Infallible> {
    let mut refused = false;
    conn.set(|p| match p {
        Phase::Busy { requests } => Phase::Busy {
            requests: requests + 1,
        },
        Phase::Closing => {
            refused = true;
            Phase::Closing
        }
        _ => Phase::Busy { requests: 1 },
    });
    if refused {
        // Reclaimed in the instant its request arrived: ask the client to come again.
        return Ok(close(
            ApiError::Unavailable("the server is closing this connection; retry".into())
                .into_response(),
        ));
    }
    let _in_flight = InFlight(conn);
    let (parts, body) = req.into_parts();
    let read = Limited::new(body, limits.max_body_bytes).collect();
    let bytes = match tokio::time::timeout(limits.body_timeout, read).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            return Ok(close(ApiError::PayloadTooLarge.into_response()));
        }
        Ok(Err(_)) => {
            return Ok(close(
                ApiError::InvalidJson("the request body could not be read".into()).into_response(),
            ));
        }
        Err(_) => return Ok(close(ApiError::RequestTimeout.into_response())),
    };
    let req = Request::from_parts(parts, Body::from(bytes));
    match router.oneshot(req).await {
        Ok(res) => Ok(res),
        Err(never) => match never {},
    }
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
