//! `shrike bench cycle`: a full detection cycle (both feature sets, training included) on
//! the sessions of a store, with a fresh model registry each run so that every run trains;
//! with `--steady`, the cycles after a first one: models loaded, the boosted trees learning
//! from the verdicts the earlier cycle saved, the meta-learner, every anomaly explained.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use shrike_detect::Registry;
use shrike_store::{CycleStore, SqliteStore};
use shrike_types::{Timestamp, HOUR_MS};

use crate::config::Config;

/// Arguments of `shrike bench cycle`.
#[derive(Args)]
pub struct BenchCycleArgs {
    /// Store to read the sessions from (its outputs are written back on every run).
    #[arg(long, default_value = "shrike-data/bench/cycle.db")]
    pub store: PathBuf,
    /// Horizon in hours.
    #[arg(long, default_value_t = 24)]
    pub horizon_hours: u32,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Measure the steady state: one first cycle (not counted) trains the models and saves
    /// its verdicts, then each measured cycle reloads the trusted labels and reuses the
    /// models, as `shrike detect --every` does.
    #[arg(long)]
    pub steady: bool,
}

/// `shrike bench cycle`.
pub fn run(config: Config, a: BenchCycleArgs) -> anyhow::Result<ExitCode> {
    let cfg = config.detect()?;
    let mut store = SqliteStore::open(&a.store)?;
    let t = Instant::now();
    let Some((sessions, start, end)) =
        shrike_detect::runner::load_sessions(&store, a.horizon_hours, None, Default::default())?
    else {
        eprintln!(
            "error: {} has no sessions; fill it first, e.g.\n  shrike bench ingest --runs 1\n  shrike ingest shrike-data/bench/traffic.jsonl --store {} --dict-dir shrike-data/bench/dict",
            a.store.display(),
            a.store.display()
        );
        return Ok(ExitCode::from(1));
    };
    let load_s = t.elapsed().as_secs_f64();
    let recurrence = store.recurrences()?;
    let now = Timestamp::from_millis(end.millis() + HOUR_MS);
    println!(
        "{} sessions loaded from {} in {load_s:.3} s",
        sessions.len(),
        a.store.display()
    );
    let mut labels = shrike_detect::runner::load_labels(&store, &cfg, now, None)?;
    println!("{} labelled sessions for the boosted trees", labels.len());
    let models = a.store.with_file_name("bench-cycle-models");
    let _ = std::fs::remove_dir_all(&models);
    let (mut cycle_s, mut save_s) = (Vec::new(), Vec::new());
    let warm_up = usize::from(a.steady);
    for run in 0..a.runs.max(1) + warm_up {
        if !a.steady {
            let _ = std::fs::remove_dir_all(&models);
        } else if run > 0 {
            labels = shrike_detect::runner::load_labels(&store, &cfg, now, None)?;
        }
        let registry = Registry::open(&models)?;
        let t = Instant::now();
        let out = shrike_detect::run_cycle(
            &sessions,
            &labels,
            &recurrence,
            &Default::default(),
            &registry,
            &cfg,
            now,
        );
        let c = t.elapsed().as_secs_f64();
        let t = Instant::now();
        shrike_detect::runner::save(&mut store, &registry, &sessions, &out, (start, end), now)?;
        let s = t.elapsed().as_secs_f64();
        let stages: Vec<String> = out
            .metrics
            .stage_ms
            .iter()
            .map(|(k, v)| format!("{k} {v} ms"))
            .collect();
        let what = if run < warm_up {
            "first cycle (not counted)"
        } else {
            "run"
        };
        println!(
            "{what} {}: cycle {c:.3} s ({} scored, {} anomalies, {} labels; {}), save {s:.3} s",
            run + 1 - warm_up.min(run),
            out.metrics.scored,
            out.metrics.anomalies,
            labels.len(),
            stages.join(", ")
        );
        if run >= warm_up {
            cycle_s.push(c);
            save_s.push(s);
        }
    }
    let _ = std::fs::remove_dir_all(&models);
    println!(
        "median: cycle {:.3} s, save {:.3} s, on {} sessions ({})",
        shrike_forest::median(cycle_s),
        shrike_forest::median(save_s),
        sessions.len(),
        if a.steady {
            "steady state: models loaded, trees and meta-learner on the saved verdicts"
        } else {
            "both feature sets, training included"
        }
    );
    Ok(ExitCode::SUCCESS)
}
