//! The supervised voice and the combination of the three scorers (SPEC §5 steps 6–7).
//!
//! - Labels come from the store's history ([`Labelled`]): positives are sessions last
//!   judged HIGH, CRITICAL, ANUBIS_DENY or KNOWN_BOT, negatives NORMAL or
//!   LEGITIMATE_BROWSER; an analyst's feedback overrides either and can label any session.
//! - Noisy labels are removed by confident learning ([`find_label_issues`]) on k-fold
//!   out-of-fold probabilities ([`out_of_fold`]) of a quick boosted model, as the
//!   predecessor did with cleanlab.
//! - The boosted trees ([`shrike_gbdt`]) are trained on what is left, with the
//!   predecessor's class weighting (`scale_pos_weight = ⌊negatives / positives⌋`, at least 1).
//! - A logistic-regression meta-learner ([`LogReg`]) over the normalised [forest, flow,
//!   trees] scores of the labelled sessions replaces the fixed weights once there are
//!   enough labels. The trees' input to it is their out-of-fold probability, so that it
//!   does not learn to trust trees scored on their own training rows.

use serde::{Deserialize, Serialize};
use shrike_gbdt::{Gbdt, GbdtError, GbdtParams};
use shrike_types::{math, Rng};

use crate::prep::Session;

/// Where a label came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelSource {
    /// A known bot: the dictionaries or an Anubis ALLOW rule name it.
    KnownBot,
    /// Evidence the scorers do not produce ([`crate::findings::Evidence`]): a strong
    /// cross-layer finding or a policy DENY (bot), or a confidently identified browser
    /// browsing like a person with no finding (human).
    Evidence,
    /// An analyst's feedback (it overrides the evidence).
    Analyst,
}

/// A labelled session of the history.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// The session and its features.
    pub session: Session,
    /// Bot (true) or human.
    pub bot: bool,
    /// Where the label came from.
    pub source: LabelSource,
}

/// What confident learning found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelIssues {
    /// Per row: its label is likely wrong.
    pub issues: Vec<bool>,
    /// Per class (human, bot): the mean predicted probability of the class over the rows
    /// labelled with it; a row "confidently" belongs to a class at or above it.
    pub thresholds: [f64; 2],
    /// Calibrated confident joint: `[given label][likely true label]` counts.
    pub confident_joint: [[usize; 2]; 2],
    /// Rows flagged per given label (human, bot).
    pub removed: [usize; 2],
}

/// Finds label issues in binary labels from out-of-fold probabilities of the positive
/// class, as cleanlab's `find_label_issues` does by default (`prune_by_noise_rate`):
/// per-class thresholds, the confident joint calibrated to the label counts, then, for each
/// given label `i` and other class `j`, the `C[i][j]` rows labelled `i` with the largest
/// margin `p_j − p_i` are flagged. At least one row of each class is always kept.
pub fn find_label_issues(labels: &[bool], p_bot: &[f64]) -> LabelIssues {
    let n = labels.len();
    let prob = |i: usize, class: usize| if class == 1 { p_bot[i] } else { 1.0 - p_bot[i] };
    let mut count = [0usize; 2];
    let mut sums = [0.0f64; 2];
    for (i, label) in labels.iter().enumerate() {
        let y = *label as usize;
        count[y] += 1;
        sums[y] += prob(i, y);
    }
    let thresholds = [0, 1].map(|k| {
        if count[k] > 0 {
            sums[k] / count[k] as f64
        } else {
            1.0
        }
    });
    // Confident joint: each row counts for the above-threshold class it is most likely to
    // belong to.
    let mut joint = [[0usize; 2]; 2];
    for (i, label) in labels.iter().enumerate() {
        let above: Vec<usize> = (0..2).filter(|k| prob(i, *k) >= thresholds[*k]).collect();
        let j = match above.as_slice() {
            [] => continue,
            [one] => *one,
            _ => (prob(i, 1) > prob(i, 0)) as usize,
        };
        joint[*label as usize][j] += 1;
    }
    // Calibrate each row of the joint to the number of rows with that label.
    let mut calibrated = [[0usize; 2]; 2];
    for i in 0..2 {
        let row: usize = joint[i].iter().sum();
        for j in 0..2 {
            calibrated[i][j] = if row > 0 {
                (joint[i][j] as f64 * count[i] as f64 / row as f64).round() as usize
            } else {
                0
            };
        }
    }
    let mut issues = vec![false; n];
    let mut removed = [0usize; 2];
    for i in 0..2 {
        let j = 1 - i;
        let budget = calibrated[i][j].min(count[i].saturating_sub(1));
        let mut rows: Vec<usize> = (0..n).filter(|r| labels[*r] as usize == i).collect();
        rows.sort_by(|a, b| {
            let (ma, mb) = (prob(*a, j) - prob(*a, i), prob(*b, j) - prob(*b, i));
            mb.total_cmp(&ma).then(a.cmp(b))
        });
        for r in rows.into_iter().take(budget) {
            // Only rows the model actually places on the other side.
            if prob(r, j) > prob(r, i) {
                issues[r] = true;
                removed[i] += 1;
            }
        }
    }
    LabelIssues {
        issues,
        thresholds,
        confident_joint: calibrated,
        removed,
    }
}

/// Out-of-fold probabilities of the positive class: rows are dealt to `folds` folds in a
/// seeded order (stratified by label), and each fold is predicted by a model trained on the
/// others.
pub fn out_of_fold(
    x: &[f32],
    dims: usize,
    y: &[f32],
    folds: usize,
    params: &GbdtParams,
    seed: u64,
) -> Result<Vec<f64>, GbdtError> {
    let n = y.len();
    let folds = folds.clamp(2, n.max(2));
    let mut fold = vec![0usize; n];
    let mut rng = Rng::seed_from_u64(seed);
    for class in [0.0f32, 1.0] {
        let mut rows: Vec<usize> = (0..n).filter(|i| y[*i] == class).collect();
        for i in (1..rows.len()).rev() {
            rows.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for (k, r) in rows.into_iter().enumerate() {
            fold[r] = k % folds;
        }
    }
    let mut out = vec![0.0; n];
    for f in 0..folds {
        let (mut tx, mut ty, mut held) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            if fold[i] == f {
                held.push(i);
            } else {
                tx.extend_from_slice(&x[i * dims..(i + 1) * dims]);
                ty.push(y[i]);
            }
        }
        let model = params.fit(&tx, dims, &ty)?;
        for i in held {
            out[i] = model.probability(&x[i * dims..(i + 1) * dims]);
        }
    }
    Ok(out)
}

/// Logistic regression fitted by Newton's method (iteratively reweighted least squares)
/// with an L2 penalty of `l2 × rows` on the weights (so that separable labels, common when
/// one scorer made them, still give finite weights), classes weighted to equal total weight.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogReg {
    /// One weight per input.
    pub weights: Vec<f64>,
    /// Intercept.
    pub bias: f64,
}

impl LogReg {
    /// Fits row-major `x` (`dims` columns) to `y`.
    pub fn fit(x: &[f64], dims: usize, y: &[bool], l2: f64) -> LogReg {
        let n = y.len();
        let p = dims + 1;
        let pos = y.iter().filter(|v| **v).count().max(1) as f64;
        let neg = (n as f64 - pos).max(1.0);
        let weight = |b: bool| {
            if b {
                n as f64 / (2.0 * pos)
            } else {
                n as f64 / (2.0 * neg)
            }
        };
        let mut beta = vec![0.0; p];
        for _ in 0..50 {
            let mut grad = vec![0.0; p];
            let mut hess = vec![0.0; p * p];
            for (i, yi) in y.iter().enumerate() {
                let row = &x[i * dims..(i + 1) * dims];
                let z = beta[dims] + row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>();
                let mu = 1.0 / (1.0 + math::exp(-z));
                let w = weight(*yi);
                let r = (mu - f64::from(u8::from(*yi))) * w;
                let h = (mu * (1.0 - mu)).max(1e-12) * w;
                let feat = |j: usize| if j == dims { 1.0 } else { row[j] };
                for a in 0..p {
                    grad[a] += r * feat(a);
                    for b in 0..p {
                        hess[a * p + b] += h * feat(a) * feat(b);
                    }
                }
            }
            let ridge = l2 * n as f64;
            for a in 0..dims {
                grad[a] += ridge * beta[a];
                hess[a * p + a] += ridge;
            }
            let Some(step) = solve(&mut hess, &mut grad, p) else {
                break;
            };
            let mut moved = 0.0f64;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
                moved = moved.max(s.abs());
            }
            if moved < 1e-9 {
                break;
            }
        }
        LogReg {
            weights: beta[..dims].to_vec(),
            bias: beta[dims],
        }
    }

    /// The probability of a row.
    pub fn predict(&self, row: &[f64]) -> f64 {
        let z = self.bias
            + row
                .iter()
                .zip(&self.weights)
                .map(|(a, b)| a * b)
                .sum::<f64>();
        1.0 / (1.0 + math::exp(-z))
    }
}

/// Solves `a · x = b` (Gaussian elimination with partial pivoting); `None` when singular.
fn solve(a: &mut [f64], b: &mut [f64], p: usize) -> Option<Vec<f64>> {
    for c in 0..p {
        let pivot = (c..p).max_by(|i, j| a[i * p + c].abs().total_cmp(&a[j * p + c].abs()))?;
        if a[pivot * p + c].abs() < 1e-12 {
            return None;
        }
        for k in 0..p {
            a.swap(c * p + k, pivot * p + k);
        }
        b.swap(c, pivot);
        for r in c + 1..p {
            let f = a[r * p + c] / a[c * p + c];
            for k in c..p {
                a[r * p + k] -= f * a[c * p + k];
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; p];
    for c in (0..p).rev() {
        let s: f64 = (c + 1..p).map(|k| a[c * p + k] * x[k]).sum();
        x[c] = (b[c] - s) / a[c * p + c];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// The meta-learner's weights, as shown in the health data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaWeights {
    /// Weight of the normalised forest score.
    pub forest: f64,
    /// Weight of the normalised flow score (0 when trained without a flow).
    pub flow: f64,
    /// Weight of the trees' probability.
    pub trees: f64,
    /// Intercept.
    pub bias: f64,
    /// The flow was an input.
    pub with_flow: bool,
    /// Labelled sessions it was fitted on.
    pub labels: usize,
}

impl MetaWeights {
    /// The combined probability of normalised scores.
    pub fn combine(&self, forest: f64, flow: f64, trees: f64) -> f64 {
        let z = self.bias + self.forest * forest + self.flow * flow + self.trees * trees;
        1.0 / (1.0 + math::exp(-z))
    }
}

/// Metadata of a trained boosted-trees model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreesMeta {
    /// Version id (same scheme as the forest's).
    pub version: String,
    /// Feature set.
    pub set: crate::prep::FeatureSetName,
    /// Training time, RFC 3339.
    pub trained_at: String,
    /// Training time in epoch milliseconds.
    pub trained_at_ms: i64,
    /// Input columns, in order (the forest's at training time).
    pub features: Vec<String>,
    /// Labelled sessions before confident learning.
    pub labels: usize,
    /// Labels given by analysts.
    pub analyst_labels: usize,
    /// Rows removed as label issues (human-labelled, bot-labelled).
    pub removed: [usize; 2],
    /// Positive rows trained on.
    pub positives: usize,
    /// Negative rows trained on.
    pub negatives: usize,
    /// Class weight of the positives.
    pub scale_pos_weight: f64,
    /// ROC-AUC of the out-of-fold probabilities against the given labels.
    pub oof_auc: Option<f64>,
    /// Training wall time (folds, trees, meta-learner), milliseconds.
    pub train_ms: u64,
    /// The meta-learner, when there were enough labels.
    pub meta: Option<MetaWeights>,
}

/// A trained boosted-trees scorer.
#[derive(Debug, Clone)]
pub struct TreesModel {
    /// Metadata.
    pub meta: TreesMeta,
    /// The trees.
    pub gbdt: Gbdt,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confident_learning_flags_flipped_labels_and_keeps_clean_ones() {
        // Well-separated probabilities; rows 0..5 are bots labelled human, 5..8 humans
        // labelled bot.
        let mut labels = Vec::new();
        let mut p = Vec::new();
        for i in 0..200 {
            let bot = i % 2 == 0;
            p.push(if bot { 0.9 } else { 0.1 } + (i % 7) as f64 * 0.01);
            labels.push(bot);
        }
        for (i, l) in labels.iter_mut().enumerate().take(10) {
            if i < 5 || i % 2 == 1 {
                *l = !*l;
            }
        }
        let flipped: Vec<usize> = (0..200).filter(|i| labels[*i] != (*i % 2 == 0)).collect();
        let r = find_label_issues(&labels, &p);
        let found: Vec<usize> = (0..200).filter(|i| r.issues[*i]).collect();
        assert_eq!(found, flipped);
        assert_eq!(r.removed[0] + r.removed[1], flipped.len());
    }

    #[test]
    fn clean_labels_have_no_issues() {
        let labels: Vec<bool> = (0..100).map(|i| i < 30).collect();
        let p: Vec<f64> = (0..100).map(|i| if i < 30 { 0.8 } else { 0.2 }).collect();
        let r = find_label_issues(&labels, &p);
        assert!(r.issues.iter().all(|v| !v));
    }

    #[test]
    fn logistic_regression_recovers_a_known_direction() {
        let mut rng = Rng::seed_from_u64(3);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let (a, b, c) = (rng.f64(), rng.f64(), rng.f64());
            let z = -2.0 + 4.0 * a + 1.0 * b + 0.0 * c;
            y.push(rng.f64() < 1.0 / (1.0 + math::exp(-z)));
            x.extend([a, b, c]);
        }
        let m = LogReg::fit(&x, 3, &y, 1e-5);
        assert!(m.weights[0] > 3.0 && m.weights[0] < 5.0, "{m:?}");
        assert!(m.weights[1] > 0.4 && m.weights[1] < 1.6, "{m:?}");
        assert!(m.weights[2].abs() < 0.5, "{m:?}");
    }

    #[test]
    fn out_of_fold_probabilities_never_see_their_own_row() {
        // Labels are pure noise: a model that saw its own rows would fit them; out-of-fold
        // probabilities cannot, so their AUC stays near 0.5.
        let mut rng = Rng::seed_from_u64(1);
        let n = 600;
        let x: Vec<f32> = (0..n * 3).map(|_| rng.f64() as f32).collect();
        let y: Vec<f32> = (0..n).map(|_| rng.below(2) as f32).collect();
        let params = GbdtParams {
            n_trees: 30,
            max_depth: 4,
            ..GbdtParams::default()
        };
        let oof = out_of_fold(&x, 3, &y, 3, &params, 7).unwrap();
        let labels: Vec<bool> = y.iter().map(|v| *v == 1.0).collect();
        let auc = shrike_forest::dataset::roc_auc(&oof, &labels).unwrap();
        assert!((auc - 0.5).abs() < 0.08, "AUC {auc}");
        let fitted = params.fit(&x, 3, &y).unwrap().probabilities(&x, 1);
        let auc_in = shrike_forest::dataset::roc_auc(&fitted, &labels).unwrap();
        assert!(auc_in > 0.8, "in-sample AUC {auc_in}");
    }
}
