//! The admin API function behind the HTTP API (`$default` stage), or behind a REST API of its
//! own (feature `rest`; template parameter AdminAccess): the admin routes, the authorisation
//! pages and every callback route (it needs every platform: feature `full`).

use crate::{environment, installation_secret, services};
use aws::{AwsConfig, AwsPorts, installation_secrets};
use desk_http::AppState;
use desk_http::auth::AdminAuth;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use secrecy::ExposeSecret;
use std::net::{IpAddr, SocketAddr};

/// The admin API's router state: the services and the administrator token (an installation
/// secret the SAM template creates).
pub async fn admin_state(config: &AwsConfig, sdk: &aws::SdkConfig) -> anyhow::Result<AppState> {
    let aws = AwsPorts::new(config, sdk);
    let admin = installation_secret(&aws, installation_secrets::ADMIN_TOKEN).await?;
    Ok(AppState::new(
        services(config, &aws).await?,
        AdminAuth::from_hash(desk_http::auth::hash(admin.expose_secret().trim())),
    )
    .with_platforms(desk_core::platforms::builtin())
    .with_plaintext_push_window(config.plaintext_push_window_secs))
}

/// Run the admin API function.
pub async fn run_admin() -> Result<(), lambda_http::Error> {
    let (config, sdk) = environment().await?;
    let state = admin_state(&config, &sdk).await?;
    tracing::info!(table = %config.table, "admin-api ready");
    lambda_http::run(crate::http::Flushed::new(
        crate::http::catch_panics(admin_router(state)),
        crate::emf::global().clone(),
    ))
    .await
}

/// The admin API function's router: the embedded binary's, and the caller's address (what the
/// console's sign-in throttle counts) taken from API Gateway's request context.
pub fn admin_router(state: AppState) -> axum::Router {
    desk_http::router::router(state).layer(axum::middleware::from_fn(peer_from_api_gateway))
}

/// Behind API Gateway there is no peer socket: API Gateway's own `sourceIp` (the address that
/// connected to it, which a client cannot choose, unlike `X-Forwarded-For`) becomes axum's
/// `ConnectInfo` (port 0), as the embedded server's peer is.
async fn peer_from_api_gateway(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(addr) = source_address(req.extensions()) {
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(addr));
    }
    next.run(req).await
}

/// The client's address in lambda_http's request context (HTTP API: `requestContext.http.
/// sourceIp`; REST API: `requestContext.identity.sourceIp`), if there is one and it is an
/// address.
pub fn source_address(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    let ip = match extensions.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => ctx.http.source_ip.as_deref(),
        #[cfg(feature = "rest")]
        RequestContext::ApiGatewayV1(ctx) => ctx.identity.source_ip.as_deref(),
        #[allow(unreachable_patterns)]
        _ => None,
    }?;
    ip.trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// An HTTP API event as API Gateway sends it (the admin API's fixture), its client
    /// `source_ip` and a forged `X-Forwarded-For`, turned into a request by lambda_http.
    fn event(source_ip: &str, forwarded_for: &str) -> lambda_http::Request {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/apigw/admin-list-accounts.json");
        let text = std::fs::read_to_string(path).expect("fixture");
        let mut v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["requestContext"]["http"]["sourceIp"] = source_ip.into();
        v["headers"]["x-forwarded-for"] = forwarded_for.into();
        v["rawPath"] = "/console/sign-in".into();
        lambda_http::request::from_str(&v.to_string()).expect("an HTTP API event")
    }

    #[test]
    fn the_source_address_is_api_gateways_not_the_forwarded_header() {
        let req = event("203.0.113.7", "192.0.2.99");
        assert_eq!(
            source_address(req.extensions()),
            Some("203.0.113.7:0".parse().expect("addr"))
        );
        let v6 = event("2001:db8:1:2::7", "192.0.2.99");
        assert_eq!(
            source_address(v6.extensions()),
            Some("[2001:db8:1:2::7]:0".parse().expect("addr"))
        );
        let none = event("not an address", "192.0.2.99");
        assert_eq!(source_address(none.extensions()), None);
    }

    const IGNORE_STAGE: &str = "AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH";
    const ADMIN: &str = "rest-admin-token-0123456789";

    /// The admin router the function runs, over the embedded adapters in `dir`.
    fn embedded_admin_router(dir: &std::path::Path) -> axum::Router {
        use std::sync::Arc;
        let db = embedded::Db::open(dir.join("desk.db")).expect("db");
        let master = embedded::MasterKey::generate();
        let settings = embedded::QueueSettings::default();
        let ports = desk_core::Ports {
            records: Arc::new(embedded::SqliteRecordStore::new(db.clone())),
            inbox: Arc::new(embedded::SqliteInbox::new(db.clone(), &settings)),
            queue: Arc::new(embedded::SqliteQueue::new(db.clone(), settings)),
            blobs: Arc::new(embedded::FileBlobStore::new(dir.join("blobs"))),
            secrets: Arc::new(embedded::SqliteSecretStore::new(db, &master)),
            clock: Arc::new(domain::clock::SystemClock),
        };
        let fingerprints = desk_core::fingerprint::Fingerprinter::new(master.derive("fp"));
        admin_router(AppState::new(
            desk_core::Services::new(ports, fingerprints),
            AdminAuth::from_hash(desk_http::auth::hash(ADMIN)),
        ))
    }

    /// A REST API (v1) event as API Gateway sends it for `GET /prod/admin/v1/accounts` (the
    /// admin API of its own, stage `prod`: template parameter AdminAccess ip-restricted or
    /// private), through lambda_http and the function's router: the path lambda_http built,
    /// the status and the body.
    async fn rest_list_accounts(token: &str) -> (String, u16, serde_json::Value) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events/apigw/admin-rest-list-accounts.json");
        let text = std::fs::read_to_string(path)
            .expect("fixture")
            .replace("REPLACED_BY_TEST", token);
        let req = lambda_http::request::from_str(&text).expect("a REST API event");
        assert_eq!(
            source_address(req.extensions()),
            Some("203.0.113.7:0".parse().expect("addr")),
            "the REST event's identity.sourceIp"
        );
        let built = req.uri().path().to_string();
        let dir = tempfile::tempdir().expect("temp dir");
        let res = embedded_admin_router(dir.path())
            .oneshot(req)
            .await
            .expect("response");
        let status = res.status().as_u16();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .expect("body");
        (
            built,
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// lambda_http puts a REST event's stage in the path (`/prod/admin/v1/accounts`), which
    /// no admin route matches, unless `AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH` is set, as the
    /// template sets it on the admin function of the REST API. The variable is read from the
    /// process environment: the case with it runs in a process of its own.
    #[tokio::test]
    async fn rest_api_events_reach_the_admin_routes_with_the_stage_left_out() {
        if std::env::var_os(IGNORE_STAGE).is_none() {
            let (path, status, _) = rest_list_accounts(ADMIN).await;
            assert_eq!(path, "/prod/admin/v1/accounts");
            assert_eq!(status, 404);
        }
        let exe = std::env::current_exe().expect("this test binary");
        let out = std::process::Command::new(exe)
            .args([
                "--exact",
                "admin::tests::rest_api_event_with_the_stage_ignored",
                "--ignored",
                "--test-threads=1",
            ])
            .env(IGNORE_STAGE, "true")
            .output()
            .expect("run the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[tokio::test]
    #[ignore = "run with AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH set, by rest_api_events_reach_the_admin_routes_with_the_stage_left_out"]
    async fn rest_api_event_with_the_stage_ignored() {
        assert!(std::env::var_os(IGNORE_STAGE).is_some());
        let (path, status, body) = rest_list_accounts(ADMIN).await;
        assert_eq!(path, "/admin/v1/accounts");
        assert_eq!(status, 200, "{body}");
        assert!(body["items"].is_array(), "{body}");
        let (_, status, _) = rest_list_accounts("wrong-token").await;
        assert_eq!(status, 401);
    }

    /// Through the layer, the console's `client_address` sees API Gateway's address, not the
    /// (client-controlled) `X-Forwarded-For`.
    #[tokio::test]
    async fn behind_api_gateway_the_console_counts_the_source_address() {
        let echo = axum::Router::new()
            .route(
                "/console/sign-in",
                axum::routing::get(|req: axum::extract::Request| async move {
                    let (parts, _) = req.into_parts();
                    desk_http::console::web::client_address(&parts)
                }),
            )
            .layer(axum::middleware::from_fn(peer_from_api_gateway));
        for (source, counted) in [
            ("203.0.113.7", "203.0.113.7"),
            ("2001:db8:1:2::7", "2001:db8:1:2::/64"),
        ] {
            let res = echo
                .clone()
                .oneshot(event(source, "192.0.2.99"))
                .await
                .expect("response");
            let body = axum::body::to_bytes(res.into_body(), 1024)
                .await
                .expect("body");
            assert_eq!(String::from_utf8_lossy(&body), counted);
        }
    }
}
