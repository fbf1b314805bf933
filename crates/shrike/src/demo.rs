//! `shrike demo`: simulate → ingest → detect, then the verdicts per simulated population
//! with precision and recall against the simulator's labels.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use shrike_detect::{Session, ThreatLevel, Verdict};
use shrike_dict::DictionaryWatch;
use shrike_store::SqliteStore;
use shrike_types::{SessionKey, Timestamp};

use crate::config::Config;
use crate::simulate::SimulateArgs;
use crate::CommonOpts;

/// Arguments of `shrike demo`.
#[derive(Args, Clone)]
pub struct DemoArgs {
    #[command(flatten)]
    pub sim: SimulateArgs,
    #[command(flatten)]
    pub common: CommonOpts,
    /// Stop after the report instead of serving the dashboard.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the dashboard listens at the end.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
}

/// `shrike demo`.
pub fn run(mut config: Config, mut args: DemoArgs) -> anyhow::Result<ExitCode> {
    let serve_file = config.serve.take().unwrap_or_default();
    if args.common.store.is_none() {
        args.common.store = Some(args.sim.out.join("demo.db"));
    }
    // A fresh store each time, so the demo is reproducible.
    if let Some(p) = &args.common.store {
        remove_store(p);
    }
    if args.common.dict_dir.is_none() {
        args.common.dict_dir = Some(args.sim.out.join("dict"));
    }
    let cfg = args.sim.config()?;
    println!(
        "1/3 simulating {} hours of traffic on {} sites (seed {})",
        cfg.hours, cfg.hosts, cfg.seed
    );
    let sim = shrike_sim::simulate(&cfg, &args.sim.out)?;
    println!(
        "    {} records, {} real browser profiles",
        sim.records, sim.real_profiles
    );
    let detect_cfg = config.detect()?;
    let settings = config.resolve(&crate::config::Overrides::common(&args.common))?;
    let mut dictionaries = crate::detect::watch_dictionaries(&settings)?;
    let dict = dictionaries
        .as_ref()
        .map(DictionaryWatch::current)
        .unwrap_or_default();
    let mut store = SqliteStore::open(settings.embedded_store("demo")?)?;
    println!("2/3 ingesting into {}", settings.store_path.display());
    crate::ingest::ingest_simulated(
        &mut store,
        &settings,
        &dict,
        args.sim.out.join("traffic.jsonl"),
    )?;
    let models = args.sim.out.join("models");
    let _ = std::fs::remove_dir_all(&models);
    let registry = shrike_detect::Registry::open(&models)?;
    println!("3/3 detecting (models in {})", models.display());
    let Some(run) = crate::detect::runner(&detect_cfg, &registry, &settings).run(
        &mut store,
        None,
        dictionaries.as_mut(),
    )?
    else {
        anyhow::bail!("the simulation produced no sessions");
    };
    let (sessions, out) = (run.sessions, run.output);
    crate::detect::print_summary(&out, run.id);
    let labels = read_labels(&args.sim.out.join("session_labels.csv"))?;
    let table = VerdictTable::new(&sessions, &out.verdicts, &labels);
    println!();
    print!("{table}");
    println!(
        "store: {} ({} sessions); `shrike detect --store {}` runs the next cycle",
        settings.store_path.display(),
        store.session_count()?,
        settings.store_path.display()
    );
    if args.no_serve {
        return Ok(ExitCode::SUCCESS);
    }
    drop(store);
    let serve_args = crate::serve::ServeArgs {
        listen: Some(args.listen),
        ..Default::default()
    };
    let (listen, serve) = crate::serve::settings(
        serve_file,
        &serve_args,
        shrike_server::ServeSettings::new(settings.store_path.clone()),
    )?;
    println!();
    crate::serve::serve(listen, serve)
}

/// Deletes a SQLite store and its WAL files, for runs that start from an empty store.
pub(crate) fn remove_store(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Ground truth per session key (window start, IP, JA4, host): (class, family).
/// The simulator's label of each session: its class and family.
type Labels = HashMap<SessionKey, (String, String)>;

/// Reads `session_labels.csv` (`window_start,src_ip,ja4,host,class,family`); a line that
/// does not name a session is an error with its number.
pub(crate) fn read_labels(path: &Path) -> anyhow::Result<Labels> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut labels = Labels::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let [window, ip, ja4, host, class, family] = f[..] else {
            anyhow::bail!("{}:{}: expected 6 fields", path.display(), n + 1);
        };
        let key = SessionKey {
            window_start: Timestamp::parse_rfc3339(window)
                .map_err(|e| anyhow::anyhow!("{}:{}: {e}", path.display(), n + 1))?,
            src_ip: ip
                .parse()
                .with_context(|| format!("{}:{}: address {ip:?}", path.display(), n + 1))?,
            ja4: SessionKey::ja4_from_stored(ja4.to_string())
                .with_context(|| format!("{}:{}: JA4 {ja4:?}", path.display(), n + 1))?,
            host: host.into(),
        };
        labels.insert(key, (class.into(), family.into()));
    }
    Ok(labels)
}

/// Verdicts per simulated population, and precision and recall of the threat verdicts.
///
/// A session is *flagged* when the cycle calls it a threat: an anomaly (CRITICAL to LOW) or
/// an Anubis DENY. The positive class is the simulator's `bad_bot`; humans and good bots
/// are negatives, so a flagged human is a false positive and a good bot counted as
/// KNOWN_BOT is a true negative.
#[derive(Debug, Default)]
pub struct VerdictTable {
    /// family → (class, sessions per level, flagged).
    rows: BTreeMap<String, (String, BTreeMap<ThreatLevel, u64>, u64)>,
    /// campaign → sessions per population.
    campaigns: BTreeMap<i64, BTreeMap<String, u64>>,
    tp: u64,
    fp: u64,
    fn_: u64,
}

impl VerdictTable {
    fn new(sessions: &[Session], verdicts: &[Verdict], labels: &Labels) -> Self {
        let mut t = VerdictTable::default();
        for (s, v) in sessions.iter().zip(verdicts) {
            let (class, family) = labels
                .get(s.key())
                .cloned()
                .unwrap_or_else(|| ("unlabelled".into(), "unlabelled".into()));
            let flagged = v.is_anomaly || v.level == ThreatLevel::AnubisDeny;
            let positive = class == "bad_bot";
            match (positive, flagged) {
                (true, true) => t.tp += 1,
                (false, true) => t.fp += 1,
                (true, false) => t.fn_ += 1,
                (false, false) => {}
            }
            let row = t
                .rows
                .entry(family.clone())
                .or_insert_with(|| (class, BTreeMap::new(), 0));
            *row.1.entry(v.level).or_default() += 1;
            row.2 += flagged as u64;
            if let Some(c) = v.campaign {
                *t.campaigns.entry(c).or_default().entry(family).or_default() += 1;
            }
        }
        t
    }

    /// Share of campaign members that belong to their campaign's main population.
    pub fn campaign_purity(&self) -> f64 {
        let (main, all) = self.campaigns.values().fold((0, 0), |(m, a), pops| {
            (
                m + pops.values().max().copied().unwrap_or(0),
                a + pops.values().sum::<u64>(),
            )
        });
        main as f64 / all.max(1) as f64
    }

    /// Flagged bad bots over flagged sessions.
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }

    /// Flagged bad bots over bad bots.
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
}

impl std::fmt::Display for VerdictTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const SHOWN: [(ThreatLevel, &str); 9] = [
            (ThreatLevel::Critical, "crit"),
            (ThreatLevel::High, "high"),
            (ThreatLevel::Medium, "med"),
            (ThreatLevel::Low, "low"),
            (ThreatLevel::AnubisDeny, "deny"),
            (ThreatLevel::Normal, "normal"),
            (ThreatLevel::LegitimateBrowser, "browser"),
            (ThreatLevel::KnownBot, "known"),
            (ThreatLevel::Unscored, "unscored"),
        ];
        write!(
            f,
            "{:<25} {:<9} {:>8} {:>8}",
            "population", "class", "sessions", "flagged"
        )?;
        for (_, name) in SHOWN {
            write!(f, " {name:>8}")?;
        }
        writeln!(f)?;
        for (family, (class, levels, flagged)) in &self.rows {
            let n: u64 = levels.values().sum();
            let pct = 100.0 * *flagged as f64 / n.max(1) as f64;
            write!(f, "{family:<25} {class:<9} {n:>8} {pct:>7.1}%")?;
            for (level, _) in SHOWN {
                write!(f, " {:>8}", levels.get(&level).copied().unwrap_or(0))?;
            }
            writeln!(f)?;
        }
        writeln!(
            f,
            "levels grade every scored session by its raw score (the seed's rule); flagged = below the cycle's adaptive threshold, or ANUBIS_DENY"
        )?;
        writeln!(
            f,
            "threat verdicts (anomaly or ANUBIS_DENY) against the labels: precision {:.3}, recall {:.3} ({} true positives, {} false positives, {} missed bad-bot sessions)",
            self.precision(),
            self.recall(),
            self.tp,
            self.fp,
            self.fn_
        )?;
        for (id, pops) in &self.campaigns {
            let mut pops: Vec<_> = pops.iter().collect();
            pops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = pops.iter().map(|(p, n)| format!("{p} {n}")).collect();
            writeln!(f, "campaign #{id}: {}", parts.join(", "))?;
        }
        if !self.campaigns.is_empty() {
            writeln!(
                f,
                "campaign purity (members from their campaign's main population): {:.3}",
                self.campaign_purity()
            )?;
        }
        Ok(())
    }
}
