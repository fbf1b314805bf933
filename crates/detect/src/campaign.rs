//! Campaigns (SPEC §5 step 11): anomalies that look alike are one coordinated campaign.
//!
//! Per feature set, the cycle's anomalies are clustered on their model's features, each
//! compressed with a signed `ln(1 + |x|)` (so one member's ten-fold request count does not
//! pull it out of its campaign) and z-scored over the anomalies, as the seed's
//! `StandardScaler` does. DBSCAN (the seed's choice) or HDBSCAN groups them; a group is a
//! campaign. A campaign keeps the id of an earlier campaign it shares addresses with, so
//! an analyst can follow it from cycle to cycle; campaigns of at least
//! `campaign_escalation_size` sessions escalate their HIGH members to CRITICAL, as the seed
//! does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use shrike_cluster::{dbscan, hdbscan, standardize, ClusterError, DbscanParams, HdbscanParams};
use shrike_types::{math, Timestamp};

use crate::config::{CampaignAlgorithm, DetectConfig};
use crate::fleet::by_count;
use crate::prep::{FeatureSetName, Session};
use crate::verdict::{ThreatLevel, Verdict};

/// A campaign of earlier cycles, for identity matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownCampaign {
    /// Its id.
    pub id: i64,
    /// Addresses seen in it within the memory window.
    pub ips: Vec<String>,
}

/// What the cycle remembers of earlier campaigns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignMemory {
    /// Campaigns seen within `campaign_memory_hours`.
    pub known: Vec<KnownCampaign>,
    /// First id free for a new campaign (ids start at 1).
    pub next_id: i64,
}

/// A feature that sets a campaign apart, from its members' explanations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DominantFeature {
    /// Feature name.
    pub feature: String,
    /// Share of the members whose top features include it.
    pub share: f64,
    /// Mean value over those members.
    pub mean_value: f64,
    /// Baseline median.
    pub typical: f64,
    /// Mean signed contribution over those members.
    pub mean_contribution: f64,
}

/// A campaign of the cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Campaign {
    /// Id, stable across cycles while members overlap.
    pub id: i64,
    /// The id was carried over from an earlier cycle.
    pub continued: bool,
    /// Feature set whose anomalies were clustered.
    pub model: FeatureSetName,
    /// Algorithm.
    pub algorithm: CampaignAlgorithm,
    /// Member sessions.
    pub sessions: usize,
    /// Distinct member addresses, sorted.
    pub ips: Vec<String>,
    /// JA4s by sessions.
    pub ja4s: Vec<(String, usize)>,
    /// AS numbers by sessions.
    pub asns: Vec<(u32, usize)>,
    /// Countries by sessions ("" = unknown).
    pub countries: Vec<(String, usize)>,
    /// Hosts by sessions.
    pub hosts: Vec<(String, usize)>,
    /// First request of any member.
    pub first_seen: Timestamp,
    /// Last request of any member.
    pub last_seen: Timestamp,
    /// Features that set it apart (up to 5).
    pub features: Vec<DominantFeature>,
    /// Members per level, after escalation.
    pub levels: BTreeMap<String, usize>,
    /// Members escalated from HIGH to CRITICAL.
    pub escalated: usize,
}

/// One feature set's scored sessions and their model matrix, kept for clustering.
pub(crate) struct ScoredSet {
    pub set: FeatureSetName,
    /// Session indices, one per matrix row.
    pub rows: Vec<usize>,
    /// Row-major model matrix.
    pub x: Vec<f64>,
    /// Columns.
    pub k: usize,
    /// What the matrix holds: the standardised features or the flow's latent vectors.
    pub space: crate::CampaignSpace,
}

/// Clusters rows (already in model feature space) as configured; `None` is noise.
pub fn cluster_rows(
    x: &[f64],
    k: usize,
    cfg: &DetectConfig,
) -> Result<Vec<Option<u32>>, ClusterError> {
    let n = x.len().checked_div(k).unwrap_or(0);
    if cfg.campaign_algorithm == CampaignAlgorithm::Off || n < cfg.campaign_min_samples {
        return Ok(vec![None; n]);
    }
    let squashed: Vec<f64> = x
        .iter()
        .map(|v| v.signum() * math::ln_1p(v.abs()))
        .collect();
    let (z, kept) = standardize(&squashed, k)?;
    if kept.is_empty() {
        // Every anomaly has the same features: one campaign.
        return Ok(vec![Some(0); n]);
    }
    let eps = cfg.campaign_eps * (kept.len() as f64).sqrt();
    match cfg.campaign_algorithm {
        CampaignAlgorithm::Dbscan => dbscan(
            &z,
            kept.len(),
            &DbscanParams {
                eps,
                min_samples: cfg.campaign_min_samples,
                threads: 0,
            },
        ),
        CampaignAlgorithm::Hdbscan => hdbscan(
            &z,
            kept.len(),
            &HdbscanParams {
                min_cluster_size: cfg.campaign_min_samples,
                min_samples: cfg.campaign_min_samples,
                cluster_selection_epsilon: eps,
                threads: 0,
            },
        ),
        CampaignAlgorithm::Off => Ok(vec![None; n]),
    }
}

/// Finds the campaigns of the cycle's anomalies, gives them ids, marks and escalates
/// their members. Returns the campaigns, or the clustering error of a feature set (the
/// other sets are still clustered).
pub(crate) fn find_campaigns(
    sessions: &[Session],
    verdicts: &mut [Verdict],
    sets: &[ScoredSet],
    memory: &CampaignMemory,
    cfg: &DetectConfig,
) -> (Vec<Campaign>, Vec<(FeatureSetName, ClusterError)>) {
    let mut groups: Vec<(FeatureSetName, Vec<usize>)> = Vec::new();
    let mut errors = Vec::new();
    for s in sets {
        let members: Vec<usize> = (0..s.rows.len())
            .filter(|n| verdicts[s.rows[*n]].is_anomaly)
            .collect();
        let x: Vec<f64> = members
            .iter()
            .flat_map(|n| s.x[n * s.k..(n + 1) * s.k].iter().copied())
            .collect();
        let labels = match cluster_rows(&x, s.k, cfg) {
            Ok(l) => l,
            Err(e) => {
                errors.push((s.set, e));
                continue;
            }
        };
        let first = groups.len();
        for (n, label) in members.iter().zip(labels) {
            if let Some(l) = label {
                let at = first + l as usize;
                while groups.len() <= at {
                    groups.push((s.set, Vec::new()));
                }
                groups[at].1.push(s.rows[*n]);
            }
        }
    }
    let ids = assign_ids(sessions, &groups, memory);
    let mut out = Vec::with_capacity(groups.len());
    for ((set, members), (id, continued)) in groups.into_iter().zip(ids) {
        out.push(describe(
            sessions, verdicts, set, &members, id, continued, cfg,
        ));
    }
    (out, errors)
}

/// Ids: a group takes the id of the earlier campaign it shares the most addresses with
/// (greedily, largest overlaps first, each earlier id used once); the others get new ids.
fn assign_ids(
    sessions: &[Session],
    groups: &[(FeatureSetName, Vec<usize>)],
    memory: &CampaignMemory,
) -> Vec<(i64, bool)> {
    let mut owner: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, c) in memory.known.iter().enumerate() {
        for ip in &c.ips {
            owner.entry(ip.as_str()).or_default().push(k);
        }
    }
    let mut overlaps: Vec<(usize, usize, usize)> = Vec::new();
    for (g, (_, members)) in groups.iter().enumerate() {
        let ips: BTreeSet<String> = members
            .iter()
            .map(|i| sessions[*i].row.key.src_ip.to_string())
            .collect();
        let mut count: BTreeMap<usize, usize> = BTreeMap::new();
        for ip in &ips {
            for k in owner.get(ip.as_str()).into_iter().flatten() {
                *count.entry(*k).or_default() += 1;
            }
        }
        overlaps.extend(count.into_iter().map(|(k, n)| (n, g, k)));
    }
    overlaps.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then(a.1.cmp(&b.1))
            .then(memory.known[a.2].id.cmp(&memory.known[b.2].id))
    });
    let mut ids: Vec<Option<i64>> = vec![None; groups.len()];
    let mut used = vec![false; memory.known.len()];
    for (_, g, k) in overlaps {
        if ids[g].is_none() && !used[k] {
            ids[g] = Some(memory.known[k].id);
            used[k] = true;
        }
    }
    let mut next = memory.next_id.max(1);
    ids.into_iter()
        .map(|id| match id {
            Some(id) => (id, true),
            None => {
                next += 1;
                (next - 1, false)
            }
        })
        .collect()
}

/// Summarises a campaign and marks (and escalates) its members.
fn describe(
    sessions: &[Session],
    verdicts: &mut [Verdict],
    model: FeatureSetName,
    members: &[usize],
    id: i64,
    continued: bool,
    cfg: &DetectConfig,
) -> Campaign {
    let mut ja4s = BTreeMap::new();
    let mut asns = BTreeMap::new();
    let mut countries = BTreeMap::new();
    let mut hosts = BTreeMap::new();
    let mut ips = BTreeSet::new();
    let mut first_seen = Timestamp::from_millis(i64::MAX);
    let mut last_seen = Timestamp::from_millis(i64::MIN);
    // feature -> (members, sum of values, typical, sum of contributions)
    let mut feats: BTreeMap<String, (usize, f64, f64, f64)> = BTreeMap::new();
    for i in members {
        let s = &sessions[*i];
        *ja4s.entry(s.row.key.ja4_str().to_string()).or_default() += 1;
        *asns.entry(s.row.asn).or_default() += 1;
        *countries.entry(s.row.country.clone()).or_default() += 1;
        *hosts.entry(s.row.key.host.clone()).or_default() += 1;
        ips.insert(s.row.key.src_ip.to_string());
        first_seen = first_seen.min(s.row.first_seen);
        last_seen = last_seen.max(s.row.last_seen);
        // The forest's attributions describe the campaign (the trees' and the flow's are on
        // other scales).
        for c in verdicts[*i].top.iter().filter(|c| c.scorer == "forest") {
            let e = feats
                .entry(c.feature.clone())
                .or_insert((0, 0.0, c.typical, 0.0));
            e.0 += 1;
            e.1 += c.value;
            e.3 += c.contribution;
        }
    }
    let mut features: Vec<DominantFeature> = feats
        .into_iter()
        .map(
            |(feature, (n, value, typical, contribution))| DominantFeature {
                feature,
                share: n as f64 / members.len() as f64,
                mean_value: value / n as f64,
                typical,
                mean_contribution: contribution / n as f64,
            },
        )
        .collect();
    features.sort_by(|a, b| {
        b.share
            .total_cmp(&a.share)
            .then(
                b.mean_contribution
                    .abs()
                    .total_cmp(&a.mean_contribution.abs()),
            )
            .then(a.feature.cmp(&b.feature))
    });
    features.truncate(5);
    let escalate = members.len() >= cfg.campaign_escalation_size;
    let tag = format!(
        "[Campaign #{id}: {} sessions from {} addresses{}]",
        members.len(),
        ips.len(),
        if continued {
            ", seen in earlier cycles"
        } else {
            ""
        }
    );
    let mut escalated = 0;
    let mut levels = BTreeMap::new();
    for i in members {
        let v = &mut verdicts[*i];
        v.campaign = Some(id);
        if escalate && v.level == ThreatLevel::High {
            v.level = ThreatLevel::Critical;
            escalated += 1;
            v.reason = format!("{} {tag} escalated HIGH -> CRITICAL", v.reason);
        } else {
            v.reason = format!("{} {tag}", v.reason);
        }
        *levels.entry(v.level.as_str().to_string()).or_default() += 1;
    }
    Campaign {
        id,
        continued,
        model,
        algorithm: cfg.campaign_algorithm,
        sessions: members.len(),
        ips: ips.into_iter().collect(),
        ja4s: by_count(ja4s),
        asns: by_count(asns),
        countries: by_count(countries),
        hosts: by_count(hosts),
        first_seen,
        last_seen,
        features,
        levels,
        escalated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prep::SessionRow;
    use shrike_types::SessionKey;

    /// The address of host `name` ("a" = 10.0.0.1, "b" = 10.0.0.2, ...).
    fn addr(name: &str) -> String {
        format!("10.0.0.{}", name.as_bytes()[0] - b'a' + 1)
    }

    fn session(name: &str) -> Session {
        let mut row = SessionRow::new(SessionKey {
            window_start: Timestamp::from_millis(0),
            src_ip: addr(name).parse().unwrap(),
            ja4: None,
            host: String::new(),
        });
        row.correlated = true;
        Session::new(row)
    }

    #[test]
    fn ids_follow_the_largest_address_overlap_and_are_never_shared() {
        let sessions: Vec<Session> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|ip| session(ip))
            .collect();
        let set = FeatureSetName::Complete;
        // Group 0 = a, b, c; group 1 = c, d; group 2 = e; group 3 = f.
        let groups = vec![
            (set, vec![0, 1, 2]),
            (set, vec![2, 3]),
            (set, vec![4]),
            (set, vec![5]),
        ];
        let ips = |v: &[&str]| v.iter().map(|s| addr(s)).collect();
        let memory = CampaignMemory {
            known: vec![
                // Shares c, d with group 1 and c with group 0.
                KnownCampaign {
                    id: 4,
                    ips: ips(&["c", "d"]),
                },
                // Shares a, b with group 0.
                KnownCampaign {
                    id: 9,
                    ips: ips(&["a", "b", "z"]),
                },
                // Shares e with group 2, but group 2 ties with nobody else.
                KnownCampaign {
                    id: 2,
                    ips: ips(&["e"]),
                },
            ],
            next_id: 10,
        };
        let ids = assign_ids(&sessions, &groups, &memory);
        assert_eq!(ids, vec![(9, true), (4, true), (2, true), (10, false)]);
        // With nothing remembered, ids are handed out in group order from next_id.
        let fresh = assign_ids(
            &sessions,
            &groups,
            &CampaignMemory {
                known: vec![],
                next_id: 0,
            },
        );
        assert_eq!(fresh, vec![(1, false), (2, false), (3, false), (4, false)]);
    }

    #[test]
    fn off_or_too_few_anomalies_give_no_campaign() {
        let x = vec![1.0; 4 * 3];
        let mut cfg = DetectConfig::default();
        assert_eq!(
            cluster_rows(&x, 3, &cfg).unwrap(),
            vec![None; 4],
            "4 < min_samples 5"
        );
        let x = vec![1.0; 6 * 3];
        assert_eq!(
            cluster_rows(&x, 3, &cfg).unwrap(),
            vec![Some(0); 6],
            "identical rows"
        );
        cfg.campaign_algorithm = CampaignAlgorithm::Off;
        assert_eq!(cluster_rows(&x, 3, &cfg).unwrap(), vec![None; 6]);
    }
}
