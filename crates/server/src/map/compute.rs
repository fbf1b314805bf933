//! The cluster map's computation, as the seed dashboard does it: every (IP, JA4) pair as a
//! row of [`MAP_FEATURES`] scaled to [0, 1], z-scored, k-means++ (k × sensitivity clamped
//! to 4..=50, n_init 3, max_iter 80, seeded), the scaled rows projected on their first two
//! principal axes, a convex hull per cluster, a name from the centroid and the TCP
//! statistics, a risk score and colour, and edges to each cluster's two nearest.

use serde::Serialize;
use shrike_cluster::{convex_hull, kmeans, pca_2d, standardize, KmeansParams};
use shrike_types::hashing::{map, set, Map as HashMap, Set as HashSet};
use shrike_types::{math, ThreatLevel};

/// One (IP, JA4) pair, its traffic aggregated over the map's window.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRow {
    /// Client address.
    pub ip: String,
    /// JA4 ("" when none).
    pub ja4: String,
    /// User agent of the first session.
    pub user_agent: String,
    /// Requests.
    pub hits: u64,
    /// Mean anomaly score (0..1).
    pub score: f64,
    /// Highest threat level.
    pub threat: ThreatLevel,
    /// Country code.
    pub country: String,
    /// AS organisation.
    pub asn_org: String,
    /// SYN TTL, window, window scale and MSS (0: unknown).
    pub tcp: [f64; 4],
    /// [`MAP_FEATURES`], each scaled to [0, 1].
    pub values: [f64; MAP_FEATURES.len()],
}

/// A feature of the map: its name and how a raw value becomes [0, 1].
#[derive(Debug, Clone, Copy)]
pub struct MapFeature {
    /// Name shown on the radar.
    pub name: &'static str,
    /// Raw values at or above this map to 1 (ratios and flags: 1).
    pub full_scale: f64,
}

/// The map's features, in row order.
pub const MAP_FEATURES: [MapFeature; 20] = [
    MapFeature {
        name: "anomaly_score",
        full_scale: 1.0,
    },
    MapFeature {
        name: "hit_velocity",
        full_scale: 10.0,
    },
    MapFeature {
        name: "fuzzing_index",
        full_scale: 5.0,
    },
    MapFeature {
        name: "post_ratio",
        full_scale: 1.0,
    },
    MapFeature {
        name: "ip_id_zero_ratio",
        full_scale: 1.0,
    },
    MapFeature {
        name: "temporal_entropy",
        full_scale: 5.0,
    },
    MapFeature {
        name: "modern_browser_score",
        full_scale: 1.0,
    },
    MapFeature {
        name: "alpn_http_mismatch",
        full_scale: 1.0,
    },
    MapFeature {
        name: "is_alpn_missing",
        full_scale: 1.0,
    },
    MapFeature {
        name: "multiplexing_efficiency",
        full_scale: 1.0,
    },
    MapFeature {
        name: "header_order_confidence",
        full_scale: 1.0,
    },
    MapFeature {
        name: "ua_ch_mismatch",
        full_scale: 1.0,
    },
    MapFeature {
        name: "asset_ratio",
        full_scale: 1.0,
    },
    MapFeature {
        name: "direct_access_ratio",
        full_scale: 1.0,
    },
    MapFeature {
        name: "distinct_ja4_count",
        full_scale: 10.0,
    },
    MapFeature {
        name: "is_ua_rotating",
        full_scale: 1.0,
    },
    MapFeature {
        name: "sec_fetch_absence_rate",
        full_scale: 1.0,
    },
    MapFeature {
        name: "login_post_concentration",
        full_scale: 1.0,
    },
    MapFeature {
        name: "anomalous_payload_ratio",
        full_scale: 1.0,
    },
    MapFeature {
        name: "tcp_ttl",
        full_scale: 255.0,
    },
];

/// Index of a feature in [`MAP_FEATURES`].
pub(crate) fn feature_index(name: &str) -> Option<usize> {
    MAP_FEATURES.iter().position(|f| f.name == name)
}

/// Scales a raw value to [0, 1]; missing (negative, the -1 of binary features) and
/// non-finite values map to 0.
pub(crate) fn scale(raw: f64, full_scale: f64) -> f64 {
    if raw.is_finite() && raw > 0.0 {
        (raw / full_scale).min(1.0)
    } else {
        0.0
    }
}

/// Parameters of one map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MapParams {
    /// Base number of clusters (4..=30).
    pub k: usize,
    /// Window in hours (1..=168).
    pub hours: u32,
    /// Multiplier of k (0.5..=3.0).
    pub sensitivity: f64,
}

impl MapParams {
    /// The clusters actually computed: k × sensitivity rounded, clamped to 4..=50.
    pub fn k_actual(&self) -> usize {
        ((self.k as f64 * self.sensitivity).round() as usize).clamp(4, 50)
    }
}

/// One cluster of the map.
#[derive(Debug, Clone, Serialize)]
pub struct MapNode {
    /// `c{index}_k{k}`.
    pub id: String,
    /// Index.
    pub cluster_idx: usize,
    /// Name from the centroid (and an OS guess from TTL/MSS).
    pub label: String,
    /// Mean position of the members.
    pub pca_x: f64,
    /// Mean position of the members.
    pub pca_y: f64,
    /// Drawing radius.
    pub radius: u32,
    /// Colour of the risk band.
    pub color: &'static str,
    /// Risk (0..1) from the centroid.
    pub risk_score: f64,
    /// Distinct addresses.
    pub ip_count: usize,
    /// (IP, JA4) rows.
    pub row_count: usize,
    /// Requests.
    pub hit_count: u64,
    /// Mean SYN TTL.
    pub mean_ttl: f64,
    /// Mean MSS.
    pub mean_mss: f64,
    /// Mean window scale.
    pub mean_scale: f64,
    /// Mean window.
    pub mean_win: f64,
    /// Mean anomaly score.
    pub mean_score: f64,
    /// Most frequent threat level.
    pub top_threat: String,
    /// Most frequent countries.
    pub top_countries: Vec<String>,
    /// Most frequent AS organisations.
    pub top_orgs: Vec<String>,
    /// Addresses with the most requests.
    pub sample_ips: Vec<String>,
    /// User agent of the busiest row.
    pub sample_ua: String,
    /// Centroid per feature, in [0, 1].
    pub radar: Vec<RadarValue>,
    /// Convex hull of the members' positions.
    pub hull: Vec<[f64; 2]>,
}

/// One axis of a radar.
#[derive(Debug, Clone, Serialize)]
pub struct RadarValue {
    /// Feature.
    pub feature: &'static str,
    /// Centroid value in [0, 1].
    pub value: f64,
}

/// A link between two similar clusters.
#[derive(Debug, Clone, Serialize)]
pub struct MapEdge {
    /// `e_{source}_{target}`.
    pub id: String,
    /// Node id.
    pub source: String,
    /// Node id.
    pub target: String,
    /// 1 / (1 + distance between the centroids in z-score space).
    pub similarity: f64,
}

/// Whole-map figures.
#[derive(Debug, Clone, Serialize)]
pub struct MapStats {
    /// Non-empty clusters.
    pub total_clusters: usize,
    /// Distinct addresses.
    pub total_ips: usize,
    /// Requests.
    pub total_hits: u64,
    /// Addresses in clusters of risk > 0.45.
    pub bot_ips: usize,
    /// Addresses in clusters of risk > 0.25.
    pub high_risk_ips: usize,
    /// (IP, JA4) rows.
    pub n_samples: usize,
    /// Clusters computed.
    pub k: usize,
    /// Base k.
    pub k_base: usize,
    /// Sensitivity.
    pub sensitivity: f64,
    /// k-means iterations of the kept seeding.
    pub iterations: usize,
    /// Seconds to compute.
    pub elapsed_s: f64,
}

/// A computed map: the summary sent to the page and every row's position and cluster.
#[derive(Debug, Clone)]
pub struct MapResult {
    /// Clusters.
    pub nodes: Vec<MapNode>,
    /// Links.
    pub edges: Vec<MapEdge>,
    /// Figures.
    pub stats: MapStats,
    /// Rows, in input order.
    pub rows: Vec<MapRow>,
    /// Position of each row.
    pub coords: Vec<[f64; 2]>,
    /// Cluster of each row.
    pub labels: Vec<u32>,
    /// Row indices of each cluster, busiest first.
    pub members: Vec<Vec<u32>>,
}

/// Risk bands of the seed: critical, high, moderate, calm.
pub fn risk_color(risk: f64) -> &'static str {
    match risk {
        r if r >= 0.70 => "#dc2626",
        r if r >= 0.45 => "#f97316",
        r if r >= 0.25 => "#eab308",
        r if r >= 0.0 => "#22c55e",
        _ => "#6b7280",
    }
}

/// Risk from a centroid in [0, 1] space: a weighted sum of the signs of automation.
pub fn risk_from_centroid(c: &[f64]) -> f64 {
    let v = |name: &str| feature_index(name).map_or(0.0, |i| c[i]);
    let risk = 0.40 * v("anomaly_score")
        + 0.08 * v("hit_velocity")
        + 0.08 * v("fuzzing_index")
        + 0.08 * v("ua_ch_mismatch")
        + 0.05 * v("alpn_http_mismatch")
        + 0.05 * v("is_ua_rotating")
        + 0.06 * v("login_post_concentration")
        + 0.06 * v("anomalous_payload_ratio")
        + 0.06 * v("sec_fetch_absence_rate")
        + 0.08 * (1.0 - v("modern_browser_score"));
    risk.clamp(0.0, 1.0)
}

/// An operating-system guess from the SYN's TTL and MSS.
pub fn os_guess(ttl: f64, mss: f64) -> &'static str {
    if ttl <= 0.0 {
        return "OS unknown";
    }
    let os = if ttl <= 64.0 {
        "Linux/macOS"
    } else if ttl <= 128.0 {
        "Windows"
    } else {
        "Network device"
    };
    if mss > 0.0 && mss < 1380.0 && ttl <= 64.0 {
        "Linux/macOS (mobile or tunnel MSS)"
    } else {
        os
    }
}

/// A name for a cluster from its centroid (in [0, 1] space) and its mean MSS.
pub fn name_cluster(c: &[f64], risk: f64, mean_ttl: f64, mean_mss: f64) -> String {
    let v = |name: &str| feature_index(name).map_or(0.0, |i| c[i]);
    let kind = if v("anomalous_payload_ratio") > 0.3 || v("fuzzing_index") > 0.5 {
        "Vulnerability scanner"
    } else if v("login_post_concentration") > 0.3 {
        "Credential stuffing"
    } else if v("ua_ch_mismatch") > 0.5 {
        "UA-CH mismatch"
    } else if v("is_ua_rotating") > 0.5 || v("distinct_ja4_count") > 0.3 {
        "Fingerprint rotation"
    } else if mean_mss > 0.0 && mean_mss < 1380.0 && risk >= 0.25 {
        "Network tunnel"
    } else if v("hit_velocity") > 0.5 && risk >= 0.45 {
        "Aggressive bot"
    } else if risk >= 0.45 {
        "Automated client"
    } else if v("modern_browser_score") > 0.6 && risk < 0.25 {
        "Browsers"
    } else {
        "Mixed traffic"
    };
    format!("{kind} · {}", os_guess(mean_ttl, mean_mss))
}

/// One cluster's running sums.
struct Acc<'a> {
    count: usize,
    centroid: Vec<f64>,
    tcp: [f64; 4],
    tcp_n: f64,
    x: f64,
    y: f64,
    score: f64,
    hits: u64,
    ips: HashSet<&'a str>,
    threats: HashMap<&'a str, usize>,
    countries: HashMap<&'a str, usize>,
    orgs: HashMap<&'a str, usize>,
}

impl<'a> Acc<'a> {
    fn new(dims: usize) -> Self {
        Acc {
            count: 0,
            centroid: vec![0.0; dims],
            tcp: [0.0; 4],
            tcp_n: 0.0,
            x: 0.0,
            y: 0.0,
            score: 0.0,
            hits: 0,
            ips: set(),
            threats: map(),
            countries: map(),
            orgs: map(),
        }
    }

    fn add(&mut self, r: &'a MapRow, xy: [f64; 2]) {
        self.count += 1;
        for (c, v) in self.centroid.iter_mut().zip(&r.values) {
            *c += v;
        }
        if r.tcp[0] > 0.0 {
            self.tcp_n += 1.0;
            for (t, v) in self.tcp.iter_mut().zip(&r.tcp) {
                *t += v;
            }
        }
        self.x += xy[0];
        self.y += xy[1];
        self.score += r.score;
        self.hits += r.hits;
        self.ips.insert(&r.ip);
        for (map, v) in [
            (&mut self.threats, r.threat.as_str()),
            (&mut self.countries, r.country.as_str()),
            (&mut self.orgs, r.asn_org.as_str()),
        ] {
            if !v.is_empty() {
                *map.entry(v).or_default() += 1;
            }
        }
    }
}

/// The `n` most frequent values, ties by value.
fn top_k(counts: HashMap<&str, usize>, n: usize) -> Vec<String> {
    let mut v: Vec<(&str, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    v.into_iter().take(n).map(|(k, _)| k.to_string()).collect()
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// Computes the map of `rows`.
pub fn compute(
    rows: Vec<MapRow>,
    params: MapParams,
    seed: u64,
    threads: usize,
) -> Result<MapResult, String> {
    let started = std::time::Instant::now();
    let k = params.k_actual();
    let n = rows.len();
    if n < k {
        return Err(format!(
            "only {n} (IP, JA4) pairs in the last {} h; {k} clusters need at least {k}",
            params.hours
        ));
    }
    let dims = MAP_FEATURES.len();
    let scaled: Vec<f64> = rows.iter().flat_map(|r| r.values).collect();
    let (z, kept) = standardize(&scaled, dims).map_err(|e| e.to_string())?;
    if kept.is_empty() {
        return Err("every row has the same features: nothing to cluster".into());
    }
    let km = kmeans(
        &z,
        kept.len(),
        &KmeansParams {
            k,
            n_init: 3,
            max_iter: 80,
            seed,
            tol: 1e-4,
            threads,
        },
    )
    .map_err(|e| e.to_string())?;
    let coords = pca_2d(&scaled, dims).map_err(|e| e.to_string())?;

    // One pass in row order accumulates every cluster's figures (random access into the
    // rows, cluster by cluster, would be several times slower on a million rows).
    let mut acc: Vec<Acc> = (0..k).map(|_| Acc::new(dims)).collect();
    for (i, (r, l)) in rows.iter().zip(&km.labels).enumerate() {
        acc[*l as usize].add(r, coords[i]);
    }
    let hits: Vec<u64> = rows.iter().map(|r| r.hits).collect();
    let mut members: Vec<Vec<u32>> = acc.iter().map(|a| Vec::with_capacity(a.count)).collect();
    for (i, l) in km.labels.iter().enumerate() {
        members[*l as usize].push(i as u32);
    }
    for m in &mut members {
        m.sort_unstable_by_key(|i| (std::cmp::Reverse(hits[*i as usize]), *i));
    }
    let mut nodes = Vec::new();
    for (j, (a, m)) in acc.into_iter().zip(&members).enumerate() {
        if m.is_empty() {
            continue;
        }
        let count = a.count as f64;
        let centroid: Vec<f64> = a.centroid.iter().map(|c| c / count).collect();
        let tcp = if a.tcp_n > 0.0 {
            a.tcp.map(|t| t / a.tcp_n)
        } else {
            [0.0; 4]
        };
        let risk = risk_from_centroid(&centroid);
        let hull_points: Vec<[f64; 2]> = m.iter().map(|i| coords[*i as usize]).collect();
        let mut sample_ips: Vec<String> = Vec::new();
        for i in m {
            if sample_ips.len() == 8 {
                break;
            }
            let ip = &rows[*i as usize].ip;
            if !sample_ips.contains(ip) {
                sample_ips.push(ip.clone());
            }
        }
        nodes.push(MapNode {
            id: format!("c{j}_k{k}"),
            cluster_idx: j,
            label: name_cluster(&centroid, risk, tcp[0], tcp[3]),
            pca_x: round(a.x / count, 6),
            pca_y: round(a.y / count, 6),
            radius: (math::ln_1p(a.ips.len() as f64) * 2.2).clamp(8.0, 30.0) as u32,
            color: risk_color(risk),
            risk_score: round(risk, 4),
            ip_count: a.ips.len(),
            row_count: a.count,
            hit_count: a.hits,
            mean_ttl: round(tcp[0], 1),
            mean_win: round(tcp[1], 0),
            mean_scale: round(tcp[2], 1),
            mean_mss: round(tcp[3], 0),
            mean_score: round(a.score / count, 4),
            top_threat: top_k(a.threats, 1).pop().unwrap_or_default(),
            top_countries: top_k(a.countries, 5),
            top_orgs: top_k(a.orgs, 5),
            sample_ips,
            sample_ua: rows[m[0] as usize].user_agent.clone(),
            radar: MAP_FEATURES
                .iter()
                .zip(&centroid)
                .map(|(f, v)| RadarValue {
                    feature: f.name,
                    value: round(*v, 4),
                })
                .collect(),
            hull: convex_hull(&hull_points)
                .into_iter()
                .map(|p| [round(p[0], 5), round(p[1], 5)])
                .collect(),
        });
    }
    let edges = knn_edges(&nodes, &km.centroids, kept.len());
    let bot_ips = nodes
        .iter()
        .filter(|n| n.risk_score > 0.45)
        .map(|n| n.ip_count)
        .sum();
    let high_risk_ips = nodes
        .iter()
        .filter(|n| n.risk_score > 0.25)
        .map(|n| n.ip_count)
        .sum();
    let total_ips = {
        let mut ips: HashSet<&str> = set();
        ips.extend(rows.iter().map(|r| r.ip.as_str()));
        ips.len()
    };
    let stats = MapStats {
        total_clusters: nodes.len(),
        total_ips,
        total_hits: rows.iter().map(|r| r.hits).sum(),
        bot_ips,
        high_risk_ips,
        n_samples: n,
        k,
        k_base: params.k,
        sensitivity: params.sensitivity,
        iterations: km.iterations,
        elapsed_s: round(started.elapsed().as_secs_f64(), 3),
    };
    Ok(MapResult {
        nodes,
        edges,
        stats,
        rows,
        coords,
        labels: km.labels,
        members,
    })
}

/// Each cluster linked to its two nearest (centroid distance in z-score space), once per
/// pair.
fn knn_edges(nodes: &[MapNode], centroids: &[f64], dims: usize) -> Vec<MapEdge> {
    let c = |n: &MapNode| &centroids[n.cluster_idx * dims..(n.cluster_idx + 1) * dims];
    let mut seen = set();
    let mut edges = Vec::new();
    for a in nodes {
        let mut d: Vec<(f64, &MapNode)> = nodes
            .iter()
            .filter(|b| b.cluster_idx != a.cluster_idx)
            .map(|b| {
                let d2: f64 = c(a).iter().zip(c(b)).map(|(x, y)| (x - y) * (x - y)).sum();
                (d2, b)
            })
            .collect();
        d.sort_by(|x, y| {
            x.0.total_cmp(&y.0)
                .then(x.1.cluster_idx.cmp(&y.1.cluster_idx))
        });
        for (d2, b) in d.into_iter().take(2) {
            let key = (
                a.cluster_idx.min(b.cluster_idx),
                a.cluster_idx.max(b.cluster_idx),
            );
            if !seen.insert(key) {
                continue;
            }
            edges.push(MapEdge {
                id: format!("e_{}_{}", a.id, b.id),
                source: a.id.clone(),
                target: b.id.clone(),
                similarity: round(1.0 / (1.0 + d2.sqrt()), 3),
            });
        }
    }
    edges
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: usize, group: usize) -> MapRow {
        let mut values = [0.0; MAP_FEATURES.len()];
        let jitter = (i % 7) as f64 * 0.01;
        let set = |v: &mut [f64; MAP_FEATURES.len()], name: &str, x: f64| {
            v[feature_index(name).unwrap()] = x;
        };
        match group {
            // Browsers: calm, modern.
            0 => {
                set(&mut values, "modern_browser_score", 0.9 + jitter);
                set(&mut values, "asset_ratio", 0.6);
                set(&mut values, "header_order_confidence", 0.95);
                set(&mut values, "tcp_ttl", 64.0 / 255.0);
            }
            // Scanner: anomalous payloads, high score.
            1 => {
                set(&mut values, "anomaly_score", 0.9 - jitter);
                set(&mut values, "anomalous_payload_ratio", 0.7);
                set(&mut values, "fuzzing_index", 0.8);
                set(&mut values, "sec_fetch_absence_rate", 1.0);
                set(&mut values, "tcp_ttl", 64.0 / 255.0);
            }
            // Rotating fingerprints.
            3 => {
                set(&mut values, "anomaly_score", 0.5 + jitter);
                set(&mut values, "is_ua_rotating", 1.0);
                set(&mut values, "distinct_ja4_count", 0.6);
                set(&mut values, "tcp_ttl", 64.0 / 255.0);
            }
            // Credential stuffing from Windows hosts.
            _ => {
                set(&mut values, "anomaly_score", 0.8 + jitter);
                set(&mut values, "login_post_concentration", 0.9);
                set(&mut values, "post_ratio", 0.9);
                set(&mut values, "hit_velocity", 0.7);
                set(&mut values, "tcp_ttl", 128.0 / 255.0);
            }
        }
        MapRow {
            ip: format!("198.51.{group}.{}", i % 250),
            ja4: format!("t13d_group{group}"),
            user_agent: "ua".into(),
            hits: (i % 5) as u64 + 1,
            score: values[0],
            threat: if group == 0 {
                ThreatLevel::Normal
            } else {
                ThreatLevel::Critical
            },
            country: "FR".into(),
            asn_org: "Example".into(),
            tcp: [if group == 2 { 128.0 } else { 64.0 }, 64240.0, 8.0, 1460.0],
            values,
        }
    }

    #[test]
    fn planted_groups_get_their_own_clusters_names_and_risk_bands() {
        let rows: Vec<MapRow> = (0..600).map(|i| row(i, i % 4)).collect();
        let params = MapParams {
            k: 4,
            hours: 24,
            sensitivity: 1.0,
        };
        let m = compute(rows, params, 42, 1).unwrap();
        assert_eq!(m.stats.k, 4);
        assert_eq!(m.labels.len(), 600);
        // Each planted group lies within one cluster.
        for g in 0..4 {
            let labels: std::collections::HashSet<u32> = (0..600)
                .filter(|i| i % 4 == g)
                .map(|i| m.labels[i])
                .collect();
            assert_eq!(labels.len(), 1, "group {g} split over {labels:?}");
        }
        let node_of = |g: usize| {
            let l = m.labels[g] as usize;
            m.nodes.iter().find(|n| n.cluster_idx == l).unwrap()
        };
        assert!(
            node_of(0).label.starts_with("Browsers"),
            "{}",
            node_of(0).label
        );
        assert!(
            node_of(1).label.starts_with("Vulnerability scanner"),
            "{}",
            node_of(1).label
        );
        assert!(
            node_of(2).label.starts_with("Credential stuffing"),
            "{}",
            node_of(2).label
        );
        assert!(
            node_of(2).label.ends_with("Windows"),
            "{}",
            node_of(2).label
        );
        assert!(node_of(0).risk_score < 0.25 && node_of(1).risk_score >= 0.45);
        assert_eq!(node_of(1).color, risk_color(node_of(1).risk_score));
        assert!(m
            .nodes
            .iter()
            .all(|n| !n.hull.is_empty() && n.radar.len() == MAP_FEATURES.len()));
        assert!(!m.edges.is_empty());
        // The same rows and seed give the same map.
        let again = compute((0..600).map(|i| row(i, i % 4)).collect(), params, 42, 2).unwrap();
        assert_eq!(again.labels, m.labels);
    }

    #[test]
    fn k_times_sensitivity_is_clamped_and_too_few_rows_is_an_error() {
        let p = |k, sensitivity| {
            MapParams {
                k,
                hours: 1,
                sensitivity,
            }
            .k_actual()
        };
        assert_eq!(p(14, 2.0), 28);
        assert_eq!(p(4, 0.5), 4);
        assert_eq!(p(30, 3.0), 50);
        let rows: Vec<MapRow> = (0..3).map(|i| row(i, i)).collect();
        let e = compute(
            rows,
            MapParams {
                k: 4,
                hours: 1,
                sensitivity: 1.0,
            },
            1,
            1,
        )
        .unwrap_err();
        assert!(e.contains("only 3"), "{e}");
    }
}
