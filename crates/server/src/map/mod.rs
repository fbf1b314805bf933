//! The cluster map: rows from the store, computed by a background task with a cache (TTL,
//! invalidated when the parameters or the store change, `force`), and the endpoints that
//! serve it: `/api/map` (start or read), `/api/map/status` (polling), `/api/map/points`
//! (every row's position, paginated) and `/api/map/clusters/{id}/ips` (a cluster's
//! addresses with details, paginated).

pub mod compute;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use shrike_features::FeatureId;
use shrike_store::ThreatRow;
use shrike_types::{Timestamp, HOUR_MS};

pub use compute::{compute, MapParams, MapResult, MapRow, MAP_FEATURES};

use crate::api::JsonBytes;
use crate::error::{ApiError, ApiResult};
use crate::params::Query;
use crate::state::{AppState, Generation};

/// Where the job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapStatus {
    /// Nothing computed yet.
    Idle,
    /// A computation runs.
    Computing,
    /// A map is ready.
    Ready,
    /// The last computation failed.
    Error,
}

impl MapStatus {
    fn as_str(self) -> &'static str {
        match self {
            MapStatus::Idle => "idle",
            MapStatus::Computing => "computing",
            MapStatus::Ready => "ready",
            MapStatus::Error => "error",
        }
    }
}

struct Slot {
    status: MapStatus,
    error: Option<String>,
    /// Parameters and store generation of `result` (or of the running job).
    params: Option<(MapParams, Generation)>,
    /// Requested while a job ran with other parameters: run next.
    pending: Option<(MapParams, Generation)>,
    finished_at: Option<Instant>,
    result: Option<Arc<MapResult>>,
    /// The ready answer of `/api/map`, serialised once.
    body: Option<axum::body::Bytes>,
    /// Answers built from `result` (points and cluster pages), by request.
    answers: HashMap<String, axum::body::Bytes>,
}

/// The background computation and its cache.
pub struct MapJob {
    ttl: Duration,
    slot: Mutex<Slot>,
}

impl MapJob {
    /// An idle job whose maps stay fresh for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        MapJob {
            ttl,
            slot: Mutex::new(Slot {
                status: MapStatus::Idle,
                error: None,
                params: None,
                pending: None,
                finished_at: None,
                result: None,
                body: None,
                answers: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> ApiResult<std::sync::MutexGuard<'_, Slot>> {
        self.slot
            .lock()
            .map_err(|_| ApiError::Internal("the map lock was poisoned".into()))
    }

    /// The ready map, if any.
    pub fn result(&self) -> ApiResult<Option<Arc<MapResult>>> {
        let slot = self.lock()?;
        Ok(match slot.status {
            MapStatus::Ready => slot.result.clone(),
            _ => None,
        })
    }
}

/// Starts a computation unless a fresh map of these parameters exists or one is running;
/// a request for other parameters while one runs is queued (the latest wins).
fn trigger(
    state: &AppState,
    params: MapParams,
    generation: Generation,
    force: bool,
) -> ApiResult<()> {
    let job = state.map();
    {
        let mut slot = job.lock()?;
        let wanted = (params, generation);
        if slot.status == MapStatus::Computing {
            if slot.params != Some(wanted) || force {
                slot.pending = Some(wanted);
            }
            return Ok(());
        }
        let fresh = slot.finished_at.is_some_and(|t| t.elapsed() < job.ttl);
        if !force && slot.params == Some(wanted) && fresh && slot.status != MapStatus::Idle {
            return Ok(());
        }
        slot.status = MapStatus::Computing;
        slot.error = None;
        slot.params = Some(wanted);
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || run(state, params));
    Ok(())
}

/// Runs the job, then any request queued meanwhile.
fn run(state: AppState, mut params: MapParams) {
    loop {
        let started = Instant::now();
        let outcome = load_rows(&state, params).and_then(|rows| {
            let s = state.settings();
            compute(rows, params, s.map_seed, s.map_threads).map_err(ApiError::Map)
        });
        state.metrics().map_run(outcome.is_ok());
        let Ok(mut slot) = state.map().slot.lock() else {
            return;
        };
        slot.finished_at = Some(Instant::now());
        match outcome {
            Ok(result) => {
                tracing::info!(
                    rows = result.stats.n_samples,
                    clusters = result.stats.total_clusters,
                    k = result.stats.k,
                    seconds = started.elapsed().as_secs_f64(),
                    "cluster map computed"
                );
                slot.body = serde_json::to_vec(&json!({
                    "status": "ready",
                    "nodes": result.nodes,
                    "edges": result.edges,
                    "stats": result.stats,
                    "feature_names": MAP_FEATURES.iter().map(|f| f.name).collect::<Vec<_>>(),
                }))
                .ok()
                .map(Into::into);
                slot.status = MapStatus::Ready;
                slot.result = Some(Arc::new(result));
                slot.answers.clear();
            }
            Err(e) => {
                tracing::warn!(error = %e, "cluster map failed");
                slot.status = MapStatus::Error;
                slot.body = None;
                slot.error = Some(match e {
                    ApiError::Map(m) | ApiError::NotFound(m) => m,
                    _ => "the store could not be read; see the server log".into(),
                });
                slot.result = None;
                slot.answers.clear();
            }
        }
        match slot.pending.take() {
            Some(next) => {
                params = next.0;
                slot.status = MapStatus::Computing;
                slot.error = None;
                slot.params = Some(next);
            }
            None => return,
        }
    }
}

/// The (IP, JA4) rows of the latest cycle's last `hours` hours.
fn load_rows(state: &AppState, params: MapParams) -> ApiResult<Vec<MapRow>> {
    let max_rows = state.settings().map_max_rows;
    let scores = state.with_store_blocking(|s| {
        let Some((cycle, clock)) = s.latest_cycle()? else {
            return Err(ApiError::NotFound(
                "no detection cycle yet: run `shrike detect` first".into(),
            ));
        };
        // The cycle's clock is one hour past its newest window.
        let since = Timestamp::from_millis(clock.millis() - i64::from(params.hours) * HOUR_MS);
        Ok(s.cycle_threats(cycle, since)?)
    })?;
    let rows = aggregate(&scores);
    if rows.len() > max_rows {
        return Err(ApiError::Map(format!(
            "{} (IP, JA4) pairs exceed the map's limit of {max_rows} (serve.map_max_rows)",
            rows.len()
        )));
    }
    Ok(rows)
}

/// Parses `window_options_mss_scale` into (window, scale, mss); zeros when absent.
fn parse_tcp(fp: &str) -> (f64, f64, f64) {
    let parts: Vec<&str> = fp.split('_').collect();
    let num = |i: usize| {
        parts
            .get(i)
            .and_then(|p| p.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (num(0), num(3), num(2))
}

/// Aggregates scored sessions per (IP, JA4): feature means, summed requests, mean score,
/// highest level, first session's user agent and TCP values.
pub fn aggregate(scores: &[ThreatRow]) -> Vec<MapRow> {
    let feature_ids: Vec<Option<FeatureId>> = MAP_FEATURES
        .iter()
        .map(|f| match f.name {
            "tcp_ttl" => Some(FeatureId::AvgTtl),
            name => FeatureId::from_name(name),
        })
        .collect();
    let mut index: HashMap<(IpAddr, &str), usize> = HashMap::new();
    let mut rows: Vec<MapRow> = Vec::new();
    let mut sessions: Vec<f64> = Vec::new();
    for t in scores {
        let key = (t.score.key.src_ip, t.score.key.ja4_str());
        let i = *index.entry(key).or_insert_with(|| {
            let (win, scale, mss) = parse_tcp(&t.tcp_fingerprint);
            let ttl = t
                .features
                .get(FeatureId::AvgTtl.index())
                .map_or(0.0, |v| f64::from(*v).max(0.0));
            rows.push(MapRow {
                ip: t.score.key.src_ip.to_string(),
                ja4: t.score.key.ja4_str().to_string(),
                user_agent: t.user_agent.clone(),
                hits: 0,
                score: 0.0,
                threat: t.score.threat_level,
                country: t.country.clone(),
                asn_org: t.asn_org.clone(),
                tcp: [ttl, win, scale, mss],
                values: [0.0; MAP_FEATURES.len()],
            });
            sessions.push(0.0);
            rows.len() - 1
        });
        let r = &mut rows[i];
        sessions[i] += 1.0;
        r.hits += t.hits;
        r.score += t.score.anomaly_score;
        if t.score.threat_level.severity() > r.threat.severity() {
            r.threat = t.score.threat_level;
        }
        for ((v, f), id) in r.values.iter_mut().zip(&MAP_FEATURES).zip(&feature_ids) {
            let raw = match (f.name, id) {
                ("anomaly_score", _) => t.score.anomaly_score,
                (_, Some(id)) => t.features.get(id.index()).map_or(0.0, |x| f64::from(*x)),
                _ => 0.0,
            };
            *v += compute::scale(raw, f.full_scale);
        }
    }
    for (r, n) in rows.iter_mut().zip(&sessions) {
        r.score /= n;
        r.values.iter_mut().for_each(|v| *v /= n);
    }
    rows
}

fn map_params(q: &Query) -> ApiResult<MapParams> {
    Ok(MapParams {
        k: q.int("k", 14, 4, 30)? as usize,
        hours: q.int("hours", 24, 1, 168)? as u32,
        sensitivity: q.float("sensitivity", 1.0, 0.5, 3.0)?,
    })
}

fn status_json(state: &AppState) -> ApiResult<Value> {
    let slot = state.map().lock()?;
    Ok(json!({
        "status": slot.status.as_str(),
        "error": slot.error,
        "age_s": slot.finished_at.map(|t| t.elapsed().as_secs()),
        "params": slot.params.map(|(p, _)| json!({
            "k": p.k, "hours": p.hours, "sensitivity": p.sensitivity, "k_actual": p.k_actual()
        })),
        "queued": slot.pending.is_some(),
    }))
}

/// `GET /api/map/status`.
pub async fn status(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(status_json(&state)?))
}

/// `GET /api/map?k=&hours=&sensitivity=&force=`: the map if a fresh one of these
/// parameters is ready; otherwise starts it and answers with the status to poll.
pub async fn clusters(State(state): State<AppState>, q: Query) -> ApiResult<Response> {
    let params = map_params(&q)?;
    let force = q.boolean("force")?;
    let generation = state.generation()?;
    trigger(&state, params, generation, force)?;
    let slot = state.map().lock()?;
    match (slot.status, &slot.body, slot.params) {
        (MapStatus::Ready, Some(body), Some((p, _))) if p == params => {
            Ok(crate::api::json_response(body.clone()).into_response())
        }
        (MapStatus::Error, ..) => Err(ApiError::Map(slot.error.clone().unwrap_or_default())),
        (status, ..) => Ok(Json(json!({
            "status": if status == MapStatus::Ready { "computing" } else { status.as_str() },
            "message": "the map is being computed; poll /api/map/status",
        }))
        .into_response()),
    }
}

fn ready(state: &AppState) -> ApiResult<Arc<MapResult>> {
    state
        .map()
        .result()?
        .ok_or_else(|| ApiError::NotFound("no map is ready: call /api/map first".into()))
}

/// Most answers kept per map.
const MAP_ANSWERS: usize = 256;

impl MapJob {
    /// The answer `key` of map `r`, built once while `r` is the ready map.
    fn answer(
        &self,
        r: &Arc<MapResult>,
        key: String,
        build: impl FnOnce() -> ApiResult<Value>,
    ) -> ApiResult<JsonBytes> {
        let body = self.kept(r, key, || {
            serde_json::to_vec(&build()?).map_err(|e| ApiError::Internal(e.to_string()))
        })?;
        Ok(crate::api::json_response(body))
    }

    /// The bytes kept under `key` for map `r`, or `build`'s, kept while `r` is the ready
    /// map.
    fn kept(
        &self,
        r: &Arc<MapResult>,
        key: String,
        build: impl FnOnce() -> ApiResult<Vec<u8>>,
    ) -> ApiResult<axum::body::Bytes> {
        {
            let slot = self.lock()?;
            if slot.result.as_ref().is_some_and(|now| Arc::ptr_eq(now, r)) {
                if let Some(body) = slot.answers.get(&key) {
                    return Ok(body.clone());
                }
            }
        }
        let body: axum::body::Bytes = build()?.into();
        let mut slot = self.lock()?;
        if slot.result.as_ref().is_some_and(|now| Arc::ptr_eq(now, r)) {
            if slot.answers.len() >= MAP_ANSWERS {
                slot.answers.clear();
            }
            slot.answers.insert(key, body.clone());
        }
        Ok(body)
    }
}

/// `GET /api/map/points?offset=&limit=`: positions, clusters and risk of the rows,
/// column-wise (compact for 100k points); kept with the map, and gzipped once for a client
/// that accepts it (a page of 100k points is megabytes of JSON).
pub async fn points(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Query,
) -> ApiResult<Response> {
    let r = ready(&state)?;
    let offset = q.int("offset", 0, 0, i64::MAX)? as usize;
    let limit = q.int("limit", 100_000, 1, 200_000)? as usize;
    let key = format!("points:{offset}:{limit}");
    let json = state.map().answer(&r, key.clone(), || {
        let end = offset.saturating_add(limit).min(r.rows.len());
        let range = offset.min(end)..end;
        let risk: Vec<f64> = r
            .nodes
            .iter()
            .fold(vec![0.0; r.members.len()], |mut acc, n| {
                acc[n.cluster_idx] = n.risk_score;
                acc
            });
        Ok(json!({
            "total": r.rows.len(),
            "offset": offset,
            "limit": limit,
            "x": r.coords[range.clone()].iter().map(|c| (c[0] * 1e4).round() / 1e4).collect::<Vec<_>>(),
            "y": r.coords[range.clone()].iter().map(|c| (c[1] * 1e4).round() / 1e4).collect::<Vec<_>>(),
            "cluster": &r.labels[range.clone()],
            "risk": r.labels[range].iter().map(|l| risk[*l as usize]).collect::<Vec<_>>(),
        }))
    })?;
    let gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            e.split(';')
                .next()
                .is_some_and(|name| name.trim() == "gzip")
        });
    if !gzip {
        return Ok(json.into_response());
    }
    let zipped = state.map().kept(&r, format!("{key}:gzip"), || {
        use std::io::Write;
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(json.bytes())
            .and_then(|()| z.finish())
            .map_err(|e| ApiError::Internal(format!("gzip: {e}")))
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CONTENT_ENCODING, "gzip"),
            (header::VARY, "accept-encoding"),
        ],
        zipped,
    )
        .into_response())
}

/// `GET /api/map/clusters/{id}/ips?offset=&limit=`: one cluster's rows, busiest first.
pub async fn cluster_ips(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Query,
) -> ApiResult<JsonBytes> {
    let r = ready(&state)?;
    let offset = q.int("offset", 0, 0, i64::MAX)? as usize;
    let limit = q.int("limit", 100, 1, 500)? as usize;
    let idx: usize = id
        .strip_prefix('c')
        .and_then(|rest| rest.split('_').next())
        .and_then(|n| n.parse().ok())
        .filter(|i| *i < r.members.len())
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "cluster id {:?}: expected c<index>_k<k> with index below {}",
                id.chars().take(40).collect::<String>(),
                r.members.len()
            ))
        })?;
    let key = format!("ips:{idx}:{offset}:{limit}:{id}");
    state.map().answer(&r, key, || {
        let members = &r.members[idx];
        let page: Vec<Value> = members
            .iter()
            .skip(offset)
            .take(limit)
            .map(|i| {
                let row = &r.rows[*i as usize];
                json!({
                    "ip": row.ip, "ja4": row.ja4, "hits": row.hits, "ua": row.user_agent,
                    "avg_score": (row.score * 1e3).round() / 1e3, "threat_level": row.threat,
                    "country_code": row.country, "asn_org": row.asn_org,
                    "tcp_ttl": row.tcp[0], "tcp_win": row.tcp[1], "tcp_scale": row.tcp[2],
                    "tcp_mss": row.tcp[3],
                    "pca_x": r.coords[*i as usize][0], "pca_y": r.coords[*i as usize][1],
                })
            })
            .collect();
        Ok(json!({
            "cluster_id": id, "total": members.len(), "offset": offset, "limit": limit, "ips": page
        }))
    })
}
