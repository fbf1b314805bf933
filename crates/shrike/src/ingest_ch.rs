//! `shrike ingest --store clickhouse://…`: records pushed to `http_logs` in RowBinary
//! batches, one batch per input chunk, each under a deduplication token made of the input's
//! content fingerprint and the batch's line range; sessions and features are then
//! ClickHouse's (materialized views and `view_ai_features_1h`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use shrike_clickhouse::rowbinary::{encode, ingest_seq};
use shrike_clickhouse::{ChError, ChStore, ChUrl, PushOptions, PushReport, Pusher};
use shrike_ingest::{DeadLetterWriter, Format, IngestOptions, IngestReport, Input, RecordSink};
use shrike_store::{IngestLedger, IngestedSource, StoreError};
use shrike_types::{Clock, RequestRecord, SystemClock, Timestamp};

use crate::config::Settings;
use crate::ingest::{plan, sniff_format, IngestArgs, IngestOutcome, Plan, ReadPlan};

/// One worker's batch under construction.
struct ChSink<'a> {
    pusher: &'a Pusher,
    fingerprint: &'a str,
    batch: u32,
    /// Requests older than this are past `http_logs`' TTL: ClickHouse would drop them.
    expired_before: Option<Timestamp>,
    buf: Vec<u8>,
    rows: u64,
    lines: Option<(u64, u64)>,
    expired: u64,
    /// A spool failure: the batch could not even be kept on disk.
    failed: Option<ChError>,
}

impl RecordSink for ChSink<'_> {
    fn accept(&mut self, line: u64, r: &RequestRecord<'_>) {
        if self.expired_before.is_some_and(|t| r.time < t) {
            self.expired += 1;
            return;
        }
        if encode(&mut self.buf, r, ingest_seq(self.batch, line)) {
            self.rows += 1;
            self.lines = Some(match self.lines {
                Some((first, _)) => (first, line),
                None => (line, line),
            });
        }
    }

    fn end_chunk(&mut self) {
        let Some((first, last)) = self.lines.take() else {
            return;
        };
        if self.failed.is_none() {
            let token = format!("{}:{first}-{last}", self.fingerprint);
            if let Err(e) = self.pusher.send(&token, self.rows, &self.buf) {
                self.failed = Some(e);
            }
        }
        self.buf.clear();
        self.rows = 0;
    }
}

/// Where undelivered batches for the store at `url` wait by default (relative to the working
/// directory, beside the embedded store's default file).
pub fn default_spool(url: &ChUrl) -> PathBuf {
    PathBuf::from("shrike-data/spool").join(format!("{}_{}_{}", url.host, url.port, url.database))
}

/// A ledger for a run that cannot reach ClickHouse: every input is read (a rerun's batches
/// carry the same tokens, so nothing is stored twice).
struct NoLedger;

impl IngestLedger for NoLedger {
    fn source_seen(&self, _: &str) -> Result<Option<IngestedSource>, StoreError> {
        Ok(None)
    }
    fn last_ingest_of(&self, _: &str) -> Result<Option<IngestedSource>, StoreError> {
        Ok(None)
    }
}

/// Opens the store and a pusher with the run's retry settings. A server that cannot be
/// reached is not an error (`reachable` is false: batches will be spooled); a schema that
/// is missing or too old is.
pub fn open(
    url: &ChUrl,
    spool: &Path,
    retry_for: Duration,
) -> anyhow::Result<(ChStore, Pusher, bool)> {
    let store = ChStore::connect(url.clone());
    let reachable = match store.check_schema() {
        Ok(()) => true,
        Err(e) if e.is_transient() => {
            tracing::error!(error = %e, spool = %spool.display(), "ClickHouse unavailable: batches will be spooled to disk");
            false
        }
        Err(e) => return Err(e).with_context(|| format!("opening {url}")),
    };
    let mut client = store.client().clone();
    // A slow server is a failed attempt after a minute, retried like any other.
    client.io_timeout = Duration::from_secs(60);
    let mut opts = PushOptions::with_spool(spool.to_path_buf());
    opts.retry_for = retry_for;
    Ok((store, Pusher::new(client, opts)?, reachable))
}

/// What every input of one run shares.
struct ChRun<'a> {
    store: &'a ChStore,
    pusher: &'a Pusher,
    settings: &'a Settings,
    format: Option<Format>,
    /// Requests older than this are past `http_logs`' TTL.
    expired_before: Option<Timestamp>,
    batch_bytes: usize,
}

/// Reads one planned input into ClickHouse; returns the outcome and the number of
/// requests past the retention.
fn ingest_planned(
    run: &ChRun<'_>,
    p: &ReadPlan,
    label: String,
) -> anyhow::Result<(IngestOutcome, u64)> {
    let ChRun {
        store,
        pusher,
        settings,
        format,
        expired_before,
        batch_bytes,
    } = *run;
    let format = match format {
        Some(f) => f,
        None => match &p.input {
            Input::FileRange { path, .. } => sniff_format(&Input::File(path.clone()))?,
            other => sniff_format(other)?,
        },
    };
    let batch = match store.next_batch() {
        Ok(b) => b,
        // Unreachable: a batch number from the clock (minutes), above any earlier one.
        Err(_) => (SystemClock.now().millis() / 60_000) as u32 & 0x00ff_ffff,
    };
    let opts = IngestOptions {
        workers: settings.workers,
        first_line: p.first_line,
        // One insert per chunk; 8 MiB is about 20,000 JSON Lines records.
        chunk_size: batch_bytes,
    };
    let fingerprint = p.fingerprint_now()?;
    let sink = || ChSink {
        pusher,
        fingerprint: &fingerprint,
        batch,
        expired_before,
        buf: Vec::with_capacity(batch_bytes),
        rows: 0,
        lines: None,
        expired: 0,
        failed: None,
    };
    let dead_letter = DeadLetterWriter::to_file(&settings.dead_letter)
        .for_run(format!("batch {batch}"), label.as_str());
    let (report, dead) = match format.source() {
        Some(source) => {
            shrike_ingest::run(&p.input, source.as_ref(), &opts, dead_letter, sink, &|_| {})?
        }
        // About 20,000 records per insert, as for line formats.
        None => {
            crate::ingest::read_whole(format, p, &label, &opts, sink, 20_000, dead_letter, &|_| {})?
        }
    };
    let (sinks, report): (Vec<ChSink>, IngestReport<()>) = report.split_sinks();
    let mut expired = 0;
    for s in sinks {
        expired += s.expired;
        if let Some(e) = s.failed {
            return Err(e).context("batches could not be sent nor spooled");
        }
    }
    if dead.written() > 0 {
        tracing::warn!(file = %settings.dead_letter.display(), lines = dead.written(), "rejected lines kept in the dead-letter file");
    }
    let src = IngestedSource {
        fingerprint: fingerprint.clone(),
        label,
        records: report.records,
        rejected: report.rejects.total(),
        span: p.span(report.lines),
    };
    if let Err(e) = store.record_source(&src, SystemClock.now()) {
        // The records are sent or spooled; only the ledger entry is missing, so a rerun
        // reads the input again, and the deduplication tokens keep it from counting twice.
        tracing::warn!(error = %e, "the ingest could not be recorded in ingested_sources: a rerun will send the same batches again (deduplicated)");
    }
    Ok((
        IngestOutcome {
            report,
            sessions_written: None,
            skipped: false,
            continued_from: p.continued_from,
            // The batches are sent; ClickHouse folds them into sessions on its own time.
            stored_after: None,
        },
        expired,
    ))
}

fn print_push(r: &PushReport, spool: &Path) {
    println!(
        "clickhouse: {} rows in {} batches sent ({} replayed from the spool), {} retries, {} batches spooled, {} refused",
        r.sent_rows, r.sent_batches, r.replayed_batches, r.retries, r.spooled_batches, r.refused_batches
    );
    if r.spooled_batches > 0 {
        println!("  spool: {}", spool.display());
    }
}

/// `shrike ingest` into ClickHouse.
pub fn run(settings: &Settings, url: &ChUrl, args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let spool = args.spool.clone().unwrap_or_else(|| default_spool(url));
    let (store, pusher, reachable) = open(url, &spool, Duration::from_secs(args.retry_for_secs))?;
    // Batches left by an earlier run go first.
    let before = pusher.spool_status()?;
    if reachable && before.pending_batches > 0 {
        println!(
            "clickhouse: replaying {} spooled batches ({} rows) from {}",
            before.pending_batches,
            before.pending_rows,
            spool.display()
        );
        pusher.replay(false).context("replaying the spool")?;
    }
    let ttl = if reachable {
        store.raw_ttl_days()?
    } else {
        None
    };
    let ledger: &dyn IngestLedger = if reachable { &store } else { &NoLedger };
    let expired_before =
        ttl.map(|d| Timestamp::from_millis(SystemClock.now().millis() - i64::from(d) * 86_400_000));
    let run = ChRun {
        store: &store,
        pusher: &pusher,
        settings,
        format: args.format.as_deref().and_then(Format::parse),
        expired_before,
        batch_bytes: args.batch_bytes.max(64 * 1024),
    };
    let mut exceeded = false;
    let mut expired_total = 0;
    for raw in &args.inputs {
        let input = Input::from_arg(raw);
        let (outcome, expired) = match plan(ledger, &input, args.force)? {
            Plan::Skip(seen) => (crate::ingest::skipped(&input, &seen), 0),
            Plan::Read(p) => ingest_planned(&run, &p, input.label())?,
        };
        expired_total += expired;
        exceeded |= crate::ingest::summarise_within_limit(&input.label(), &outcome, settings);
    }
    if expired_total > 0 {
        eprintln!(
            "warning: {expired_total} records are older than http_logs' retention ({} days) and were not sent: ClickHouse would drop them. Raise it with `ALTER TABLE http_logs MODIFY TTL` to keep them.",
            ttl.unwrap_or(0)
        );
    }
    // What the run had to spool: one more attempt now, then it waits for the next run.
    let mut left = pusher.spool_status()?;
    if left.pending_batches > 0 {
        match pusher.replay(false) {
            Ok(st) => left = st,
            Err(e) => tracing::warn!(error = %e, "ClickHouse still unavailable"),
        }
    }
    print_push(&pusher.report(), &spool);
    if left.pending_batches > 0 || left.refused_batches > 0 {
        eprintln!(
            "error: {} batches ({} rows) wait in the spool {} and {} batches ({} rows) were refused; \
             nothing is lost: `shrike ch replay --store {url}` (or the next ingest) sends them",
            left.pending_batches,
            left.pending_rows,
            spool.display(),
            left.refused_batches,
            left.refused_rows
        );
        return Ok(ExitCode::from(4));
    }
    println!("store {url}: {} requests in http_logs", store.raw_count()?);
    Ok(if exceeded {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
