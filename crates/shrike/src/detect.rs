//! `shrike detect`: one detection cycle over the store's horizon, outputs written back.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use shrike_detect::{CycleOutput, CycleRunner, DetectConfig, Registry, RetentionHours};
use shrike_dict::DictionaryWatch;
use shrike_store::CycleStore;
use shrike_types::Timestamp;

use crate::config::{Config, Settings};
use crate::CommonOpts;

/// Arguments of `shrike detect`.
#[derive(Args, Clone, Default)]
pub struct DetectArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// End of the horizon (RFC 3339) [default: the newest session in the store].
    #[arg(long)]
    pub at: Option<String>,
    /// Model registry directory [default: `models/` beside the store].
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Run a cycle every interval (`30s`, `10m`, `1h`) until SIGINT or SIGTERM. A cycle in
    /// progress finishes before the exit; a second signal abandons it at once (its outputs
    /// are written in one transaction, so nothing of it is kept).
    #[arg(long, value_parser = parse_interval, conflicts_with = "at")]
    pub every: Option<Duration>,
}

/// Parses an interval: a positive whole number followed by `s`, `m` or `h`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}`: expected a positive number followed by s, m or h (e.g. 10m)");
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    };
    match secs {
        Some(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(bad()),
    }
}

/// Opens the configured dictionary directory for the cycles (`None` when none is set).
pub fn watch_dictionaries(settings: &Settings) -> anyhow::Result<Option<DictionaryWatch>> {
    let Some(dir) = settings.dict_dir.as_deref() else {
        return Ok(None);
    };
    let mut watch = DictionaryWatch::open(dir)?;
    if let Some(f) = settings.fcrdns {
        let resolver = shrike_dict::fcrdns::UdpResolver::from_system(f.timeout).map_err(|e| {
            anyhow::anyhow!("dictionaries.fcrdns is on but no resolver can be used: {e}")
        })?;
        tracing::info!(
            timeout_ms = f.timeout.as_millis() as u64,
            max_lookups = f.max_lookups,
            "claimed crawlers are verified by forward-confirmed reverse DNS"
        );
        watch = watch.with_verifier(shrike_dict::fcrdns::Verifier::new(
            Box::new(resolver),
            std::time::Duration::from_secs(6 * 3600),
            f.max_lookups,
        ));
    }
    Ok(Some(watch))
}

/// The cycle runner for these settings.
pub fn runner<'a>(
    cfg: &'a DetectConfig,
    registry: &'a Registry,
    settings: &Settings,
) -> CycleRunner<'a> {
    CycleRunner {
        cfg,
        registry,
        horizon_hours: settings.horizon_hours,
        retention: RetentionHours {
            scores: settings.scores_retention_hours,
            sessions: settings.sessions_retention_hours,
            fleets: settings.fleet_retention_hours,
            campaigns: settings.campaign_retention_hours,
        },
    }
}

/// `shrike detect`.
pub fn run(config: Config, args: DetectArgs) -> anyhow::Result<ExitCode> {
    let cfg = config.detect()?;
    let settings = config.resolve(&crate::config::Overrides::common(&args.common))?;
    let at = args
        .at
        .as_deref()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--at: {e}"))?;
    let models = args
        .models
        .clone()
        .unwrap_or_else(|| settings.store_path.with_file_name("models"));
    let registry = Registry::open(&models)?;
    let mut store = crate::stores::cycle_store(&settings)?;
    let mut dictionaries = watch_dictionaries(&settings)?;
    if let Some(every) = args.every {
        return run_every(
            store.as_mut(),
            &cfg,
            &registry,
            &settings,
            every,
            dictionaries,
        );
    }
    let lock = settings.writer_lock("shrike detect")?;
    let run = runner(&cfg, &registry, &settings).run(store.as_mut(), at, dictionaries.as_mut())?;
    drop(lock);
    match run {
        None => {
            eprintln!(
                "error: the store {} has no sessions: run `shrike ingest` first",
                store.describe()
            );
            Ok(ExitCode::from(1))
        }
        Some(run) => {
            print_summary(&run.output, run.id);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `shrike detect --every`: cycles until a termination signal.
fn run_every(
    store: &mut dyn CycleStore,
    cfg: &DetectConfig,
    registry: &Registry,
    settings: &Settings,
    every: Duration,
    mut dictionaries: Option<DictionaryWatch>,
) -> anyhow::Result<ExitCode> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for (signal, status) in [(SIGINT, 130), (SIGTERM, 143)] {
        // The first signal sets the flag; with the flag set, the next one exits at once.
        // The exit handler must be registered first (signal-hook runs them in order).
        signal_hook::flag::register_conditional_shutdown(signal, status, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    tracing::info!(
        every_s = every.as_secs(),
        "running a detection cycle every interval; SIGINT or SIGTERM stops after the current cycle"
    );
    let mut cycles = 0u64;
    loop {
        let started = Instant::now();
        // The writer lock is held for each cycle, not between them: ingests run meanwhile.
        let cycle = settings
            .writer_lock("shrike detect --every")
            .and_then(|lock| {
                let run = runner(cfg, registry, settings).run(store, None, dictionaries.as_mut());
                drop(lock);
                Ok(run?)
            });
        match cycle {
            Ok(Some(run)) => print_summary(&run.output, run.id),
            Ok(None) => tracing::warn!("the store has no sessions yet: nothing to score"),
            // A failed cycle (a locked or full disk, say) is reported; the next one retries.
            Err(e) => {
                tracing::error!(error = %crate::render_error(&e), "detection cycle failed")
            }
        }
        cycles += 1;
        let elapsed = started.elapsed();
        if elapsed > every {
            tracing::warn!(
                elapsed_ms = elapsed.as_millis() as u64,
                every_s = every.as_secs(),
                "the cycle took longer than its interval: the next one starts now"
            );
        }
        let next = started + every;
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::sleep((next - now).min(Duration::from_millis(100)));
        }
        if stop.load(Ordering::SeqCst) {
            println!("stopped by signal after {cycles} cycle(s)");
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Prints the cycle's figures and decisions.
pub fn print_summary(out: &CycleOutput, id: i64) {
    let m = &out.metrics;
    println!(
        "cycle {id}: {} sessions, {} scored, {} anomalies ({:.1}%)",
        m.sessions,
        m.scored,
        m.anomalies,
        100.0 * m.anomaly_rate
    );
    let levels: Vec<String> = m.levels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("  levels: {}", levels.join(", "));
    for set in shrike_detect::FeatureSetName::ALL {
        match m.models.get(set.as_str()) {
            Some(version) => println!(
                "  model {set}: {version}, threshold {:.4}",
                m.thresholds.get(set.as_str()).copied().unwrap_or(0.0),
                set = set.as_str()
            ),
            None => println!(
                "  model {}: not used this cycle (no session of its set to score, or see the decisions)",
                set.as_str()
            ),
        }
    }
    for d in &out.decisions {
        if d.kind != shrike_detect::DecisionKind::Anomaly {
            let set = d.model.map_or("", |m| m.as_str());
            println!("  decision {} {set}: {}", d.kind.as_str(), d.payload);
        }
    }
    let stages: Vec<String> = m
        .stage_ms
        .iter()
        .map(|(k, v)| format!("{k} {v} ms"))
        .collect();
    println!("  stages: {}", stages.join(", "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_need_a_unit_and_a_positive_count() {
        assert_eq!(parse_interval("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("45s"), Ok(Duration::from_secs(45)));
        for bad in [
            "",
            "10",
            "0m",
            "-1m",
            "1.5h",
            "m",
            "10 m",
            "10d",
            "99999999999999999h",
        ] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.contains("s, m or h"), "{bad}: {e}");
        }
    }
}
