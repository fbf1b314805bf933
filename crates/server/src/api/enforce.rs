//! `GET /v1/auth`: allow or deny one request from the current verdicts, for a reverse
//! proxy's sub-request (nginx `auth_request`, Traefik `forwardAuth`, HAProxy with a Lua or
//! SPOE hook). The proxy names the client in `X-Real-IP` and may pass its JA4 in `X-JA4`;
//! the answer is `204` (allow) or `403` (deny), with `X-Shrike-Match` and `X-Shrike-Level`
//! saying why.
//!
//! What is denied is exactly what `shrike export` would block from the latest cycle with
//! the default filters (see `shrike_export::plan`): blocked addresses, the /24 or /48
//! prefixes they collapsed to, and blocked JA4s; a known good bot or a real browser is
//! never denied. The verdicts are held in memory and rebuilt when the store's generation
//! changes (the server's watcher does it at once), so a request costs a few hash look-ups
//! and never waits on the store once the index exists. Until a first cycle exists, every
//! request is allowed (`X-Shrike-Match: no-cycle`): the gate fails open, as a proxy's
//! must not take a site down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shrike_export::{plan, prefix_of, EntryKind, Filters};
use shrike_types::{Ja4, ThreatLevel};

use crate::error::{ApiError, ApiResult};
use crate::state::{poisoned, AppState, Generation};

/// The header the proxy sets to the client's address.
pub const CLIENT_IP_HEADER: &str = "x-real-ip";
/// The header the proxy sets to the client's JA4, when it computes one.
pub const JA4_HEADER: &str = "x-ja4";

/// What one match denies.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Deny {
    kind: EntryKind,
    level: ThreatLevel,
}

/// The latest cycle's block list, indexed for look-ups.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// The cycle they come from (None: no cycle yet).
    cycle: Option<i64>,
    ips: HashMap<IpAddr, Deny>,
    /// By the CIDR text `prefix_of` gives.
    prefixes: HashMap<String, Deny>,
    ja4s: HashMap<String, Deny>,
    /// The blocked addresses and prefixes, as planned (for the bouncer API).
    addresses: Vec<shrike_export::Entry>,
}

impl Verdicts {
    /// Reads the latest cycle's scores and plans the block list.
    pub fn load(s: &mut dyn shrike_store::DashboardStore) -> ApiResult<Verdicts> {
        let Some((cycle, _)) = s.latest_cycle()? else {
            return Ok(Verdicts::default());
        };
        let p = plan(&s.cycle_scores(cycle)?, &Filters::default())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let mut v = Verdicts {
            cycle: Some(cycle),
            ..Verdicts::default()
        };
        for e in p.addresses.iter().chain(&p.ja4s) {
            let deny = Deny {
                kind: e.kind,
                level: e.level,
            };
            match e.kind {
                EntryKind::Ip => {
                    if let Ok(ip) = e.value.parse() {
                        v.ips.insert(ip, deny);
                    }
                }
                EntryKind::Prefix => {
                    v.prefixes.insert(e.value.clone(), deny);
                }
                EntryKind::Ja4 => {
                    v.ja4s.insert(e.value.clone(), deny);
                }
            }
        }
        v.addresses = p.addresses;
        Ok(v)
    }

    /// The blocked addresses and prefixes, most severe first.
    pub fn entries(&self) -> impl Iterator<Item = &shrike_export::Entry> {
        self.addresses.iter()
    }

    /// Why a client is denied, if it is: its address first, then its prefix, then its JA4.
    fn check(&self, ip: IpAddr, ja4: Option<&str>) -> Option<&Deny> {
        self.ips
            .get(&ip)
            .or_else(|| self.prefixes.get(&prefix_of(ip)))
            .or_else(|| ja4.and_then(|j| self.ja4s.get(j)))
    }
}

/// The current verdicts. A stale index keeps answering while a newer one is built, so a
/// new cycle never makes requests wait; only the very first build is waited for.
pub async fn current(state: &AppState) -> ApiResult<Arc<Verdicts>> {
    let generation = state.generation()?;
    let cell = state.enforce();
    if let Some((g, v)) = cell.index.read().map_err(poisoned)?.clone() {
        if g == generation || cell.building.try_lock().is_err() {
            return Ok(v);
        }
    }
    let _turn = cell.building.lock().await;
    if let Some((g, v)) = cell.index.read().map_err(poisoned)?.clone() {
        if g == generation {
            return Ok(v);
        }
    }
    let built = Arc::new(state.with_store(Verdicts::load).await?);
    *cell.index.write().map_err(poisoned)? = Some((generation, built.clone()));
    Ok(built)
}

/// Builds the index for the current generation ahead of the first request.
pub async fn warm(state: &AppState) -> ApiResult<()> {
    current(state).await.map(|_| ())
}

/// The verdict index kept in [`AppState`], with the generation it was built for.
#[derive(Default)]
pub struct EnforceCell {
    index: std::sync::RwLock<Option<(Generation, Arc<Verdicts>)>>,
    building: tokio::sync::Mutex<()>,
}

/// `GET /v1/auth`: `204` to allow, `403` to deny; `400` when the proxy did not name the
/// client (a configuration error the proxy's log then shows).
pub async fn auth(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let ip: IpAddr = headers
        .get(CLIENT_IP_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            ApiError::BadRequest(
                "X-Real-IP must hold the client's address (nginx: proxy_set_header X-Real-IP $remote_addr)"
                    .into(),
            )
        })?;
    // A JA4 that does not parse cannot be on the list: it is ignored, not an error.
    let ja4 = headers
        .get(JA4_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Ja4::parse(v.trim().into()).ok())
        .map(|j| j.as_str().to_string());
    let verdicts = current(&state).await?;
    let (status, matched, level) = match (verdicts.cycle, verdicts.check(ip, ja4.as_deref())) {
        (None, _) => (StatusCode::NO_CONTENT, "no-cycle", None),
        (Some(_), None) => (StatusCode::NO_CONTENT, "none", None),
        (Some(_), Some(d)) => (
            StatusCode::FORBIDDEN,
            match d.kind {
                EntryKind::Ip => "ip",
                EntryKind::Prefix => "prefix",
                EntryKind::Ja4 => "ja4",
            },
            Some(d.level),
        ),
    };
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert("x-shrike-match", HeaderValue::from_static(matched));
    if let Some(level) = level {
        h.insert("x-shrike-level", HeaderValue::from_static(level.as_str()));
    }
    if let Some(cycle) = verdicts.cycle {
        h.insert("x-shrike-cycle", HeaderValue::from(cycle));
    }
    Ok(response)
}
