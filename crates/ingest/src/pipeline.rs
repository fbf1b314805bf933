//! The parallel ingest driver: one reader thread, N parsing workers, one sink per worker.

use std::io;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use shrike_types::RequestRecord;

use crate::{
    quality, Chunk, ChunkReader, DeadLetterWriter, Input, QualityCounts, Reject, RejectCounts,
    RejectReason, Source, Tap, MAX_LINE_BYTES,
};

/// Receives the records one worker parsed. Sinks are built per worker and merged by the
/// caller afterwards, so they need no locking.
pub trait RecordSink: Send {
    /// One valid record and its 1-based line number in the input.
    fn accept(&mut self, line: u64, record: &RequestRecord<'_>);
    /// Called after each chunk of input (chunks are cut at the same lines on every run of
    /// the same input, so a sink that ships a batch per chunk ships the same batches).
    fn end_chunk(&mut self) {}
}

/// How to run an ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Worker threads (at least 1).
    pub workers: usize,
    /// Target chunk size in bytes.
    pub chunk_size: usize,
    /// Line number of the input's first line (1, or more when continuing a file).
    pub first_line: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            chunk_size: 2 * 1024 * 1024,
            first_line: 1,
        }
    }
}

/// What a run did.
#[derive(Debug)]
pub struct IngestReport<S> {
    /// One sink per worker.
    pub sinks: Vec<S>,
    /// Valid records handed to sinks.
    pub records: u64,
    /// Lines seen (valid, rejected and blank).
    pub lines: u64,
    /// Blank lines skipped (not an error).
    pub blank_lines: u64,
    /// Rejected lines by reason.
    pub rejects: RejectCounts,
    /// Unknown keys ignored (JSON Lines).
    pub unknown_keys: u64,
    /// Fingerprint-quality findings (quirks normalised, impossible combinations).
    pub quality: QualityCounts,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl<S> IngestReport<S> {
    /// A report of nothing read (an input skipped as already ingested; the start of a run).
    pub fn empty() -> Self {
        IngestReport {
            sinks: Vec::new(),
            records: 0,
            lines: 0,
            blank_lines: 0,
            rejects: RejectCounts::default(),
            unknown_keys: 0,
            quality: QualityCounts::default(),
            bytes: 0,
            elapsed: Duration::ZERO,
        }
    }

    /// Takes the sinks out, leaving the counters.
    pub fn split_sinks(self) -> (Vec<S>, IngestReport<()>) {
        let IngestReport {
            sinks,
            records,
            lines,
            blank_lines,
            rejects,
            unknown_keys,
            quality,
            bytes,
            elapsed,
        } = self;
        let counters = IngestReport {
            sinks: Vec::new(),
            records,
            lines,
            blank_lines,
            rejects,
            unknown_keys,
            quality,
            bytes,
            elapsed,
        };
        (sinks, counters)
    }

    /// Fraction of non-blank lines that were rejected. For a capture, `lines` counts its
    /// packets: a capture is judged on what it could not read (a cut-short end, records
    /// with impossible times) against every packet it held, not against the records it
    /// gave, so a capture of TLS connections without a request is not "all rejected".
    pub fn reject_ratio(&self) -> f64 {
        let considered =
            (self.records + self.rejects.total()).max(self.lines.saturating_sub(self.blank_lines));
        if considered == 0 {
            0.0
        } else {
            self.rejects.total() as f64 / considered as f64
        }
    }
}

/// A failure that stops a run (bad input lines never do).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The input cannot be opened or read.
    #[error("cannot read {input}: {source}")]
    Read {
        /// Input label.
        input: String,
        /// The error.
        source: io::Error,
    },
    /// The dead-letter file cannot be written: refusing to lose rejected lines.
    #[error("cannot write the dead-letter file: {0}")]
    DeadLetter(io::Error),
    /// A worker thread panicked (a bug: please report it).
    #[error("an ingest worker failed unexpectedly")]
    WorkerPanicked,
}

#[derive(Default)]
struct WorkerStats {
    records: u64,
    lines: u64,
    blank: u64,
    rejects: RejectCounts,
    unknown: u64,
    quality: QualityCounts,
}

fn process_chunk<S: RecordSink>(
    chunk: &Chunk,
    source: &dyn Source,
    sink: &mut S,
    stats: &mut WorkerStats,
    dead: &Mutex<DeadLetterWriter>,
) -> io::Result<()> {
    let reject = |line_no: u64, r: Reject, raw: &[u8], stats: &mut WorkerStats| -> io::Result<()> {
        stats.rejects.add(&r.reason);
        dead.lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(line_no, &r, raw)
    };
    for (line_no, prefix) in &chunk.overlong {
        let r = Reject::new(
            RejectReason::LineTooLong,
            format!("line longer than {MAX_LINE_BYTES} bytes; first 64 KiB kept"),
        );
        reject(*line_no, r, prefix, stats)?;
    }
    let data = &chunk.data;
    let mut line_no = chunk.first_line;
    let mut start = 0;
    let n_lines = memchr::memchr_iter(b'\n', data).count()
        + usize::from(data.last().is_some_and(|b| *b != b'\n'));
    for i in 0..n_lines {
        let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |e| start + e);
        let mut line = &data[start..end];
        start = end + 1;
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        stats.lines += 1;
        let last = i + 1 == n_lines;
        if line.iter().all(u8::is_ascii_whitespace) || source.is_comment(line) {
            stats.blank += 1;
        } else if chunk.truncated && last {
            let r = Reject::new(
                RejectReason::TruncatedInput,
                "the compressed input ends in the middle of this line",
            );
            reject(line_no, r, line, stats)?;
        } else if line.len() > MAX_LINE_BYTES {
            let r = Reject::new(
                RejectReason::LineTooLong,
                format!("line of {} bytes; first 64 KiB kept", line.len()),
            );
            reject(line_no, r, &line[..64 * 1024], stats)?;
        } else {
            match source.parse_line(line, &mut stats.unknown) {
                Ok(mut rec) => {
                    quality::check(&mut rec, &mut stats.quality);
                    stats.records += 1;
                    sink.accept(line_no, &rec);
                }
                Err(r) => reject(line_no, r, line, stats)?,
            }
        }
        line_no += 1;
    }
    if chunk.truncated && data.last().is_none_or(|b| *b == b'\n') {
        // The stream was cut exactly at a line boundary: say so once.
        let r = Reject::new(
            RejectReason::TruncatedInput,
            "the compressed input ends early",
        );
        reject(line_no, r, b"", stats)?;
    }
    Ok(())
}

/// Reads `input` with `source`, handing each valid record to a sink built by `make_sink`
/// (one per worker). Rejected lines go to `dead_letter`. `progress` is called with the
/// number of decompressed bytes read so far.
pub fn run<S, F>(
    input: &Input,
    source: &dyn Source,
    options: &IngestOptions,
    dead_letter: DeadLetterWriter,
    make_sink: F,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(IngestReport<S>, DeadLetterWriter), IngestError>
where
    S: RecordSink,
    F: FnMut() -> S,
{
    run_tapped(
        input,
        source,
        options,
        dead_letter,
        make_sink,
        progress,
        None,
    )
}

/// [`run`], with `tap` seeing the input's raw bytes as they are read (see [`Tap`]).
pub fn run_tapped<S, F>(
    input: &Input,
    source: &dyn Source,
    options: &IngestOptions,
    dead_letter: DeadLetterWriter,
    mut make_sink: F,
    progress: &(dyn Fn(u64) + Sync),
    tap: Option<&Tap>,
) -> Result<(IngestReport<S>, DeadLetterWriter), IngestError>
where
    S: RecordSink,
    F: FnMut() -> S,
{
    let started = Instant::now();
    let read_err = |source| IngestError::Read {
        input: input.label(),
        source,
    };
    let (reader, _) = input.open_tapped(tap).map_err(read_err)?;
    let mut chunks = ChunkReader::starting_at_line(reader, options.chunk_size, options.first_line);
    let workers = options.workers.max(1);
    let dead = Mutex::new(dead_letter);
    let (tx, rx) = mpsc::sync_channel::<Chunk>(workers * 2);
    let rx = Arc::new(Mutex::new(rx));
    let sinks: Vec<S> = (0..workers).map(|_| make_sink()).collect();

    let result = std::thread::scope(|scope| {
        let handles: Vec<_> = sinks
            .into_iter()
            .map(|mut sink| {
                let rx = Arc::clone(&rx);
                let dead = &dead;
                scope.spawn(move || -> io::Result<(S, WorkerStats)> {
                    let mut stats = WorkerStats::default();
                    loop {
                        let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        let Ok(chunk) = next else { break };
                        process_chunk(&chunk, source, &mut sink, &mut stats, dead)?;
                        sink.end_chunk();
                    }
                    Ok((sink, stats))
                })
            })
            .collect();
        let mut bytes = 0u64;
        let mut read_error = None;
        loop {
            match chunks.next_chunk() {
                Ok(Some(c)) => {
                    bytes += c.data.len() as u64;
                    progress(bytes);
                    if tx.send(c).is_err() {
                        break; // a worker failed; its error is reported below
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(e);
                    break;
                }
            }
        }
        drop(tx);
        let mut out = Vec::with_capacity(workers);
        for h in handles {
            out.push(
                h.join()
                    .map_err(|_| IngestError::WorkerPanicked)?
                    .map_err(IngestError::DeadLetter)?,
            );
        }
        if let Some(e) = read_error {
            return Err(read_err(e));
        }
        Ok((out, bytes))
    });
    let (parts, bytes) = result?;
    let mut dead = dead.into_inner().unwrap_or_else(|p| p.into_inner());
    dead.flush().map_err(IngestError::DeadLetter)?;
    let mut report = IngestReport {
        bytes,
        ..IngestReport::empty()
    };
    for (sink, st) in parts {
        report.sinks.push(sink);
        report.records += st.records;
        report.lines += st.lines;
        report.blank_lines += st.blank;
        report.rejects.merge(&st.rejects);
        report.unknown_keys += st.unknown;
        report.quality.merge(&st.quality);
    }
    report.elapsed = started.elapsed();
    Ok((report, dead))
}
