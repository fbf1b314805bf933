//! Operations: the access log, request counters, `/metrics` (Prometheus text format) and
//! `/healthz`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiResult;
use crate::state::AppState;

/// Upper bounds (seconds) of the request latency histogram.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Default)]
struct RouteStats {
    by_status: BTreeMap<(String, u16), u64>,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Counters of the server, exported by `/metrics`.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<String, RouteStats>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
    map_runs: AtomicU64,
    map_failures: AtomicU64,
}

impl Metrics {
    /// A response served from the cache.
    pub fn cache_hit(&self) {
        self.cache_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// A response built from the store.
    pub fn cache_miss(&self) {
        self.cache_misses.fetch_add(1, Ordering::Relaxed);
    }

    /// A cluster map computed (`ok`) or failed.
    pub fn map_run(&self, ok: bool) {
        let counter = if ok {
            &self.map_runs
        } else {
            &self.map_failures
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let Ok(mut routes) = self.routes.lock() else {
            return;
        };
        let r = routes.entry(route.to_string()).or_default();
        *r.by_status.entry((method.to_string(), status)).or_default() += 1;
        r.count += 1;
        r.sum += seconds;
        for (b, le) in r.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= le {
                *b += 1;
            }
        }
    }

    fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP shrike_http_requests_total HTTP requests answered, by route, method and status.");
        let _ = writeln!(out, "# TYPE shrike_http_requests_total counter");
        // Rendered under the lock: a scrape is rare and short.
        if let Ok(routes) = self.routes.lock() {
            for (route, r) in routes.iter() {
                for ((method, status), n) in &r.by_status {
                    let _ = writeln!(
                    out,
                    "shrike_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                    label(route)
                );
                }
            }
            let _ = writeln!(
                out,
                "# HELP shrike_http_request_duration_seconds Time to answer, by route."
            );
            let _ = writeln!(out, "# TYPE shrike_http_request_duration_seconds histogram");
            for (route, r) in routes.iter() {
                let route = label(route);
                for (b, le) in r.buckets.iter().zip(BUCKETS) {
                    let _ = writeln!(
                    out,
                    "shrike_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {b}"
                );
                }
                let (count, sum) = (r.count, r.sum);
                let _ = writeln!(out, "shrike_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {count}");
                let _ = writeln!(
                    out,
                    "shrike_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
                );
                let _ = writeln!(
                    out,
                    "shrike_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
                );
            }
        }
        let counters = [
            (
                "shrike_cache_hits_total",
                "API responses served from the cache.",
                &self.cache_hits,
            ),
            (
                "shrike_cache_misses_total",
                "API responses built from the store.",
                &self.cache_misses,
            ),
            (
                "shrike_map_runs_total",
                "Cluster maps computed.",
                &self.map_runs,
            ),
            (
                "shrike_map_failures_total",
                "Cluster map computations that failed.",
                &self.map_failures,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
    }
}

/// A Prometheus label value: backslash, quote and newline escaped.
pub(crate) fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware: one structured log line and one counter update per request. The route is
/// the matched pattern (`/api/threats/{ip}`), never the raw path, so that an attacker
/// cannot grow the counters without bound.
pub async fn access_log(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let path = req.uri().path().to_string();
    let response = next.run(req).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.metrics().record(&route, &method, status, seconds);
    tracing::info!(
        target: "shrike::access",
        method = %method,
        path = %path,
        route = %route,
        status,
        micros = (seconds * 1e6) as u64,
        "request"
    );
    response
}

/// `GET /healthz`: 200 when the store answers.
pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.with_store(|s| Ok(s.schema_version()?)).await {
        Ok(v) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": "ok", "schema_version": v})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"status": "store unavailable"})),
        )
            .into_response(),
    }
}

/// `GET /metrics`: the server's counters and the latest cycle's figures.
pub async fn metrics(State(state): State<AppState>) -> ApiResult<Response> {
    let cycle = state
        .with_store(|s| Ok(s.cycle_summaries(1)?.pop()))
        .await?;
    let mut out = String::new();
    state.metrics().render(&mut out);
    if let Some(c) = cycle {
        let _ = writeln!(out, "# HELP shrike_cycle_id Id of the latest detection cycle.\n# TYPE shrike_cycle_id gauge\nshrike_cycle_id {}", c.id);
        let _ = writeln!(out, "# HELP shrike_cycle_anomaly_rate Anomalies per scored session in the latest cycle.\n# TYPE shrike_cycle_anomaly_rate gauge\nshrike_cycle_anomaly_rate {}", c.anomaly_rate);
        let metrics: serde_json::Value = serde_json::from_str(&c.metrics).unwrap_or_default();
        let _ = writeln!(out, "# HELP shrike_cycle_sessions Sessions per threat level in the latest cycle.\n# TYPE shrike_cycle_sessions gauge");
        if let Some(levels) = metrics["levels"].as_object() {
            for (level, n) in levels {
                let _ = writeln!(
                    out,
                    "shrike_cycle_sessions{{level=\"{}\"}} {}",
                    label(level),
                    n
                );
            }
        }
        let _ = writeln!(out, "# HELP shrike_cycle_stage_seconds Time of each stage of the latest cycle.\n# TYPE shrike_cycle_stage_seconds gauge");
        if let Some(stages) = metrics["stage_ms"].as_array() {
            for s in stages {
                if let (Some(name), Some(ms)) = (s[0].as_str(), s[1].as_f64()) {
                    let _ = writeln!(
                        out,
                        "shrike_cycle_stage_seconds{{stage=\"{}\"}} {}",
                        label(name),
                        ms / 1000.0
                    );
                }
            }
        }
    }
    if let Some(service) = &state.settings().service {
        let status = service.read().unwrap_or_else(|p| p.into_inner()).clone();
        status.render_metrics(state.clock().now(), &mut out);
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response())
}
