//! `shrike detect`: one detection cycle over the store's horizon, outputs written back.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use shrike_detect::{CycleOutput, DetectConfig, Registry, Session};
use shrike_store::{CycleRecord, ScoreRow, SqliteStore};
use shrike_types::{Timestamp, HOUR_MS};

use crate::config::Config;
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
}

/// Runs one cycle on an open store and saves its outputs; `None` when the store is empty.
pub fn cycle(
    store: &mut SqliteStore,
    cfg: &DetectConfig,
    registry: &Registry,
    horizon_hours: u32,
    at: Option<Timestamp>,
) -> anyhow::Result<Option<(Vec<Session>, CycleOutput, i64)>> {
    let Some(end) = at.map(|t| t.hour_start()).or(store.newest_window()?) else {
        return Ok(None);
    };
    let start = Timestamp::from_millis(end.millis() - (horizon_hours as i64 - 1) * HOUR_MS);
    let sessions: Vec<Session> = store
        .sessions_between(start, end)?
        .into_iter()
        .map(|r| Session {
            window_start: r.window_start,
            first_seen: r.first_seen,
            src_ip: r.src_ip.to_string(),
            ja4: r.ja4,
            host: r.host,
            asn_label: r.asn_label,
            asn: r.asn,
            bot_name: r.bot_name,
            browser_family: r.browser_family,
            user_agent: r.user_agent,
            correlated: r.correlated,
            features: r.features,
        })
        .collect();
    let recurrence = store.recurrences()?;
    // The cycle's clock is the end of its horizon, so that replays are reproducible.
    let now = Timestamp::from_millis(end.millis() + HOUR_MS);
    let out = shrike_detect::run_cycle(&sessions, &recurrence, registry, cfg, now);
    let scores = sessions
        .iter()
        .zip(&out.verdicts)
        .map(|(s, v)| ScoreRow {
            window_start: s.window_start,
            src_ip: s.src_ip.clone(),
            ja4: s.ja4.clone(),
            host: s.host.clone(),
            model: v.model.map_or("", |m| m.as_str()).to_string(),
            threat_level: v.level.as_str().to_string(),
            raw_score: v.raw_score,
            anomaly_score: v.anomaly_score,
            is_anomaly: v.is_anomaly,
            recurrence: v.recurrence,
            browser_confidence: v.browser_confidence,
            browser_family: v.browser_family.clone(),
            reason: v.reason.clone(),
            top_features: serde_json::to_string(&v.top).unwrap_or_default(),
        })
        .collect();
    let models = out
        .decisions
        .iter()
        .filter(|d| d.kind == shrike_detect::DecisionKind::ModelTrained)
        .filter_map(|d| {
            let version = d.payload["version"].as_str()?.to_string();
            let set = shrike_detect::FeatureSetName::ALL
                .into_iter()
                .find(|s| s.as_str() == d.model)?;
            let meta = registry.load(set, &version).ok()?.meta;
            Some((
                d.model.clone(),
                version,
                now,
                serde_json::to_string(&meta).unwrap_or_default(),
            ))
        })
        .collect();
    let record = CycleRecord {
        started_at: now,
        horizon_start: start,
        horizon_end: end,
        sessions: out.metrics.sessions,
        scored: out.metrics.scored,
        anomalies: out.metrics.anomalies,
        anomaly_rate: out.metrics.anomaly_rate,
        metrics: serde_json::to_string(&out.metrics)?,
        scores,
        decisions: out
            .decisions
            .iter()
            .map(|d| {
                (
                    d.kind.as_str().to_string(),
                    d.model.clone(),
                    d.payload.to_string(),
                )
            })
            .collect(),
        models,
    };
    let id = store.save_cycle(&record)?;
    Ok(Some((sessions, out, id)))
}

/// `shrike detect`.
pub fn run(config: Config, args: DetectArgs) -> anyhow::Result<ExitCode> {
    let cfg = config.detect()?;
    let settings = crate::ingest::settings(config, &args.common, None)?;
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
    let mut store = SqliteStore::open(&settings.store_path)?;
    match cycle(&mut store, &cfg, &registry, settings.horizon_hours, at)? {
        None => {
            eprintln!(
                "error: the store {} has no sessions: run `shrike ingest` first",
                settings.store_path.display()
            );
            Ok(ExitCode::from(1))
        }
        Some((_, out, id)) => {
            print_summary(&out, id);
            Ok(ExitCode::SUCCESS)
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
    for (set, version) in &m.models {
        println!(
            "  model {set}: {version}, threshold {:.4}",
            m.thresholds.get(set).copied().unwrap_or(0.0)
        );
    }
    for d in &out.decisions {
        if d.kind != shrike_detect::DecisionKind::Anomaly {
            println!("  decision {} {}: {}", d.kind.as_str(), d.model, d.payload);
        }
    }
    let stages: Vec<String> = m
        .stage_ms
        .iter()
        .map(|(k, v)| format!("{k} {v} ms"))
        .collect();
    println!("  stages: {}", stages.join(", "));
}
