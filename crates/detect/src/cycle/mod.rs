//! One detection cycle (SPEC §5 steps 1–5, 8–10, 13–14) over the sessions of a horizon.
//!
//! [`run_cycle`] is a list of named stages, each timed by [`Ctx::timed`]:
//! `preprocess` (browser identification), `triage` (known bots), then for each feature set
//! `<set>:model` (the human baseline and the model, [`model`]), `<set>:score` (forest and
//! flow, [`score`]), `<set>:trees` ([`trees`]), `<set>:combine` (the ensemble and the
//! threshold, [`combine`]), `<set>:explain` (levels, reasons and explanations of the
//! anomalies, Anubis DENY, [`explain`]); then `findings` (impersonators by cross-layer
//! evidence), `levels` (legitimate browsers), `campaigns`, `cohorts` (each stack's
//! population, [`crate::cohort`]) and `fleets` ([`stages`]); last,
//! untimed, each verdict's score is placed in the half of its verdict
//! ([`Verdict::anomaly_score`]). A stage that cannot go on logs a [`Decision`] and the cycle
//! continues without it.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::json;
use shrike_types::Timestamp;

use crate::campaign::{CampaignMemory, ScoredSet};
use crate::config::DetectConfig;
use crate::prep::{self, columns_of, BrowserId, Column, FeatureSetName, Session};
use crate::registry::Registry;
use crate::supervised::Labelled;
pub use crate::verdict::{
    Contribution, CycleMetrics, CycleOutput, Decision, DecisionKind, Ensemble, ThreatLevel, Verdict,
};

mod baseline;
mod combine;
mod explain;
mod model;
mod score;
mod stages;
mod trees;

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

/// The state of a cycle in progress: its inputs, and its output as the stages fill it.
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
    /// Each session's cross-layer findings, strongest first.
    findings: Vec<Vec<crate::findings::Finding>>,
    /// What the evidence says of each session, independently of the scorers.
    evidence: Vec<Evidence>,
}

use crate::findings::Evidence;

/// Stack cohorts a cycle keeps in its output (the largest).
pub const COHORTS_KEPT: usize = 200;

impl Ctx<'_> {
    /// Runs a stage and records its wall time under `name` in the cycle's metrics: the one
    /// place the cycle is timed.
    fn timed<T>(&mut self, name: impl Into<String>, stage: impl FnOnce(&mut Self) -> T) -> T {
        let started = Instant::now();
        let value = stage(self);
        self.out
            .metrics
            .stage_ms
            .push((name.into(), started.elapsed().as_millis() as u64));
        value
    }

    fn decide(
        &mut self,
        kind: DecisionKind,
        model: Option<FeatureSetName>,
        payload: serde_json::Value,
    ) {
        // What went wrong or needs an operator's eye is a warning; the rest is in the
        // decisions table and the cycle summary.
        let set = model.map_or("", FeatureSetName::as_str);
        if kind.needs_attention() {
            tracing::warn!(decision = %kind, model = set, %payload, "decision");
        } else {
            tracing::debug!(decision = %kind, model = set, %payload, "decision");
        }
        self.out.decisions.push(Decision {
            kind,
            model,
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
        let cols = prep::columns(set);
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
                Some(set),
                json!({"dropped": dropped, "remaining": keep.len()}),
            );
        }
        keep
    }

    /// Scores one feature set's share of the `unknown` sessions, stage by stage; a stage
    /// that cannot go on leaves the set's sessions with the reason why.
    fn score_feature_set(&mut self, set: FeatureSetName, unknown: &[usize]) {
        let Some(model) = self.timed(format!("{set}:model"), |ctx| ctx.select_model(set, unknown))
        else {
            return;
        };
        let Some(scores) = self.timed(format!("{set}:score"), |ctx| ctx.score(model)) else {
            return;
        };
        let trees = self.timed(format!("{set}:trees"), |ctx| ctx.trees_for(&scores));
        let combined = self.timed(format!("{set}:combine"), |ctx| {
            ctx.combine(&scores, trees.as_ref())
        });
        self.timed(format!("{set}:explain"), |ctx| {
            ctx.explain(&scores, trees.as_ref(), &combined);
            ctx.policy(&scores);
        });
        let space = self.timed(format!("{set}:space"), |ctx| ctx.campaign_space(scores));
        self.scored_sets.push(space);
    }
}

/// Runs one cycle. `labelled` is the labelled history the boosted trees learn from (it may
/// be empty: the trees are then skipped, or reused while fresh); `recurrence` maps an
/// address to the number of earlier cycles that flagged it; `memory` holds the campaigns
/// of earlier cycles, whose ids carry over.
pub fn run_cycle(
    sessions: &[Session],
    labelled: &[Labelled],
    recurrence: &HashMap<std::net::IpAddr, u32>,
    memory: &CampaignMemory,
    registry: &Registry,
    cfg: &DetectConfig,
    now: Timestamp,
) -> CycleOutput {
    let t0 = Instant::now();
    let mut ctx = Ctx {
        sessions,
        browsers: Vec::new(),
        cfg,
        registry,
        labelled,
        now,
        out: CycleOutput::default(),
        scored_sets: Vec::new(),
        findings: Vec::new(),
        evidence: Vec::new(),
    };
    ctx.timed("preprocess", |ctx| {
        ctx.browsers = sessions.iter().map(prep::identify_browser).collect();
        ctx.out.verdicts = stages::unscored(sessions, &ctx.browsers, recurrence);
        ctx.findings = sessions.iter().map(crate::findings::findings_of).collect();
        ctx.evidence = stages::evidence(ctx);
    });
    // 1. Triage.
    let unknown = ctx.timed("triage", stages::triage);
    // 3–8. Each feature set: baseline, model, scorers, combination, threshold, reasons.
    for set in FeatureSetName::ALL {
        ctx.score_feature_set(set, &unknown);
    }
    // Cross-layer evidence: impersonators are reported whatever their scores.
    ctx.timed("findings", |ctx| stages::findings(ctx, &unknown));
    // 9. Legitimate browsers, then JA4-cohort propagation.
    ctx.timed("levels", stages::legitimate_browsers);
    // 11. Campaigns.
    ctx.timed("campaigns", |ctx| stages::campaigns(ctx, memory));
    // Stack cohorts: each JA4's and each JA4 × HTTP/2 stack's population.
    ctx.timed("cohorts", |ctx| stages::cohorts(ctx, &unknown));
    // 12. Fleets: flagged members that look calm on their own become MEDIUM anomalies.
    ctx.timed("fleets", |ctx| stages::fleets(ctx, &unknown));
    // A browser's stack driven like a script says so.
    stages::behaviour(&mut ctx);
    // The verdict's score agrees with the verdict.
    stages::verdict_scores(&mut ctx);
    stages::log_anomalies(&mut ctx);
    stages::summarise(&mut ctx);
    ctx.out
        .metrics
        .stage_ms
        .push(("total".into(), t0.elapsed().as_millis() as u64));
    ctx.out
}
