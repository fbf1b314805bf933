//! The detection knobs, with their defaults and their checks. Each field is also a
//! `[detect]` key of the TOML file and a `SHRIKE_<NAME>` variable (the seed's names in
//! capitals: `SHRIKE_ANOMALY_THRESHOLD`...): [`DetectConfig::with_overrides`] derives the
//! overrides from the struct's own fields.

use serde::{Deserialize, Serialize};

/// Detection settings. Scores are on the seed's raw scale: `0.5 - isolation score`,
/// negative = anomalous.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// Expected share of anomalies, recorded with each model (the isolation forest itself
    /// needs none).
    pub contamination: f64,
    /// Static threshold on the raw score: a session is an anomaly only below it.
    pub anomaly_threshold: f64,
    /// Percentile of the cycle's raw scores (0–100) under which sessions are anomalies; the
    /// effective threshold is the lower of it and `anomaly_threshold`.
    pub anomaly_percentile: f64,
    /// Raw-score penalty per `ln(1 + times flagged before)`.
    pub recurrence_weight: f64,
    /// Browser confidence from which a NORMAL/LOW session is a LEGITIMATE_BROWSER.
    pub browser_confidence_threshold: f64,
    /// Share of a JA4's sessions classified as browsers above which the whole JA4 cohort
    /// (its NORMAL/LOW sessions) is.
    pub browser_cohort_ratio: f64,
    /// Lowest navigation axis (assets, referers, cookies, Accept-Language, real navigation;
    /// 0–1) of a LEGITIMATE_BROWSER session, directly or through its JA4 cohort: identity
    /// alone does not make a person.
    pub legit_navigation_min: f64,
    /// Minimum share of sessions where a feature is known for it to be used.
    pub min_valid_feature_ratio: f64,
    /// Hours a model is reused before retraining.
    pub retrain_interval_h: f64,
    /// Share of drifting features that forces a retrain.
    pub drift_threshold: f64,
    /// KS statistic above which one feature counts as drifting.
    pub drift_ks_threshold: f64,
    /// Model versions kept per feature set.
    pub model_history_count: usize,
    /// Minimum fingerprint_coherence_score of a human-baseline session.
    pub fingerprint_coherence_threshold: f64,
    /// A new model is rejected when more than this share of its validation sessions score
    /// as anomalies.
    pub val_anomaly_gate: f64,
    /// Features whose baseline variance is below this are pruned at training.
    pub prune_variance_threshold: f64,
    /// Minimum human-baseline sessions to run a feature set's cycle.
    pub min_baseline_sessions: usize,
    /// When fewer than `min_baseline_sessions` sessions come from ISP networks (no ASN
    /// reputation file, or one that does not cover the traffic), build the human baseline
    /// from browser identity instead: confidently identified browsers with coherent
    /// fingerprints, outside hosting and VPN networks, with no policy DENY.
    pub identity_baseline: bool,
    /// Share of those sessions a first isolation-forest pass removes as the most anomalous
    /// before the baseline is used (0 keeps them all).
    pub identity_baseline_trim: f64,
    /// Raw-score cut-offs of the threat levels (a session at or below one gets that level).
    pub level_critical: f64,
    /// See `level_critical`.
    pub level_high: f64,
    /// See `level_critical`.
    pub level_medium: f64,
    /// Below this (and above `level_medium`): LOW; at or above: NORMAL.
    pub level_low: f64,
    /// Trees of the isolation forest.
    pub trees: usize,
    /// Features per hyperplane.
    pub ndim: usize,
    /// Rows per tree.
    pub sample_size: usize,
    /// Seed of every random process of the cycle.
    pub seed: u64,
    /// Addresses a fleet must span to be flagged; 0 turns fleet detection off.
    pub fleet_min_ips: usize,
    /// Fleet score from which a fleet is flagged (0–1).
    pub fleet_threshold: f64,
    /// Sessions at or above this browser confidence are browsers, not fleet members.
    pub fleet_confidence_max: f64,
    /// Prefixes at which a fleet's breadth is full.
    pub fleet_prefix_saturation: usize,
    /// Louvain resolution of the JA4 × ASN × prefix graph.
    pub fleet_resolution: f64,
    /// Highest mean navigation axis (assets, referers, cookies, Accept-Language, real
    /// navigation; 0–1) of a flagged fleet: above it, the sessions browse like people.
    pub fleet_navigation_max: f64,
    /// Campaign clustering of the anomalies: `dbscan`, `hdbscan` or `off`.
    pub campaign_algorithm: CampaignAlgorithm,
    /// Campaign radius, as the root-mean-square difference per standardised feature
    /// (the Euclidean radius is this times √features, so it keeps its meaning whatever
    /// the model's feature count). DBSCAN's `eps`; HDBSCAN's `cluster_selection_epsilon`.
    pub campaign_eps: f64,
    /// Anomalies within the radius, the session itself included, for a DBSCAN core
    /// session; HDBSCAN's `min_samples` and `min_cluster_size`.
    pub campaign_min_samples: usize,
    /// Campaigns of at least this many sessions escalate their HIGH members to CRITICAL.
    pub campaign_escalation_size: usize,
    /// A campaign keeps its id across cycles when it shares an address with a campaign
    /// seen within this many hours.
    pub campaign_memory_hours: f64,
    /// Space campaigns are clustered in: `features` (standardised model features) or
    /// `flow` (the normalizing flow's latent vectors, when the set has a flow).
    pub campaign_space: CampaignSpace,
    /// Weight of the normalizing flow in the fixed combination (the seed's `AE_WEIGHT`);
    /// 0 turns the flow off.
    pub flow_weight: f64,
    /// Training epochs of the flow.
    pub flow_epochs: usize,
    /// Rows the flow trains on at most (evenly spaced over the training rows; scoring
    /// covers every row).
    pub flow_train_rows: usize,
    /// Weight of the boosted trees in the fixed combination (the seed's `XGB_WEIGHT`); 0
    /// turns the supervised voice off.
    pub trees_weight: f64,
    /// The flow and the trees vote in a cycle only while their ROC-AUC on its evidence
    /// labels (bots by strong findings or policy DENY, people by identity and navigation)
    /// is above this; 0 lets them always vote.
    pub scorer_min_auc: f64,
    /// Labelled sessions needed to train the trees (the seed's `XGB_MIN_LABELS`).
    pub trees_min_labels: usize,
    /// Labelled sessions used at most (a seeded sample beyond).
    pub trees_max_labels: usize,
    /// Hours the trees are reused before retraining (the seed's `XGB_RETRAIN_INTERVAL_H`).
    pub trees_retrain_interval_h: f64,
    /// Days of scored history the labels are taken from.
    pub label_history_days: f64,
    /// Folds of the out-of-fold probabilities for confident learning; 0 keeps every label.
    pub label_issue_folds: usize,
    /// Labels from which the logistic-regression meta-learner replaces the fixed weights.
    pub meta_min_labels: usize,
    /// With the meta-learner (calibrated on trusted evidence labels), a session it gives at
    /// least this bot probability is an anomaly even outside the percentile budget
    /// (`anomaly_percentile`): a campaign larger than the budget is still flagged whole.
    pub meta_alert_probability: f64,
}

/// Where campaigns are clustered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignSpace {
    /// Standardised model features.
    Features,
    /// The flow's latent space.
    Flow,
}

impl CampaignSpace {
    /// Configured name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignSpace::Features => "features",
            CampaignSpace::Flow => "flow",
        }
    }
}

/// Campaign clustering algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CampaignAlgorithm {
    /// DBSCAN (the seed's choice).
    Dbscan,
    /// HDBSCAN with excess-of-mass selection.
    Hdbscan,
    /// No campaign clustering.
    Off,
}

impl CampaignAlgorithm {
    /// Configured name.
    pub const fn as_str(self) -> &'static str {
        match self {
            CampaignAlgorithm::Dbscan => "dbscan",
            CampaignAlgorithm::Hdbscan => "hdbscan",
            CampaignAlgorithm::Off => "off",
        }
    }
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            contamination: 0.05,
            anomaly_threshold: -0.05,
            anomaly_percentile: 25.0,
            recurrence_weight: 0.02,
            browser_confidence_threshold: 0.7,
            browser_cohort_ratio: 0.8,
            legit_navigation_min: 0.7,
            min_valid_feature_ratio: 0.5,
            retrain_interval_h: 24.0,
            drift_threshold: 0.3,
            drift_ks_threshold: 0.2,
            model_history_count: 5,
            fingerprint_coherence_threshold: 0.25,
            val_anomaly_gate: 0.20,
            prune_variance_threshold: 1e-6,
            min_baseline_sessions: 500,
            identity_baseline: true,
            identity_baseline_trim: 0.1,
            level_critical: -0.20,
            level_high: -0.12,
            level_medium: -0.06,
            level_low: 0.0,
            trees: 300,
            ndim: 3,
            sample_size: 256,
            seed: 42,
            fleet_min_ips: 10,
            fleet_threshold: 0.4,
            fleet_confidence_max: 0.6,
            fleet_prefix_saturation: 50,
            fleet_resolution: 1.0,
            fleet_navigation_max: 0.7,
            campaign_algorithm: CampaignAlgorithm::Dbscan,
            campaign_eps: 0.5,
            campaign_min_samples: 5,
            campaign_escalation_size: 5,
            campaign_memory_hours: 24.0,
            campaign_space: CampaignSpace::Features,
            flow_weight: 0.3,
            flow_epochs: 30,
            flow_train_rows: 32_768,
            trees_weight: 0.3,
            scorer_min_auc: 0.5,
            trees_min_labels: 200,
            trees_max_labels: 50_000,
            trees_retrain_interval_h: 6.0,
            label_history_days: 7.0,
            label_issue_folds: 3,
            meta_min_labels: 1000,
            meta_alert_probability: 0.9,
        }
    }
}

/// A `SHRIKE_<NAME>` override that does not fit its setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("environment variable {var}={value:?} is invalid (allowed: {allowed})")]
pub struct OverrideError {
    /// The variable.
    pub var: String,
    /// Its value.
    pub value: String,
    /// What the setting takes.
    pub allowed: String,
}

/// A setting outside its allowed values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("detect.{key} = {value}: allowed {allowed}")]
pub struct ConfigError {
    /// The key.
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// What is allowed.
    pub allowed: &'static str,
}

impl DetectConfig {
    /// Every setting's name, read from the struct itself (its serialised fields): the
    /// `[detect]` keys, and `SHRIKE_<NAME>` in capitals for the overrides.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(DetectConfig::default()) {
            Ok(serde_json::Value::Object(fields)) => fields.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// These settings with the overrides `lookup` gives: for every setting `name`,
    /// `lookup("SHRIKE_<NAME>")` (the binary passes the environment). Which settings exist
    /// and what type each takes come from the struct, so a new field has its override
    /// without a list to keep. The result is not validated ([`DetectConfig::validate`]).
    pub fn with_overrides(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<DetectConfig, OverrideError> {
        use serde_json::Value;
        let Ok(Value::Object(mut fields)) = serde_json::to_value(self) else {
            unreachable!("DetectConfig serialises as a map of finite values");
        };
        let mut changed = false;
        for (key, value) in fields.iter_mut() {
            let var = format!("SHRIKE_{}", key.to_ascii_uppercase());
            let Some(text) = lookup(&var) else {
                continue;
            };
            changed = true;
            let text = text.trim().to_string();
            let bad = |allowed: String| OverrideError {
                var: var.clone(),
                value: text.clone(),
                allowed,
            };
            *value = match value {
                Value::String(_) => {
                    let allowed = Self::choices(key).unwrap_or(&[]);
                    if !allowed.contains(&text.as_str()) {
                        return Err(bad(allowed.join(", ")));
                    }
                    Value::from(text.as_str())
                }
                Value::Number(n) => {
                    let x: f64 = text.parse().map_err(|_| bad("a number".into()))?;
                    if n.is_u64() {
                        if !(x >= 0.0 && x.fract() == 0.0 && x < u64::MAX as f64) {
                            return Err(bad("a whole number".into()));
                        }
                        Value::from(x as u64)
                    } else {
                        Value::from(x)
                    }
                }
                Value::Bool(_) => Value::from(
                    text.parse::<bool>()
                        .map_err(|_| bad("true, false".into()))?,
                ),
                _ => {
                    return Err(bad(
                        "no value: this setting takes none from the environment".into(),
                    ))
                }
            };
        }
        if !changed {
            // Values the environment cannot spell (a NaN from TOML) stay for validate().
            return Ok(self.clone());
        }
        serde_json::from_value(Value::Object(fields)).map_err(|e| OverrideError {
            var: "SHRIKE_*".into(),
            value: String::new(),
            allowed: e.to_string(),
        })
    }

    /// The allowed values of a key that takes a name, for the environment and messages.
    pub fn choices(key: &str) -> Option<&'static [&'static str]> {
        match key {
            "campaign_algorithm" => Some(&["dbscan", "hdbscan", "off"]),
            "campaign_space" => Some(&["features", "flow"]),
            _ => None,
        }
    }

    /// Checks every setting; the first bad one is named with what is allowed.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn check(
            ok: bool,
            key: &'static str,
            value: impl ToString,
            allowed: &'static str,
        ) -> Result<(), ConfigError> {
            if ok {
                Ok(())
            } else {
                Err(ConfigError {
                    key,
                    value: value.to_string(),
                    allowed,
                })
            }
        }
        let unit = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
        let raw = |x: f64| x.is_finite() && (-0.5..=0.5).contains(&x);
        check(
            unit(self.contamination),
            "contamination",
            self.contamination,
            "0..1",
        )?;
        check(
            raw(self.anomaly_threshold),
            "anomaly_threshold",
            self.anomaly_threshold,
            "-0.5..0.5 (raw score)",
        )?;
        check(
            self.anomaly_percentile.is_finite() && (0.0..=100.0).contains(&self.anomaly_percentile),
            "anomaly_percentile",
            self.anomaly_percentile,
            "0..100",
        )?;
        check(
            self.recurrence_weight.is_finite() && self.recurrence_weight >= 0.0,
            "recurrence_weight",
            self.recurrence_weight,
            "a number >= 0",
        )?;
        check(
            unit(self.browser_confidence_threshold),
            "browser_confidence_threshold",
            self.browser_confidence_threshold,
            "0..1",
        )?;
        check(
            unit(self.browser_cohort_ratio),
            "browser_cohort_ratio",
            self.browser_cohort_ratio,
            "0..1",
        )?;
        check(
            unit(self.min_valid_feature_ratio),
            "min_valid_feature_ratio",
            self.min_valid_feature_ratio,
            "0..1",
        )?;
        check(
            self.retrain_interval_h.is_finite() && self.retrain_interval_h >= 0.0,
            "retrain_interval_h",
            self.retrain_interval_h,
            "hours >= 0",
        )?;
        check(
            unit(self.drift_threshold),
            "drift_threshold",
            self.drift_threshold,
            "0..1",
        )?;
        check(
            unit(self.drift_ks_threshold),
            "drift_ks_threshold",
            self.drift_ks_threshold,
            "0..1",
        )?;
        check(
            self.model_history_count >= 1,
            "model_history_count",
            self.model_history_count,
            ">= 1",
        )?;
        check(
            unit(self.scorer_min_auc),
            "scorer_min_auc",
            self.scorer_min_auc,
            "0..1",
        )?;
        check(
            unit(self.legit_navigation_min),
            "legit_navigation_min",
            self.legit_navigation_min,
            "0..1",
        )?;
        check(
            unit(self.fleet_navigation_max),
            "fleet_navigation_max",
            self.fleet_navigation_max,
            "0..1",
        )?;
        check(
            self.identity_baseline_trim.is_finite()
                && (0.0..=0.5).contains(&self.identity_baseline_trim),
            "identity_baseline_trim",
            self.identity_baseline_trim,
            "0..0.5",
        )?;
        check(
            unit(self.fingerprint_coherence_threshold),
            "fingerprint_coherence_threshold",
            self.fingerprint_coherence_threshold,
            "0..1",
        )?;
        check(
            unit(self.val_anomaly_gate),
            "val_anomaly_gate",
            self.val_anomaly_gate,
            "0..1",
        )?;
        check(
            self.prune_variance_threshold.is_finite() && self.prune_variance_threshold >= 0.0,
            "prune_variance_threshold",
            self.prune_variance_threshold,
            "a number >= 0",
        )?;
        check(
            self.min_baseline_sessions >= 2,
            "min_baseline_sessions",
            self.min_baseline_sessions,
            ">= 2",
        )?;
        let levels = [
            self.level_critical,
            self.level_high,
            self.level_medium,
            self.level_low,
        ];
        check(
            levels.iter().all(|l| raw(*l)) && levels.windows(2).all(|w| w[0] < w[1]),
            "level_critical",
            format!("{levels:?}"),
            "level_critical < level_high < level_medium < level_low, each in -0.5..0.5",
        )?;
        check(
            (1..=10_000).contains(&self.trees),
            "trees",
            self.trees,
            "1..10000",
        )?;
        check((1..=64).contains(&self.ndim), "ndim", self.ndim, "1..64")?;
        check(
            self.sample_size >= 2,
            "sample_size",
            self.sample_size,
            ">= 2",
        )?;
        check(
            unit(self.fleet_threshold),
            "fleet_threshold",
            self.fleet_threshold,
            "0..1",
        )?;
        check(
            unit(self.fleet_confidence_max),
            "fleet_confidence_max",
            self.fleet_confidence_max,
            "0..1",
        )?;
        check(
            self.fleet_prefix_saturation >= 1,
            "fleet_prefix_saturation",
            self.fleet_prefix_saturation,
            ">= 1",
        )?;
        check(
            self.fleet_resolution.is_finite() && self.fleet_resolution > 0.0,
            "fleet_resolution",
            self.fleet_resolution,
            "a number > 0",
        )?;
        check(
            self.campaign_eps.is_finite() && self.campaign_eps > 0.0,
            "campaign_eps",
            self.campaign_eps,
            "a number > 0",
        )?;
        check(
            self.campaign_min_samples >= 2,
            "campaign_min_samples",
            self.campaign_min_samples,
            ">= 2",
        )?;
        check(
            self.campaign_escalation_size >= 1,
            "campaign_escalation_size",
            self.campaign_escalation_size,
            ">= 1",
        )?;
        check(
            self.campaign_memory_hours.is_finite() && self.campaign_memory_hours >= 0.0,
            "campaign_memory_hours",
            self.campaign_memory_hours,
            "hours >= 0",
        )?;
        check(
            unit(self.flow_weight),
            "flow_weight",
            self.flow_weight,
            "0..1",
        )?;
        check(
            (1..=1000).contains(&self.flow_epochs),
            "flow_epochs",
            self.flow_epochs,
            "1..1000",
        )?;
        check(
            (1000..=100_000_000).contains(&self.flow_train_rows),
            "flow_train_rows",
            self.flow_train_rows,
            "1000..100000000",
        )?;
        check(
            unit(self.trees_weight),
            "trees_weight",
            self.trees_weight,
            "0..1",
        )?;
        check(
            self.trees_min_labels >= 20,
            "trees_min_labels",
            self.trees_min_labels,
            ">= 20",
        )?;
        check(
            self.trees_max_labels >= self.trees_min_labels,
            "trees_max_labels",
            self.trees_max_labels,
            ">= trees_min_labels",
        )?;
        check(
            self.trees_retrain_interval_h.is_finite() && self.trees_retrain_interval_h >= 0.0,
            "trees_retrain_interval_h",
            self.trees_retrain_interval_h,
            "hours >= 0",
        )?;
        check(
            self.label_history_days.is_finite() && self.label_history_days > 0.0,
            "label_history_days",
            self.label_history_days,
            "days > 0",
        )?;
        check(
            self.label_issue_folds == 0 || (2..=20).contains(&self.label_issue_folds),
            "label_issue_folds",
            self.label_issue_folds,
            "0 (off) or 2..20",
        )?;
        check(
            self.meta_min_labels >= 10,
            "meta_min_labels",
            self.meta_min_labels,
            ">= 10",
        )?;
        check(
            self.meta_alert_probability > 0.5 && self.meta_alert_probability <= 1.0,
            "meta_alert_probability",
            self.meta_alert_probability,
            "in (0.5, 1]",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_errors_name_the_key() {
        DetectConfig::default().validate().unwrap();
        let e = DetectConfig {
            anomaly_percentile: 120.0,
            ..DetectConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.key, "anomaly_percentile");
        assert!(e.to_string().contains("0..100"), "{e}");
        let e = DetectConfig {
            level_high: -0.3,
            ..DetectConfig::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(e.key, "level_critical");
    }

    /// An override for `value` (the default) that differs from it and is of its type.
    fn another(key: &str, value: &serde_json::Value) -> String {
        match value {
            serde_json::Value::String(s) => DetectConfig::choices(key)
                .unwrap_or_else(|| panic!("{key} takes a name but has no choices"))
                .iter()
                .find(|c| *c != s)
                .unwrap_or_else(|| panic!("{key} has a single choice"))
                .to_string(),
            serde_json::Value::Number(n) if n.is_u64() => (n.as_u64().unwrap() + 1).to_string(),
            serde_json::Value::Number(n) => (n.as_f64().unwrap() + 0.25).to_string(),
            serde_json::Value::Bool(b) => (!b).to_string(),
            other => panic!("{key}: no override for {other}"),
        }
    }

    #[test]
    fn every_setting_has_an_override_that_takes_effect() {
        let defaults = serde_json::to_value(DetectConfig::default()).unwrap();
        let mut keys = DetectConfig::keys();
        // Every field of the struct as written (a field kept out of serde would have no
        // override).
        let source = include_str!("config.rs");
        let body = &source[source.find("pub struct DetectConfig {").unwrap()..];
        let body = &body[..body.find("\n}").unwrap()];
        let mut fields: Vec<String> = body
            .lines()
            .filter_map(|l| l.trim().strip_prefix("pub ")?.split_once(':'))
            .map(|(name, _)| name.to_string())
            .collect();
        fields.sort();
        keys.sort();
        assert_eq!(keys, fields);
        for key in &keys {
            let var = format!("SHRIKE_{}", key.to_ascii_uppercase());
            let text = another(key, &defaults[key]);
            let cfg = DetectConfig::default()
                .with_overrides(|v| (v == var).then(|| text.clone()))
                .unwrap_or_else(|e| panic!("{var}={text}: {e}"));
            let got = serde_json::to_value(&cfg).unwrap();
            for k in &keys {
                if k == key {
                    assert_ne!(got[k], defaults[k], "{var}={text} changed nothing");
                } else {
                    assert_eq!(got[k], defaults[k], "{var}={text} changed {k}");
                }
            }
        }
    }

    #[test]
    fn bad_overrides_name_the_variable_and_what_it_takes() {
        let e = DetectConfig::default()
            .with_overrides(|v| (v == "SHRIKE_CAMPAIGN_SPACE").then(|| "latent".into()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable SHRIKE_CAMPAIGN_SPACE=\"latent\" is invalid (allowed: features, flow)"
        );
        let e = DetectConfig::default()
            .with_overrides(|v| (v == "SHRIKE_TREES").then(|| "2.5".into()))
            .unwrap_err();
        assert!(e.to_string().contains("a whole number"), "{e}");
        let e = DetectConfig::default()
            .with_overrides(|v| (v == "SHRIKE_ANOMALY_THRESHOLD").then(|| "low".into()))
            .unwrap_err();
        assert!(e.to_string().contains("a number"), "{e}");
    }
}
