//! The human baseline a feature set's model learns from (SPEC §5 step 3): unknown traffic
//! from ISP networks with coherent fingerprints; without enough of it (no ASN reputation,
//! or one that does not cover the traffic), confidently identified browsers, trimmed by a
//! first isolation-forest pass.

use serde_json::json;
use shrike_dict::AsnLabel;
use shrike_features::FeatureId;
use shrike_forest::{ForestParams, IsolationForest};
use shrike_types::FeatureSetName;

use super::Ctx;
use crate::prep::{self, Session};

/// Trees of the first pass that trims an identity baseline.
const TRIM_TREES: usize = 100;

/// A set's human baseline and, when it did not come from the ASN labels, how it was built.
pub(super) struct Baseline {
    /// Indices of the baseline sessions, in session order.
    pub rows: Vec<usize>,
    /// `Some` (the decision's payload) when browser identity replaced the ASN labels.
    pub from_identity: Option<serde_json::Value>,
}

/// Whether a session may teach a set's model: the application model learns from every
/// session (its features exist for all), the complete model from correlated ones.
fn may_teach(set: FeatureSetName, s: &Session) -> bool {
    set == FeatureSetName::Application || s.row.correlated
}

impl Ctx<'_> {
    /// The human baseline of `set` among the `unknown` sessions.
    pub(super) fn baseline(&mut self, set: FeatureSetName, unknown: &[usize]) -> Baseline {
        let (sessions, cfg) = (self.sessions, self.cfg);
        let coherent = |s: &Session| {
            s.get(FeatureId::FingerprintCoherenceScore) >= cfg.fingerprint_coherence_threshold
        };
        // An impersonator by evidence (a strong finding, a policy DENY) is never a person,
        // whatever network it comes from.
        let evidence = &self.evidence;
        let not_a_bot = |i: usize| evidence[i] != super::Evidence::Bot;
        let isp: Vec<usize> = unknown
            .iter()
            .copied()
            .filter(|i| {
                let s = &sessions[*i];
                may_teach(set, s)
                    && s.row.asn_label == AsnLabel::Isp
                    && coherent(s)
                    && not_a_bot(*i)
            })
            .collect();
        if isp.len() >= cfg.min_baseline_sessions || !cfg.identity_baseline {
            return Baseline {
                rows: isp,
                from_identity: None,
            };
        }
        // Browser identity instead of the network: a browser family identified with
        // confidence, coherent fingerprints, not from a hosting or VPN network (an unknown
        // ASN is allowed), no evidence of a bot (a strong finding, a policy DENY).
        let candidates: Vec<usize> = unknown
            .iter()
            .copied()
            .filter(|i| {
                let (s, b) = (&sessions[*i], &self.browsers[*i]);
                may_teach(set, s)
                    && coherent(s)
                    && not_a_bot(*i)
                    && !matches!(s.row.asn_label, AsnLabel::Hosting | AsnLabel::Vpn)
                    && b.identified(cfg.browser_confidence_threshold)
            })
            .collect();
        let (rows, trim) = self.trim(set, candidates.clone());
        if rows.len() <= isp.len() {
            return Baseline {
                rows: isp,
                from_identity: None,
            };
        }
        let payload = json!({
            "isp_sessions": isp.len(), "minimum": cfg.min_baseline_sessions,
            "identified_browsers": candidates.len(), "trimmed": trim,
            "baseline": rows.len(),
            "rule": format!(
                "browser confidence >= {}, fingerprint coherence >= {}, not hosting or VPN, no policy DENY, minus the {:.0}% most anomalous by a first forest pass",
                cfg.browser_confidence_threshold, cfg.fingerprint_coherence_threshold,
                100.0 * cfg.identity_baseline_trim
            ),
            "note": "an ASN reputation file (shrike dict import asn-hosting ...) gives a network-based baseline",
        });
        Baseline {
            rows,
            from_identity: Some(payload),
        }
    }

    /// Removes the `identity_baseline_trim` share of `rows` a first isolation forest finds
    /// most anomalous; returns the rest (in session order) and the number removed, or a
    /// note of why nothing was removed.
    fn trim(&self, set: FeatureSetName, rows: Vec<usize>) -> (Vec<usize>, serde_json::Value) {
        let cfg = self.cfg;
        let n = (rows.len() as f64 * cfg.identity_baseline_trim).floor() as usize;
        if n == 0 {
            return (rows, json!(0));
        }
        let cols = prep::columns(set);
        let x = self.matrix(&rows, &cols);
        let params = ForestParams {
            trees: TRIM_TREES,
            ndim: cfg.ndim,
            sample_size: cfg.sample_size,
            max_depth: None,
            seed: cfg.seed,
            threads: 0,
        };
        let scores = match IsolationForest::fit(&x, cols.len(), &params).and_then(|f| f.score(&x)) {
            Ok(s) => s,
            Err(e) => return (rows, json!(format!("none: the first pass failed ({e})"))),
        };
        // Most anomalous first (highest isolation score); ties keep session order.
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
        let mut keep = vec![true; rows.len()];
        for j in &order[..n] {
            keep[*j] = false;
        }
        let kept = rows
            .into_iter()
            .zip(keep)
            .filter_map(|(i, k)| k.then_some(i))
            .collect();
        (kept, json!(n))
    }
}
