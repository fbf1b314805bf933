//! One detection cycle (SPEC §5 steps 1–5, 8–10, 13–14) over the sessions of a horizon.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde_json::json;
use shrike_features::FeatureId;
use shrike_forest::raw_score;
use shrike_types::{math, Timestamp};

use crate::campaign::{CampaignMemory, ScoredSet};
use crate::config::CampaignSpace;
use crate::config::DetectConfig;
use crate::drift;
use crate::prep::{self, columns_of, BrowserId, Column, FeatureSetName, Session};
use crate::registry::Registry;
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

mod explain;
mod model;
mod stages;
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
        let cols = model.columns();
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
                r - math::ln_1p((recurrence - 1) as f64) * cfg.recurrence_weight
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
            v.level = crate::verdict::level_of_raw(r, cfg);
            v.is_anomaly = r < threshold;
            if v.is_anomaly {
                let row = &x[n * k..(n + 1) * k];
                let imp = attributions.next().unwrap_or_else(|| vec![0.0; k]);
                let signed: Vec<f64> = (0..k)
                    .map(|j| {
                        if row[j] >= medians[j] {
                            imp[j]
                        } else {
                            -imp[j]
                        }
                    })
                    .collect();
                v.top = explain::top(
                    &model.meta.features,
                    row,
                    &medians,
                    &imp,
                    &signed,
                    5,
                    "forest",
                );
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
                    let rank: Vec<f64> = phi.iter().map(|p| p.abs()).collect();
                    let top =
                        explain::top(&model.meta.features, row, &medians, &rank, &phi, 3, "trees");
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
                    let t: Vec<f64> = t.iter().map(|v| f64::from(*v)).collect();
                    let top = explain::top(&model.meta.features, row, &medians, &t, &t, 3, "flow");
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
        // Policy DENY is scored like the rest and always reported as ANUBIS_DENY (the
        // score says how bad); a user agent naming a bot is noted as a claim only.
        let mut denied: BTreeMap<&str, usize> = BTreeMap::new();
        for i in &scored {
            let (s, v) = (&sessions[*i], &mut ctx.out.verdicts[*i]);
            if !s.policy.deny.is_empty() {
                v.level = ThreatLevel::AnubisDeny;
                v.reason = format!("[Anubis DENY] rule {}; {}", s.policy.deny, v.reason);
                *denied.entry(&s.policy.deny).or_default() += 1;
            }
            if !s.policy.claimed_bot.is_empty() {
                v.reason = format!(
                    "{} | user agent claims {} (unverified)",
                    v.reason, s.policy.claimed_bot
                );
            }
        }
        if !denied.is_empty() {
            ctx.decide(
                DecisionKind::AnubisDeny,
                name,
                json!({"sessions_per_rule": denied}),
            );
        }
        ctx.out
            .metrics
            .stage_ms
            .push((format!("{name}:score"), t.elapsed().as_millis() as u64));
        // Campaigns cluster the standardised features, or the flow's latent vectors.
        let latent = match (cfg.campaign_space, flow.filter(|_| flow_nll.is_some())) {
            (CampaignSpace::Flow, Some(f)) => match f.encode(&x32, 0) {
                Ok(z) => Some(z.into_iter().map(f64::from).collect()),
                Err(e) => {
                    ctx.decide(
                        DecisionKind::FlowFailed,
                        name,
                        json!({"stage": "campaign space", "error": e.to_string(),
                               "fallback": "campaigns clustered in feature space"}),
                    );
                    None
                }
            },
            _ => None,
        };
        let space = if latent.is_some() {
            CampaignSpace::Flow
        } else {
            CampaignSpace::Features
        };
        ctx.scored_sets.push(ScoredSet {
            set,
            rows: scored,
            x: latent.unwrap_or(x),
            k,
            space,
        });
    }

    // 9. Legitimate browsers, then JA4-cohort propagation.
    let t = Instant::now();
    stages::legitimate_browsers(&mut ctx);
    ctx.out
        .metrics
        .stage_ms
        .push(("levels".into(), t.elapsed().as_millis() as u64));

    // 11. Campaigns.
    let t = Instant::now();
    stages::campaigns(&mut ctx, memory);
    ctx.out
        .metrics
        .stage_ms
        .push(("campaigns".into(), t.elapsed().as_millis() as u64));

    // 12. Fleets: flagged members that look calm on their own become MEDIUM anomalies.
    let t = Instant::now();
    stages::fleets(&mut ctx, &unknown);
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
