//! The CrowdSec bouncer API (the part of CrowdSec's Local API that bouncers call), so that
//! any CrowdSec bouncer (nginx, HAProxy, firewall, custom) enforces shrike's verdicts with
//! no CrowdSec agent:
//!
//! - `GET /v1/decisions/stream?startup=true|false`: `{"new": [...], "deleted": [...]}`.
//!   With `startup=true` every current decision is new; afterwards each call returns what
//!   changed since the same bouncer's previous call (a bouncer is known by its API key:
//!   give each bouncer its own).
//! - `GET /v1/decisions?ip=` (or `range=`, `value=`, `scope=`): the decisions that apply,
//!   or `null`.
//!
//! Both need `X-Api-Key` to be one of the configured keys (`SHRIKE_BOUNCER_API_KEY`,
//! `serve.bouncer_api_keys`); without one, `403`, as CrowdSec answers. The bearer token of
//! the dashboard is not asked: bouncers cannot send it.
//!
//! The decisions are the addresses and the /24 or /48 prefixes `shrike export` blocks
//! with the default filters from the latest cycle (the same index as `/v1/auth`); known
//! good bots and real browsers are never among them. JA4s are not: CrowdSec bouncers
//! enforce on addresses and ranges only.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shrike_export::{prefix_of, EntryKind};

use super::enforce::current;
use crate::auth::token_matches;
use crate::error::{ApiError, ApiResult};
use crate::params::Query;
use crate::state::{poisoned, AppState};

/// One decision as CrowdSec's bouncers read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Stable for a value: derived from it.
    pub id: i64,
    /// Always `shrike`.
    pub origin: &'static str,
    /// Always `ban`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `Ip` or `Range`.
    pub scope: &'static str,
    /// An address or a CIDR.
    pub value: String,
    /// How long a bouncer keeps it if shrike stops answering (Go duration, e.g. `24h`).
    pub duration: String,
    /// `shrike/<LEVEL>: <reason>`.
    pub scenario: String,
    /// Never simulated.
    pub simulated: bool,
}

/// A decision's id: the first bytes of a hash of its scope and value, positive.
fn decision_id(scope: &str, value: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{scope}|{value}").as_bytes());
    (u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) >> 11) as i64
}

/// The most a scenario says (a reason can be long; bouncers log it).
const SCENARIO_CHARS: usize = 200;

/// The current decisions, by value.
pub(crate) fn decisions_of(
    v: &super::enforce::Verdicts,
    duration: &str,
) -> BTreeMap<String, Decision> {
    v.entries()
        .filter_map(|e| {
            let scope = match e.kind {
                EntryKind::Ip => "Ip",
                EntryKind::Prefix => "Range",
                EntryKind::Ja4 => return None,
            };
            let mut scenario = format!("shrike/{}: {}", e.level.as_str(), e.reason);
            if scenario.chars().count() > SCENARIO_CHARS {
                scenario = scenario.chars().take(SCENARIO_CHARS).collect();
            }
            Some((
                e.value.clone(),
                Decision {
                    id: decision_id(scope, &e.value),
                    origin: "shrike",
                    kind: "ban",
                    scope,
                    value: e.value.clone(),
                    duration: duration.to_string(),
                    scenario,
                    simulated: false,
                },
            ))
        })
        .collect()
}

/// What each bouncer was last sent, by API key (only configured keys get an entry, so the
/// map is as small as the configuration).
#[derive(Default)]
pub struct BouncerCell {
    sent: std::sync::Mutex<HashMap<String, BTreeMap<String, Decision>>>,
}

/// The configured key the request presents, if it presents one.
fn bouncer_key(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let given = headers.get("x-api-key")?.to_str().ok()?.trim();
    let keys = &state.settings().bouncer_keys;
    keys.iter()
        .any(|k| token_matches(given, k))
        .then(|| given.to_string())
}

/// `403`, as CrowdSec answers a bouncer without a valid key.
fn forbidden(state: &AppState) -> Response {
    let message = if state.settings().bouncer_keys.is_empty() {
        "no bouncer API key is configured (SHRIKE_BOUNCER_API_KEY or serve.bouncer_api_keys)"
    } else {
        "access forbidden: X-Api-Key is not a configured bouncer key"
    };
    (
        StatusCode::FORBIDDEN,
        axum::Json(serde_json::json!({ "message": message })),
    )
        .into_response()
}

/// Whether a decision passes the bouncer's `scopes` and `origins` filters.
fn wanted(d: &Decision, scopes: &Option<Vec<String>>, origins: &Option<Vec<String>>) -> bool {
    scopes
        .as_ref()
        .is_none_or(|s| s.iter().any(|x| x.eq_ignore_ascii_case(d.scope)))
        && origins
            .as_ref()
            .is_none_or(|o| o.iter().any(|x| x == d.origin))
}

fn list(q: &Query, name: &str) -> ApiResult<Option<Vec<String>>> {
    Ok(q.text(name)?.map(|t| {
        t.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }))
}

#[derive(Serialize)]
struct Stream {
    new: Vec<Decision>,
    deleted: Vec<Decision>,
}

/// `GET /v1/decisions/stream?startup=`.
pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Query,
) -> ApiResult<Response> {
    let Some(key) = bouncer_key(&state, &headers) else {
        return Ok(forbidden(&state));
    };
    let startup = match q.text("startup")?.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "startup={other:?} is invalid (allowed: true or false)"
            )))
        }
    };
    let (scopes, origins) = (list(&q, "scopes")?, list(&q, "origins")?);
    let verdicts = current(&state).await?;
    let now = decisions_of(&verdicts, &state.settings().bouncer_duration);
    let mut sent = state.bouncers().sent.lock().map_err(poisoned)?;
    let before = sent.remove(&key).filter(|_| !startup).unwrap_or_default();
    let new: Vec<Decision> = now
        .iter()
        .filter(|(v, d)| before.get(*v) != Some(d))
        .map(|(_, d)| d.clone())
        .filter(|d| wanted(d, &scopes, &origins))
        .collect();
    let deleted: Vec<Decision> = before
        .iter()
        .filter(|(v, _)| !now.contains_key(*v))
        .map(|(_, d)| d.clone())
        .filter(|d| wanted(d, &scopes, &origins))
        .collect();
    sent.insert(key, now);
    drop(sent);
    Ok(axum::Json(Stream { new, deleted }).into_response())
}

/// `GET /v1/decisions?ip=|range=|value=&scope=&type=`: the decisions that apply, `null`
/// when none does (as CrowdSec answers).
pub async fn decisions(
    State(state): State<AppState>,
    headers: HeaderMap,
    q: Query,
) -> ApiResult<Response> {
    if bouncer_key(&state, &headers).is_none() {
        return Ok(forbidden(&state));
    }
    let ip = match q.text("ip")? {
        Some(t) => Some(
            t.trim()
                .parse::<IpAddr>()
                .map_err(|_| ApiError::BadRequest(format!("ip={t:?} is not an address")))?,
        ),
        None => None,
    };
    let (range, value) = (q.text("range")?, q.text("value")?);
    let scope = q.text("scope")?;
    let kind = q.text("type")?;
    let verdicts = current(&state).await?;
    let all = decisions_of(&verdicts, &state.settings().bouncer_duration);
    let matches: Vec<Decision> = all
        .into_values()
        .filter(|d| match ip {
            Some(ip) => d.value == ip.to_string() || d.value == prefix_of(ip),
            None => true,
        })
        .filter(|d| range.as_deref().is_none_or(|r| d.value == r))
        .filter(|d| value.as_deref().is_none_or(|v| d.value == v))
        .filter(|d| {
            scope
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case(d.scope))
        })
        .filter(|d| kind.as_deref().is_none_or(|k| k == d.kind))
        .collect();
    Ok(if matches.is_empty() {
        axum::Json(serde_json::Value::Null).into_response()
    } else {
        axum::Json(matches).into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_positive_and_differ_by_scope_and_value() {
        let a = decision_id("Ip", "192.0.2.1");
        assert_eq!(a, decision_id("Ip", "192.0.2.1"));
        assert!(a > 0);
        assert_ne!(a, decision_id("Ip", "192.0.2.2"));
        assert_ne!(a, decision_id("Range", "192.0.2.1"));
    }
}
