//! Sessions and their features read from `view_ai_features_1h`, as the Rust sessionizer's
//! [`SessionFeatures`].

use std::net::IpAddr;

use serde_json::Value;
use shrike_dict::AsnLabel;
use shrike_features::{FeatureId, SessionFeatures, SessionKey};
use shrike_types::Timestamp;

use crate::{ChError, Client};

/// Every session whose window starts in `[from, to]` (milliseconds), sorted by key.
pub fn read_features(
    client: &Client,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<SessionFeatures>, ChError> {
    let db = &client.url().database;
    let sql = format!(
        "SELECT *, toUnixTimestamp64Milli(toDateTime64(window_start, 3)) AS window_ms, \
         toUnixTimestamp64Milli(first_seen) AS first_ms, toUnixTimestamp64Milli(last_seen) AS last_ms, \
         toString(src_ip) AS ip \
         FROM {db}.view_ai_features_1h(from = {{from:DateTime64(3, 'UTC')}}, to = {{to:DateTime64(3, 'UTC')}}) \
         ORDER BY window_start, src_ip, ja4, host \
         SETTINGS output_format_json_quote_64bit_integers = 0, output_format_json_quote_denormals = 0 \
         FORMAT JSONEachRow"
    );
    // `2024-05-01 12:00:00.000`, UTC (the parameters' declared time zone).
    let iso = crate::store::ch_time;
    let body = client.query(&sql, &[("from", iso(from)), ("to", iso(to))])?;
    let mut out = Vec::new();
    for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let row: Value =
            serde_json::from_slice(line).map_err(|e| ChError::Decode(e.to_string()))?;
        out.push(session(&row)?);
    }
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

fn session(row: &Value) -> Result<SessionFeatures, ChError> {
    let bad = |what: &str| ChError::Decode(format!("view row without a valid {what}: {row}"));
    let text = |k: &str| row.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let int = |k: &str| row.get(k).and_then(Value::as_i64).ok_or_else(|| bad(k));
    let ip: IpAddr = row
        .get("ip")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("src_ip"))?;
    let mut values = [0f32; FeatureId::COUNT];
    for f in FeatureId::ALL {
        // A NULL or absent feature is a defect of the view, not a value: say which.
        let v = row
            .get(f.name())
            .and_then(Value::as_f64)
            .ok_or_else(|| bad(f.name()))?;
        values[f.index()] = if v.is_finite() { v as f32 } else { 0.0 };
    }
    Ok(SessionFeatures {
        key: SessionKey {
            window_start: Timestamp::from_millis(int("window_ms")?),
            src_ip: ip.to_canonical(),
            ja4: SessionKey::ja4_from_stored(text("ja4")).map_err(|e| bad(&e.to_string()))?,
            host: text("host"),
        },
        first_seen: Timestamp::from_millis(int("first_ms")?),
        last_seen: Timestamp::from_millis(int("last_ms")?),
        asn: u32::try_from(int("asn")?).map_err(|_| bad("asn"))?,
        asn_org: text("asn_org"),
        country: text("country"),
        asn_label: AsnLabel::parse(&text("asn_label")).unwrap_or_default(),
        bot_name: text("bot_name"),
        browser_family: text("browser_family"),
        correlated: row
            .get("correlated")
            .and_then(Value::as_bool)
            .or_else(|| {
                row.get("correlated")
                    .and_then(Value::as_i64)
                    .map(|v| v != 0)
            })
            .unwrap_or(false),
        user_agent: text("user_agent"),
        tcp_fingerprint: text("tcp_fingerprint"),
        header_order_hash: text("header_order_hash"),
        h2_fingerprint: text("h2_fingerprint"),
        values,
    })
}
