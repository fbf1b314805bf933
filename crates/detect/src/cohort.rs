//! Stack cohorts, in the manner of JA4 Signals: what the sessions sharing one client stack
//! look like over the horizon. A stack is a JA4, or a JA4 with one HTTP/2 fingerprint (the
//! ClientHello and the HTTP/2 preface together). Per stack: how many sessions, addresses,
//! network prefixes and ASNs use it, how many user agents claim it, the share of its
//! sessions that are a confident browser browsing like a person, the share over HTTP/2,
//! requests per address (median, 90th percentile, most) and the median path diversity.
//!
//! A stack used by many residential addresses that browse like people is a browser
//! population; the same stack where few sessions browse like people, many requests come
//! from each address and few user agents claim it is a tool's. Cohorts describe; they
//! decide nothing alone: a real Chrome stack driven through residential proxies shares
//! its cohort with Chrome's users, so fleets judge each member's behaviour
//! ([`crate::fleet`]), and the cohort gives the analyst the stack's population beside it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use serde::Serialize;
use shrike_features::FeatureId;

use crate::prep::{BrowserId, Session};
use crate::DetectConfig;

/// The signals of one stack over the horizon.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cohort {
    /// The JA4 ("" for sessions without one).
    pub ja4: String,
    /// The Akamai HTTP/2 fingerprint, or `None` for the JA4's whole cohort (every HTTP/2
    /// fingerprint and none).
    pub h2: Option<String>,
    /// Sessions.
    pub sessions: usize,
    /// Distinct addresses.
    pub addresses: usize,
    /// Distinct /24 (IPv4) or /48 (IPv6) prefixes.
    pub prefixes: usize,
    /// Distinct AS numbers (unknown, 0, not counted).
    pub asns: usize,
    /// Distinct user agents of the sessions' first requests.
    pub user_agents: usize,
    /// Share of sessions of a confidently identified browser browsing like a person.
    pub browser_share: f64,
    /// Share of sessions whose address spoke HTTP/2 (an HTTP/2 fingerprint is known).
    pub h2_share: f64,
    /// Requests per address: median, 90th percentile, most.
    pub requests_per_address: [f64; 3],
    /// Median of the sessions' distinct paths per request.
    pub path_diversity: f64,
}

impl Cohort {
    /// One line for a reason: "its stack's cohort: 2340 sessions from 2298 addresses in 11
    /// ASNs, 31% browsing like people, …".
    pub fn summary(&self) -> String {
        let n =
            |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
        format!(
            "its stack's cohort: {} from {} in {}, {:.0}% browsing like people, {}, {:.0} requests per address at the median",
            n(self.sessions, "session", "sessions"),
            n(self.addresses, "address", "addresses"),
            n(self.asns, "ASN", "ASNs"),
            100.0 * self.browser_share,
            n(self.user_agents, "user agent", "user agents"),
            self.requests_per_address[0]
        )
    }
}

/// The value at quantile `q` of sorted `v` (nearest rank; 0 when empty).
fn nearest_rank(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

#[derive(Default)]
struct Acc<'a> {
    sessions: usize,
    hits_by_ip: BTreeMap<IpAddr, f64>,
    prefixes: BTreeSet<u128>,
    asns: BTreeSet<u32>,
    user_agents: BTreeSet<&'a str>,
    browsers: usize,
    h2: usize,
    path_diversity: Vec<f64>,
}

impl<'a> Acc<'a> {
    fn add(&mut self, s: &'a Session, person: bool) {
        self.sessions += 1;
        *self.hits_by_ip.entry(s.key().src_ip).or_default() += s.get(FeatureId::Hits).max(0.0);
        self.prefixes
            .insert(crate::fleet::prefix_bits(s.key().src_ip));
        if s.row.asn != 0 {
            self.asns.insert(s.row.asn);
        }
        self.user_agents.insert(s.row.user_agent.as_str());
        self.browsers += usize::from(person);
        self.h2 += usize::from(!s.row.h2_fingerprint.is_empty());
        self.path_diversity
            .push(s.get(FeatureId::PathDiversityRatio).max(0.0));
    }

    fn finish(mut self, ja4: String, h2: Option<String>) -> Cohort {
        let mut per_ip: Vec<f64> = self.hits_by_ip.into_values().collect();
        per_ip.sort_by(f64::total_cmp);
        self.path_diversity.sort_by(f64::total_cmp);
        let n = self.sessions.max(1) as f64;
        Cohort {
            ja4,
            h2,
            sessions: self.sessions,
            addresses: per_ip.len(),
            prefixes: self.prefixes.len(),
            asns: self.asns.len(),
            user_agents: self.user_agents.len(),
            browser_share: self.browsers as f64 / n,
            h2_share: self.h2 as f64 / n,
            requests_per_address: [
                nearest_rank(&per_ip, 0.5),
                nearest_rank(&per_ip, 0.9),
                per_ip.last().copied().unwrap_or(0.0),
            ],
            path_diversity: nearest_rank(&self.path_diversity, 0.5),
        }
    }
}

/// The cohorts of a cycle: one per JA4 (`h2: None`) and one per JA4 with each HTTP/2
/// fingerprint, over the sessions `of` (the ones triage left: known bots are not a stack's
/// population), the largest first (ties by JA4, then HTTP/2 fingerprint).
pub fn cohorts(
    sessions: &[Session],
    browsers: &[BrowserId],
    of: &[usize],
    cfg: &DetectConfig,
) -> Vec<Cohort> {
    let mut by_ja4: HashMap<&str, Acc<'_>> = HashMap::new();
    let mut by_stack: HashMap<(&str, &str), Acc<'_>> = HashMap::new();
    for &i in of {
        let s = &sessions[i];
        let person = browsers[i].person_like(cfg);
        let ja4 = s.key().ja4_str();
        by_ja4.entry(ja4).or_default().add(s, person);
        by_stack
            .entry((ja4, s.row.h2_fingerprint.as_str()))
            .or_default()
            .add(s, person);
    }
    let mut out: Vec<Cohort> = by_ja4
        .into_iter()
        .map(|(ja4, a)| a.finish(ja4.to_string(), None))
        .chain(
            by_stack
                .into_iter()
                .map(|((ja4, h2), a)| a.finish(ja4.to_string(), Some(h2.to_string()))),
        )
        .collect();
    out.sort_by(|a, b| {
        b.sessions
            .cmp(&a.sessions)
            .then_with(|| a.ja4.cmp(&b.ja4))
            .then_with(|| a.h2.cmp(&b.h2))
    });
    out
}

#[cfg(test)]
mod tests {
    use shrike_store::SessionRow;
    use shrike_types::{Ja4, SessionKey, Timestamp};

    use super::*;

    const CHROME: &str = "t13d1516h2_8daaf6152771_02713d6af862";
    const CHROME_H2: &str = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p";
    const GO_H2: &str = "2:0;4:4194304;6:10485760|1073741824|0|a,m,p,s";

    fn session(ip: &str, asn: u32, h2: &str, hits: f32, person: bool) -> (Session, BrowserId) {
        let mut row = SessionRow::new(SessionKey {
            window_start: Timestamp::from_millis(0),
            src_ip: ip.parse().unwrap(),
            ja4: Some(Ja4::parse(CHROME.into()).unwrap()),
            host: "shop.example".into(),
        });
        row.asn = asn;
        row.h2_fingerprint = h2.into();
        row.user_agent = if person { "Chrome/134" } else { "Chrome/120" }.into();
        row.features[FeatureId::Hits.index()] = hits;
        let mut axes = [1.0; 6];
        axes[crate::prep::Derived::AxisNavBehavior as usize] = if person { 1.0 } else { 0.0 };
        let b = BrowserId {
            axes,
            confidence: 0.95,
            family: "Chrome".into(),
        };
        (Session::new(row), b)
    }

    #[test]
    fn a_stack_is_described_by_its_population() {
        let mut v = Vec::new();
        // Chrome's users: four addresses in two ASNs, browsing like people.
        for (n, ip) in ["198.51.100.1", "198.51.100.2", "203.0.113.3", "203.0.113.4"]
            .iter()
            .enumerate()
        {
            v.push(session(ip, 64500 + (n as u32 % 2), CHROME_H2, 20.0, true));
        }
        // The same JA4 with Go's HTTP/2 from one address, many requests: a tool.
        v.push(session("192.0.2.9", 64999, GO_H2, 300.0, false));
        v.push(session("192.0.2.9", 64999, GO_H2, 200.0, false));
        let (sessions, browsers): (Vec<Session>, Vec<BrowserId>) = v.into_iter().unzip();
        let all: Vec<usize> = (0..sessions.len()).collect();
        let c = cohorts(&sessions, &browsers, &all, &DetectConfig::default());
        assert_eq!(c.len(), 3);
        // The JA4 as a whole first, then its two stacks.
        assert_eq!((c[0].h2.as_deref(), c[0].sessions), (None, 6));
        assert_eq!((c[0].addresses, c[0].asns, c[0].user_agents), (5, 3, 2));
        assert_eq!(c[1].h2.as_deref(), Some(CHROME_H2));
        assert_eq!(c[1].browser_share, 1.0);
        assert_eq!((c[1].addresses, c[1].prefixes), (4, 2));
        assert_eq!(c[1].requests_per_address, [20.0, 20.0, 20.0]);
        assert_eq!(c[2].h2.as_deref(), Some(GO_H2));
        assert_eq!(c[2].browser_share, 0.0);
        assert_eq!(c[2].requests_per_address, [500.0, 500.0, 500.0]);
        assert_eq!(c[2].h2_share, 1.0);
        let summary = c[2].summary();
        assert!(
            summary.contains(
                "2 sessions from 1 address in 1 ASN, 0% browsing like people, 1 user agent"
            ),
            "{summary}"
        );
    }
}
