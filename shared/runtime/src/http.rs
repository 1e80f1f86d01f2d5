//! Callback functions behind the HTTP API (`$default` stage): each serves its own endpoints.

use crate::emf::Emf;
use crate::{environment, services};
use aws::{AwsConfig, AwsPorts};
use desk_core::platform::Platforms;
use desk_http::CallbackState;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A callback function's router state, serving `platforms`: no administrator token at all.
pub async fn callback_state(
    config: &AwsConfig,
    aws: &AwsPorts,
    platforms: Platforms,
) -> anyhow::Result<CallbackState> {
    Ok(CallbackState::new(services(config, aws).await?)
        .with_platforms(platforms)
        .with_plaintext_push_window(config.plaintext_push_window_secs))
}

/// Run a callback function: the routes of one endpoint family (`family`: `wxopen`) of the
/// platforms it registers, and `/healthz` (whatever else a build of the whole workspace
/// compiled in, the function serves only these).
pub async fn run_callbacks(
    name: &'static str,
    platforms: Platforms,
    family: &'static str,
) -> Result<(), lambda_http::Error> {
    let (config, sdk) = environment().await?;
    let state = callback_state(&config, &AwsPorts::new(&config, &sdk), platforms).await?;
    tracing::info!(table = %config.table, function = name, platforms = ?state.platforms, family, "ready");
    lambda_http::run(Flushed::new(
        catch_panics(desk_http::router::callback_router(state, family)),
        crate::emf::global().clone(),
    ))
    .await
}

/// `router` answering 500 when a handler panics (the process lives on, the request is
/// answered, and [`Flushed`] writes what it recorded like any other request's).
pub fn catch_panics(router: axum::Router) -> axum::Router {
    router.layer(axum::middleware::from_fn(answer_panics))
}

async fn answer_panics(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("a request handler panicked; answered 500");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            )
                .into_response()
        }
    }
}

/// An HTTP function's service whose every request, once answered, writes the metrics it
/// recorded (one request per invocation: the metrics of an invocation leave with it).
#[derive(Clone)]
pub struct Flushed<S> {
    inner: S,
    emf: Emf,
}

impl<S> Flushed<S> {
    pub fn new(inner: S, emf: Emf) -> Self {
        Self { inner, emf }
    }
}

impl<S, R> lambda_http::Service<R> for Flushed<S>
where
    S: lambda_http::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let answer = self.inner.call(req);
        let emf = self.emf.clone();
        Box::pin(async move { emf.around(answer).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The metrics a request recorded are written when it is answered, not later.
    #[tokio::test]
    async fn each_answered_request_writes_its_metrics() {
        let out = Buffer::default();
        let emf = Emf::to_writer(out.clone());
        let _local = metrics::set_default_local_recorder(&emf);
        let router = axum::Router::new().route(
            "/callbacks/x",
            axum::routing::post(|| async {
                metrics::counter!("callbacks_total", "platform" => "alipay", "outcome" => "accepted")
                    .increment(1);
                "success"
            }),
        );
        let service = Flushed::new(router, emf.clone());
        for n in 1..=2 {
            let req = axum::http::Request::post("/callbacks/x")
                .body(axum::body::Body::empty())
                .expect("request");
            let res = service.clone().oneshot(req).await.expect("answer");
            assert_eq!(res.status(), 200);
            let text = String::from_utf8(out.0.lock().expect("buffer").clone()).expect("utf-8");
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), n, "one document per answered request: {text}");
            let doc: serde_json::Value = serde_json::from_str(lines[n - 1]).expect("JSON");
            assert_eq!(doc["callbacks_total"], serde_json::json!(1));
            assert_eq!(doc["outcome"], "accepted");
        }
    }

    /// A handler that panics: the request is answered 500 and what it recorded is written.
    #[tokio::test]
    async fn a_panicking_request_answers_500_and_writes_its_metrics() {
        let out = Buffer::default();
        let emf = Emf::to_writer(out.clone());
        let _local = metrics::set_default_local_recorder(&emf);
        let router = axum::Router::new().route(
            "/callbacks/x",
            axum::routing::post(|| async {
                metrics::counter!("callbacks_total", "platform" => "alipay", "outcome" => "error")
                    .increment(1);
                if std::hint::black_box(true) {
                    panic!("a bug in a handler");
                }
                "success"
            }),
        );
        let service = Flushed::new(catch_panics(router), emf.clone());
        let req = axum::http::Request::post("/callbacks/x")
            .body(axum::body::Body::empty())
            .expect("request");
        let res = service.oneshot(req).await.expect("answer");
        assert_eq!(res.status(), 500);
        let text = String::from_utf8(out.0.lock().expect("buffer").clone()).expect("utf-8");
        let doc: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a document")).expect("JSON");
        assert_eq!(doc["callbacks_total"], serde_json::json!(1));
    }

    /// An invocation that panics or is dropped unfinished still writes what it recorded.
    #[tokio::test]
    async fn an_invocation_that_panics_writes_its_metrics() {
        use futures_util::FutureExt;
        let out = Buffer::default();
        let emf = Emf::to_writer(out.clone());
        let _local = metrics::set_default_local_recorder(&emf);
        let invocation = emf.around(async {
            metrics::counter!("dead_letters_total", "queue" => "events").increment(1);
            if std::hint::black_box(true) {
                panic!("a bug in a job");
            }
        });
        let caught = std::panic::AssertUnwindSafe(invocation)
            .catch_unwind()
            .await;
        assert!(caught.is_err());
        let text = String::from_utf8(out.0.lock().expect("buffer").clone()).expect("utf-8");
        assert!(
            text.contains("dead_letters_total"),
            "flushed while unwinding: {text}"
        );
    }
}
