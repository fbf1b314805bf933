//! The ensemble of a feature set (SPEC §5 steps 7–8): the three scorers combined into one
//! score, brought back to the forest's raw scale, and the adaptive threshold with the
//! recurrence penalty.

use serde_json::json;
use shrike_forest::raw_score;
use shrike_types::math;

use super::score::SetScores;
use super::trees::MetaInputs;
use super::{Ctx, DecisionKind, Ensemble};
use crate::supervised::{MetaWeights, TreesModel};

/// The combination of a set's scorers, per scored session (in [`SetScores`] row order).
pub(super) struct Combined {
    /// Normalised forest score, normalised flow score, trees' bot probability.
    pub parts: Vec<(f64, Option<f64>, Option<f64>)>,
    /// The combined score in [0, 1] (higher: more anomalous).
    pub combined: Vec<f64>,
    /// The combined score on the forest's raw scale, before the recurrence penalty.
    pub raw: Vec<f64>,
    /// After the recurrence penalty: what the threshold and the levels judge.
    pub penalised: Vec<f64>,
    /// The effective threshold.
    pub threshold: f64,
    /// Whether each session is an anomaly: its penalised score below the threshold, or a
    /// meta-learner's bot probability of at least `meta_alert_probability`.
    pub alert: Vec<bool>,
}

/// Fewest labels of each class for a scorer to be judged.
const MIN_EVIDENCE: usize = 10;

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    crate::drift::quantile(&v, (p / 100.0).clamp(0.0, 1.0))
}

impl Ctx<'_> {
    /// Whether a scorer's scores (higher: more likely a bot) beat chance on the set's
    /// sessions with evidence labels: ROC-AUC above `scorer_min_auc`. Too few labels of a
    /// class: it votes. A scorer that does not is left out of this cycle's combination,
    /// and a decision says so.
    fn earns_vote(&mut self, s: &SetScores, scorer: &str, scores: &[f64]) -> bool {
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        for (n, i) in s.scored.iter().enumerate() {
            match self.evidence[*i] {
                super::Evidence::Bot => ys.push(true),
                super::Evidence::Person => ys.push(false),
                super::Evidence::Unknown => continue,
            }
            xs.push(scores[n]);
        }
        let bots = ys.iter().filter(|y| **y).count();
        let people = ys.len() - bots;
        if bots < MIN_EVIDENCE || people < MIN_EVIDENCE {
            return true;
        }
        let Some(auc) = shrike_forest::dataset::roc_auc(&xs, &ys) else {
            return true;
        };
        if auc > self.cfg.scorer_min_auc {
            return true;
        }
        self.decide(
            DecisionKind::ScorerMuted,
            Some(s.set),
            json!({"scorer": scorer, "roc_auc": auc, "minimum": self.cfg.scorer_min_auc,
                   "bots": bots, "people": people,
                   "evidence": "bots: strong cross-layer findings and policy DENY; people: confident browsers that browse like people, with no finding",
                   "note": "left out of this cycle's combination"}),
        );
        false
    }

    /// The set's boosted trees (reused or trained, see [`Ctx::trees`]).
    pub(super) fn trees_for(&mut self, s: &SetScores) -> Option<TreesModel> {
        self.trees(
            s.set,
            &MetaInputs {
                model: &s.model,
                forest: s.forest_norm,
                flow: s.flow_norm,
            },
        )
    }

    /// Combines the scorers: the meta-learner when it was trained with the scorers present
    /// now, otherwise the seed's fixed weights; then the threshold. Records the ensemble,
    /// the threshold and the model version in the cycle's metrics.
    pub(super) fn combine(&mut self, s: &SetScores, trees: Option<&TreesModel>) -> Combined {
        let cfg = self.cfg;
        let trees_p: Option<Vec<f64>> = trees.map(|t| t.gbdt.probabilities(&s.x32, 2));
        // The flow and the trees vote only while they beat chance on this cycle's evidence.
        let flow_scores: Option<Vec<f64>> = s
            .flow_norm
            .zip(s.flow_nll.as_ref())
            .map(|(nm, v)| v.iter().map(|x| nm.apply(*x)).collect());
        let flow_votes = flow_scores
            .as_deref()
            .is_none_or(|v| self.earns_vote(s, "flow", v));
        let trees_votes = trees_p
            .as_deref()
            .is_none_or(|p| self.earns_vote(s, "trees", p));
        let trees = trees.filter(|_| trees_votes);
        let flow_norm = s.flow_norm.filter(|_| flow_votes);
        let meta: Option<MetaWeights> = trees
            .and_then(|t| t.meta.meta.clone())
            .filter(|m| m.with_flow == flow_norm.is_some());
        let alpha = if flow_norm.is_some() {
            cfg.flow_weight
        } else {
            0.0
        };
        let beta = if trees.is_some() {
            cfg.trees_weight
        } else {
            0.0
        };
        let trees_version = trees.map(|t| t.meta.version.clone());
        let ensemble = match &meta {
            Some(m) => Ensemble {
                mode: "meta",
                forest: m.forest,
                flow: m.flow,
                trees: m.trees,
                bias: m.bias,
                labels: m.labels,
                with_flow: m.with_flow,
                trees_version,
            },
            None => Ensemble {
                mode: "fixed",
                forest: (1.0 - alpha) * (1.0 - beta),
                flow: alpha * (1.0 - beta),
                trees: beta,
                bias: 0.0,
                labels: trees.map_or(0, |t| t.meta.labels),
                with_flow: flow_norm.is_some(),
                trees_version,
            },
        };
        let parts: Vec<(f64, Option<f64>, Option<f64>)> = (0..s.scored.len())
            .map(|n| {
                (
                    s.forest_norm.apply(s.forest[n]),
                    flow_scores.as_ref().map(|v| v[n]),
                    trees_p.as_ref().map(|p| p[n]),
                )
            })
            .collect();
        // A muted scorer is still reported (its part), but takes no part in the mix.
        let combined: Vec<f64> = parts
            .iter()
            .map(|(f, fl, t)| (f, fl.filter(|_| flow_votes), t.filter(|_| trees_votes)))
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
        let (lo, hi) = (s.forest_norm.lo, s.forest_norm.hi);
        let raw: Vec<f64> = combined
            .iter()
            .map(|c| {
                if hi > lo {
                    raw_score(lo + c * (hi - lo))
                } else {
                    raw_score(lo)
                }
            })
            .collect();
        let threshold = percentile(&raw, cfg.anomaly_percentile).min(cfg.anomaly_threshold);
        // The raw score after the recurrence penalty.
        let penalised: Vec<f64> = s
            .scored
            .iter()
            .zip(&raw)
            .map(|(i, r)| {
                let recurrence = self.out.verdicts[*i].recurrence;
                r - math::ln_1p((recurrence - 1) as f64) * cfg.recurrence_weight
            })
            .collect();
        let by_probability = meta.is_some();
        let alert: Vec<bool> = penalised
            .iter()
            .zip(&combined)
            .map(|(r, p)| *r < threshold || (by_probability && *p >= cfg.meta_alert_probability))
            .collect();
        let name = s.set.as_str();
        let m = &mut self.out.metrics;
        m.thresholds.insert(name.into(), threshold);
        m.models.insert(name.into(), s.model.meta.version.clone());
        m.ensemble.insert(name.into(), ensemble);
        Combined {
            parts,
            combined,
            raw,
            penalised,
            threshold,
            alert,
        }
    }
}
