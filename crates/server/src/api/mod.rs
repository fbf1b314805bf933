//! The JSON API. Every handler reads the store through [`AppState`] on a blocking thread;
//! the read-only summaries are cached until the store's generation changes.

pub mod actions;
pub mod bouncer;
pub mod enforce;
pub mod headline;
pub mod health;
pub mod overview;
pub mod threats;

use axum::body::Bytes;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use shrike_store::ThreatRow;

/// A JSON body already serialised (from the cache).
pub struct JsonBytes(Bytes);

impl JsonBytes {
    /// The JSON text.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl IntoResponse for JsonBytes {
    fn into_response(self) -> Response {
        ([(header::CONTENT_TYPE, "application/json")], self.0).into_response()
    }
}

/// Wraps cached bytes as a JSON response.
pub fn json_response(bytes: Bytes) -> JsonBytes {
    JsonBytes(bytes)
}

/// A stored JSON summary as a value (`null` when it does not parse).
pub fn parse_json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// A scored session as the API shows it.
pub fn threat_json(t: &ThreatRow) -> Value {
    let s = &t.score;
    json!({
        "window_start": s.key.window_start.to_string(),
        "window_start_ms": s.key.window_start.millis(),
        "src_ip": s.key.src_ip.to_string(),
        "ja4": s.key.ja4_str(),
        "host": s.key.host,
        "model": s.model.map_or("", |m| m.as_str()),
        "level": s.threat_level,
        "score": s.anomaly_score,
        "raw_score": s.raw_score,
        "forest_score": s.forest_score,
        "flow_score": s.flow_score,
        "trees_prob": s.trees_prob,
        "is_anomaly": s.is_anomaly,
        "recurrence": s.recurrence,
        "browser_family": s.browser_family,
        "browser_confidence": s.browser_confidence,
        "reason": s.reason,
        "headline": headline::headline(&s.reason),
        "campaign_id": (s.campaign_id >= 0).then_some(s.campaign_id),
        "fleet_id": (s.fleet_id >= 0).then_some(s.fleet_id),
        "fleet_flag": s.fleet_flag,
        "user_agent": t.user_agent,
        "asn": t.asn,
        "asn_org": t.asn_org,
        "country": t.country,
        "hits": t.hits,
        "first_seen": t.first_seen.to_string(),
        "last_seen": t.last_seen.to_string(),
        "bot_name": t.bot_name,
    })
}
