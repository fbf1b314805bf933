//! `shrike ingest`: read → validate → sessionize → cohort features → store.

mod plan;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use shrike_dict::Dictionaries;
use shrike_features::{FinishOptions, Sessionizer};
use shrike_ingest::{
    detect_format, DeadLetterWriter, Format, IngestOptions, IngestReport, Input, RecordSink,
};
use shrike_store::{IngestedSource, SqliteStore};
use shrike_types::{Clock, RequestRecord, SystemClock, HOUR_MS};

pub use plan::{plan, Plan, ReadPlan};
use plan::{Print, TapDigest};

use crate::config::{Config, Overrides, Settings};
use crate::CommonOpts;

/// Arguments of `shrike ingest`.
#[derive(Args, Clone)]
pub struct IngestArgs {
    /// Input files (plain or gzip); `-` reads standard input.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Input format [default: detected from the first line].
    #[arg(long, value_parser = ["jsonl", "combined", "nginx-json", "cloudflare", "zeek", "pcap"])]
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
    /// ClickHouse store: where batches wait while the server is unavailable
    /// [default: shrike-data/spool/<host>_<port>_<db>].
    #[arg(long)]
    pub spool: Option<PathBuf>,
    /// ClickHouse store: input bytes per insert batch (at least 65536).
    #[arg(long, default_value_t = 8 * 1024 * 1024)]
    pub batch_bytes: usize,
    /// ClickHouse store: seconds a batch is retried (with backoff) before it is spooled.
    #[arg(long = "retry-for", default_value_t = 60)]
    pub retry_for_secs: u64,
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

/// Loads the dictionaries named by the settings (empty when none).
pub fn dictionaries(s: &Settings) -> anyhow::Result<Arc<Dictionaries>> {
    Ok(Arc::new(match &s.dict_dir {
        Some(d) => Dictionaries::load_dir(d)?,
        None => Dictionaries::default(),
    }))
}

pub(crate) fn sniff_format(input: &Input) -> anyhow::Result<Format> {
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
            "cannot tell the format of {}; pass --format jsonl|combined|nginx-json|cloudflare|zeek|pcap",
            input.label()
        ),
    }
}

/// The outcome of ingesting one input.
pub struct IngestOutcome {
    pub report: IngestReport<()>,
    /// Sessions of the horizon written (None: the store computes them itself).
    pub sessions_written: Option<usize>,
    pub skipped: bool,
    /// Where an earlier run of the same file stopped, when this run continued it.
    pub continued_from: Option<u64>,
    /// Wall time from the start of this input (its fingerprint included) to its data
    /// committed in the store (None when the store computes sessions itself, or nothing was
    /// read).
    pub stored_after: Option<std::time::Duration>,
}

impl IngestOutcome {
    /// Counts `planning` (the content fingerprint) in the input's time too.
    fn planned_in(mut self, planning: std::time::Duration) -> Self {
        if let Some(d) = &mut self.stored_after {
            *d += planning;
        }
        self
    }
}

/// Ingests one input into the store: plans what to read, then reads it.
pub fn ingest_one(
    store: &mut SqliteStore,
    settings: &Settings,
    dict: &Dictionaries,
    input: &Input,
    format: Option<Format>,
    force: bool,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<IngestOutcome> {
    let started = std::time::Instant::now();
    match plan(store, input, force)? {
        Plan::Skip(seen) => Ok(skipped(input, &seen)),
        Plan::Read(p) => {
            let planning = started.elapsed();
            ingest_planned(store, settings, dict, &p, input.label(), format, progress)
                .map(|o| o.planned_in(planning))
        }
    }
}

pub(crate) fn skipped(input: &Input, seen: &IngestedSource) -> IngestOutcome {
    tracing::warn!(input = %input.label(), first = %seen.label, "already ingested (same content): skipped; use --force to ingest again");
    IngestOutcome {
        report: IngestReport::empty(),
        sessions_written: None,
        skipped: true,
        continued_from: None,
        stored_after: None,
    }
}

/// Reads what a [`ReadPlan`] says into the store.
pub fn ingest_planned(
    store: &mut SqliteStore,
    settings: &Settings,
    dict: &Dictionaries,
    plan: &ReadPlan,
    label: String,
    format: Option<Format>,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<IngestOutcome> {
    let started = std::time::Instant::now();
    let input = &plan.input;
    if let Some(from) = plan.continued_from {
        tracing::info!(input = %label, from, "file grew since its last ingest: reading the new bytes only");
    }
    let format = match format {
        Some(f) => f,
        // A continued file is sniffed from its beginning: the new bytes may start mid-line.
        None => match input {
            Input::FileRange { path, .. } => sniff_format(&Input::File(path.clone()))?,
            other => sniff_format(other)?,
        },
    };
    let key = store.hash_key()?;
    let batch = store.next_batch()?;
    let opts = IngestOptions {
        workers: settings.workers,
        first_line: plan.first_line,
        ..IngestOptions::default()
    };
    let sink = || SessionSink(Sessionizer::new(key, batch));
    let dead_letter =
        DeadLetterWriter::to_file(&settings.dead_letter).for_run(format!("batch {batch}"), &label);
    // A fingerprint left for the read is computed from the bytes as the reader reads them
    // (a capture or Zeek log is read by its own reader: it is hashed first).
    let print = match (&plan.fingerprint, format.source(), input) {
        (None, Some(_), Input::FileRange { path, end, .. }) => {
            let (digest, tap) = TapDigest::new(path, *end);
            Print::Tapped(digest, tap)
        }
        _ => Print::Known(plan.fingerprint_now()?),
    };
    let (report, dead) = match format.source() {
        Some(source) => shrike_ingest::run_tapped(
            input,
            source.as_ref(),
            &opts,
            dead_letter,
            sink,
            progress,
            match &print {
                Print::Tapped(_, tap) => Some(tap),
                Print::Known(_) => None,
            },
        )?,
        None => read_whole(
            format,
            plan,
            &label,
            &opts,
            sink,
            usize::MAX,
            dead_letter,
            progress,
        )?,
    };
    let (sinks, report) = report.split_sinks();
    let mut merged = Sessionizer::new(key, batch);
    for s in sinks {
        merged.merge(s.0);
    }
    // Extend stored sessions of the horizon with the new data and recompute their
    // features, in the store's write transaction.
    let fingerprint = match print {
        Print::Known(f) => f,
        Print::Tapped(digest, _) => digest.finish()?,
    };
    let src = IngestedSource {
        fingerprint,
        label,
        records: report.records,
        rejected: report.rejects.total(),
        span: plan.span(report.lines),
    };
    let written = store.merge_ingest(
        merged,
        settings.horizon_hours as i64 * HOUR_MS,
        finisher(dict, settings),
        &src,
        SystemClock.now(),
    )?;
    if dead.written() > 0 {
        tracing::warn!(file = %settings.dead_letter.display(), lines = dead.written(), "rejected lines kept in the dead-letter file");
    }
    Ok(IngestOutcome {
        report,
        sessions_written: Some(written),
        skipped: false,
        continued_from: plan.continued_from,
        stored_after: Some(started.elapsed()),
    })
}

/// How a merge computes the features of the horizon's sessions, with these dictionaries
/// and settings (`shrike ingest` and `shrike run` alike).
pub(crate) fn finisher<'a>(
    dict: &'a Dictionaries,
    settings: &'a Settings,
) -> impl FnOnce(&Sessionizer) -> Vec<shrike_features::SessionFeatures> + 'a {
    move |all: &Sessionizer| {
        all.finish(
            dict,
            &FinishOptions {
                at: None,
                horizon_hours: settings.horizon_hours,
            },
        )
    }
}

/// Reads an input that is not read line by line (a capture, Zeek logs) and prints what it
/// held: a capture into one sink, `batch` records per chunk; Zeek's http.log on `opts`'
/// workers.
#[allow(clippy::too_many_arguments)]
pub(crate) fn read_whole<S: shrike_ingest::RecordSink>(
    format: Format,
    plan: &ReadPlan,
    label: &str,
    opts: &IngestOptions,
    mut make_sink: impl FnMut() -> S,
    batch: usize,
    dead_letter: DeadLetterWriter,
    progress: &(dyn Fn(u64) + Sync),
) -> anyhow::Result<(IngestReport<S>, DeadLetterWriter)> {
    if plan.continued_from.is_some() {
        let what = if format == Format::Zeek {
            "a Zeek log that grew since its last ingest; Zeek logs are joined whole (http.log \
             with ssl.log and conn.log), so they cannot be continued from where they stopped: \
             ingest Zeek's rotated files"
        } else {
            "a capture that grew since its last ingest; a capture cannot be continued from \
             where it stopped: rotate captures into new files (tcpdump -G / -C)"
        };
        bail!(
            "{label} is {what}, or pass --force to read it whole again (its earlier records \
             then count twice)"
        );
    }
    if format == Format::Zeek {
        let (report, dead, stats) =
            shrike_ingest::run_zeek(&plan.input, opts, dead_letter, make_sink, progress)?;
        print_zeek(label, &stats);
        return Ok((report, dead));
    }
    let (report, dead, stats) =
        shrike_ingest::run_capture(&plan.input, make_sink(), batch, dead_letter, progress)?;
    print_capture(label, &stats);
    Ok((report, dead))
}

/// One summary line of what a set of Zeek logs held and how they were joined.
fn print_zeek(label: &str, s: &shrike_ingest::ZeekStats) {
    let side = |p: &Option<std::path::PathBuf>, name: &str| match p {
        Some(p) => format!("{} joined", p.display()),
        None => format!("no {name} beside it"),
    };
    println!(
        "{label}: Zeek logs: {} HTTP requests ({} joined to ssl.log, {} to conn.log), {} TLS connections ({} without a request, kept as TLS-only records), {} JA4T in conn.log; {}, {}",
        s.http_requests,
        s.joined_ssl,
        s.joined_conn,
        s.ssl_connections,
        s.tls_only,
        s.conn_fingerprints,
        side(&s.ssl_log, "ssl.log"),
        side(&s.conn_log, "conn.log"),
    );
}

/// One summary line of what a capture held.
fn print_capture(label: &str, s: &shrike_pcap::Stats) {
    let skipped: u64 = s.skipped.values().sum();
    println!(
        "{label}: capture of {} packets ({:.1} MB): {} TCP connections ({} TLS hellos, {} HTTP/1 and {} HTTP/2 cleartext requests), {} QUIC connections ({} hellos), {} packets neither TCP nor UDP, {} stream gaps",
        s.packets,
        s.bytes as f64 / 1e6,
        s.tcp_connections,
        s.tls_hellos,
        s.http1_requests,
        s.h2_requests,
        s.quic_connections,
        s.quic_hellos,
        skipped,
        s.gaps
    );
    if s.evicted_connections > 0 {
        println!(
            "  {} connections closed early: the connection table was full ({} at once) or the open connections held too many request bytes ({} MiB); their records were emitted then",
            s.evicted_connections,
            shrike_pcap::MAX_FLOWS,
            shrike_pcap::MAX_HELD_TOTAL >> 20
        );
    }
    if s.bounded_connections > 0 {
        println!(
            "  {} connections stopped at a bound (an HTTP/2 header table or header list too large, or too many requests): their earlier requests were kept",
            s.bounded_connections
        );
    }
    if let Some(why) = &s.cut_short {
        println!("  the capture ends early ({why}): what came before was read");
    }
}

fn progress_bar(len: Option<u64>) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len.unwrap_or(0));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {bytes_per_sec} {wide_bar} {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// Prints the end-of-run summary; returns whether the reject limit was exceeded.
/// [`summarise`], then an error line when the input's rejected fraction is above the
/// limit; returns whether it is.
pub(crate) fn summarise_within_limit(label: &str, o: &IngestOutcome, settings: &Settings) -> bool {
    let over = summarise(label, o, settings.max_reject_ratio);
    if over {
        eprintln!(
            "error: {label} rejected {:.2}% of its lines (of its packets for a capture), above the limit of {:.2}% (--max-reject-ratio); see {}",
            o.report.reject_ratio() * 100.0,
            settings.max_reject_ratio * 100.0,
            settings.dead_letter.display()
        );
    }
    over
}

/// Ingests the simulator's JSON Lines file (again, if it was) and prints the summary.
pub(crate) fn ingest_simulated(
    store: &mut SqliteStore,
    settings: &Settings,
    dict: &Dictionaries,
    path: std::path::PathBuf,
) -> anyhow::Result<()> {
    let input = Input::File(path);
    let o = ingest_one(
        store,
        settings,
        dict,
        &input,
        Some(Format::Jsonl),
        true,
        &|_| {},
    )?;
    summarise(&input.label(), &o, settings.max_reject_ratio);
    Ok(())
}

pub fn summarise(label: &str, o: &IngestOutcome, limit: f64) -> bool {
    let r = &o.report;
    if o.skipped {
        println!("{label}: already ingested, skipped");
        return false;
    }
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    if let Some(from) = o.continued_from {
        println!("{label}: grew since its last ingest; read from byte {from} on");
    }
    let sessions = o
        .sessions_written
        .map_or(String::new(), |n| format!("{n} sessions in the horizon, "));
    // The input's rate is from its first byte fingerprinted to its data committed; the
    // read stage's alone is labelled as a stage.
    let rate = match o.stored_after {
        Some(d) => format!(
            "{:.0} records/s end to end (fingerprint, read, merge, commit; {:.0} records/s in the read stage)",
            r.records as f64 / d.as_secs_f64().max(1e-9),
            r.records as f64 / secs
        ),
        None => format!("{:.0} records/s in the read stage", r.records as f64 / secs),
    };
    println!(
        "{label}: {} records, {sessions}{} rejected ({:.2}%), {} blank, {} unknown keys, {rate}",
        r.records,
        r.rejects.total(),
        r.reject_ratio() * 100.0,
        r.blank_lines,
        r.unknown_keys,
    );
    for (reason, n) in r.rejects.iter() {
        println!("  rejected {reason}: {n}");
    }
    for (finding, n) in r.quality.iter() {
        println!("  fingerprint quality {finding}: {n}");
    }
    r.reject_ratio() > limit
}

/// `shrike ingest`.
pub fn run(config: Config, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let settings = config.resolve(&Overrides {
        max_reject_ratio: args.max_reject_ratio,
        workers: args.workers,
        dead_letter: args.dead_letter.clone(),
        ..Overrides::common(&args.common)
    })?;
    if let Some(url) = &settings.clickhouse {
        return crate::ingest_ch::run(&settings, url, &args);
    }
    let dict = dictionaries(&settings)?;
    // One writer at a time: the stored states are read, merged and written back.
    let _lock = settings.writer_lock("shrike ingest")?;
    let mut store = SqliteStore::open(&settings.store_path)?;
    let format = args.format.as_deref().and_then(Format::parse);
    let mut exceeded = false;
    for raw in &args.inputs {
        let input = Input::from_arg(raw);
        let started = std::time::Instant::now();
        let outcome = match plan(&store, &input, args.force)? {
            Plan::Skip(seen) => skipped(&input, &seen),
            Plan::Read(p) => {
                let planning = started.elapsed();
                let bar = progress_bar(p.len());
                let outcome = ingest_planned(
                    &mut store,
                    &settings,
                    &dict,
                    &p,
                    input.label(),
                    format,
                    &|b| bar.set_position(b),
                );
                bar.finish_and_clear();
                outcome?.planned_in(planning)
            }
        };
        exceeded |= summarise_within_limit(&input.label(), &outcome, &settings);
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
