//! `/api/health` (model versions, validation, drift per feature, anomaly rate and stage
//! latency per cycle), `/api/decisions` (the audit log), `/api/fleets` and
//! `/api/campaigns`.

use axum::extract::{Path, State};
use serde_json::{json, Value};
use shrike_store::DashboardStore;
use shrike_types::DecisionKind;

use super::{json_response, parse_json, JsonBytes};
use crate::error::{ApiError, ApiResult};
use crate::params::Query;
use crate::state::AppState;

fn health_json(s: &mut dyn DashboardStore, cycles: usize) -> ApiResult<Value> {
    let history = s.cycle_summaries(cycles)?;
    let models: Vec<Value> = s
        .models()?
        .into_iter()
        .map(|m| {
            json!({"model": m.model, "version": m.version, "cycle_id": m.cycle_id,
                   "trained_at": m.trained_at.to_string(), "meta": parse_json(&m.meta)})
        })
        .collect();
    let latest = history.last().map(|c| parse_json(&c.metrics));
    let cycles: Vec<Value> = history
        .iter()
        .map(|c| {
            let m = parse_json(&c.metrics);
            json!({
                "id": c.id, "started_at": c.started_at.to_string(), "sessions": c.sessions,
                "scored": c.scored, "anomalies": c.anomalies, "anomaly_rate": c.anomaly_rate,
                "stage_ms": m["stage_ms"], "drift": m["drift"], "models": m["models"],
                "thresholds": m["thresholds"],
            })
        })
        .collect();
    Ok(json!({
        "models": models,
        "cycles": cycles,
        "current_models": latest.as_ref().map_or(Value::Null, |m| m["models"].clone()),
        "drift_features": latest.as_ref().map_or(Value::Null, |m| m["drift_features"].clone()),
        "ensemble": latest.as_ref().map_or(Value::Null, |m| m["ensemble"].clone()),
    }))
}

/// `GET /api/health?cycles=`.
pub async fn health(State(state): State<AppState>, q: Query) -> ApiResult<JsonBytes> {
    let cycles = q.int("cycles", 48, 1, 1000)? as usize;
    let bytes = state
        .cached(format!("health:{cycles}"), move |s| health_json(s, cycles))
        .await?;
    Ok(json_response(bytes))
}

/// `GET /api/service`: what `shrike run` reports about itself (`{"running": false}` under
/// `shrike serve`). Never cached: it changes between cycles.
pub async fn service(State(state): State<AppState>) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(match &state.settings().service {
        None => json!({"running": false}),
        Some(h) => {
            let status = h.read().unwrap_or_else(|p| p.into_inner()).clone();
            let mut v =
                serde_json::to_value(status).map_err(|e| ApiError::Internal(e.to_string()))?;
            v["running"] = Value::Bool(true);
            v["now_ms"] = json!(state.clock().now().millis());
            v
        }
    }))
}

/// `GET /api/decisions?kind=&offset=&limit=`.
pub async fn decisions(State(state): State<AppState>, q: Query) -> ApiResult<JsonBytes> {
    let kind = q
        .text("kind")?
        .map(|k| k.parse::<DecisionKind>())
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("kind: {e}")))?;
    let offset = q.int("offset", 0, 0, 10_000_000)? as usize;
    let limit = q.int("limit", 50, 1, 500)? as usize;
    let key = format!(
        "decisions:{}:{offset}:{limit}",
        kind.map_or("", |k| k.as_str())
    );
    let bytes = state
        .cached(key, move |s| {
            let (total, rows) = s.decisions(kind, offset, limit)?;
            Ok(json!({
                "total": total, "offset": offset, "limit": limit,
                "rows": rows.iter().map(|d| json!({
                    "id": d.id, "cycle_id": d.cycle_id, "at": d.at.to_string(), "kind": d.kind,
                    "model": d.model.map_or("", |m| m.as_str()), "payload": parse_json(&d.payload),
                })).collect::<Vec<_>>(),
            }))
        })
        .await?;
    Ok(json_response(bytes))
}

fn fleets_json(s: &mut dyn DashboardStore) -> ApiResult<Value> {
    let Some((cycle, clock)) = s.latest_cycle()? else {
        return Ok(json!({"cycle": null, "fleets": []}));
    };
    let fleets: Vec<Value> = s
        .fleets(cycle)?
        .into_iter()
        .map(|f| {
            json!({"fleet_id": f.fleet_id, "sessions": f.sessions, "ips": f.ips,
                   "prefixes": f.prefixes, "asns": parse_json(&f.asns), "ja4s": parse_json(&f.ja4s),
                   "mean_browser_confidence": f.mean_browser_confidence, "score": f.score,
                   "flagged": f.flagged})
        })
        .collect();
    Ok(json!({"cycle": {"id": cycle, "started_at": clock.to_string()}, "fleets": fleets}))
}

/// `GET /api/fleets`: the latest cycle's fleets, flagged first.
pub async fn fleets(State(state): State<AppState>) -> ApiResult<JsonBytes> {
    let bytes = state.cached("fleets".into(), fleets_json).await?;
    Ok(json_response(bytes))
}

fn campaign_json(c: &shrike_store::CampaignRow) -> Value {
    json!({
        "campaign_id": c.campaign_id, "first_cycle": c.first_cycle, "last_cycle": c.last_cycle,
        "cycles": c.cycles, "first_seen": c.first_seen.to_string(),
        "last_seen": c.last_seen.to_string(), "model": c.model, "algorithm": c.algorithm,
        "sessions": c.sessions, "ips": c.ips, "escalated": c.escalated,
        "ja4s": parse_json(&c.ja4s), "asns": parse_json(&c.asns),
        "countries": parse_json(&c.countries), "hosts": parse_json(&c.hosts),
        "features": parse_json(&c.features), "levels": parse_json(&c.levels),
    })
}

/// `GET /api/campaigns?limit=`: campaigns, most recently seen first.
pub async fn campaigns(State(state): State<AppState>, q: Query) -> ApiResult<JsonBytes> {
    let limit = q.int("limit", 100, 1, 1000)? as usize;
    let bytes = state
        .cached(format!("campaigns:{limit}"), move |s| {
            let rows = s.campaigns(None, limit)?;
            Ok(json!({"campaigns": rows.iter().map(campaign_json).collect::<Vec<_>>()}))
        })
        .await?;
    Ok(json_response(bytes))
}

/// `GET /api/campaigns/{id}?offset=&limit=`: one campaign and a page of its addresses.
pub async fn campaign(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    q: Query,
) -> ApiResult<JsonBytes> {
    let offset = q.int("offset", 0, 0, 10_000_000)? as usize;
    let limit = q.int("limit", 200, 1, 1000)? as usize;
    let bytes = state
        .cached(format!("campaign:{id}:{offset}:{limit}"), move |s| {
            let c = s
                .campaigns(Some(id), 1)?
                .pop()
                .ok_or_else(|| ApiError::NotFound(format!("no campaign {id}")))?;
            let members = s.campaign_members(id)?;
            let mut v = campaign_json(&c);
            v["members_total"] = json!(members.len());
            v["members"] = members
                .iter()
                .skip(offset)
                .take(limit)
                .map(|(ip, seen)| json!({"src_ip": ip, "last_seen": seen.to_string()}))
                .collect();
            Ok(v)
        })
        .await?;
    Ok(json_response(bytes))
}
