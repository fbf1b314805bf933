//! Distribution baselines and drift: each model stores, per feature, nine quantiles of its
//! training data (p5, p10, p25, p40, p50, p60, p75, p90, p95) with the mean and standard
//! deviation; a later cycle compares its own data to them.
//!
//! - KS statistic: the largest gap between the baseline CDF, known at the nine quantile
//!   points, and the cycle's empirical CDF at those points.
//! - KL divergence `KL(cycle || baseline)` over the ten bins the quantiles delimit, whose
//!   baseline probabilities are the gaps between the quantile levels (smoothed by 1e-4).
//! - A feature drifts when its KS statistic exceeds the configured threshold; the drift
//!   score is the share of drifting features; the drift is *adversarial* when at least 80%
//!   of the drifting features moved in the same direction (cycle median vs baseline p50).

use serde::{Deserialize, Serialize};
use shrike_types::math;

/// Quantile levels of a baseline.
pub const LEVELS: [f64; 9] = [0.05, 0.10, 0.25, 0.40, 0.50, 0.60, 0.75, 0.90, 0.95];

/// Baseline statistics of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureBaseline {
    /// Mean.
    pub mean: f64,
    /// Standard deviation (population).
    pub std: f64,
    /// Values at [`LEVELS`].
    pub quantiles: [f64; 9],
}

/// Quantile `q` (0..1) of sorted values, interpolating linearly between closest ranks.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    // Linear interpolation between closest ranks (numpy's default).
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

impl FeatureBaseline {
    /// Statistics of the finite values.
    pub fn of(values: impl Iterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        let std = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        FeatureBaseline {
            mean,
            std,
            quantiles: LEVELS.map(|q| quantile(&v, q)),
        }
    }
}

/// Drift of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// Feature name.
    pub feature: String,
    /// KS statistic.
    pub ks: f64,
    /// KL divergence.
    pub kl: f64,
    /// +1 when the cycle's median is above the baseline median, -1 below, 0 equal.
    pub direction: i8,
    /// KS above the threshold.
    pub drifting: bool,
}

/// Drift of a model's features on one cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// Per feature.
    pub features: Vec<FeatureDrift>,
    /// Share of drifting features.
    pub score: f64,
    /// At least 80% of the drifting features moved the same way.
    pub adversarial: bool,
}

/// Compares the cycle's values of one feature with its baseline.
pub fn feature_drift(
    name: &str,
    base: &FeatureBaseline,
    values: &[f64],
    ks_threshold: f64,
) -> FeatureDrift {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len().max(1) as f64;
    // At a quantile q the cycle's CDF jumps from F(q-) to F(q) when values tie at q
    // (binary and count features): level p is matched anywhere in that step.
    let below = |x: f64| v.partition_point(|y| *y < x) as f64 / n;
    let upto = |x: f64| v.partition_point(|y| *y <= x) as f64 / n;
    let ks = base
        .quantiles
        .iter()
        .zip(LEVELS)
        .map(|(q, p)| (below(*q) - p).max(p - upto(*q)).max(0.0))
        .fold(0.0, f64::max);
    // Bins: (-inf, q1], (q1, q2], ..., (q9, inf).
    let mut expected = [0.0; 10];
    let mut prev = 0.0;
    for (i, p) in LEVELS.iter().enumerate() {
        expected[i] = p - prev;
        prev = *p;
    }
    expected[9] = 1.0 - prev;
    let mut counts = [0.0; 10];
    for x in &v {
        let bin = base.quantiles.partition_point(|q| *q < *x);
        counts[bin] += 1.0;
    }
    const EPS: f64 = 1e-4;
    let kl = counts
        .iter()
        .zip(expected)
        .map(|(c, e)| {
            let p = c / n + EPS;
            p * math::ln(p / (e + EPS))
        })
        .sum::<f64>()
        .max(0.0);
    let med = quantile(&v, 0.5);
    let direction = if med > base.quantiles[4] {
        1
    } else if med < base.quantiles[4] {
        -1
    } else {
        0
    };
    FeatureDrift {
        feature: name.to_string(),
        ks,
        kl,
        direction,
        drifting: ks > ks_threshold,
    }
}

/// Summarises per-feature drifts.
pub fn report(features: Vec<FeatureDrift>) -> DriftReport {
    let drifting: Vec<&FeatureDrift> = features.iter().filter(|f| f.drifting).collect();
    let score = drifting.len() as f64 / features.len().max(1) as f64;
    let up = drifting.iter().filter(|f| f.direction > 0).count();
    let down = drifting.iter().filter(|f| f.direction < 0).count();
    let adversarial = !drifting.is_empty() && up.max(down) as f64 >= 0.8 * drifting.len() as f64;
    DriftReport {
        features,
        score,
        adversarial,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(n: usize, shift: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 / n as f64 + shift).collect()
    }

    #[test]
    fn ties_are_not_drift() {
        let binary: Vec<f64> = (0..1000).map(|i| (i % 10 < 3) as u8 as f64).collect();
        let base = FeatureBaseline::of(binary.iter().copied());
        let same = feature_drift("b", &base, &binary[..500], 0.2);
        assert!(same.ks < 0.05 && !same.drifting, "{same:?}");
        let flipped: Vec<f64> = binary.iter().map(|v| 1.0 - v).collect();
        assert!(feature_drift("b", &base, &flipped, 0.2).drifting);
    }

    #[test]
    fn same_distribution_does_not_drift_and_a_shift_does() {
        let base = FeatureBaseline::of(uniform(1000, 0.0).into_iter());
        assert!((base.quantiles[4] - 0.5).abs() < 1e-2);
        let same = feature_drift("x", &base, &uniform(500, 0.0), 0.2);
        assert!(
            same.ks < 0.02 && same.kl < 0.01 && !same.drifting,
            "{same:?}"
        );
        let moved = feature_drift("x", &base, &uniform(500, 0.4), 0.2);
        assert!(
            moved.ks > 0.35 && moved.kl > 0.3 && moved.drifting,
            "{moved:?}"
        );
        assert_eq!(moved.direction, 1);
        let r = report(vec![same, moved]);
        assert_eq!(r.score, 0.5);
        assert!(r.adversarial, "the one drifting feature moved up");
    }
}
