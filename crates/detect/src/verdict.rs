//! What a cycle produces: verdicts, threat levels, decisions and metrics.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::DetectConfig;
use crate::drift;
use shrike_types::FeatureSetName;

pub use shrike_types::{DecisionKind, ThreatLevel};

/// The level of a (penalised) raw score under the configured level thresholds.
pub fn level_of_raw(raw: f64, cfg: &DetectConfig) -> ThreatLevel {
    if raw <= cfg.level_critical {
        ThreatLevel::Critical
    } else if raw <= cfg.level_high {
        ThreatLevel::High
    } else if raw <= cfg.level_medium {
        ThreatLevel::Medium
    } else if raw < cfg.level_low {
        ThreatLevel::Low
    } else {
        ThreatLevel::Normal
    }
}

/// One audit-log entry.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// Kind.
    pub kind: DecisionKind,
    /// Feature set (`None` for cycle-wide entries).
    pub model: Option<FeatureSetName>,
    /// Details.
    pub payload: serde_json::Value,
}

/// A feature's part in an anomaly, according to one scorer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Contribution {
    /// Feature name.
    pub feature: String,
    /// The session's value.
    pub value: f64,
    /// Baseline median.
    pub typical: f64,
    /// The scorer's attribution. `forest`: isolation importance, signed positive when the
    /// value is above the baseline median; `trees`: TreeSHAP contribution to the bot
    /// log-odds; `flow`: the feature's share of −log p(x) (higher: less likely).
    pub contribution: f64,
    /// `forest`, `trees` or `flow`.
    pub scorer: &'static str,
}

/// The verdict on one session.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Model (feature set) that scored it.
    pub model: Option<FeatureSetName>,
    /// Level.
    pub level: ThreatLevel,
    /// Raw score after the recurrence penalty (negative = anomalous); 0 when unscored.
    pub raw_score: f64,
    /// The verdict's score in [0, 1], what threats are ranked and exports filtered by: the
    /// combined score `c` of the scorers (the meta-learner's probability, or the
    /// fixed-weight mix of the normalised scores) placed in the half of the verdict,
    /// `0.5 + c / 2` when the session is flagged (an anomaly, an impersonator, a flagged
    /// fleet's member, a policy DENY), `c / 2` when not. So every flagged session ranks
    /// above every unflagged one, and within each half the scorers' order stands.
    pub anomaly_score: f64,
    /// Isolation score min-max normalised over the cycle's sessions of the same model.
    pub forest_score: f64,
    /// Flow −log p(x) min-max normalised likewise, when the model has a flow.
    pub flow_score: Option<f64>,
    /// The boosted trees' bot probability, when trees scored the session.
    pub trees_prob: Option<f64>,
    /// Below the effective threshold.
    pub is_anomaly: bool,
    /// Times the IP was flagged in earlier cycles, plus one.
    pub recurrence: u32,
    /// Browser confidence.
    pub browser_confidence: f64,
    /// Browser family (dictionary or inferred).
    pub browser_family: String,
    /// Readable reason.
    pub reason: String,
    /// Top contributing features (anomalies).
    pub top: Vec<Contribution>,
    /// Fleet of the cycle the session belongs to (index into [`CycleOutput::fleets`]).
    pub fleet: Option<u32>,
    /// Its fleet's score (0 outside any fleet).
    pub fleet_score: f64,
    /// Its fleet is flagged (`fleet_campaign_flag`).
    pub fleet_flag: bool,
    /// Campaign id (stable across cycles), for anomalies clustered into one.
    pub campaign: Option<i64>,
    /// What the session's layers say of each other, strongest first.
    pub findings: Vec<crate::findings::Finding>,
}

/// Figures of a cycle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleMetrics {
    /// Sessions in the horizon.
    pub sessions: usize,
    /// Sessions scored by a model.
    pub scored: usize,
    /// Anomalies.
    pub anomalies: usize,
    /// anomalies / scored.
    pub anomaly_rate: f64,
    /// Sessions per level.
    pub levels: BTreeMap<String, usize>,
    /// Model version used per feature set.
    pub models: BTreeMap<String, String>,
    /// Effective threshold per feature set.
    pub thresholds: BTreeMap<String, f64>,
    /// Drift score per feature set (when a model was reused or checked).
    pub drift: BTreeMap<String, f64>,
    /// Milliseconds per stage.
    pub stage_ms: Vec<(String, u64)>,
    /// How the scorers were combined, per feature set.
    pub ensemble: BTreeMap<String, Ensemble>,
}

/// How a feature set's scorers were combined in a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ensemble {
    /// `meta` (logistic regression) or `fixed` (the seed's weights).
    pub mode: &'static str,
    /// Weight of the normalised forest score.
    pub forest: f64,
    /// Weight of the normalised flow score.
    pub flow: f64,
    /// Weight of the trees' probability.
    pub trees: f64,
    /// The meta-learner's intercept (0 for fixed weights).
    pub bias: f64,
    /// Labelled sessions behind the trees (and the meta-learner), 0 without trees.
    pub labels: usize,
    /// Flow present this cycle.
    pub with_flow: bool,
    /// Trees version, when trees scored.
    pub trees_version: Option<String>,
}

/// Everything a cycle produced.
#[derive(Debug, Clone, Default)]
pub struct CycleOutput {
    /// One verdict per input session, same order.
    pub verdicts: Vec<Verdict>,
    /// Audit log.
    pub decisions: Vec<Decision>,
    /// Figures.
    pub metrics: CycleMetrics,
    /// Drift per feature set.
    pub drift_reports: BTreeMap<String, drift::DriftReport>,
    /// Fleets found in the cycle, flagged first.
    pub fleets: Vec<crate::fleet::Fleet>,
    /// The cycle's largest stack cohorts (JA4, and JA4 with an HTTP/2 fingerprint), the
    /// largest first: at most [`crate::cycle::COHORTS_KEPT`].
    pub cohorts: Vec<crate::cohort::Cohort>,
    /// Campaigns found in the cycle.
    pub campaigns: Vec<crate::campaign::Campaign>,
}
