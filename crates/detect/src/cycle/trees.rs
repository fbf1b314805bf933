//! The supervised voice inside a cycle: reuse or train a set's boosted trees from the
//! labelled history (confident learning first), and fit the meta-learner.

use std::time::Instant;

use serde_json::json;
use shrike_gbdt::GbdtParams;

use super::{to_f32, Ctx, Norm, META_L2};
use crate::prep::{self, BrowserId, FeatureSetName, Session};
use crate::registry::Model;
use crate::supervised::{self, Labelled, MetaWeights, TreesMeta, TreesModel};
use crate::verdict::DecisionKind;

/// The inputs of the meta-learner for labelled rows: normalised forest and flow scores
/// (with this cycle's normalisations) and the trees' out-of-fold probabilities.
pub(super) struct MetaInputs<'a> {
    pub model: &'a Model,
    pub forest: Norm,
    pub flow: Option<Norm>,
}

impl Ctx<'_> {
    /// Picks the boosted trees of a set: reuse while fresh and on the forest's columns,
    /// otherwise train from the labelled history (confident learning first); a set with too
    /// few labels keeps its older trees when their columns still match.
    pub(super) fn trees(
        &mut self,
        set: FeatureSetName,
        meta_in: &MetaInputs<'_>,
    ) -> Option<TreesModel> {
        if self.cfg.trees_weight <= 0.0 {
            return None;
        }
        let model = meta_in.model;
        let current = match self.registry.trees(set) {
            Ok(m) => m,
            Err(e) => {
                self.decide(
                    DecisionKind::ModelLoadFailed,
                    Some(set),
                    json!({"scorer": "trees", "error": e.to_string()}),
                );
                None
            }
        };
        let matching = current
            .filter(|t| t.meta.features == model.meta.features)
            .map(|t| {
                let age_h = (self.now.millis() - t.meta.trained_at_ms) as f64 / 3.6e6;
                (t, age_h)
            });
        if let Some((t, age_h)) = &matching {
            if *age_h >= 0.0 && *age_h < self.cfg.trees_retrain_interval_h {
                self.decide(
                    DecisionKind::TreesLoaded,
                    Some(set),
                    json!({"version": t.meta.version, "age_hours": age_h, "labels": t.meta.labels,
                           "meta_learner": t.meta.meta.is_some(),
                           "retrain_in_hours": self.cfg.trees_retrain_interval_h - age_h}),
                );
                return matching.map(|(t, _)| t);
            }
        }
        let fallback = matching.map(|(t, _)| t);
        self.train_trees(set, meta_in, fallback)
    }

    /// Trains a set's trees on its labelled history: too few labels, or a failure, keeps
    /// `fallback` (a decision says why).
    fn train_trees(
        &mut self,
        set: FeatureSetName,
        meta_in: &MetaInputs<'_>,
        fallback: Option<TreesModel>,
    ) -> Option<TreesModel> {
        let skip = |ctx: &mut Self, why: serde_json::Value, fallback: Option<TreesModel>| {
            let mut payload = why;
            payload["fallback"] = json!(fallback.as_ref().map(|t| t.meta.version.clone()));
            ctx.decide(DecisionKind::TreesSkipped, Some(set), payload);
            fallback
        };
        let started = Instant::now();
        let model = meta_in.model;
        let rows = self.label_rows(set);
        let positives = rows.iter().filter(|l| l.bot).count();
        let negatives = rows.len() - positives;
        if rows.len() < self.cfg.trees_min_labels || positives < 10 || negatives < 10 {
            return skip(
                self,
                json!({"reason": "too few labels", "labels": rows.len(), "positives": positives,
                       "negatives": negatives, "minimum": self.cfg.trees_min_labels,
                       "note": "at least 10 of each class are needed too"}),
                fallback,
            );
        }
        let m = label_matrix(&rows, model);
        let cleaned = match self.clean_labels(set, &m) {
            Ok(c) => c,
            Err(why) => return skip(self, why, fallback),
        };
        let (kx, ky) = m.kept(&cleaned.keep);
        let pos = ky.iter().filter(|v| **v == 1.0).count();
        let neg = ky.len() - pos;
        let scale_pos_weight = (neg / pos.max(1)).max(1) as f64;
        let params = GbdtParams {
            scale_pos_weight,
            ..GbdtParams::default()
        };
        let gbdt = match params.fit(&kx, m.k, &ky) {
            Ok(g) => g,
            Err(e) => {
                return skip(
                    self,
                    json!({"reason": "training failed", "error": e.to_string()}),
                    fallback,
                )
            }
        };
        let meta = match &cleaned.oof {
            Some(p) if ky.len() >= self.cfg.meta_min_labels => {
                Some(meta_learner(meta_in, &m, p, &cleaned.keep))
            }
            _ => None,
        };
        let version = self.registry.new_version(set, self.now);
        let analyst = m.analyst;
        let removed = cleaned.removed;
        let trees = TreesModel {
            meta: TreesMeta {
                version: format!("trees-{version}"),
                set,
                trained_at: self.now.to_string(),
                trained_at_ms: self.now.millis(),
                features: model.meta.features.clone(),
                labels: m.labels.len(),
                analyst_labels: analyst,
                removed,
                positives: pos,
                negatives: neg,
                scale_pos_weight,
                oof_auc: cleaned.oof_auc,
                train_ms: started.elapsed().as_millis() as u64,
                meta,
            },
            gbdt,
        };
        let payload = json!({
            "version": trees.meta.version, "labels": trees.meta.labels, "analyst_labels": analyst,
            "positives": pos, "negatives": neg, "removed": removed[0] + removed[1],
            "scale_pos_weight": scale_pos_weight, "oof_roc_auc": cleaned.oof_auc,
            "meta_learner": trees.meta.meta, "train_ms": trees.meta.train_ms,
        });
        match self.registry.save_trees(&trees) {
            Ok(()) => self.decide(DecisionKind::TreesTrained, Some(set), payload),
            Err(e) => self.decide(
                DecisionKind::ModelFailed,
                Some(set),
                json!({"scorer": "trees", "error": e.to_string(), "note": "the new trees score this cycle but were not saved", "trees": payload}),
            ),
        }
        Some(trees)
    }

    /// Confident learning: out-of-fold probabilities of a quick model (also the
    /// meta-learner's input) and the labels they show to be wrong, removed (a decision
    /// says how many). `Err` carries why the trees are skipped.
    fn clean_labels(
        &mut self,
        set: FeatureSetName,
        m: &LabelMatrix,
    ) -> Result<Cleaned, serde_json::Value> {
        let n = m.labels.len();
        let need_oof = self.cfg.label_issue_folds > 0 || n >= self.cfg.meta_min_labels;
        let quick = GbdtParams {
            n_trees: 80,
            max_depth: 4,
            learning_rate: 0.15,
            ..GbdtParams::default()
        };
        let oof = if need_oof {
            let folds = if self.cfg.label_issue_folds > 0 {
                self.cfg.label_issue_folds
            } else {
                3
            };
            match supervised::out_of_fold(&m.x, m.k, &m.y, folds, &quick, self.cfg.seed) {
                Ok(p) => Some(p),
                Err(e) => {
                    return Err(
                        json!({"reason": "out-of-fold training failed", "error": e.to_string()}),
                    )
                }
            }
        } else {
            None
        };
        let oof_auc = oof
            .as_ref()
            .and_then(|p| shrike_forest::dataset::roc_auc(p, &m.labels));
        let mut keep = vec![true; n];
        let mut removed = [0usize; 2];
        if let (Some(p), true) = (&oof, self.cfg.label_issue_folds > 0) {
            let issues = supervised::find_label_issues(&m.labels, p);
            removed = issues.removed;
            for (k, bad) in keep.iter_mut().zip(&issues.issues) {
                *k = !bad;
            }
            self.decide(
                DecisionKind::LabelIssuesRemoved,
                Some(set),
                json!({"removed": removed[0] + removed[1], "of": n,
                       "human_labels_removed": removed[0], "bot_labels_removed": removed[1],
                       "thresholds": {"human": issues.thresholds[0], "bot": issues.thresholds[1]},
                       "confident_joint": issues.confident_joint, "folds": self.cfg.label_issue_folds,
                       "oof_roc_auc": oof_auc}),
            );
        }
        Ok(Cleaned {
            oof,
            oof_auc,
            keep,
            removed,
        })
    }
}

impl<'a> Ctx<'a> {
    /// The labelled history of a set, in listing order (whatever order the store
    /// returned): the application set learns from every label, the complete set from
    /// correlated sessions.
    fn label_rows(&self, set: FeatureSetName) -> Vec<&'a Labelled> {
        let labelled: &'a [Labelled] = self.labelled;
        let mut rows: Vec<&'a Labelled> = labelled
            .iter()
            .filter(|l| set == FeatureSetName::Application || l.session.row.correlated)
            .collect();
        rows.sort_by(|a, b| a.session.key().listing_cmp(b.session.key()));
        rows
    }
}

/// Labelled rows on `model`'s columns.
fn label_matrix(rows: &[&Labelled], model: &Model) -> LabelMatrix {
    let cols = model.columns();
    let sessions: Vec<&Session> = rows.iter().map(|l| &l.session).collect();
    let browsers: Vec<BrowserId> = sessions.iter().map(|s| prep::identify_browser(s)).collect();
    let b: Vec<&BrowserId> = browsers.iter().collect();
    let x64 = prep::matrix(&sessions, &b, &cols);
    LabelMatrix {
        x: to_f32(&x64),
        x64,
        k: cols.len(),
        y: rows.iter().map(|l| f32::from(u8::from(l.bot))).collect(),
        labels: rows.iter().map(|l| l.bot).collect(),
        analyst: rows
            .iter()
            .filter(|l| l.source == supervised::LabelSource::Analyst)
            .count(),
    }
}

/// A set's labelled history as matrices.
struct LabelMatrix {
    /// Row-major features, `k` columns, as `f64` (the forest) and `f32` (trees, flow).
    x64: Vec<f64>,
    x: Vec<f32>,
    k: usize,
    /// 1 for a bot, 0 for a person; the same as booleans.
    y: Vec<f32>,
    labels: Vec<bool>,
    /// Rows an analyst labelled.
    analyst: usize,
}

impl LabelMatrix {
    /// The rows `keep` keeps: features and targets.
    fn kept(&self, keep: &[bool]) -> (Vec<f32>, Vec<f32>) {
        let kx: Vec<f32> = self
            .x
            .chunks_exact(self.k)
            .zip(keep)
            .filter(|(_, k)| **k)
            .flat_map(|(r, _)| r.iter().copied())
            .collect();
        let ky: Vec<f32> = self
            .y
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .collect();
        (kx, ky)
    }
}

/// What confident learning left: the out-of-fold probabilities, their ROC-AUC, the rows
/// kept and the labels removed (persons, bots).
struct Cleaned {
    oof: Option<Vec<f64>>,
    oof_auc: Option<f64>,
    keep: Vec<bool>,
    removed: [usize; 2],
}

/// The logistic-regression meta-learner on the kept rows: the normalised forest and flow
/// scores and the trees' out-of-fold probabilities `oof`.
fn meta_learner(
    meta_in: &MetaInputs<'_>,
    m: &LabelMatrix,
    oof: &[f64],
    keep: &[bool],
) -> MetaWeights {
    let model = meta_in.model;
    let n = m.labels.len();
    let forest: Vec<f64> = model
        .forest
        .score(&m.x64)
        .unwrap_or_else(|_| vec![0.0; n])
        .into_iter()
        .map(|v| meta_in.forest.apply(v))
        .collect();
    let flow: Option<Vec<f64>> = match (&model.flow, meta_in.flow) {
        (Some(f), Some(norm)) => f
            .score(&m.x, 0)
            .ok()
            .map(|v| v.into_iter().map(|s| norm.apply(f64::from(s))).collect()),
        _ => None,
    };
    let dims = if flow.is_some() { 3 } else { 2 };
    let kept = keep.iter().filter(|k| **k).count();
    let mut mx = Vec::with_capacity(kept * dims);
    let mut my = Vec::with_capacity(kept);
    for i in (0..n).filter(|i| keep[*i]) {
        mx.push(forest[i]);
        if let Some(fl) = &flow {
            mx.push(fl[i]);
        }
        mx.push(oof[i]);
        my.push(m.labels[i]);
    }
    let lr = supervised::LogReg::fit(&mx, dims, &my, META_L2);
    let w = &lr.weights;
    MetaWeights {
        forest: w[0],
        flow: if dims == 3 { w[1] } else { 0.0 },
        trees: w[dims - 1],
        bias: lr.bias,
        with_flow: dims == 3,
        labels: my.len(),
    }
}
