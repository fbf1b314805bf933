//! `shrike simulate`: realistic, labelled, seeded web traffic.
//!
//! [`SimConfig`] says how many hours, hosts and actors; [`simulate`] writes the log
//! (shrike JSON Lines, time-ordered), the ground truth (`labels.csv` per IP,
//! `session_labels.csv` per session: never in the log) and a dictionary directory that
//! matches the simulated Internet (browser JA4s and HTTP/2 fingerprints, crawler ranges,
//! ASN reputation, IP→ASN). Browser fingerprints come from the real captures in
//! `rama-ua-profiles` when present, else from a built-in table ([`profiles`]).
//!
//! Populations are deliberately not trivially separable: humans behind VPNs and hosting
//! networks, headless browsers that fetch assets, fleets on residential ISPs, bots with
//! Chrome's exact JA4 and headers that keep a machine cadence.

pub mod actors;
pub mod captured;
mod generate;
pub mod network;
pub mod profiles;
mod record;

use std::collections::BTreeSet;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use shrike_types::{Rng, Timestamp, HOUR_MS};

pub use actors::{Class, Family};
pub use record::SimRecord;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed: the same seed and config give the same bytes.
    pub seed: u64,
    /// Start of the first hour.
    pub start: Timestamp,
    /// Hours of traffic.
    pub hours: u32,
    /// Number of sites (`shop.example`, `news.example`, ...).
    pub hosts: usize,
    /// Human visits per hour (all hosts together).
    pub humans_per_hour: u32,
    /// Bad-bot actors per family per hour.
    pub bots_per_family_per_hour: u32,
    /// rama `embed_profiles.json`, when available.
    pub profiles: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 42,
            start: Timestamp::from_millis(1_714_521_600_000), // 2024-05-01T00:00:00Z
            hours: 6,
            hosts: 3,
            humans_per_hour: 400,
            bots_per_family_per_hour: 3,
            profiles: None,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default)]
pub struct SimSummary {
    /// Records in the log.
    pub records: u64,
    /// Actors per family.
    pub actors: Vec<(Family, u64)>,
    /// Records per class.
    pub records_per_class: Vec<(Class, u64)>,
    /// Whether real browser profiles were used.
    pub real_profiles: usize,
    /// Real captures of versions left out of the dictionaries (`human_unlisted_browser`).
    pub unlisted_profiles: usize,
}

/// A simulation failure (I/O only).
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct SimError {
    /// The file.
    pub path: PathBuf,
    /// The error.
    pub source: std::io::Error,
}

const HOST_NAMES: [&str; 8] = [
    "shop.example",
    "news.example",
    "api.example",
    "blog.example",
    "docs.example",
    "forum.example",
    "media.example",
    "status.example",
];

/// Host name of site `i`.
pub fn host_name(i: usize) -> String {
    if i < HOST_NAMES.len() {
        HOST_NAMES[i].to_string()
    } else {
        format!("site{i}.example")
    }
}

/// Writes `traffic.jsonl`, `labels.csv`, `session_labels.csv` and `dict/` under `out`.
pub fn simulate(cfg: &SimConfig, out: &Path) -> Result<SimSummary, SimError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SimError { path, source }
    };
    std::fs::create_dir_all(out.join("dict")).map_err(err(out))?;
    let (browsers, real) = match cfg.profiles.as_deref().and_then(profiles::load_rama) {
        Some(p) => {
            let n = p.len();
            (p, n)
        }
        None => (profiles::builtin(), 0),
    };
    // Real captures (curl-impersonate's) of versions the dictionaries below are not built
    // from: the browsers of people whose release no list has yet.
    let unlisted: Vec<profiles::BrowserProfile> = match cfg
        .profiles
        .as_deref()
        .filter(|_| real > 0)
        .and_then(|p| p.parent()?.parent())
    {
        Some(data) => {
            let listed: BTreeSet<&str> = browsers.iter().map(|b| b.ja4.as_str()).collect();
            captured::curl_impersonate_all(data)
                .into_iter()
                .map(|c| c.profile)
                // Only whole profiles: a capture without its SETTINGS frame would make a
                // browser speak HTTP/2 with no HTTP/2 fingerprint, which no real one does.
                .filter(|p| !listed.contains(p.ja4.as_str()) && !p.h2_fingerprint.is_empty())
                .collect()
        }
        None => Vec::new(),
    };
    let mut rng = Rng::seed_from_u64(cfg.seed);
    let hosts = cfg.hosts.max(1);
    let log_path = out.join("traffic.jsonl");
    let mut log = BufWriter::with_capacity(
        1 << 20,
        std::fs::File::create(&log_path).map_err(err(&log_path))?,
    );
    let mut labels: BTreeSet<(IpAddr, Class, Family)> = BTreeSet::new();
    let mut session_labels: BTreeSet<(i64, IpAddr, String, String, Class, Family)> =
        BTreeSet::new();
    let mut summary = SimSummary {
        real_profiles: real,
        unlisted_profiles: unlisted.len(),
        ..SimSummary::default()
    };
    let mut per_family = std::collections::BTreeMap::new();
    let mut per_class = std::collections::BTreeMap::new();
    let mut carry: Vec<(SimRecord, Class, Family)> = Vec::new();
    let mut gen = generate::Generator::new(hosts);
    for h in 0..cfg.hours {
        let hour_start = cfg.start.hour_start().millis() + h as i64 * HOUR_MS;
        let mut batch = std::mem::take(&mut carry);
        let mut actors = Vec::new();
        for _ in 0..cfg.humans_per_hour {
            let fam = if rng.chance(0.06) {
                Family::HumanVpn
            } else if !unlisted.is_empty() && rng.chance(0.1) {
                Family::HumanUnlistedBrowser
            } else {
                Family::Human
            };
            actors.push(actors::Actor::new(
                fam, &mut rng, &browsers, &unlisted, hosts,
            ));
        }
        for fam in [Family::Googlebot, Family::Bingbot] {
            actors.push(actors::Actor::new(
                fam, &mut rng, &browsers, &unlisted, hosts,
            ));
        }
        for fam in Family::ALL.iter().filter(|f| f.class() == Class::BadBot) {
            for _ in 0..cfg.bots_per_family_per_hour {
                actors.push(actors::Actor::new(
                    *fam, &mut rng, &browsers, &unlisted, hosts,
                ));
            }
        }
        for a in &actors {
            *per_family.entry(a.family).or_insert(0u64) += 1;
            let start = hour_start + rng.below(HOUR_MS as u64) as i64;
            for r in gen.visit(a, start, &mut rng) {
                batch.push((r, a.family.class(), a.family));
            }
        }
        batch.sort_by(|a, b| {
            a.0.t_ms
                .cmp(&b.0.t_ms)
                .then_with(|| a.0.src_ip.cmp(&b.0.src_ip))
        });
        let end = hour_start + HOUR_MS;
        let last_hour = h + 1 == cfg.hours;
        for (mut r, class, fam) in batch {
            if r.t_ms >= end && !last_hour {
                carry.push((r, class, fam));
                continue;
            }
            r.time = Timestamp::from_millis(r.t_ms).to_string();
            serde_json::to_writer(&mut log, &r).map_err(|e| err(&log_path)(e.into()))?;
            log.write_all(b"\n").map_err(err(&log_path))?;
            summary.records += 1;
            *per_class.entry(class).or_insert(0u64) += 1;
            let ip: IpAddr = r.src_ip.parse().expect("simulated addresses are valid");
            labels.insert((ip, class, fam));
            let window = Timestamp::from_millis(r.t_ms).hour_start().millis();
            session_labels.insert((
                window,
                ip,
                r.ja4.clone().unwrap_or_default(),
                r.host.clone(),
                class,
                fam,
            ));
        }
    }
    log.flush().map_err(err(&log_path))?;
    write_labels(out, &labels, &session_labels)?;
    write_dictionaries(&out.join("dict"), &browsers)?;
    summary.actors = per_family.into_iter().collect();
    summary.records_per_class = per_class.into_iter().collect();
    Ok(summary)
}

fn write_file(path: &Path, text: &str) -> Result<(), SimError> {
    std::fs::write(path, text).map_err(|source| SimError {
        path: path.to_path_buf(),
        source,
    })
}

fn write_labels(
    out: &Path,
    labels: &BTreeSet<(IpAddr, Class, Family)>,
    sessions: &BTreeSet<(i64, IpAddr, String, String, Class, Family)>,
) -> Result<(), SimError> {
    let mut s = String::from("src_ip,label,family\n");
    for (ip, c, f) in labels {
        s += &format!("{ip},{},{}\n", c.as_str(), f.as_str());
    }
    write_file(&out.join("labels.csv"), &s)?;
    let mut s = String::from("window_start,src_ip,ja4,host,label,family\n");
    for (w, ip, ja4, host, c, f) in sessions {
        s += &format!(
            "{},{ip},{ja4},{host},{},{}\n",
            Timestamp::from_millis(*w),
            c.as_str(),
            f.as_str()
        );
    }
    write_file(&out.join("session_labels.csv"), &s)
}

fn write_dictionaries(dir: &Path, browsers: &[profiles::BrowserProfile]) -> Result<(), SimError> {
    let mut ja4: BTreeSet<(String, String)> = BTreeSet::new();
    let mut h2: BTreeSet<(String, String)> = BTreeSet::new();
    for b in browsers {
        ja4.insert((b.ja4.clone(), b.family.clone()));
        h2.insert((b.h2_fingerprint.clone(), b.family.clone()));
    }
    let mut s = String::from("ja4,browser_family\n");
    // A JA4 shared by two families (Chrome and Edge share Chromium's) keeps the first.
    for (j, f) in &ja4 {
        s += &format!("{j},{f}\n");
    }
    write_file(&dir.join("browser_ja4.csv"), &s)?;
    let mut s = String::from("h2_fingerprint,browser_family\n");
    for (fp, f) in &h2 {
        s += &format!("\"{fp}\",{f}\n");
    }
    write_file(&dir.join("browser_h2.csv"), &s)?;
    let mut s = String::from("cidr,bot_name\n");
    s += &format!(
        "{}.{}.0.0/16,Googlebot\n",
        network::GOOGLE.block[0],
        network::GOOGLE.block[1]
    );
    s += &format!(
        "{}.{}.0.0/16,Bingbot\n",
        network::MICROSOFT.block[0],
        network::MICROSOFT.block[1]
    );
    write_file(&dir.join("bot_ip.csv"), &s)?;
    write_file(
        &dir.join("bot_ja4.csv"),
        &format!(
            "ja4,bot_name\n{},Search engine crawler\n",
            actors::CRAWLER_JA4
        ),
    )?;
    let mut s = String::from("asn,label\n");
    let mut r = String::from("start_ip,end_ip,asn,country,org\n");
    for n in network::ALL {
        s += &format!("{},{}\n", n.asn, n.label);
        let (a, b) = n.range();
        r += &format!("{a},{b},{},{},\"{}\"\n", n.asn, n.country, n.org);
    }
    write_file(&dir.join("asn_reputation.csv"), &s)?;
    write_file(&dir.join("ip_asn.csv"), &r)
}
