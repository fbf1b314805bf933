//! `shrike serve`: the JSON API and the SOC dashboard over the store, in one binary.
//!
//! - [`router`] builds the axum [`Router`] over an [`AppState`] (store connections, response
//!   cache, the cluster map job, counters); tests drive it without a socket.
//! - [`serve`] binds it, refusing a non-loopback address without a token
//!   ([`auth::check_bind`]), and refreshes the cache generation every second.
//! - The pages (`assets/`) are embedded at build time; they build every element with
//!   `textContent`, never `innerHTML`, so attacker-controlled strings (user agents, hosts,
//!   paths, JA4s) render as text. A strict Content-Security-Policy forbids inline script.
//! - The API is described by `assets/openapi.json`, served at `/api/openapi.json`.

#![warn(missing_docs)]

pub mod api;
pub mod auth;
pub mod error;
pub mod map;
pub mod ops;
pub mod params;
pub mod service;
pub mod state;

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::Router;

pub use auth::{check_bind, BindError};
pub use error::ApiError;
pub use service::{ServiceHandle, ServiceStatus};
pub use state::{AppState, ServeSettings, StoreOpener};

/// The embedded static files: path, content type, body.
const ASSETS: [(&str, &str, &str); 4] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "/api/openapi.json",
        "application/json",
        include_str!("../assets/openapi.json"),
    ),
];

fn asset(path: &'static str) -> impl Fn() -> std::future::Ready<Response> + Clone {
    move || {
        let (_, kind, body) = ASSETS
            .iter()
            .find(|(p, ..)| *p == path)
            .copied()
            .unwrap_or(("", "text/plain", ""));
        std::future::ready(([(header::CONTENT_TYPE, kind)], body).into_response())
    }
}

/// Security headers on every response.
async fn harden(req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route; see /api/openapi.json".into())
}

/// Every route of the server.
pub fn router(state: AppState) -> Router {
    let limit = state.settings().max_body_bytes;
    let mut r = Router::new();
    for (path, ..) in ASSETS {
        r = r.route(path, get(asset(path)));
    }
    r.route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/v1/auth", get(api::enforce::auth))
        .route("/v1/decisions/stream", get(api::bouncer::stream))
        .route("/v1/decisions", get(api::bouncer::decisions))
        .route("/api/overview", get(api::overview::overview))
        .route("/api/tactics", get(api::overview::tactics))
        .route("/api/threats", get(api::threats::list))
        .route("/api/threats/session", get(api::threats::session))
        .route(
            "/api/feedback",
            get(api::actions::list_feedback).post(api::actions::add_feedback),
        )
        .route("/api/feedback/{id}", delete(api::actions::remove_feedback))
        .route("/api/exports", get(api::actions::exports))
        .route("/api/fleets", get(api::health::fleets))
        .route("/api/campaigns", get(api::health::campaigns))
        .route("/api/campaigns/{id}", get(api::health::campaign))
        .route("/api/health", get(api::health::health))
        .route("/api/service", get(api::health::service))
        .route("/api/decisions", get(api::health::decisions))
        .route("/api/map", get(map::clusters))
        .route("/api/map/status", get(map::status))
        .route("/api/map/points", get(map::points))
        .route("/api/map/clusters/{id}/ips", get(map::cluster_ips))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::check_host,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            ops::access_log,
        ))
        .layer(middleware::from_fn(harden))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Why the server stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The bind policy refused the address.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The socket could not be bound or served.
    #[error(
        "cannot serve on {addr}: {source} (choose another address with --listen or serve.listen)"
    )]
    Io {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// Serves `state` on `addr` until `shutdown` resolves (e.g. on Ctrl-C). Calls `ready`
/// with the bound address (port 0 picks a free one) once it accepts connections.
pub async fn serve(
    addr: SocketAddr,
    state: AppState,
    ready: impl FnOnce(SocketAddr),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    check_bind(addr, state.token())?;
    let io = |source| ServeError::Io { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(io)?;
    let bound = listener.local_addr().map_err(io)?;
    let watcher = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        // The first tick comes at once: the cache is warmed at start, then after each new
        // generation (a cycle or a label).
        let mut warmed = None;
        loop {
            tick.tick().await;
            match watcher.refresh_generation().await {
                Ok(generation) if warmed != Some(generation) => {
                    warmed = Some(generation);
                    // The enforcement index first: proxies ask on every request.
                    if let Err(e) = api::enforce::warm(&watcher).await {
                        tracing::warn!(error = %e, "cannot build the verdicts for /v1/auth");
                    }
                    if let Err(e) = api::overview::warm(&watcher).await {
                        tracing::warn!(error = %e, "cannot build the overview in advance");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the store's generation"),
            }
        }
    });
    ready(bound);
    let s = state.settings();
    let limits = (
        s.max_connections,
        s.header_read_timeout,
        s.connection_lifetime,
    );
    accept_loop(listener, router(state), limits, shutdown).await;
    Ok(())
}

/// Accepts connections until `shutdown`: at most `max_connections` at once (a new one
/// beyond is closed at once), each given `header_read_timeout` to send a request's head
/// and closed after `connection_lifetime` ([`ServeSettings`]). Connections in flight when
/// `shutdown` resolves are given a few seconds to finish.
async fn accept_loop(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: (usize, Duration, Duration),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let (max_connections, header_read_timeout, lifetime) = limits;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(max_connections));
    let mut refused = 0u64;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = std::sync::Arc::clone(&slots).try_acquire_owned() else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(%peer, refused, limit = max_connections, "too many connections: closed a new one");
            }
            drop(stream);
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(lifetime, conn).await;
            drop(slot);
        });
    }
    // Let the requests in flight finish (the slots come back as their connections end).
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        slots.acquire_many(max_connections as u32),
    )
    .await;
}

/// Runs [`serve`] on its own multi-threaded runtime until Ctrl-C or SIGTERM.
pub fn serve_blocking(
    addr: SocketAddr,
    state: AppState,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io { addr, source })?;
    runtime.block_on(serve(addr, state, ready, shutdown_signal()))
}

/// Runs [`serve`] on its own runtime (two worker threads) until `stop` is set, checked ten
/// times a second: for a process that handles its signals itself (`shrike run`).
pub fn serve_until(
    addr: SocketAddr,
    state: AppState,
    ready: impl FnOnce(SocketAddr),
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io { addr, source })?;
    let shutdown = async move {
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    runtime.block_on(serve(addr, state, ready, shutdown))
}

/// Resolves on Ctrl-C or (Unix) SIGTERM.
async fn shutdown_signal() {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(2);
    let on_ctrl_c = tx.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = on_ctrl_c.send(()).await;
        }
    });
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            term.recv().await;
            let _ = tx.send(()).await;
        }
    });
    rx.recv().await;
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use shrike_types::{DecisionKind, ThreatLevel};

    /// The query parameter `name` of the API document, wherever it is declared.
    fn parameters<'a>(v: &'a serde_json::Value, name: &str, out: &mut Vec<&'a serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("name").and_then(|n| n.as_str()) == Some(name) && m.contains_key("in") {
                    out.push(v);
                }
                m.values().for_each(|x| parameters(x, name, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| parameters(x, name, out)),
            _ => {}
        }
    }

    #[test]
    fn the_api_document_names_every_level_and_decision_kind() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../assets/openapi.json")).unwrap();
        let mut kinds = Vec::new();
        parameters(&doc, "kind", &mut kinds);
        assert_eq!(kinds.len(), 1);
        let listed: Vec<&str> = kinds[0]["schema"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        let all: Vec<&str> = DecisionKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(listed, all);
        let mut levels = Vec::new();
        parameters(&doc, "level", &mut levels);
        assert!(!levels.is_empty());
        for p in levels {
            let text = p["description"].as_str().unwrap();
            for l in ThreatLevel::ALL {
                assert!(text.contains(l.as_str()), "{l} missing from {text}");
            }
        }
    }
}
