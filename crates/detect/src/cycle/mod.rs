//! One detection cycle (SPEC §5 steps 1–5, 8–10, 13–14) over the sessions of a horizon.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::json;
use shrike_features::FeatureId;
use shrike_flow::FlowParams;
use shrike_forest::{raw_score, ForestParams, IsolationForest};
use shrike_types::Timestamp;

use crate::campaign::{CampaignMemory, ScoredSet};
use crate::config::CampaignSpace;
use crate::config::DetectConfig;
use crate::drift::{self, FeatureBaseline};
use crate::prep::{self, columns_of, BrowserId, Column, FeatureSetName, Session};
use crate::registry::{FlowMeta, Model, ModelMeta, Registry};
use crate::supervised::Labelled;
pub use crate::verdict::{
    Contribution, CycleMetrics, CycleOutput, Decision, DecisionKind, Ensemble, ThreatLevel, Verdict,
};

/// Ridge of the meta-learner, per labelled row.
const META_L2: f64 = 1e-3;

/// Min-max normalisation of a score over the cycle's scored sessions.
#[derive(Debug, Clone, Copy)]
struct Norm {
    lo: f64,
    hi: f64,
}

impl Norm {
    fn of(values: &[f64]) -> Norm {
        let (lo, hi) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
                (l.min(*v), h.max(*v))
            });
        Norm { lo, hi }
    }

    /// In [0, 1]; 0 when every value was equal.
    fn apply(&self, v: f64) -> f64 {
        if self.hi > self.lo {
            ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

fn to_f32(x: &[f64]) -> Vec<f32> {
    x.iter().map(|v| *v as f32).collect()
}

mod trees;
use trees::MetaInputs;

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    drift::quantile(&v, (p / 100.0).clamp(0.0, 1.0))
}

struct Ctx<'a> {
    sessions: &'a [Session],
    browsers: Vec<BrowserId>,
    cfg: &'a DetectConfig,
    registry: &'a Registry,
    labelled: &'a [Labelled],
    now: Timestamp,
    out: CycleOutput,
    /// Each scored feature set's sessions and matrix, for campaign clustering.
    scored_sets: Vec<ScoredSet>,
}

impl Ctx<'_> {
    fn decide(&mut self, kind: DecisionKind, model: &str, payload: serde_json::Value) {
        // What went wrong or needs an operator's eye is a warning; the rest is in the
        // decisions table and the cycle summary.
        match kind {
            DecisionKind::ModelRejected
            | DecisionKind::ModelLoadFailed
            | DecisionKind::ModelFailed
            | DecisionKind::CampaignFailed
            | DecisionKind::DriftDetected
            | DecisionKind::SkippedLowData => {
                tracing::warn!(decision = %kind.as_str(), model, %payload, "decision")
            }
            _ => tracing::debug!(decision = %kind.as_str(), model, %payload, "decision"),
        }
        self.out.decisions.push(Decision {
            kind,
            model: model.to_string(),
            payload,
        });
    }

    fn matrix(&self, rows: &[usize], cols: &[Column]) -> Vec<f64> {
        let s: Vec<&Session> = rows.iter().map(|i| &self.sessions[*i]).collect();
        let b: Vec<&BrowserId> = rows.iter().map(|i| &self.browsers[*i]).collect();
        prep::matrix(&s, &b, cols)
    }

    /// Columns usable this cycle: not constant, known in enough sessions.
    fn valid_columns(&mut self, set: FeatureSetName, rows: &[usize]) -> Vec<Column> {
        let cols = set.columns();
        let x = self.matrix(rows, &cols);
        let mut keep = Vec::new();
        let mut dropped = Vec::new();
        for (c, col) in cols.iter().zip(columns_of(&x, cols.len())) {
            let known = if c.is_binary() {
                col.iter().filter(|v| **v >= 0.0).count()
            } else {
                col.len()
            };
            let constant = col.windows(2).all(|w| w[0] == w[1]);
            if constant
                || (known as f64) < self.cfg.min_valid_feature_ratio * col.len().max(1) as f64
            {
                dropped.push(c.name());
            } else {
                keep.push(*c);
            }
        }
        if !dropped.is_empty() {
            self.decide(
                DecisionKind::FeaturesDropped,
                set.as_str(),
                json!({"dropped": dropped, "remaining": keep.len()}),
            );
        }
        keep
    }

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
            (x.first_seen, &x.src_ip, &x.ja4, &x.host).cmp(&(
                y.first_seen,
                &y.src_ip,
                &y.ja4,
                &y.host,
            ))
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
                set.as_str(),
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
            let fitted = params
                .fit(&to_f32(&x[..train_n * k]), k)
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
                    set.as_str(),
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
    fn model(
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
                    name,
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
                        name,
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
                            name,
                            json!({"version": m.meta.version, "drift_score": score, "threshold": self.cfg.drift_threshold,
                                   "adversarial": adversarial, "drifting": drifting, "model_age_hours": age_h}),
                        );
                        reason = "drift";
                    } else {
                        self.decide(
                            DecisionKind::ModelLoaded,
                            name,
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
                self.decide(DecisionKind::ModelFailed, name, json!({"error": e, "fallback": current.as_ref().map(|m| m.meta.version.clone())}));
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
                        name,
                        json!({"candidate": payload, "gate": self.cfg.val_anomaly_gate,
                               "kept": kept, "note": if kept.is_none() { "no previous model: the rejected one scores this cycle" } else { "the previous model scores this cycle" }}),
                    );
                    return current.or(Some(model));
                }
                if let Err(e) = self.registry.save(&model, self.cfg.model_history_count) {
                    self.decide(DecisionKind::ModelFailed, name, json!({"error": e.to_string(), "note": "the new model scores this cycle but was not saved"}));
                } else {
                    self.decide(DecisionKind::ModelTrained, name, payload);
                }
                Some(model)
            }
        }
    }
}

/// Fleet detection over the sessions triage did not settle; marks members and escalates
/// the flagged fleets' calm, scored members.
fn fleets(ctx: &mut Ctx<'_>, unknown: &[usize]) {
    let report = crate::fleet::detect_fleets(ctx.sessions, &ctx.browsers, unknown, ctx.cfg);
    let mut escalated = vec![0usize; report.fleets.len()];
    for (i, member) in report.member_of.iter().enumerate() {
        let Some(f) = *member else { continue };
        let fleet = &report.fleets[f];
        let v = &mut ctx.out.verdicts[i];
        v.fleet = Some(fleet.id);
        v.fleet_score = fleet.score;
        v.fleet_flag = fleet.flagged;
        if !fleet.flagged || v.model.is_none() {
            continue;
        }
        let what = format!(
            "[Fleet #{}] {} sessions from {} addresses in {} prefixes and {} ASNs share {} (mean browser confidence {:.2}, fleet score {:.2})",
            fleet.id,
            fleet.sessions,
            fleet.ips,
            fleet.prefixes,
            fleet.asns.len(),
            match fleet.ja4s.as_slice() {
                [(one, _)] => format!("JA4 {one}"),
                many => format!("{} JA4s", many.len()),
            },
            fleet.mean_browser_confidence,
            fleet.score
        );
        if matches!(v.level, ThreatLevel::Normal | ThreatLevel::Low) {
            v.level = ThreatLevel::Medium;
            v.is_anomaly = true;
            v.reason = what;
            escalated[f] += 1;
        } else if v.is_anomaly {
            v.reason = format!("{} {what}", v.reason);
        }
    }
    for (f, fleet) in report.fleets.iter().enumerate().filter(|(_, f)| f.flagged) {
        let payload = json!({
            "fleet": fleet.id, "sessions": fleet.sessions, "ips": fleet.ips,
            "prefixes": fleet.prefixes, "asns": fleet.asns.len(),
            "ja4s": fleet.ja4s.iter().take(5).collect::<Vec<_>>(),
            "mean_browser_confidence": fleet.mean_browser_confidence,
            "score": fleet.score, "escalated_to_medium": escalated[f],
            "graph": {"nodes": report.graph.0, "edges": report.graph.1,
                      "communities": report.communities, "modularity": report.modularity},
        });
        ctx.decide(DecisionKind::FleetDetected, "", payload);
    }
    ctx.out.fleets = report.fleets;
}

/// Campaigns among the anomalies; HIGH members of large campaigns become CRITICAL.
fn campaigns(ctx: &mut Ctx<'_>, memory: &CampaignMemory) {
    let sets = std::mem::take(&mut ctx.scored_sets);
    let (found, errors) = crate::campaign::find_campaigns(
        ctx.sessions,
        &mut ctx.out.verdicts,
        &sets,
        memory,
        ctx.cfg,
    );
    for (set, e) in errors {
        ctx.decide(
            DecisionKind::CampaignFailed,
            set.as_str(),
            json!({"error": e.to_string(), "note": "this set's anomalies stay outside any campaign this cycle"}),
        );
    }
    for c in &found {
        let payload = json!({
            "campaign": c.id, "continued": c.continued, "algorithm": c.algorithm.as_str(),
            "sessions": c.sessions, "ips": c.ips.len(), "escalated_to_critical": c.escalated,
            "ja4s": c.ja4s.iter().take(5).collect::<Vec<_>>(),
            "asns": c.asns.iter().take(5).collect::<Vec<_>>(),
            "features": c.features.iter().take(3).map(|f| &f.feature).collect::<Vec<_>>(),
        });
        ctx.decide(DecisionKind::CampaignDetected, c.model.as_str(), payload);
    }
    ctx.out.campaigns = found;
}

/// Runs one cycle. `labelled` is the labelled history the boosted trees learn from (it may
/// be empty: the trees are then skipped, or reused while fresh); `recurrence` maps an IP to the number of earlier cycles that flagged it;
/// `memory` holds the campaigns of earlier cycles, whose ids carry over.
pub fn run_cycle(
    sessions: &[Session],
    labelled: &[Labelled],
    recurrence: &HashMap<String, u32>,
    memory: &CampaignMemory,
    registry: &Registry,
    cfg: &DetectConfig,
    now: Timestamp,
) -> CycleOutput {
    let t0 = Instant::now();
    let browsers: Vec<BrowserId> = sessions.iter().map(prep::identify_browser).collect();
    let mut ctx = Ctx {
        sessions,
        browsers,
        cfg,
        registry,
        labelled,
        now,
        out: CycleOutput::default(),
        scored_sets: Vec::new(),
    };
    ctx.out
        .metrics
        .stage_ms
        .push(("preprocess".into(), t0.elapsed().as_millis() as u64));
    let rec = |ip: &str| recurrence.get(ip).copied().unwrap_or(0);
    ctx.out.verdicts = sessions
        .iter()
        .zip(&ctx.browsers)
        .map(|(s, b)| Verdict {
            model: None,
            level: ThreatLevel::Unscored,
            raw_score: 0.0,
            anomaly_score: 0.0,
            forest_score: 0.0,
            flow_score: None,
            trees_prob: None,
            is_anomaly: false,
            recurrence: rec(&s.src_ip) + 1,
            browser_confidence: b.confidence,
            browser_family: b.family.clone(),
            reason: String::new(),
            top: Vec::new(),
            fleet: None,
            fleet_score: 0.0,
            fleet_flag: false,
            campaign: None,
        })
        .collect();

    // 1. Triage.
    let t = Instant::now();
    let mut bots: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        if !s.bot_name.is_empty() {
            let v = &mut ctx.out.verdicts[i];
            v.level = ThreatLevel::KnownBot;
            v.reason = format!("[Identification] known bot: {}", s.bot_name);
            *bots.entry(&s.bot_name).or_default() += 1;
        }
    }
    if !bots.is_empty() {
        ctx.decide(
            DecisionKind::KnownBot,
            "",
            json!({"sessions_per_bot": bots}),
        );
    }
    let unknown: Vec<usize> = (0..sessions.len())
        .filter(|i| sessions[*i].bot_name.is_empty())
        .collect();
    ctx.out
        .metrics
        .stage_ms
        .push(("triage".into(), t.elapsed().as_millis() as u64));

    for set in FeatureSetName::ALL {
        let t = Instant::now();
        let name = set.as_str();
        let in_set = |s: &Session| match set {
            FeatureSetName::Complete => s.correlated,
            FeatureSetName::Application => !s.correlated,
        };
        let scored: Vec<usize> = unknown
            .iter()
            .copied()
            .filter(|i| in_set(&sessions[*i]))
            .collect();
        if scored.is_empty() {
            continue;
        }
        // 3. Human baseline: unknown traffic from ISP networks with coherent fingerprints.
        // The application model learns from every such session (its features exist for
        // all); the complete model from the correlated ones.
        let baseline: Vec<usize> = unknown
            .iter()
            .copied()
            .filter(|i| {
                let s = &sessions[*i];
                (set == FeatureSetName::Application || s.correlated)
                    && s.asn_label == "isp"
                    && s.get(FeatureId::FingerprintCoherenceScore)
                        >= cfg.fingerprint_coherence_threshold
            })
            .collect();
        let mut rows = baseline.clone();
        rows.extend(scored.iter().copied());
        let valid = ctx.valid_columns(set, &rows);
        if baseline.len() < cfg.min_baseline_sessions {
            ctx.decide(
                DecisionKind::SkippedLowData,
                name,
                json!({"human_baseline": baseline.len(), "minimum": cfg.min_baseline_sessions, "unscored": scored.len()}),
            );
            for i in &scored {
                ctx.out.verdicts[*i].reason = format!(
                    "[{name}] not scored: {} human-baseline sessions, {} needed",
                    baseline.len(),
                    cfg.min_baseline_sessions
                );
            }
            continue;
        }
        let Some(model) = ctx.model(set, &baseline, valid) else {
            for i in &scored {
                ctx.out.verdicts[*i].reason =
                    format!("[{name}] not scored: no usable model (see decisions)");
            }
            continue;
        };
        ctx.out
            .metrics
            .stage_ms
            .push((format!("{name}:model"), t.elapsed().as_millis() as u64));
        let t = Instant::now();
        let cols: Vec<Column> = model
            .meta
            .features
            .iter()
            .filter_map(|f| Column::from_name(f))
            .collect();
        let x = ctx.matrix(&scored, &cols);
        let scores = match model.forest.score(&x) {
            Ok(s) => s,
            Err(e) => {
                ctx.decide(
                    DecisionKind::ModelFailed,
                    name,
                    json!({"version": model.meta.version, "error": e.to_string()}),
                );
                continue;
            }
        };
        let k = cols.len();
        let forest_norm = Norm::of(&scores);
        // 5. The flow's −log p(x), when the model has one.
        let x32 = to_f32(&x);
        let flow = model.flow.as_ref().filter(|_| cfg.flow_weight > 0.0);
        let flow_nll: Option<Vec<f64>> = match flow.map(|f| f.score(&x32, 0)) {
            None => None,
            Some(Ok(v)) => Some(v.into_iter().map(f64::from).collect()),
            Some(Err(e)) => {
                ctx.decide(
                    DecisionKind::FlowFailed,
                    name,
                    json!({"version": model.meta.version, "error": e.to_string(), "note": "the forest scores without the flow"}),
                );
                None
            }
        };
        let flow_norm = flow_nll.as_deref().map(Norm::of);
        // 6. The boosted trees.
        let trees = ctx.trees(
            set,
            &MetaInputs {
                model: &model,
                forest: forest_norm,
                flow: flow_norm,
            },
        );
        let trees_p: Option<Vec<f64>> = trees.as_ref().map(|t| t.gbdt.probabilities(&x32, 2));
        // 7. Combination: the meta-learner when it was trained with the scorers present
        // now, otherwise the seed's fixed weights.
        let meta = trees
            .as_ref()
            .and_then(|t| t.meta.meta.clone())
            .filter(|m| m.with_flow == flow_norm.is_some());
        let alpha = if flow_norm.is_some() {
            cfg.flow_weight
        } else {
            0.0
        };
        let beta = if trees_p.is_some() {
            cfg.trees_weight
        } else {
            0.0
        };
        let ensemble = match &meta {
            Some(m) => Ensemble {
                mode: "meta",
                forest: m.forest,
                flow: m.flow,
                trees: m.trees,
                bias: m.bias,
                labels: m.labels,
                with_flow: m.with_flow,
                trees_version: trees.as_ref().map(|t| t.meta.version.clone()),
            },
            None => Ensemble {
                mode: "fixed",
                forest: (1.0 - alpha) * (1.0 - beta),
                flow: alpha * (1.0 - beta),
                trees: beta,
                bias: 0.0,
                labels: trees.as_ref().map_or(0, |t| t.meta.labels),
                with_flow: flow_norm.is_some(),
                trees_version: trees.as_ref().map(|t| t.meta.version.clone()),
            },
        };
        let parts: Vec<(f64, Option<f64>, Option<f64>)> = (0..scored.len())
            .map(|n| {
                (
                    forest_norm.apply(scores[n]),
                    flow_norm
                        .zip(flow_nll.as_ref())
                        .map(|(nm, v)| nm.apply(v[n])),
                    trees_p.as_ref().map(|p| p[n]),
                )
            })
            .collect();
        let combined: Vec<f64> = parts
            .iter()
            .map(|(f, fl, t)| match &meta {
                Some(m) => m.combine(*f, fl.unwrap_or(0.0), t.unwrap_or(0.0)),
                None => {
                    let base = fl.map_or(*f, |fl| (1.0 - alpha) * f + alpha * fl);
                    t.map_or(base, |t| (1.0 - beta) * base + beta * t)
                }
            })
            .collect();
        // The combined score on the forest's raw scale (what the thresholds and levels are
        // calibrated on): with the forest alone it is exactly the forest's raw score.
        let raw: Vec<f64> = combined
            .iter()
            .map(|c| {
                if forest_norm.hi > forest_norm.lo {
                    raw_score(forest_norm.lo + c * (forest_norm.hi - forest_norm.lo))
                } else {
                    raw_score(forest_norm.lo)
                }
            })
            .collect();
        let threshold = percentile(&raw, cfg.anomaly_percentile).min(cfg.anomaly_threshold);
        ctx.out.metrics.thresholds.insert(name.into(), threshold);
        ctx.out
            .metrics
            .models
            .insert(name.into(), model.meta.version.clone());
        ctx.out.metrics.ensemble.insert(name.into(), ensemble);
        let medians: Vec<f64> = model
            .meta
            .features
            .iter()
            .map(|f| model.meta.baseline.get(f).map_or(0.0, |b| b.quantiles[4]))
            .collect();
        // The raw score after the recurrence penalty.
        let penalised: Vec<f64> = scored
            .iter()
            .zip(&raw)
            .map(|(i, r)| {
                let recurrence = ctx.out.verdicts[*i].recurrence;
                r - ((recurrence - 1) as f64).ln_1p() * cfg.recurrence_weight
            })
            .collect();
        // Explanations of the anomalies, computed together (in parallel).
        let flagged: Vec<usize> = (0..scored.len())
            .filter(|n| penalised[*n] < threshold)
            .collect();
        let rows: Vec<f64> = flagged
            .iter()
            .flat_map(|n| x[n * k..(n + 1) * k].iter().copied())
            .collect();
        let mut attributions = model
            .forest
            .attributions(&rows)
            .unwrap_or_default()
            .into_iter();
        let flow_terms: Option<Vec<f32>> = flow_nll
            .as_ref()
            .and(flow)
            .and_then(|f| f.contributions(&to_f32(&rows)).ok());
        let mut flagged_at = 0usize;
        for (n, i) in scored.iter().enumerate() {
            let v = &mut ctx.out.verdicts[*i];
            let r = penalised[n];
            let penalty = raw[n] - r;
            v.model = Some(set);
            v.raw_score = r;
            v.anomaly_score = combined[n];
            (v.forest_score, v.flow_score, v.trees_prob) = parts[n];
            v.level = ThreatLevel::of_raw(r, cfg);
            v.is_anomaly = r < threshold;
            if v.is_anomaly {
                let row = &x[n * k..(n + 1) * k];
                let imp = attributions.next().unwrap_or_else(|| vec![0.0; k]);
                let mut order: Vec<usize> = (0..k).collect();
                order.sort_by(|a, b| imp[*b].total_cmp(&imp[*a]));
                v.top = order
                    .into_iter()
                    .take(5)
                    .map(|j| Contribution {
                        feature: model.meta.features[j].clone(),
                        value: row[j],
                        typical: medians[j],
                        contribution: if row[j] >= medians[j] {
                            imp[j]
                        } else {
                            -imp[j]
                        },
                        scorer: "forest",
                    })
                    .collect();
                let parts_text: Vec<String> = v
                    .top
                    .iter()
                    .take(3)
                    .map(|c| {
                        format!(
                            "{} {} ({:.3} vs typical {:.3})",
                            c.feature,
                            if c.contribution >= 0.0 { "high" } else { "low" },
                            c.value,
                            c.typical
                        )
                    })
                    .collect();
                let mut voices = Vec::new();
                if let Some(t) = &trees {
                    let (phi, _) = t.gbdt.contributions(&x32[n * k..(n + 1) * k]);
                    let mut order: Vec<usize> = (0..k).collect();
                    order.sort_by(|a, b| phi[*b].abs().total_cmp(&phi[*a].abs()).then(a.cmp(b)));
                    let top: Vec<Contribution> = order
                        .into_iter()
                        .take(3)
                        .map(|j| Contribution {
                            feature: model.meta.features[j].clone(),
                            value: row[j],
                            typical: medians[j],
                            contribution: phi[j],
                            scorer: "trees",
                        })
                        .collect();
                    voices.push(format!(
                        "trees: bot probability {:.2} ({})",
                        v.trees_prob.unwrap_or(0.0),
                        top.iter()
                            .map(|c| format!("{} {:+.2}", c.feature, c.contribution))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    v.top.extend(top);
                }
                if let Some(terms) = &flow_terms {
                    let t = &terms[flagged_at * k..(flagged_at + 1) * k];
                    let mut order: Vec<usize> = (0..k).collect();
                    order.sort_by(|a, b| t[*b].total_cmp(&t[*a]).then(a.cmp(b)));
                    let top: Vec<Contribution> = order
                        .into_iter()
                        .take(3)
                        .map(|j| Contribution {
                            feature: model.meta.features[j].clone(),
                            value: row[j],
                            typical: medians[j],
                            contribution: f64::from(t[j]),
                            scorer: "flow",
                        })
                        .collect();
                    voices.push(format!(
                        "flow: -log p {:.1} ({})",
                        flow_nll.as_ref().map_or(0.0, |f| f[n]),
                        top.iter()
                            .map(|c| c.feature.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                    v.top.extend(top);
                }
                flagged_at += 1;
                v.reason = format!(
                    "[{name}] anomaly: score {r:.3} below threshold {threshold:.3}{}; {}{}",
                    if penalty > 0.0 {
                        format!(" (recurrence {}, penalty {penalty:.3})", v.recurrence)
                    } else {
                        String::new()
                    },
                    parts_text.join("; "),
                    if voices.is_empty() {
                        String::new()
                    } else {
                        format!(" | {}", voices.join(" | "))
                    }
                );
            } else {
                v.reason = format!("[{name}] score {r:.3} (threshold {threshold:.3})");
            }
        }
        ctx.out
            .metrics
            .stage_ms
            .push((format!("{name}:score"), t.elapsed().as_millis() as u64));
        // Campaigns cluster the standardised features, or the flow's latent vectors.
        let space = match (cfg.campaign_space, flow.filter(|_| flow_nll.is_some())) {
            (CampaignSpace::Flow, Some(f)) => f
                .encode(&x32, 0)
                .ok()
                .map(|z| z.into_iter().map(f64::from).collect()),
            _ => None,
        };
        ctx.scored_sets.push(ScoredSet {
            set,
            rows: scored,
            x: space.unwrap_or(x),
            k,
        });
    }

    // 9. Legitimate browsers, then JA4-cohort propagation.
    let t = Instant::now();
    let calm = |l: ThreatLevel| matches!(l, ThreatLevel::Normal | ThreatLevel::Low);
    let mut legit = vec![false; sessions.len()];
    for (i, v) in ctx.out.verdicts.iter().enumerate() {
        legit[i] = v.model.is_some()
            && calm(v.level)
            && v.browser_confidence >= cfg.browser_confidence_threshold
            && !v.browser_family.is_empty();
    }
    let mut per_ja4: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, v) in ctx.out.verdicts.iter().enumerate() {
        if v.model.is_some() {
            let e = per_ja4.entry(sessions[i].ja4.as_str()).or_default();
            e.1 += 1;
            e.0 += legit[i] as usize;
        }
    }
    let mut cohort = 0;
    for (i, v) in ctx.out.verdicts.iter().enumerate() {
        let (l, n) = per_ja4
            .get(sessions[i].ja4.as_str())
            .copied()
            .unwrap_or((0, 0));
        if !legit[i]
            && v.model.is_some()
            && calm(v.level)
            && l > 0
            && l as f64 >= cfg.browser_cohort_ratio * n as f64
        {
            legit[i] = true;
            cohort += 1;
        }
    }
    let mut families: BTreeMap<String, usize> = BTreeMap::new();
    for (i, v) in ctx.out.verdicts.iter_mut().enumerate() {
        if legit[i] {
            v.level = ThreatLevel::LegitimateBrowser;
            v.is_anomaly = false;
            v.top.clear();
            let family = if v.browser_family.is_empty() {
                "Unknown"
            } else {
                &v.browser_family
            };
            v.reason = format!(
                "[Legitimate browser] {family} (confidence {:.2})",
                v.browser_confidence
            );
            *families.entry(family.to_string()).or_default() += 1;
        }
    }
    if !families.is_empty() {
        ctx.decide(
            DecisionKind::LegitimateBrowser,
            "",
            json!({"count": legit.iter().filter(|l| **l).count(), "cohort_propagated": cohort, "families": families}),
        );
    }
    ctx.out
        .metrics
        .stage_ms
        .push(("levels".into(), t.elapsed().as_millis() as u64));

    // 11. Campaigns.
    let t = Instant::now();
    campaigns(&mut ctx, memory);
    ctx.out
        .metrics
        .stage_ms
        .push(("campaigns".into(), t.elapsed().as_millis() as u64));

    // 12. Fleets: flagged members that look calm on their own become MEDIUM anomalies.
    let t = Instant::now();
    fleets(&mut ctx, &unknown);
    ctx.out
        .metrics
        .stage_ms
        .push(("fleets".into(), t.elapsed().as_millis() as u64));

    // Anomalies are logged one decision each, as the seed does, with their reason.
    let anomalies: Vec<usize> = (0..sessions.len())
        .filter(|i| ctx.out.verdicts[*i].is_anomaly)
        .collect();
    for i in &anomalies {
        let (s, v) = (&sessions[*i], &ctx.out.verdicts[*i]);
        let payload = json!({"src_ip": s.src_ip, "ja4": s.ja4, "host": s.host, "level": v.level.as_str(),
                             "raw_score": v.raw_score, "recurrence": v.recurrence, "reason": v.reason});
        let model = v.model.map_or("", |m| m.as_str()).to_string();
        ctx.decide(DecisionKind::Anomaly, &model, payload);
    }

    let m = &mut ctx.out.metrics;
    m.sessions = sessions.len();
    m.scored = ctx
        .out
        .verdicts
        .iter()
        .filter(|v| v.model.is_some())
        .count();
    m.anomalies = anomalies.len();
    m.anomaly_rate = m.anomalies as f64 / m.scored.max(1) as f64;
    for v in &ctx.out.verdicts {
        *m.levels.entry(v.level.as_str().to_string()).or_default() += 1;
    }
    m.stage_ms
        .push(("total".into(), t0.elapsed().as_millis() as u64));
    ctx.out
}
