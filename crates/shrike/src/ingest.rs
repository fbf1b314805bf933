//! `shrike ingest`: read → validate → sessionize → cohort features → store.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use sha2::{Digest, Sha256};
use shrike_dict::Dictionaries;
use shrike_features::{FinishOptions, Sessionizer};
use shrike_ingest::{
    detect_format, DeadLetterWriter, Format, IngestOptions, IngestReport, Input, RecordSink,
};
use shrike_store::{IngestedSource, SqliteStore};
use shrike_types::{Clock, RequestRecord, SystemClock, Timestamp, HOUR_MS};

use crate::config::{Config, Overrides, Settings};
use crate::CommonOpts;

/// Arguments of `shrike ingest`.
#[derive(Args, Clone)]
pub struct IngestArgs {
    /// Input files (plain or gzip); `-` reads standard input.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Input format [default: detected from the first line].
    #[arg(long, value_parser = ["jsonl", "combined"])]
    pub format: Option<String>,
    /// Exit with code 3 when more than this fraction of lines is rejected [default: 0.05].
    #[arg(long)]
    pub max_reject_ratio: Option<f64>,
    /// Where refused lines go [default: rejected.jsonl beside the store].
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// Parsing threads [default: one per core].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Ingest again even if this exact content was already ingested.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub common: CommonOpts,
}

/// Feeds one worker's records into its own sessionizer.
pub struct SessionSink(pub Sessionizer);

impl RecordSink for SessionSink {
    fn accept(&mut self, line: u64, record: &RequestRecord<'_>) {
        self.0.update(line, record);
    }
}

/// Resolves settings from the config and this command's flags.
pub fn settings(
    config: Config,
    common: &CommonOpts,
    args: Option<&IngestArgs>,
) -> anyhow::Result<Settings> {
    let flags = Overrides {
        store: common.store.clone(),
        dict_dir: common.dict_dir.clone(),
        horizon_hours: common.horizon_hours,
        max_reject_ratio: args.and_then(|a| a.max_reject_ratio),
        workers: args.and_then(|a| a.workers),
        dead_letter: args.and_then(|a| a.dead_letter.clone()),
    };
    config.resolve(&flags)
}

/// Loads the dictionaries named by the settings (empty when none).
pub fn dictionaries(s: &Settings) -> anyhow::Result<Arc<Dictionaries>> {
    Ok(Arc::new(match &s.dict_dir {
        Some(d) => Dictionaries::load_dir(d)?,
        None => Dictionaries::default(),
    }))
}

fn fingerprint(path: &Path) -> anyhow::Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn sniff_format(input: &Input) -> anyhow::Result<Format> {
    let (mut r, _) = input
        .open()
        .with_context(|| format!("cannot read {}", input.label()))?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0;
    while n < buf.len() {
        let k = r.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
        if buf[..n].contains(&b'\n') {
            break;
        }
    }
    match detect_format(&buf[..n]) {
        Some(f) => Ok(f),
        None if n == 0 => Ok(Format::Jsonl),
        None => bail!(
            "cannot tell the format of {}; pass --format jsonl|combined",
            input.label()
        ),
    }
}

/// The outcome of ingesting one input.
pub struct IngestOutcome {
    pub report: IngestReport<()>,
    pub sessions_written: usize,
    pub skipped: bool,
}

/// Ingests one input into the store.
pub fn ingest_one(
    store: &mut SqliteStore,
    settings: &Settings,
    dict: &Dictionaries,
    input: &Input,
    format: Option<Format>,
    force: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<IngestOutcome> {
    let fp = match input {
        Input::File(p) => Some(fingerprint(p)?),
        Input::Stdin => None,
    };
    if let (Some(fp), false) = (&fp, force) {
        if let Some(seen) = store.source_seen(fp)? {
            tracing::warn!(input = %input.label(), first = %seen.label, "already ingested (same content): skipped; use --force to ingest again");
            let report = IngestReport {
                sinks: Vec::new(),
                records: 0,
                lines: 0,
                blank_lines: 0,
                rejects: Default::default(),
                unknown_keys: 0,
                bytes: 0,
                elapsed: Default::default(),
            };
            return Ok(IngestOutcome {
                report,
                sessions_written: 0,
                skipped: true,
            });
        }
    }
    let format = match format {
        Some(f) => f,
        None => sniff_format(input)?,
    };
    let key = store.hash_key()?;
    let batch = store.next_batch()?;
    let opts = IngestOptions {
        workers: settings.workers,
        ..IngestOptions::default()
    };
    let source = format.source();
    let (report, dead) = shrike_ingest::run(
        input,
        source.as_ref(),
        &opts,
        DeadLetterWriter::to_file(&settings.dead_letter),
        || SessionSink(Sessionizer::new(key, batch)),
        progress,
    )?;
    let (sinks, report) = report.split_sinks();
    let mut merged = Sessionizer::new(key, batch);
    for s in sinks {
        merged.merge(s.0);
    }
    // Extend stored sessions of the horizon with the new data, then recompute features.
    let newest = merged.newest();
    let oldest_new = merged.session_states().map(|(k, _)| k.window_start).min();
    let mut all = Sessionizer::new(key, batch);
    if let (Some(oldest), Some(_)) = (oldest_new, newest) {
        let since =
            Timestamp::from_millis(oldest.millis() - settings.horizon_hours as i64 * HOUR_MS);
        store.load_states(&mut all, since)?;
    }
    all.merge(merged);
    let features = all.finish(
        dict,
        &FinishOptions {
            at: None,
            horizon_hours: settings.horizon_hours,
        },
    );
    let src = IngestedSource {
        fingerprint: fp.unwrap_or_else(|| format!("stdin-{}", SystemClock.now().millis())),
        label: input.label(),
        records: report.records,
        rejected: report.rejects.total(),
    };
    store.save_ingest(&all, &features, &src, SystemClock.now())?;
    if dead.written() > 0 {
        tracing::warn!(file = %settings.dead_letter.display(), lines = dead.written(), "rejected lines kept in the dead-letter file");
    }
    Ok(IngestOutcome {
        report,
        sessions_written: features.len(),
        skipped: false,
    })
}

fn progress_bar(input: &Input) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let len = match input {
        Input::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        Input::Stdin => 0,
    };
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Prints the end-of-run summary; returns whether the reject limit was exceeded.
pub fn summarise(label: &str, o: &IngestOutcome, limit: f64) -> bool {
    let r = &o.report;
    if o.skipped {
        println!("{label}: already ingested, skipped");
        return false;
    }
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{label}: {} records, {} sessions in the horizon, {} rejected ({:.2}%), {} blank, {} unknown keys, {:.0} records/s",
        r.records,
        o.sessions_written,
        r.rejects.total(),
        r.reject_ratio() * 100.0,
        r.blank_lines,
        r.unknown_keys,
        r.records as f64 / secs
    );
    for (reason, n) in r.rejects.iter() {
        println!("  rejected {reason}: {n}");
    }
    r.reject_ratio() > limit
}

/// `shrike ingest`.
pub fn run(config: Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let settings = settings(config, &args.common, Some(&args))?;
    let dict = dictionaries(&settings)?;
    let mut store = SqliteStore::open(&settings.store_path)?;
    let format = args.format.as_deref().and_then(Format::parse);
    let mut exceeded = false;
    for raw in &args.inputs {
        let input = Input::from_arg(raw);
        let bar = progress_bar(&input);
        let outcome = ingest_one(
            &mut store,
            &settings,
            &dict,
            &input,
            format,
            args.force,
            &|b| bar.set_position(b),
        )?;
        bar.finish_and_clear();
        if summarise(&input.label(), &outcome, settings.max_reject_ratio) {
            eprintln!(
                "error: {} rejected {:.2}% of its lines, above the limit of {:.2}% (--max-reject-ratio); see {}",
                input.label(),
                outcome.report.reject_ratio() * 100.0,
                settings.max_reject_ratio * 100.0,
                settings.dead_letter.display()
            );
            exceeded = true;
        }
    }
    println!(
        "store {}: {} sessions",
        settings.store_path.display(),
        store.session_count()?
    );
    Ok(if exceeded {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
