//! A feature set's unsupervised scorers: which sessions it scores, the human baseline its
//! model learns from, the isolation forest's and the flow's scores, and the space its
//! anomalies are clustered in.

use serde_json::json;
use shrike_types::FeatureSetName;

use super::{to_f32, Ctx, Norm};
use crate::campaign::ScoredSet;
use crate::config::CampaignSpace;
use crate::prep::Session;
use crate::registry::Model;
use crate::verdict::DecisionKind;

/// A feature set's model and the sessions it scores this cycle.
pub(super) struct SetModel {
    pub set: FeatureSetName,
    pub model: Model,
    /// Indices of the scored sessions.
    pub scored: Vec<usize>,
}

/// What the unsupervised scorers said of a feature set's sessions.
pub(super) struct SetScores {
    pub set: FeatureSetName,
    pub model: Model,
    /// Indices of the scored sessions, in matrix row order.
    pub scored: Vec<usize>,
    /// Their feature matrix (row-major, `k` columns), and as `f32` for the flow and trees.
    pub x: Vec<f64>,
    pub x32: Vec<f32>,
    pub k: usize,
    /// The forest's raw scores, and their normalisation.
    pub forest: Vec<f64>,
    pub forest_norm: Norm,
    /// The flow's −log p(x), when the model has a flow and it scored.
    pub flow_nll: Option<Vec<f64>>,
    pub flow_norm: Option<Norm>,
}

impl SetScores {
    /// Row `n` of the matrix.
    pub fn row(&self, n: usize) -> &[f64] {
        &self.x[n * self.k..(n + 1) * self.k]
    }

    /// The flow, when it scored this cycle.
    pub fn flow(&self) -> Option<&shrike_flow::Flow> {
        self.model.flow.as_ref().filter(|_| self.flow_nll.is_some())
    }
}

/// Whether a session belongs to a feature set: `complete` scores the sessions whose
/// TCP/TLS side was matched, `application` the others.
fn in_set(set: FeatureSetName, s: &Session) -> bool {
    match set {
        FeatureSetName::Complete => s.row.correlated,
        FeatureSetName::Application => !s.row.correlated,
    }
}

impl Ctx<'_> {
    /// The sessions a set scores and its model (reused or trained on the human baseline);
    /// `None`, with the sessions' reason and a decision, when the set cannot be scored.
    pub(super) fn select_model(
        &mut self,
        set: FeatureSetName,
        unknown: &[usize],
    ) -> Option<SetModel> {
        let sessions = self.sessions;
        let scored: Vec<usize> = unknown
            .iter()
            .copied()
            .filter(|i| in_set(set, &sessions[*i]))
            .collect();
        if scored.is_empty() {
            return None;
        }
        let super::baseline::Baseline {
            rows: baseline,
            from_identity,
        } = self.baseline(set, unknown);
        let mut rows = baseline.clone();
        rows.extend(scored.iter().copied());
        let valid = self.valid_columns(set, &rows);
        let minimum = self.cfg.min_baseline_sessions;
        if baseline.len() < minimum {
            let mut payload = json!({"human_baseline": baseline.len(), "minimum": minimum, "unscored": scored.len()});
            if let Some(how) = from_identity {
                payload["from_identity"] = how;
            }
            self.decide(DecisionKind::SkippedLowData, Some(set), payload);
            for i in &scored {
                self.out.verdicts[*i].reason = format!(
                    "[{set}] not scored: {} human-baseline sessions, {minimum} needed",
                    baseline.len()
                );
            }
            return None;
        }
        if let Some(how) = from_identity {
            self.decide(DecisionKind::BaselineFromIdentity, Some(set), how);
        }
        let Some(model) = self.model(set, &baseline, valid) else {
            for i in &scored {
                self.out.verdicts[*i].reason =
                    format!("[{set}] not scored: no usable model (see decisions)");
            }
            return None;
        };
        Some(SetModel { set, model, scored })
    }

    /// The forest's scores and, when the model has one and `flow_weight` > 0, the flow's;
    /// `None` when the forest fails (a decision says why). A failing flow is a decision
    /// and the forest scores alone.
    pub(super) fn score(&mut self, m: SetModel) -> Option<SetScores> {
        let SetModel { set, model, scored } = m;
        let cols = model.columns();
        let k = cols.len();
        let x = self.matrix(&scored, &cols);
        let forest = match model.forest.score(&x) {
            Ok(s) => s,
            Err(e) => {
                self.decide(
                    DecisionKind::ModelFailed,
                    Some(set),
                    json!({"version": model.meta.version, "error": e.to_string()}),
                );
                return None;
            }
        };
        let forest_norm = Norm::of(&forest);
        // 5. The flow's −log p(x), when the model has one.
        let x32 = to_f32(&x);
        let flow = model.flow.as_ref().filter(|_| self.cfg.flow_weight > 0.0);
        let flow_nll: Option<Vec<f64>> = match flow.map(|f| f.score(&x32, 0)) {
            None => None,
            Some(Ok(v)) => Some(v.into_iter().map(f64::from).collect()),
            Some(Err(e)) => {
                self.decide(
                    DecisionKind::FlowFailed,
                    Some(set),
                    json!({"version": model.meta.version, "error": e.to_string(), "note": "the forest scores without the flow"}),
                );
                None
            }
        };
        let flow_norm = flow_nll.as_deref().map(Norm::of);
        Some(SetScores {
            set,
            model,
            scored,
            x,
            x32,
            k,
            forest,
            forest_norm,
            flow_nll,
            flow_norm,
        })
    }

    /// The set's sessions for campaign clustering: in the flow's latent space when asked
    /// and the flow scored, otherwise in the standardised feature space.
    pub(super) fn campaign_space(&mut self, s: SetScores) -> ScoredSet {
        let latent = match (self.cfg.campaign_space, s.flow()) {
            (CampaignSpace::Flow, Some(f)) => match f.encode(&s.x32, 0) {
                Ok(z) => Some(z.into_iter().map(f64::from).collect()),
                Err(e) => {
                    self.decide(
                        DecisionKind::FlowFailed,
                        Some(s.set),
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
        ScoredSet {
            set: s.set,
            rows: s.scored,
            x: latent.unwrap_or(s.x),
            k: s.k,
            space,
        }
    }
}
