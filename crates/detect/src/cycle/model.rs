//! The model of a feature set: reuse the current one while young and undrifted, or train
//! a new forest and flow, gate it, and save it; every choice is a decision.

use std::time::Instant;

use serde_json::json;
use shrike_flow::FlowParams;
use shrike_forest::{raw_score, ForestParams, IsolationForest};

use super::{to_f32, Ctx};
use crate::drift::{self, FeatureBaseline};
use crate::prep::{columns_of, Column, FeatureSetName};
use crate::registry::{FlowMeta, Model, ModelMeta};
use crate::verdict::DecisionKind;

impl Ctx<'_> {
    /// Trains a forest (and its flow) on the human baseline, with pruning, a strict
    /// temporal split and validation figures.
    fn train(
        &mut self,
        set: FeatureSetName,
        baseline: &[usize],
        columns: Vec<Column>,
        previous: Option<&Model>,
    ) -> Result<Model, String> {
        let started = Instant::now();
        // Strict temporal order: the latest 20% validate what the earliest 80% taught.
        let mut rows = baseline.to_vec();
        rows.sort_by(|a, b| {
            let (x, y) = (&self.sessions[*a], &self.sessions[*b]);
            // The first request fixes the window, so the listing order breaks the ties.
            x.row
                .first_seen
                .cmp(&y.row.first_seen)
                .then_with(|| x.key().listing_cmp(y.key()))
        });
        let x = self.matrix(&rows, &columns);
        let n = columns.len();
        let mut kept = Vec::new();
        let mut pruned = Vec::new();
        for (j, (c, col)) in columns.iter().zip(columns_of(&x, n)).enumerate() {
            let mean = col.iter().sum::<f64>() / col.len().max(1) as f64;
            let var =
                col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (col.len().max(2) - 1) as f64;
            if var < self.cfg.prune_variance_threshold {
                pruned.push(c.name().to_string());
            } else {
                kept.push((j, *c));
            }
        }
        if !pruned.is_empty() {
            self.decide(
                DecisionKind::FeaturePruned,
                Some(set),
                json!({"pruned": pruned, "remaining": kept.len()}),
            );
        }
        if kept.is_empty() {
            return Err("every feature was pruned".into());
        }
        let cols: Vec<Column> = kept.iter().map(|(_, c)| *c).collect();
        let x: Vec<f64> = x
            .chunks_exact(n)
            .flat_map(|r| kept.iter().map(|(j, _)| r[*j]))
            .collect();
        let k = cols.len();
        let rows_n = x.len() / k;
        let val = (rows_n / 5).max(1);
        let train_n = rows_n - val;
        let params = ForestParams {
            trees: self.cfg.trees,
            ndim: self.cfg.ndim,
            sample_size: self.cfg.sample_size,
            max_depth: None,
            seed: self.cfg.seed,
            threads: 0,
        };
        let forest =
            IsolationForest::fit(&x[..train_n * k], k, &params).map_err(|e| e.to_string())?;
        let val_raw: Vec<f64> = forest
            .score(&x[train_n * k..])
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(raw_score)
            .collect();
        let val_mean = val_raw.iter().sum::<f64>() / val_raw.len().max(1) as f64;
        let val_rate =
            val_raw.iter().filter(|v| **v < 0.0).count() as f64 / val_raw.len().max(1) as f64;
        // The flow learns the same rows (the earliest 80%) and is checked on the rest.
        let mut flow = None;
        let mut flow_meta = None;
        if self.cfg.flow_weight > 0.0 {
            let t = Instant::now();
            let params = FlowParams {
                epochs: self.cfg.flow_epochs,
                seed: self.cfg.seed,
                ..FlowParams::default()
            };
            // At most `flow_train_rows` of them, evenly spaced over the horizon: the
            // flow's training cost is linear in its rows (scoring still covers them all).
            let every = train_n.div_ceil(self.cfg.flow_train_rows.max(1)).max(1);
            let train: Vec<f64> = x[..train_n * k]
                .chunks_exact(k)
                .step_by(every)
                .flatten()
                .copied()
                .collect();
            let fitted = params
                .fit(&to_f32(&train), k)
                .and_then(|f| f.score(&to_f32(&x[train_n * k..]), 0).map(|v| (f, v)));
            match fitted {
                Ok((f, val)) => {
                    flow_meta = Some(FlowMeta {
                        losses: f.history.clone(),
                        val_mean_nll: val.iter().map(|v| f64::from(*v)).sum::<f64>()
                            / val.len().max(1) as f64,
                        train_ms: t.elapsed().as_millis() as u64,
                    });
                    flow = Some(f);
                }
                Err(e) => self.decide(
                    DecisionKind::FlowFailed,
                    Some(set),
                    json!({"error": e.to_string(), "note": "the model is saved without a flow; the forest scores alone"}),
                ),
            }
        }
        let baseline_stats = cols
            .iter()
            .zip(columns_of(&x, k))
            .map(|(c, col)| (c.name().to_string(), FeatureBaseline::of(col.into_iter())))
            .collect();
        let version = self.registry.new_version(set, self.now);
        let meta = ModelMeta {
            version,
            set,
            trained_at: self.now.to_string(),
            trained_at_ms: self.now.millis(),
            features: cols.iter().map(|c| c.name().to_string()).collect(),
            pruned,
            baseline: baseline_stats,
            params,
            baseline_sessions: rows_n,
            train_size: train_n,
            val_size: val,
            val_mean_score: val_mean,
            val_anomaly_rate: val_rate,
            train_ms: started.elapsed().as_millis() as u64,
            previous: previous.map(|m| m.meta.version.clone()),
            contamination: self.cfg.contamination,
            flow: flow_meta,
        };
        Ok(Model { meta, forest, flow })
    }

    /// Picks the model of a set: reuse, or train (and gate), with every decision logged.
    pub(super) fn model(
        &mut self,
        set: FeatureSetName,
        baseline: &[usize],
        valid: Vec<Column>,
    ) -> Option<Model> {
        let name = set.as_str();
        let current = match self.registry.current(set) {
            Ok(m) => m,
            Err(e) => {
                self.decide(
                    DecisionKind::ModelLoadFailed,
                    Some(set),
                    json!({"error": e.to_string()}),
                );
                None
            }
        };
        let mut reason = "no current model";
        if let Some(m) = &current {
            let cols: Option<Vec<Column>> = m
                .meta
                .features
                .iter()
                .map(|f| Column::from_name(f))
                .collect();
            let age_h = (self.now.millis() - m.meta.trained_at_ms) as f64 / 3.6e6;
            match cols {
                None => {
                    self.decide(
                        DecisionKind::ModelLoadFailed,
                        Some(set),
                        json!({"version": m.meta.version, "error": "the model uses a feature this shrike does not know"}),
                    );
                    reason = "unknown feature in the current model";
                }
                Some(cols) if age_h < self.cfg.retrain_interval_h && age_h >= 0.0 => {
                    let x = self.matrix(baseline, &cols);
                    let features = cols
                        .iter()
                        .zip(columns_of(&x, cols.len()))
                        .map(|(c, v)| {
                            let base = m
                                .meta
                                .baseline
                                .get(c.name())
                                .cloned()
                                .unwrap_or_else(|| FeatureBaseline::of(v.iter().copied()));
                            drift::feature_drift(c.name(), &base, &v, self.cfg.drift_ks_threshold)
                        })
                        .collect();
                    let report = drift::report(features);
                    self.out.metrics.drift.insert(name.into(), report.score);
                    let drifting: Vec<&str> = report
                        .features
                        .iter()
                        .filter(|f| f.drifting)
                        .map(|f| f.feature.as_str())
                        .collect();
                    let score = report.score;
                    let adversarial = report.adversarial;
                    let drifting = json!(drifting);
                    self.out.drift_reports.insert(name.into(), report);
                    if score >= self.cfg.drift_threshold {
                        self.decide(
                            DecisionKind::DriftDetected,
                            Some(set),
                            json!({"version": m.meta.version, "drift_score": score, "threshold": self.cfg.drift_threshold,
                                   "adversarial": adversarial, "drifting": drifting, "model_age_hours": age_h}),
                        );
                        reason = "drift";
                    } else {
                        self.decide(
                            DecisionKind::ModelLoaded,
                            Some(set),
                            json!({"version": m.meta.version, "model_age_hours": age_h, "drift_score": score,
                                   "retrain_in_hours": self.cfg.retrain_interval_h - age_h}),
                        );
                        return current;
                    }
                }
                Some(_) => reason = "expired",
            }
        }
        match self.train(set, baseline, valid, current.as_ref()) {
            Err(e) => {
                self.decide(DecisionKind::ModelFailed, Some(set), json!({"error": e, "fallback": current.as_ref().map(|m| m.meta.version.clone())}));
                current
            }
            Ok(model) => {
                let payload = json!({
                    "version": model.meta.version, "previous": model.meta.previous, "reason": reason,
                    "baseline_sessions": model.meta.baseline_sessions, "features": model.meta.features.len(),
                    "val_anomaly_rate": model.meta.val_anomaly_rate, "val_mean_score": model.meta.val_mean_score,
                    "train_ms": model.meta.train_ms,
                });
                if model.meta.val_anomaly_rate > self.cfg.val_anomaly_gate {
                    let kept = current.as_ref().map(|m| m.meta.version.clone());
                    self.decide(
                        DecisionKind::ModelRejected,
                        Some(set),
                        json!({"candidate": payload, "gate": self.cfg.val_anomaly_gate,
                               "kept": kept, "note": if kept.is_none() { "no previous model: the rejected one scores this cycle" } else { "the previous model scores this cycle" }}),
                    );
                    return current.or(Some(model));
                }
                if let Err(e) = self.registry.save(&model, self.cfg.model_history_count) {
                    self.decide(DecisionKind::ModelFailed, Some(set), json!({"error": e.to_string(), "note": "the new model scores this cycle but was not saved"}));
                } else {
                    self.decide(DecisionKind::ModelTrained, Some(set), payload);
                }
                Some(model)
            }
        }
    }
}
