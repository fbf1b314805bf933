//! A cycle's outputs as the store's rows, written in one transaction.

use shrike_store::{CampaignRow, CycleRecord, CycleStore, FleetRow, ScoreRow};
use shrike_types::Timestamp;

use super::RunError;
use crate::prep::Session;
use crate::registry::Registry;
use crate::verdict::{CycleOutput, DecisionKind, Verdict};

/// A value as JSON text (the store keeps summaries as JSON).
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// A session's verdict as the store keeps it.
fn score_row(s: &Session, v: &Verdict) -> ScoreRow {
    ScoreRow {
        key: s.key().clone(),
        model: v.model,
        threat_level: v.level,
        raw_score: v.raw_score,
        anomaly_score: v.anomaly_score,
        is_anomaly: v.is_anomaly,
        recurrence: v.recurrence,
        browser_confidence: v.browser_confidence,
        browser_family: v.browser_family.clone(),
        reason: v.reason.clone(),
        top_features: json(&v.top),
        fleet_id: v.fleet.map_or(-1, i64::from),
        fleet_score: v.fleet_score,
        fleet_flag: v.fleet_flag,
        campaign_id: v.campaign.unwrap_or(-1),
        forest_score: v.forest_score,
        flow_score: v.flow_score,
        trees_prob: v.trees_prob,
    }
}

/// Writes a cycle's outputs (scores, decisions, metrics, new models, fleets, campaigns) in
/// one transaction; returns the cycle's id.
pub fn save(
    store: &mut dyn CycleStore,
    registry: &Registry,
    sessions: &[Session],
    out: &CycleOutput,
    (start, end): (Timestamp, Timestamp),
    now: Timestamp,
) -> Result<i64, RunError> {
    let scores = sessions
        .iter()
        .zip(&out.verdicts)
        .map(|(s, v)| score_row(s, v))
        .collect();
    let campaigns = out
        .campaigns
        .iter()
        .map(|c| CampaignRow {
            campaign_id: c.id,
            first_cycle: 0,
            last_cycle: 0,
            cycles: 0,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            updated_at: now,
            model: c.model,
            algorithm: c.algorithm.as_str().to_string(),
            sessions: c.sessions,
            ips: c.ips.len(),
            escalated: c.escalated,
            ja4s: json(&c.ja4s),
            asns: json(&c.asns),
            countries: json(&c.countries),
            hosts: json(&c.hosts),
            features: json(&c.features),
            levels: json(&c.levels),
            members: c.ips.clone(),
        })
        .collect();
    let fleets = out
        .fleets
        .iter()
        .map(|f| FleetRow {
            fleet_id: i64::from(f.id),
            sessions: f.sessions,
            ips: f.ips,
            prefixes: f.prefixes,
            asns: json(&f.asns),
            ja4s: json(&f.ja4s),
            mean_browser_confidence: f.mean_browser_confidence,
            score: f.score,
            flagged: f.flagged,
        })
        .collect();
    // The models trained this cycle, with their metadata.
    let models = out
        .decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::ModelTrained)
        .filter_map(|d| {
            let version = d.payload["version"].as_str()?.to_string();
            let set = d.model?;
            let meta = registry.load(set, &version).ok()?.meta;
            Some((set, version, now, json(&meta)))
        })
        .collect();
    let record = CycleRecord {
        started_at: now,
        horizon_start: start,
        horizon_end: end,
        sessions: out.metrics.sessions,
        scored: out.metrics.scored,
        anomalies: out.metrics.anomalies,
        anomaly_rate: out.metrics.anomaly_rate,
        metrics: {
            // The cycle's figures plus each feature set's per-feature drift (Health page).
            let mut m = serde_json::to_value(&out.metrics)?;
            m["drift_features"] = serde_json::to_value(&out.drift_reports)?;
            m.to_string()
        },
        scores,
        decisions: out
            .decisions
            .iter()
            .map(|d| (d.kind, d.model, d.payload.to_string()))
            .collect(),
        models,
        fleets,
        campaigns,
        sessions_scored: if store.records_sessions() {
            sessions.iter().map(|s| s.row.clone()).collect()
        } else {
            Vec::new()
        },
    };
    Ok(store.save_cycle(&record)?)
}
