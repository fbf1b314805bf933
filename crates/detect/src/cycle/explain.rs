//! Top contributing features of an anomaly, for any scorer.

use crate::verdict::Contribution;

/// The `take` features with the largest `rank` (ties in column order), each with its value,
/// the baseline median and the scorer's `contribution`.
pub(super) fn top(
    features: &[String],
    row: &[f64],
    medians: &[f64],
    rank: &[f64],
    contribution: &[f64],
    take: usize,
    scorer: &'static str,
) -> Vec<Contribution> {
    let mut order: Vec<usize> = (0..rank.len()).collect();
    // Stable: equal ranks keep column order.
    order.sort_by(|a, b| rank[*b].total_cmp(&rank[*a]));
    order
        .into_iter()
        .take(take)
        .map(|j| Contribution {
            feature: features[j].clone(),
            value: row[j],
            typical: medians[j],
            contribution: contribution[j],
            scorer,
        })
        .collect()
}
