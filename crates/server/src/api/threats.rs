//! `/api/threats` (filtered, paginated scores of the latest cycle) and
//! `/api/threats/session` (one session with its explanation and feedback).

use axum::extract::State;
use serde_json::{json, Value};
use shrike_features::FeatureId;
use shrike_store::{ThreatCursor, ThreatFilter};
use shrike_types::{ThreatLevel, Timestamp};

use super::{json_response, parse_json, threat_json, JsonBytes};
use crate::error::{ApiError, ApiResult};
use crate::params::Query;
use crate::state::AppState;

/// Largest page of threats.
pub const MAX_PAGE: i64 = 500;

fn filter(q: &Query) -> ApiResult<ThreatFilter> {
    let levels = match q.text("level")? {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(|l| {
                l.parse::<ThreatLevel>()
                    .map(|l| l.as_str().to_string())
                    .map_err(|e| ApiError::BadRequest(format!("parameter level: {e}")))
            })
            .collect::<ApiResult<_>>()?,
    };
    Ok(ThreatFilter {
        levels,
        min_score: q.float("min_score", 0.0, 0.0, 1.0)?,
        ip_prefix: q.text("ip")?,
        ja4: q.text("ja4")?,
        host: q.text("host")?,
        campaign: q.opt_int("campaign", 0, i64::MAX)?,
        fleet: q.opt_int("fleet", 0, i64::MAX)?,
        anomalies_only: q.boolean("anomalies")?,
        offset: q.int("offset", 0, 0, 10_000_000)? as usize,
        limit: q.int("limit", 50, 1, MAX_PAGE)? as usize,
        after: q
            .text("after")?
            .map(|c| {
                ThreatCursor::decode(&c)
                    .map_err(|e| ApiError::BadRequest(format!("parameter after: {e}")))
            })
            .transpose()?,
    })
}

/// The filter's identity for the response cache (`paging`: with its page too).
fn cache_key(f: &ThreatFilter, paging: bool) -> String {
    let mut key = format!(
        "threats:{:?}:{}:{:?}:{:?}:{:?}:{:?}:{:?}:{}",
        f.levels, f.min_score, f.ip_prefix, f.ja4, f.host, f.campaign, f.fleet, f.anomalies_only
    );
    if paging {
        key += &format!(
            ":{}:{}:{}",
            f.offset,
            f.limit,
            f.after
                .as_ref()
                .map(ThreatCursor::encode)
                .unwrap_or_default()
        );
    }
    key
}

/// `GET /api/threats?level=&min_score=&ip=&ja4=&host=&campaign=&fleet=&anomalies=&offset=&limit=&after=`.
///
/// `next` is the cursor of the page's last row when the page is full: passed as `after`,
/// it gives the following page as fast as the first (an `offset` is walked row by row).
/// The total and the pages are cached until the next cycle or label.
pub async fn list(State(state): State<AppState>, q: Query) -> ApiResult<JsonBytes> {
    let f = filter(&q)?;
    // The latest cycle and the filter's total, cached together: a request that hits the
    // cache touches no store.
    let counted = f.clone();
    let summary = state
        .cached(cache_key(&f, false), move |s| {
            Ok(match s.latest_cycle()? {
                Some((cycle, _)) => {
                    json!({"cycle": cycle, "total": s.threat_total(cycle, &counted)?})
                }
                None => json!({"cycle": null, "total": 0, "rows": []}),
            })
        })
        .await?;
    let parsed: Value =
        serde_json::from_slice(&summary).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (Some(cycle), Some(total)) = (parsed["cycle"].as_i64(), parsed["total"].as_u64()) else {
        return Ok(json_response(summary));
    };
    let page = state
        .cached(format!("{}:{cycle}", cache_key(&f, true)), move |s| {
            let rows = s.threat_page(cycle, &f)?;
            let next = (rows.len() == f.limit)
                .then(|| rows.last().map(|r| ThreatCursor::after(&r.score).encode()))
                .flatten();
            Ok(json!({
                "cycle": cycle,
                "total": total,
                "offset": f.offset,
                "limit": f.limit,
                "next": next,
                "rows": rows.iter().map(threat_json).collect::<Vec<_>>(),
            }))
        })
        .await?;
    Ok(json_response(page))
}

/// `GET /api/threats/session?window=&ip=&ja4=&host=`: the session's score, explanation
/// (top contributing features with their values and baselines), feature values and the
/// analyst labels of its address.
pub async fn session(State(state): State<AppState>, q: Query) -> ApiResult<JsonBytes> {
    let window = q.int("window", 0, i64::MIN, i64::MAX)?;
    let ip = q
        .text("ip")?
        .ok_or_else(|| ApiError::BadRequest("parameter ip is required".into()))?;
    let ja4 = q.text("ja4")?.unwrap_or_default();
    let host = q.text("host")?.unwrap_or_default();
    let key = format!("session:{window}:{ip:?}:{ja4:?}:{host:?}");
    let bytes = state
        .cached(key, move |s| {
            let Some((cycle, _)) = s.latest_cycle()? else {
                return Err(ApiError::NotFound("no detection cycle yet".into()));
            };
            let t = s
                .threat(cycle, Timestamp::from_millis(window), &ip, &ja4, &host)?
                .ok_or_else(|| ApiError::NotFound("no such session in the latest cycle".into()))?;
            let features: Vec<Value> = FeatureId::ALL
                .iter()
                .zip(&t.features)
                .map(|(id, v)| json!({"feature": id.name(), "value": v, "description": id.description()}))
                .collect();
            let feedback = s.feedback(Some(&ip), 0, 50)?;
            let mut v = threat_json(&t);
            v["cycle"] = json!(cycle);
            v["top_features"] = parse_json(&t.score.top_features);
            v["features"] = Value::Array(features);
            v["correlated"] = json!(t.correlated);
            v["tcp_fingerprint"] = json!(t.tcp_fingerprint);
            v["feedback"] = feedback.iter().map(super::actions::feedback_json).collect();
            Ok(v)
        })
        .await?;
    Ok(json_response(bytes))
}
