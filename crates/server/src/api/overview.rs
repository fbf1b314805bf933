//! `/api/overview` (KPIs, levels over time, top ASNs, countries and JA4s) and
//! `/api/tactics` (brute force, JA4 rotation, recurrence, live alerts).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::State;
use serde_json::{json, Value};
use shrike_features::FeatureId;
use shrike_store::{DashboardStore, ThreatRow, TopBy, TopValue};
use shrike_types::{SessionKey, ThreatLevel};

use super::{json_response, threat_json, JsonBytes};
use crate::error::ApiResult;
use crate::params::Query;
use crate::state::AppState;

fn top_json(values: Vec<TopValue>) -> Value {
    values
        .into_iter()
        .map(|v| {
            json!({"key": v.key, "label": v.label, "sessions": v.sessions,
                   "anomalies": v.anomalies, "hits": v.hits})
        })
        .collect()
}

fn overview_json(s: &mut dyn DashboardStore, top: usize) -> ApiResult<Value> {
    let history = s.cycle_summaries(48)?;
    let Some(latest) = history.last() else {
        return Ok(json!({ "cycle": null }));
    };
    let metrics: Value = serde_json::from_str(&latest.metrics).unwrap_or_default();
    let levels = metrics["levels"].clone();
    let level = |l: ThreatLevel| levels[l.as_str()].as_u64().unwrap_or(0);
    let mut timeline: BTreeMap<i64, BTreeMap<ThreatLevel, u64>> = BTreeMap::new();
    for (window, level, n) in s.level_timeline(latest.id)? {
        timeline
            .entry(window.millis())
            .or_default()
            .insert(level, n);
    }
    let campaigns = s.campaign_count(latest.id)?;
    let fleets = s.fleets(latest.id)?;
    Ok(json!({
        "cycle": {
            "id": latest.id,
            "started_at": latest.started_at.to_string(),
            "horizon_start": latest.horizon_start.to_string(),
            "horizon_end": latest.horizon_end.to_string(),
        },
        "kpis": {
            "sessions": latest.sessions,
            "scored": latest.scored,
            "anomalies": latest.anomalies,
            "anomaly_rate": latest.anomaly_rate,
            "critical": level(ThreatLevel::Critical),
            "high": level(ThreatLevel::High),
            "known_bots": level(ThreatLevel::KnownBot),
            "browsers": level(ThreatLevel::LegitimateBrowser),
            "campaigns": campaigns,
            "flagged_fleets": fleets.iter().filter(|f| f.flagged).count(),
        },
        "levels": levels,
        "timeline": timeline.into_iter().map(|(w, l)| json!({
            "window": shrike_types::Timestamp::from_millis(w).to_string(), "levels": l
        })).collect::<Vec<_>>(),
        "history": history.iter().map(|c| json!({
            "id": c.id, "started_at": c.started_at.to_string(), "sessions": c.sessions,
            "anomalies": c.anomalies, "anomaly_rate": c.anomaly_rate,
        })).collect::<Vec<_>>(),
        "top_asns": top_json(s.top_values(latest.id, TopBy::Asn, top)?),
        "top_countries": top_json(s.top_values(latest.id, TopBy::Country, top)?),
        "top_ja4s": top_json(s.top_values(latest.id, TopBy::Ja4, top)?),
        "top_hosts": top_json(s.top_values(latest.id, TopBy::Host, top)?),
    }))
}

/// The overview's entries per list when the request does not say.
const DEFAULT_TOP: usize = 10;
/// The tactics' rows when the request does not say.
const DEFAULT_TACTICS: usize = 25;

/// The overview, from the cache or built and cached.
async fn overview_bytes(state: &AppState, top: usize) -> ApiResult<Bytes> {
    state
        .cached(format!("overview:{top}"), move |s| overview_json(s, top))
        .await
}

/// The tactics, from the cache or built and cached.
async fn tactics_bytes(state: &AppState, limit: usize) -> ApiResult<Bytes> {
    state
        .cached(format!("tactics:{limit}"), move |s| tactics_json(s, limit))
        .await
}

/// Builds the dashboard's two slowest answers (the overview and the tactics, seconds on a
/// large cycle) into the cache, so that the first analyst after a cycle does not wait.
pub async fn warm(state: &AppState) -> ApiResult<()> {
    overview_bytes(state, DEFAULT_TOP).await?;
    tactics_bytes(state, DEFAULT_TACTICS).await?;
    Ok(())
}

/// `GET /api/overview?top=`.
pub async fn overview(State(state): State<AppState>, q: Query) -> ApiResult<JsonBytes> {
    let top = q.int("top", DEFAULT_TOP as i64, 1, 100)? as usize;
    Ok(json_response(overview_bytes(&state, top).await?))
}

/// Sessions whose `login_post_concentration` reaches this are brute-force candidates.
const BRUTE_FORCE_LOGIN_SHARE: f32 = 0.5;
/// Distinct JA4s of one address in one cycle that count as rotation.
const ROTATION_JA4S: usize = 3;

fn feature(t: &ThreatRow, id: FeatureId) -> f32 {
    t.features.get(id.index()).copied().unwrap_or(0.0)
}

fn tactics_json(s: &mut dyn DashboardStore, limit: usize) -> ApiResult<Value> {
    let Some((cycle, clock)) = s.latest_cycle()? else {
        return Ok(json!({ "cycle": null }));
    };
    let rows = s.cycle_threats(cycle, shrike_types::Timestamp::from_millis(i64::MIN))?;
    // Brute force: login POSTs dominate the session's requests.
    let mut brute: Vec<&ThreatRow> = rows
        .iter()
        .filter(|t| {
            feature(t, FeatureId::LoginPostConcentration) >= BRUTE_FORCE_LOGIN_SHARE
                && feature(t, FeatureId::PostRatio) > 0.0
        })
        .collect();
    brute.sort_by(|a, b| {
        b.hits
            .cmp(&a.hits)
            .then_with(|| by_address_text(&a.score.key, &b.score.key))
    });
    let brute_ips: HashSet<IpAddr> = brute.iter().map(|t| t.score.key.src_ip).collect();
    // JA4 rotation: one address, many TLS stacks within the horizon.
    let mut by_ip: HashMap<IpAddr, (HashSet<&str>, u64, Option<ThreatLevel>)> = HashMap::new();
    for t in &rows {
        let e = by_ip.entry(t.score.key.src_ip).or_default();
        if let Some(ja4) = &t.score.key.ja4 {
            e.0.insert(ja4.as_str());
        }
        e.1 += t.hits;
        let level = t.score.threat_level;
        if e.2.is_none_or(|l| level.severity() >= l.severity()) {
            e.2 = Some(level);
        }
    }
    let mut rotation: Vec<Value> = by_ip
        .iter()
        .filter(|(_, v)| v.0.len() >= ROTATION_JA4S)
        .map(|(ip, v)| {
            let mut ja4s: Vec<&str> = v.0.iter().copied().collect();
            ja4s.sort_unstable();
            json!({"src_ip": ip.to_string(), "ja4_count": v.0.len(), "hits": v.1, "level": v.2,
                   "ja4s": ja4s.into_iter().take(10).collect::<Vec<_>>()})
        })
        .collect();
    rotation.sort_by(|a, b| {
        b["ja4_count"]
            .as_u64()
            .cmp(&a["ja4_count"].as_u64())
            .then_with(|| a["src_ip"].as_str().cmp(&b["src_ip"].as_str()))
    });
    // Recurrence: flagged again after earlier cycles flagged the address.
    let mut recurring: Vec<&ThreatRow> = rows
        .iter()
        .filter(|t| t.score.is_anomaly && t.score.recurrence >= 2)
        .collect();
    recurring.sort_by(|a, b| {
        b.score
            .recurrence
            .cmp(&a.score.recurrence)
            .then_with(|| by_address_text(&a.score.key, &b.score.key))
    });
    // Live alerts: the most recent severe sessions, within the cycle's last hour.
    let mut alerts: Vec<&ThreatRow> = rows
        .iter()
        .filter(|t| t.score.threat_level.severity() >= 3)
        .collect();
    alerts.sort_by(|a, b| {
        b.last_seen
            .cmp(&a.last_seen)
            .then_with(|| by_address_text(&a.score.key, &b.score.key))
    });
    let last_hour = clock.millis() - shrike_types::HOUR_MS;
    let live = alerts
        .iter()
        .filter(|t| t.last_seen.millis() >= last_hour)
        .count();
    Ok(json!({
        "cycle": {"id": cycle, "started_at": clock.to_string()},
        "kpis": {
            "brute_force_ips": brute_ips.len(),
            "rotating_ips": rotation.len(),
            "recurring_sessions": recurring.len(),
            "live_alerts": live,
        },
        "brute_force": brute.iter().take(limit).map(|t| {
            let mut v = threat_json(t);
            v["login_post_concentration"] = json!(feature(t, FeatureId::LoginPostConcentration));
            v["post_ratio"] = json!(feature(t, FeatureId::PostRatio));
            v
        }).collect::<Vec<_>>(),
        "rotation": rotation.into_iter().take(limit).collect::<Vec<_>>(),
        "recurrence": recurring.iter().take(limit).map(|t| threat_json(t)).collect::<Vec<_>>(),
        "alerts": alerts.iter().take(limit).map(|t| threat_json(t)).collect::<Vec<_>>(),
    }))
}

/// `GET /api/tactics?limit=`.
pub async fn tactics(State(state): State<AppState>, q: Query) -> ApiResult<JsonBytes> {
    let limit = q.int("limit", DEFAULT_TACTICS as i64, 1, 200)? as usize;
    Ok(json_response(tactics_bytes(&state, limit).await?))
}

/// Ties between sessions broken by address as text, as the lists have always shown them.
fn by_address_text(a: &SessionKey, b: &SessionKey) -> std::cmp::Ordering {
    a.src_ip.to_string().cmp(&b.src_ip.to_string())
}
