//! `shrike ingest`: read → validate → sessionize → cohort features → store.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use clap::Args;
use sha2::{Digest, Sha256};
use shrike_dict::Dictionaries;
use shrike_features::{FinishOptions, Sessionizer};
use shrike_ingest::{
    detect_format, DeadLetterWriter, Format, IngestOptions, IngestReport, Input, RecordSink, Tap,
};
use shrike_store::{FileSpan, IngestLedger, IngestedSource, SqliteStore};
use shrike_types::{Clock, RequestRecord, SystemClock, HOUR_MS};

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

/// What hashing a file found.
struct Hashed {
    /// SHA-256 of bytes `0..size`.
    whole: String,
    /// SHA-256 of bytes `0..prefix_len`, when asked for and `prefix_len <= size`.
    prefix: Option<String>,
    /// Whether byte `size - 1` is a newline (true for an empty file).
    ends_with_newline: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes the first `size` bytes of a file (a log still being written may be longer by
/// now: what lies beyond is left for the next run), with a snapshot at `prefix_len`.
fn hash_file(path: &Path, size: u64, prefix_len: Option<u64>) -> anyhow::Result<Hashed> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut f = f.take(size);
    let mut h = Sha256::new();
    let mut prefix = None;
    let mut done = 0u64;
    let mut last = b'\n';
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if prefix.is_none() && prefix_len == Some(done) {
            prefix = Some(hex(&h.clone().finalize()));
        }
        // Stop each read at the snapshot point so the snapshot lands exactly on it.
        let want = match prefix_len {
            Some(p) if p > done && prefix.is_none() => (p - done).min(buf.len() as u64) as usize,
            _ => buf.len(),
        };
        let n = f
            .read(&mut buf[..want])
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        last = buf[n - 1];
        done += n as u64;
    }
    if done < size {
        bail!(
            "{} shrank while it was being read ({size} bytes expected, {done} read)",
            path.display()
        );
    }
    Ok(Hashed {
        whole: hex(&h.finalize()),
        prefix,
        ends_with_newline: last == b'\n',
    })
}

/// Whether byte `size - 1` of a file is a newline (true for an empty file).
fn ends_with_newline(path: &Path, size: u64) -> anyhow::Result<bool> {
    if size == 0 {
        return Ok(true);
    }
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    f.seek(std::io::SeekFrom::Start(size - 1))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut last = [0u8];
    f.read_exact(&mut last)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(last[0] == b'\n')
}

/// An input's fingerprint: known before the read, or computed by a tap during it.
enum Print {
    Known(String),
    Tapped(TapDigest, Tap),
}

/// SHA-256 of the bytes a [`Tap`] saw, and their count: the fingerprint of a file read in
/// the same pass as its records.
struct TapDigest {
    state: Arc<Mutex<(Sha256, u64)>>,
    path: PathBuf,
    size: u64,
}

impl TapDigest {
    /// A digest of the first `size` bytes of `path`, and the tap that feeds it.
    fn new(path: &Path, size: u64) -> (TapDigest, Tap) {
        let state = Arc::new(Mutex::new((Sha256::new(), 0u64)));
        let seen = Arc::clone(&state);
        let tap = Tap::new(move |bytes| {
            let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
            s.0.update(bytes);
            s.1 += bytes.len() as u64;
        });
        let digest = TapDigest {
            state,
            path: path.to_path_buf(),
            size,
        };
        (digest, tap)
    }

    /// The fingerprint, once the file was read. A reader that stopped short of its end (a
    /// gzip stream cut short, or followed by bytes that are not gzip) saw only part of it:
    /// the whole file is hashed again then.
    fn finish(self) -> anyhow::Result<String> {
        let (h, n) = std::mem::replace(
            &mut *self.state.lock().unwrap_or_else(|p| p.into_inner()),
            (Sha256::new(), 0),
        );
        if n == self.size {
            Ok(hex(&h.finalize()))
        } else {
            Ok(hash_file(&self.path, self.size, None)?.whole)
        }
    }
}

/// What an ingest of one input will read, decided from the store's record of earlier runs.
pub enum Plan {
    /// This exact content was ingested before.
    Skip(IngestedSource),
    /// Read `input`.
    Read(ReadPlan),
}

/// The part of an input to read.
pub struct ReadPlan {
    /// What to read: standard input, or a byte range of a file.
    pub input: Input,
    /// Line number of the first line read.
    pub first_line: u64,
    /// Content fingerprint recorded for the run; `None` when no earlier ingest can have had
    /// this content (none read a file of its size): it is then computed as the file is
    /// read, in the same pass.
    pub fingerprint: Option<String>,
    /// For a file: its canonical path, size and whether it ends with a newline.
    file: Option<(String, u64, bool)>,
    /// Where an earlier run of the same file stopped, when this run continues it.
    pub continued_from: Option<u64>,
}

impl ReadPlan {
    /// The span of the file this plan covers, once `lines` lines were read.
    pub fn span(&self, lines: u64) -> Option<FileSpan> {
        self.file
            .as_ref()
            .map(|(path, size, ends_with_newline)| FileSpan {
                path: path.clone(),
                start: self.continued_from.unwrap_or(0),
                end: *size,
                lines: self.first_line - 1 + lines,
                ends_with_newline: *ends_with_newline,
            })
    }

    /// The content fingerprint, hashing the file now if it was left for the read.
    pub fn fingerprint_now(&self) -> anyhow::Result<String> {
        match (&self.fingerprint, &self.input) {
            (Some(f), _) => Ok(f.clone()),
            (None, Input::FileRange { path, end, .. }) => Ok(hash_file(path, *end, None)?.whole),
            (None, other) => bail!("{} has no content fingerprint", other.label()),
        }
    }

    /// Bytes to read, when known.
    pub fn len(&self) -> Option<u64> {
        match &self.input {
            Input::FileRange { start, end, .. } => Some(end - start),
            Input::File(_) | Input::Stdin | Input::Bytes { .. } => None,
        }
    }
}

/// Decides what to read. A file whose exact content was ingested is skipped (unless
/// `force`); a file that only grew since its last ingest (same bytes up to where that run
/// stopped) is read from there on; any other file is read whole.
pub fn plan(store: &dyn IngestLedger, input: &Input, force: bool) -> anyhow::Result<Plan> {
    let path = match input {
        Input::File(p) | Input::FileRange { path: p, .. } => p,
        Input::Stdin | Input::Bytes { .. } => {
            return Ok(Plan::Read(ReadPlan {
                input: input.clone(),
                first_line: 1,
                fingerprint: Some(format!("stdin-{}", SystemClock.now().millis())),
                file: None,
                continued_from: None,
            }))
        }
    };
    let canonical = std::fs::canonicalize(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .display()
        .to_string();
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let previous = store
        .last_ingest_of(&canonical)?
        .filter(|p| p.span.as_ref().is_some_and(|s| s.end > 0 && s.end < size));
    // A file whose size no earlier ingest read cannot hold content seen before: it is
    // fingerprinted as it is read rather than in a pass of its own.
    let hashed = if previous.is_none() && !store.may_have_seen_size(size)? {
        None
    } else {
        let snapshot = previous
            .as_ref()
            .and_then(|p| p.span.as_ref())
            .map(|s| s.end);
        let hashed = hash_file(path, size, snapshot)?;
        if !force {
            if let Some(seen) = store.source_seen(&hashed.whole)? {
                return Ok(Plan::Skip(seen));
            }
        }
        Some(hashed)
    };
    let ends = match &hashed {
        Some(h) => h.ends_with_newline,
        None => ends_with_newline(path, size)?,
    };
    let file = Some((canonical, size, ends));
    let prefix = hashed.as_ref().and_then(|h| h.prefix.as_deref());
    let continued = previous.filter(|p| !force && prefix == Some(p.fingerprint.as_str()));
    let fingerprint = hashed.map(|h| h.whole);
    Ok(Plan::Read(match continued.and_then(|p| p.span) {
        Some(span) => ReadPlan {
            input: Input::FileRange {
                path: path.clone(),
                start: span.end,
                end: size,
            },
            // A last line without its newline is continued by the first bytes read now.
            first_line: span.lines + u64::from(span.ends_with_newline),
            fingerprint,
            file,
            continued_from: Some(span.end),
        },
        None => ReadPlan {
            input: Input::FileRange {
                path: path.clone(),
                start: 0,
                end: size,
            },
            first_line: 1,
            fingerprint,
            file,
            continued_from: None,
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// The tap's digest is the file's SHA-256 when it saw every byte, and still is when the
    /// reader stopped short (the file is hashed again).
    #[test]
    fn a_tapped_fingerprint_is_the_files_sha256_even_when_the_read_stopped_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let bytes: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(&path, &bytes).unwrap();
        let size = bytes.len() as u64;

        let (digest, tap) = TapDigest::new(&path, size);
        let mut reader = Input::File(path.clone()).open_tapped(Some(&tap)).unwrap().0;
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        assert_eq!(
            digest.state.lock().unwrap().1,
            size,
            "the tap saw every byte"
        );
        assert_eq!(digest.finish().unwrap(), sha256_hex(&bytes));

        let (digest, tap) = TapDigest::new(&path, size);
        let mut reader = Input::File(path.clone()).open_tapped(Some(&tap)).unwrap().0;
        let mut first = vec![0u8; 1000];
        reader.read_exact(&mut first).unwrap();
        drop(reader);
        assert_eq!(digest.finish().unwrap(), sha256_hex(&bytes));
    }
}
