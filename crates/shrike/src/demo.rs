//! `shrike demo`: simulate → ingest → sessions per population.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use shrike_features::FeatureId;
use shrike_ingest::{Format, Input};
use shrike_store::SqliteStore;

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
}

/// `shrike demo`.
pub fn run(config: Config, mut args: DemoArgs) -> anyhow::Result<ExitCode> {
    if args.common.store.is_none() {
        args.common.store = Some(args.sim.out.join("demo.db"));
    }
    // A fresh store each time, so the demo is reproducible.
    if let Some(p) = &args.common.store {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
        }
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
    let settings = crate::ingest::settings(config, &args.common, None)?;
    let dict = crate::ingest::dictionaries(&settings)?;
    let mut store = SqliteStore::open(&settings.store_path)?;
    println!("2/3 ingesting into {}", settings.store_path.display());
    let input = Input::File(args.sim.out.join("traffic.jsonl"));
    let outcome = crate::ingest::ingest_one(
        &mut store,
        &settings,
        &dict,
        &input,
        Some(Format::Jsonl),
        true,
        &|_| {},
    )?;
    crate::ingest::summarise(&input.label(), &outcome, settings.max_reject_ratio);
    println!("3/3 sessions per population (ground truth from session_labels.csv)");
    let labels_path = args.sim.out.join("session_labels.csv");
    let text = std::fs::read_to_string(&labels_path)
        .with_context(|| format!("cannot read {}", labels_path.display()))?;
    let mut labels: HashMap<(String, String, String, String), String> = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() == 6 {
            labels.insert(
                (f[0].into(), f[1].into(), f[2].into(), f[3].into()),
                f[5].into(),
            );
        }
    }
    #[derive(Default)]
    struct Agg {
        n: u64,
        hits: u64,
        coherence: f64,
        ua_ch: f64,
        burst: f64,
        known_bot: u64,
    }
    let mut by: BTreeMap<String, Agg> = BTreeMap::new();
    for s in store.sessions()? {
        let k = (
            s.window_start.to_string(),
            s.src_ip.to_string(),
            s.ja4.clone(),
            s.host.clone(),
        );
        let fam = labels
            .get(&k)
            .cloned()
            .unwrap_or_else(|| "unlabelled".into());
        let a = by.entry(fam).or_default();
        a.n += 1;
        a.hits += s.hits;
        a.coherence += s.features[FeatureId::FingerprintCoherenceScore.index()] as f64;
        a.ua_ch += (s.features[FeatureId::UaChMismatch.index()] == 1.0) as u8 as f64;
        a.burst += s.features[FeatureId::BurstRatio.index()] as f64;
        a.known_bot += u64::from(!s.bot_name.is_empty());
    }
    println!(
        "    {:<25} {:>8} {:>9} {:>10} {:>8} {:>7} {:>9}",
        "population", "sessions", "requests", "coherence", "ua_ch", "burst", "known_bot"
    );
    for (fam, a) in &by {
        let n = a.n as f64;
        println!(
            "    {fam:<25} {:>8} {:>9} {:>10.2} {:>8.2} {:>7.2} {:>9}",
            a.n,
            a.hits,
            a.coherence / n,
            a.ua_ch / n,
            a.burst / n,
            a.known_bot
        );
    }
    println!(
        "store: {} ({} sessions)",
        settings.store_path.display(),
        store.session_count()?
    );
    println!("(columns are session means: fingerprint_coherence_score, share with ua_ch_mismatch, burst_ratio)");
    Ok(ExitCode::SUCCESS)
}
