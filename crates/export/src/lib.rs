//! Block-list exports of the current verdicts (SPEC §7), and [`sessions`]: the stored
//! sessions with their features and verdicts as a table for analysis.
//!
//! [`plan`] decides what to block from one cycle's verdicts and [`render`] writes it in a
//! consumer's format. The rules, in order:
//!
//! 1. A session is a *candidate* when it is a threat (an anomaly, or ANUBIS_DENY) that
//!    passes the filters: minimum level, minimum normalised score, campaign, fleet, age.
//! 2. An address is blocked when it has a candidate session and **no** session the cycle
//!    called KNOWN_BOT or LEGITIMATE_BROWSER: a known good bot or a real browser behind the
//!    same address (a NAT, a proxy) is never blocked. Such addresses are *held back* and
//!    listed with the reason in the shadow report.
//! 3. Blocked addresses collapse to their /24 (IPv4) or /48 (IPv6) when at least
//!    `collapse_min` of them share it and every address the cycle saw in that prefix is
//!    blocked.
//! 4. A JA4 is blocked (formats that can match one: nginx map, Anubis) when at least
//!    `ja4_min_ips` blocked addresses use it and every session the cycle scored with it is
//!    a candidate: a JA4 that any normal, browser or known-bot session shares is never
//!    blocked.
//!
//! Every attacker-controlled string that reaches a configuration file (JA4, reason) is
//! either checked against a strict alphabet or kept in a comment with its line breaks and
//! control characters removed; addresses are re-printed from their parsed form.

#![warn(missing_docs)]

mod formats;
pub mod parquet;
pub mod sessions;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;
use shrike_store::ScoreRow;
use shrike_types::{ThreatLevel, Timestamp};

pub use formats::{render, Format, RenderOptions};

/// Which sessions may be blocked.
#[derive(Debug, Clone, PartialEq)]
pub struct Filters {
    /// Lowest level exported (one of [`ThreatLevel::GRADED`]).
    pub min_level: ThreatLevel,
    /// Lowest normalised anomaly score.
    pub min_score: f64,
    /// Only this campaign.
    pub campaign: Option<i64>,
    /// Only this (flagged) fleet of the cycle.
    pub fleet: Option<i64>,
    /// Only sessions whose window starts at or after this time.
    pub since: Option<Timestamp>,
    /// Addresses of one prefix needed to collapse it (0: never collapse).
    pub collapse_min: usize,
    /// Blocked addresses needed to block a JA4 (0: never block a JA4).
    pub ja4_min_ips: usize,
}

impl Default for Filters {
    fn default() -> Self {
        Filters {
            min_level: ThreatLevel::Medium,
            min_score: 0.0,
            campaign: None,
            fleet: None,
            since: None,
            collapse_min: 8,
            ja4_min_ips: 5,
        }
    }
}

/// What kind of value an entry blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// One address.
    Ip,
    /// A /24 or /48 whose every seen address is blocked.
    Prefix,
    /// A TLS client fingerprint.
    Ja4,
}

/// One thing to block, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Kind.
    pub kind: EntryKind,
    /// Address, CIDR (`a.b.c.0/24`) or JA4.
    pub value: String,
    /// Most severe level among its sessions.
    pub level: ThreatLevel,
    /// Highest normalised score.
    pub score: f64,
    /// Candidate sessions.
    pub sessions: usize,
    /// Blocked addresses it covers.
    pub addresses: usize,
    /// Campaigns among its sessions.
    pub campaigns: Vec<i64>,
    /// Flagged fleets among its sessions.
    pub fleets: Vec<i64>,
    /// JA4s among its sessions (up to 5).
    pub ja4s: Vec<String>,
    /// First window.
    pub first_seen: Timestamp,
    /// Last window.
    pub last_seen: Timestamp,
    /// The reason of its most severe session.
    pub reason: String,
}

/// An address with a threat that is not blocked, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldBack {
    /// Address.
    pub ip: String,
    /// Why it is not blocked.
    pub why: String,
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    /// Addresses and prefixes to block, most severe first.
    pub addresses: Vec<Entry>,
    /// JA4s to block.
    pub ja4s: Vec<Entry>,
    /// Threat addresses not blocked.
    pub held_back: Vec<HeldBack>,
    /// Candidate sessions.
    pub candidates: usize,
}

/// Errors of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// `min_level` is not a graded threat level.
    MinLevel(ThreatLevel),
}

impl std::fmt::Display for ExportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportError::MinLevel(l) => write!(
                f,
                "--min-level {l}: allowed {}",
                ThreatLevel::names(&ThreatLevel::GRADED)
            ),
        }
    }
}

impl std::error::Error for ExportError {}

/// The /24 or /48 of an address, as CIDR text.
pub fn prefix_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v) => {
            let o = v.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        IpAddr::V6(v) => {
            let s = v.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// A JA4 as FoxIO defines it: lower-case letters, digits and underscores only.
pub fn is_clean_ja4(ja4: &str) -> bool {
    !ja4.is_empty()
        && ja4.len() <= 64
        && ja4
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Decides what to block; see the crate documentation for the rules.
pub fn plan(sessions: &[ScoreRow], f: &Filters) -> Result<Plan, ExportError> {
    if !ThreatLevel::GRADED.contains(&f.min_level) {
        return Err(ExportError::MinLevel(f.min_level));
    }
    let min = f.min_level.severity();
    let threat = |s: &ScoreRow| s.is_anomaly || s.threat_level == ThreatLevel::AnubisDeny;
    let candidate = |s: &ScoreRow| {
        threat(s)
            && s.threat_level.severity() >= min
            && s.anomaly_score >= f.min_score
            && f.campaign.is_none_or(|c| s.campaign_id == c)
            && f.fleet.is_none_or(|c| s.fleet_flag && s.fleet_id == c)
            && f.since.is_none_or(|t| s.key.window_start >= t)
    };
    let protected = |s: &ScoreRow| s.threat_level.is_protected();

    let mut by_ip: BTreeMap<IpAddr, Vec<&ScoreRow>> = BTreeMap::new();
    for s in sessions {
        by_ip.entry(s.key.src_ip).or_default().push(s);
    }
    let mut plan = Plan::default();
    let mut blocked: BTreeMap<IpAddr, Vec<&ScoreRow>> = BTreeMap::new();
    for (ip, all) in &by_ip {
        let picked: Vec<&ScoreRow> = all.iter().copied().filter(|s| candidate(s)).collect();
        if picked.is_empty() {
            continue;
        }
        plan.candidates += picked.len();
        if let Some(p) = all.iter().find(|s| protected(s)) {
            plan.held_back.push(HeldBack {
                ip: ip.to_string(),
                why: format!(
                    "the address also carries a {} session ({} on {}): blocking it would block that client too",
                    p.threat_level,
                    if p.key.ja4.is_none() { "no JA4" } else { p.key.ja4_str() },
                    p.key.host
                ),
            });
            continue;
        }
        blocked.insert(*ip, picked);
    }

    // Prefixes: every address seen in them is blocked, and enough of them.
    let mut seen_in: HashMap<String, usize> = HashMap::new();
    for ip in by_ip.keys() {
        *seen_in.entry(prefix_of(*ip)).or_default() += 1;
    }
    let mut in_prefix: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for ip in blocked.keys() {
        in_prefix.entry(prefix_of(*ip)).or_default().push(*ip);
    }
    let mut collapsed: BTreeSet<IpAddr> = BTreeSet::new();
    for (prefix, ips) in &in_prefix {
        if f.collapse_min > 0 && ips.len() >= f.collapse_min && seen_in[prefix] == ips.len() {
            let all: Vec<&ScoreRow> = ips
                .iter()
                .flat_map(|ip| blocked[ip].iter().copied())
                .collect();
            plan.addresses
                .push(entry(EntryKind::Prefix, prefix.clone(), &all, ips.len()));
            collapsed.extend(ips.iter().copied());
        }
    }
    for (ip, picked) in &blocked {
        if !collapsed.contains(ip) {
            plan.addresses
                .push(entry(EntryKind::Ip, ip.to_string(), picked, 1));
        }
    }

    // JA4s: every scored session with the JA4 is a candidate, on enough blocked addresses.
    if f.ja4_min_ips > 0 {
        let mut per_ja4: BTreeMap<&str, (bool, BTreeSet<IpAddr>, Vec<&ScoreRow>)> = BTreeMap::new();
        for s in sessions {
            let e = per_ja4
                .entry(s.key.ja4_str())
                .or_insert((true, BTreeSet::new(), Vec::new()));
            if candidate(s) && blocked.contains_key(&s.key.src_ip) {
                e.1.insert(s.key.src_ip);
                e.2.push(s);
            } else {
                e.0 = false;
            }
        }
        for (ja4, (all_bad, ips, picked)) in per_ja4 {
            if all_bad && ips.len() >= f.ja4_min_ips && is_clean_ja4(ja4) {
                plan.ja4s
                    .push(entry(EntryKind::Ja4, ja4.to_string(), &picked, ips.len()));
            }
        }
    }
    let order = |a: &Entry, b: &Entry| {
        b.level
            .severity()
            .cmp(&a.level.severity())
            .then(b.score.total_cmp(&a.score))
            .then(a.value.cmp(&b.value))
    };
    plan.addresses.sort_by(order);
    plan.ja4s.sort_by(order);
    Ok(plan)
}

fn entry(kind: EntryKind, value: String, sessions: &[&ScoreRow], addresses: usize) -> Entry {
    let worst = sessions
        .iter()
        .max_by(|a, b| {
            a.threat_level
                .severity()
                .cmp(&b.threat_level.severity())
                .then(a.anomaly_score.total_cmp(&b.anomaly_score))
                .then(b.key.src_ip.cmp(&a.key.src_ip))
        })
        .expect("an entry has sessions");
    let mut ja4s: BTreeMap<&str, usize> = BTreeMap::new();
    for s in sessions {
        *ja4s.entry(s.key.ja4_str()).or_default() += 1;
    }
    let mut ja4s: Vec<(&str, usize)> = ja4s.into_iter().collect();
    ja4s.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    Entry {
        kind,
        value,
        level: worst.threat_level,
        score: sessions.iter().map(|s| s.anomaly_score).fold(0.0, f64::max),
        sessions: sessions.len(),
        addresses,
        campaigns: sessions
            .iter()
            .filter(|s| s.campaign_id >= 0)
            .map(|s| s.campaign_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        fleets: sessions
            .iter()
            .filter(|s| s.fleet_flag)
            .map(|s| s.fleet_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        ja4s: ja4s
            .into_iter()
            .take(5)
            .map(|(j, _)| j.to_string())
            .collect(),
        first_seen: sessions
            .iter()
            .map(|s| s.key.window_start)
            .min()
            .expect("non-empty"),
        last_seen: sessions
            .iter()
            .map(|s| s.key.window_start)
            .max()
            .expect("non-empty"),
        reason: worst.reason.clone(),
    }
}
