//! Fleets (SPEC §5 step 12): many addresses driven by one operator, each session looking
//! ordinary on its own.
//!
//! A weighted graph links every JA4 to the ASNs and the network prefixes (/24 for IPv4,
//! /48 for IPv6) it was seen from, each edge weighted by sessions. Known bots are left out.
//! Louvain communities of that graph group JA4s that share infrastructure (a fleet that
//! rotates its JA4 over the same proxies lands in one community) and attach each prefix to
//! the JA4 it mostly serves.
//!
//! Inside a community, people are set apart: a fleet is the community's sessions that do
//! not look like a person's browser, by their stack (browser confidence below
//! [`DetectConfig::fleet_confidence_max`]) or by their browsing (navigation axis below
//! [`DetectConfig::legit_navigation_min`]: a real Chrome's stack driven through residential
//! proxies, a few pages per address and no assets). Its score is
//!
//! `fleet_score = breadth × (1 − mean min(browser confidence, navigation))`, with
//! `breadth = min(1, ln(1 + prefixes) / ln(1 + fleet_prefix_saturation))`,
//!
//! so it is high when the low-confidence sessions come from many prefixes. A fleet is
//! flagged (`fleet_campaign_flag`) when its score reaches [`DetectConfig::fleet_threshold`]
//! (or its breadth does, when its mean navigation is below a person's,
//! [`DetectConfig::legit_navigation_min`]),
//! it spans at least [`DetectConfig::fleet_min_ips`] addresses, and its sessions behave like
//! scripts: a mean navigation axis at most [`DetectConfig::fleet_navigation_max`]. Many
//! residential addresses sharing an unknown stack and browsing like people are a browser
//! release's users, not a fleet.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;
use shrike_graph::{louvain, Graph, LouvainOptions};
use shrike_types::math;

use crate::prep::{BrowserId, Session};
use crate::DetectConfig;

/// One fleet found in a cycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fleet {
    /// Number within the cycle (0..).
    pub id: u32,
    /// Louvain community it comes from.
    pub community: u32,
    /// Sessions.
    pub sessions: usize,
    /// Distinct addresses.
    pub ips: usize,
    /// Distinct /24 (IPv4) or /48 (IPv6) prefixes.
    pub prefixes: usize,
    /// Sessions per JA4, largest first.
    pub ja4s: Vec<(String, usize)>,
    /// Sessions per AS number, largest first.
    pub asns: Vec<(u32, usize)>,
    /// Mean browser confidence of its sessions.
    pub mean_browser_confidence: f64,
    /// Mean navigation axis of its sessions (assets, referers, cookies, Accept-Language, no
    /// fake navigation): a person's browsing scores high, a script low.
    pub mean_navigation: f64,
    /// The fleet score.
    pub score: f64,
    /// Score and size reach the thresholds.
    pub flagged: bool,
}

/// Fleets of a cycle and each session's part in them.
#[derive(Debug, Clone, Default)]
pub struct FleetReport {
    /// Per input session: the index of its fleet in `fleets`, if any.
    pub member_of: Vec<Option<usize>>,
    /// Fleets with at least two addresses, flagged first, then by score.
    pub fleets: Vec<Fleet>,
    /// Louvain communities of the graph.
    pub communities: usize,
    /// Modularity of the partition.
    pub modularity: f64,
    /// Graph size (nodes, edges).
    pub graph: (usize, usize),
}

impl FleetReport {
    /// A session's fleet score (0 outside any fleet).
    pub fn score(&self, session: usize) -> f64 {
        self.member_of[session].map_or(0.0, |f| self.fleets[f].score)
    }

    /// Whether a session belongs to a flagged fleet.
    pub fn flagged(&self, session: usize) -> bool {
        self.member_of[session].is_some_and(|f| self.fleets[f].flagged)
    }
}

/// The network prefix of an address as text: /24 for IPv4, /48 for IPv6 (the prefix the
/// fleet graph groups addresses by).
pub fn prefix(ip: IpAddr) -> String {
    let bits = prefix_bits(ip);
    match ip {
        IpAddr::V4(_) => format!("{}/24", std::net::Ipv4Addr::from(bits as u32)),
        IpAddr::V6(_) => format!("{}/48", std::net::Ipv6Addr::from(bits)),
    }
}

/// Entries by decreasing count, ties by key.
pub(crate) fn by_count<K: Ord>(m: BTreeMap<K, usize>) -> Vec<(K, usize)> {
    let mut v: Vec<_> = m.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// A node of the fleet graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node<'a> {
    Ja4(&'a str),
    Asn(u32),
    /// Address with the host bits cleared (IPv4 mapped into the IPv6 space).
    Prefix(u128),
}

/// An address with its host bits cleared: /24 for IPv4 (mapped into the IPv6 space), /48
/// for IPv6.
pub(crate) fn prefix_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4) & 0xffff_ff00) | (0xffff << 32),
        IpAddr::V6(v6) => u128::from(v6) & !((1u128 << 80) - 1),
    }
}

/// Node ids in order of first appearance (deterministic for a session order).
#[derive(Default)]
struct Interner<'a> {
    ids: HashMap<Node<'a>, u32>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, node: Node<'a>) -> u32 {
        let next = self.ids.len() as u32;
        *self.ids.entry(node).or_insert(next)
    }
}

/// Finds the fleets among `candidates` (indices into `sessions`; known bots excluded by
/// the caller).
pub fn detect_fleets(
    sessions: &[Session],
    browsers: &[BrowserId],
    candidates: &[usize],
    cfg: &DetectConfig,
) -> FleetReport {
    let mut report = FleetReport {
        member_of: vec![None; sessions.len()],
        ..FleetReport::default()
    };
    if cfg.fleet_min_ips == 0 {
        return report;
    }
    // Sessions with a JA4; their prefix.
    let rows: Vec<(usize, IpAddr, u128)> = candidates
        .iter()
        .filter(|i| sessions[**i].row.key.ja4.is_some())
        .map(|i| {
            let ip = sessions[*i].row.key.src_ip;
            (*i, ip, prefix_bits(ip))
        })
        .collect();
    let mut nodes = Interner::default();
    // Every increment is 1.0, so the sums are exact whatever the order.
    let mut weights: HashMap<(u32, u32), f64> = HashMap::new();
    let mut ja4_node = Vec::with_capacity(rows.len());
    for (i, _, pfx) in &rows {
        let s = &sessions[*i];
        let j = nodes.id(Node::Ja4(s.row.key.ja4_str()));
        ja4_node.push(j);
        *weights
            .entry((j, nodes.id(Node::Prefix(*pfx))))
            .or_default() += 1.0;
        if s.row.asn != 0 {
            *weights
                .entry((j, nodes.id(Node::Asn(s.row.asn))))
                .or_default() += 1.0;
        }
    }
    let n = nodes.ids.len();
    let graph = Graph::from_edges(n, weights.into_iter().map(|((a, b), w)| (a, b, w)));
    report.graph = (graph.nodes(), graph.edges());
    let communities = louvain(
        &graph,
        &LouvainOptions {
            resolution: cfg.fleet_resolution,
            seed: cfg.seed,
            ..LouvainOptions::default()
        },
    );
    report.communities = communities.count;
    report.modularity = communities.modularity;

    // The sessions of each community that do not look like a person's browser: a
    // low-confidence stack, or a real browser's stack driven like a script.
    let mut groups: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (k, (i, _, _)) in rows.iter().enumerate() {
        let b = &browsers[*i];
        if b.confidence < cfg.fleet_confidence_max || b.navigation() < cfg.legit_navigation_min {
            groups
                .entry(communities.of[ja4_node[k] as usize])
                .or_default()
                .push(k);
        }
    }
    let saturation = math::ln(1.0 + cfg.fleet_prefix_saturation as f64);
    let mut fleets: Vec<(Fleet, Vec<usize>)> = Vec::new();
    for (community, members) in groups {
        let ips: BTreeSet<IpAddr> = members.iter().map(|k| rows[*k].1).collect();
        if ips.len() < 2 {
            continue;
        }
        let prefixes: BTreeSet<u128> = members.iter().map(|k| rows[*k].2).collect();
        let mut ja4s: BTreeMap<&str, usize> = BTreeMap::new();
        let mut asns: BTreeMap<u32, usize> = BTreeMap::new();
        let (mut confidence, mut navigation, mut person) = (0.0, 0.0, 0.0);
        for k in &members {
            let i = rows[*k].0;
            *ja4s.entry(sessions[i].row.key.ja4_str()).or_default() += 1;
            *asns.entry(sessions[i].row.asn).or_default() += 1;
            confidence += browsers[i].confidence;
            navigation += browsers[i].navigation();
            // How much a session looks like a person's: the lower of its stack's and its
            // browsing's likeness.
            person += browsers[i].confidence.min(browsers[i].navigation());
        }
        let mean_confidence = confidence / members.len() as f64;
        let mean_navigation = navigation / members.len() as f64;
        let breadth = (math::ln(1.0 + prefixes.len() as f64) / saturation).min(1.0);
        let mean_person = person / members.len() as f64;
        let score = breadth * (1.0 - mean_person).clamp(0.0, 1.0);
        let fleet = Fleet {
            id: 0,
            community,
            sessions: members.len(),
            ips: ips.len(),
            prefixes: prefixes.len(),
            ja4s: by_count(ja4s)
                .into_iter()
                .map(|(j, c)| (j.to_string(), c))
                .collect(),
            asns: by_count(asns),
            mean_browser_confidence: mean_confidence,
            mean_navigation,
            score,
            // A population that navigates like people (assets, referers, cookies) is a
            // browser's users, however unknown its stack: not a fleet. One whose members
            // all browse below a person's navigation is one on breadth alone, whatever
            // stack it borrows.
            flagged: ips.len() >= cfg.fleet_min_ips
                && mean_navigation <= cfg.fleet_navigation_max
                && (score >= cfg.fleet_threshold
                    || (mean_navigation < cfg.legit_navigation_min
                        && breadth >= cfg.fleet_threshold)),
        };
        fleets.push((fleet, members.iter().map(|k| rows[*k].0).collect()));
    }
    fleets.sort_by(|a, b| {
        b.0.flagged
            .cmp(&a.0.flagged)
            .then(b.0.score.total_cmp(&a.0.score))
            .then(a.0.community.cmp(&b.0.community))
    });
    for (f, (mut fleet, members)) in fleets.into_iter().enumerate() {
        fleet.id = f as u32;
        for i in members {
            report.member_of[i] = Some(f);
        }
        report.fleets.push(fleet);
    }
    report
}
