//! Each scored session's verdict and reason, and the explanation of each anomaly by
//! every scorer that judged it (SPEC §5 steps 8 and 10), then the Anubis DENY overrides.

use std::collections::BTreeMap;

use serde_json::json;

use super::combine::Combined;
use super::score::SetScores;
use super::Ctx;
use crate::supervised::TreesModel;
use crate::verdict::{Contribution, DecisionKind, ThreatLevel};

/// The `take` features with the largest `rank` (ties in column order), each with its value,
/// the baseline median and the scorer's `contribution`.
fn top(
    features: &[String],
    row: &[f64],
    medians: &[f64],
    rank: &[f64],
    contribution: &[f64],
    take: usize,
    scorer: &'static str,
) -> Vec<Contribution> {
    let mut order: Vec<usize> = (0..rank.len()).collect();
    // Largest first; equal ranks in column order.
    let by_rank = |a: &usize, b: &usize| rank[*b].total_cmp(&rank[*a]).then(a.cmp(b));
    if take < order.len() {
        order.select_nth_unstable_by(take, by_rank);
        order.truncate(take);
    }
    order.sort_by(by_rank);
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

/// `f(i)` for `i` in `0..n`, in order, over the cores (each takes a contiguous share).
fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = n.div_ceil(threads).max(256);
    if n <= per {
        return (0..n).map(f).collect();
    }
    let f = &f;
    std::thread::scope(|scope| {
        let parts: Vec<_> = (0..n)
            .step_by(per)
            .map(|start| {
                scope.spawn(move || (start..(start + per).min(n)).map(f).collect::<Vec<T>>())
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("an explanation worker panicked"))
            .collect()
    })
}

/// A one-line summary of a scorer's top features.
fn voice(top: &[Contribution], with_contribution: bool) -> String {
    top.iter()
        .map(|c| {
            if with_contribution {
                format!("{} {:+.2}", c.feature, c.contribution)
            } else {
                c.feature.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Ctx<'_> {
    /// Step 8 and 10: each scored session's scores, level and reason; for the anomalies,
    /// the top features by each scorer (forest importance signed against the baseline
    /// median, the trees' TreeSHAP, the flow's share of −log p), computed together.
    pub(super) fn explain(&mut self, s: &SetScores, trees: Option<&TreesModel>, c: &Combined) {
        let (set, k, cfg) = (s.set, s.k, self.cfg);
        let name = set.as_str();
        let meta = &s.model.meta;
        let medians: Vec<f64> = meta
            .features
            .iter()
            .map(|f| meta.baseline.get(f).map_or(0.0, |b| b.quantiles[4]))
            .collect();
        // The anomalies, and the sessions a strong finding will make impersonators: their
        // statistics follow the evidence in the reason and characterise their campaigns.
        let impersonator = |n: usize| self.evidence[s.scored[n]] == super::Evidence::Bot;
        let flagged: Vec<usize> = (0..s.scored.len())
            .filter(|n| c.alert[*n] || impersonator(*n))
            .collect();
        let rows: Vec<f64> = flagged.iter().flat_map(|n| s.row(*n)).copied().collect();
        let attributions = s.model.forest.attributions(&rows).unwrap_or_default();
        let rows32: Vec<f32> = flagged
            .iter()
            .flat_map(|n| &s.x32[n * k..(n + 1) * k])
            .copied()
            .collect();
        let flow_terms: Option<Vec<f32>> = s.flow().and_then(|f| f.contributions(&rows32).ok());
        // TreeSHAP of every flagged row at once (leaves tabulated, rows in parallel).
        let shap: Option<Vec<f64>> = trees.map(|t| t.gbdt.contributions_many(&rows32, 0).0);
        let threshold = c.threshold;
        // Each flagged row's top features and reason, in parallel.
        let verdicts = &self.out.verdicts;
        let explained = parallel_map(flagged.len(), |at| {
            let n = flagged[at];
            let row = s.row(n);
            let r = c.penalised[n];
            let penalty = c.raw[n] - r;
            let zeros = vec![0.0; k];
            let imp = attributions.get(at).unwrap_or(&zeros);
            let signed: Vec<f64> = (0..k)
                .map(|j| {
                    if row[j] >= medians[j] {
                        imp[j]
                    } else {
                        -imp[j]
                    }
                })
                .collect();
            let mut all = top(&meta.features, row, &medians, imp, &signed, 5, "forest");
            let parts_text: Vec<String> = all
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
            if let Some(phi) = &shap {
                let phi = &phi[at * k..(at + 1) * k];
                let rank: Vec<f64> = phi.iter().map(|p| p.abs()).collect();
                let top = top(&meta.features, row, &medians, &rank, phi, 3, "trees");
                voices.push(format!(
                    "trees: bot probability {:.2} ({})",
                    c.parts[n].2.unwrap_or(0.0),
                    voice(&top, true)
                ));
                all.extend(top);
            }
            if let Some(terms) = &flow_terms {
                let t: Vec<f64> = terms[at * k..(at + 1) * k]
                    .iter()
                    .map(|v| f64::from(*v))
                    .collect();
                let top = top(&meta.features, row, &medians, &t, &t, 3, "flow");
                voices.push(format!(
                    "flow: -log p {:.1} ({})",
                    s.flow_nll.as_ref().map_or(0.0, |f| f[n]),
                    voice(&top, false)
                ));
                all.extend(top);
            }
            let verdict = if c.alert[n] {
                format!("anomaly: score {r:.3} below threshold {threshold:.3}")
            } else {
                format!("score {r:.3} (threshold {threshold:.3})")
            };
            let reason = format!(
                "[{name}] {verdict}{}; {}{}",
                if penalty > 0.0 {
                    format!(
                        " (recurrence {}, penalty {penalty:.3})",
                        verdicts[s.scored[n]].recurrence
                    )
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
            (all, reason)
        });
        let mut explained = explained.into_iter();
        for (n, i) in s.scored.iter().enumerate() {
            let v = &mut self.out.verdicts[*i];
            let r = c.penalised[n];
            v.model = Some(set);
            v.raw_score = r;
            v.anomaly_score = c.combined[n];
            (v.forest_score, v.flow_score, v.trees_prob) = c.parts[n];
            v.level = crate::verdict::level_of_raw(r, cfg);
            v.is_anomaly = c.alert[n];
            if v.is_anomaly && v.level.severity() < ThreatLevel::Medium.severity() {
                // Flagged by the meta-learner's probability outside the percentile budget.
                v.level = ThreatLevel::Medium;
            }
            if c.alert[n] || impersonator(n) {
                (v.top, v.reason) = explained.next().unwrap_or_default();
            } else {
                v.reason = format!("[{name}] score {r:.3} (threshold {threshold:.3})");
            }
        }
    }

    /// Policy DENY is scored like the rest and always reported as ANUBIS_DENY (the score
    /// says how bad); a user agent naming a bot is noted as a claim only.
    pub(super) fn policy(&mut self, s: &SetScores) {
        let mut denied: BTreeMap<&str, usize> = BTreeMap::new();
        for i in &s.scored {
            let (p, v) = (&self.sessions[*i].policy, &mut self.out.verdicts[*i]);
            if !p.deny.is_empty() {
                v.level = ThreatLevel::AnubisDeny;
                v.reason = format!("[Anubis DENY] rule {}; {}", p.deny, v.reason);
                *denied.entry(&p.deny).or_default() += 1;
            }
            if !p.claimed_bot.is_empty() {
                v.reason = format!(
                    "{} | user agent claims {} (unverified)",
                    v.reason, p.claimed_bot
                );
            }
        }
        if !denied.is_empty() {
            self.decide(
                DecisionKind::AnubisDeny,
                Some(s.set),
                json!({"sessions_per_rule": denied}),
            );
        }
    }
}
