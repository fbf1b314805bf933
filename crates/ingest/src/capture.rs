//! Packet captures as a source: pcap/pcapng read by `shrike-pcap`, its records handed to a
//! [`RecordSink`] like any line format's.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use shrike_pcap::{read_capture, Options, Stats};
use shrike_types::{RequestRecord, Timestamp};

use crate::{DeadLetterWriter, IngestError, IngestReport, Input, RecordSink, Reject, RejectReason};

struct Counting<'a, R> {
    inner: R,
    read: &'a AtomicU64,
    progress: &'a (dyn Fn(u64) + Sync),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.read.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        (self.progress)(total);
        Ok(n)
    }
}

/// Where the records of a whole-file source (a capture, a set of Zeek logs) go: validated
/// for time and quality, counted, handed to one sink in chunks; refused ones counted and
/// kept in the dead-letter file.
pub(crate) struct Feed<S> {
    pub(crate) report: IngestReport<S>,
    sink: S,
    batch: usize,
    in_chunk: usize,
    pub(crate) dead: DeadLetterWriter,
    dead_err: Option<io::Error>,
}

impl<S: RecordSink> Feed<S> {
    pub(crate) fn new(sink: S, batch: usize, dead: DeadLetterWriter) -> Self {
        Feed {
            report: IngestReport::empty(),
            sink,
            batch: batch.max(1),
            in_chunk: 0,
            dead,
            dead_err: None,
        }
    }

    /// Counts and keeps a refused entry (`n` is its line or entry number).
    pub(crate) fn reject(&mut self, n: u64, reject: &Reject, raw: &[u8]) {
        self.report.rejects.add(&reject.reason);
        if let Err(e) = self.dead.write(n, reject, raw) {
            self.dead_err.get_or_insert(e);
        }
    }

    /// Hands one record on, unless its time is outside the valid range (then it is
    /// rejected, `raw` giving the bytes kept in the dead-letter file).
    pub(crate) fn push(
        &mut self,
        n: u64,
        mut r: RequestRecord<'_>,
        raw: impl FnOnce(&RequestRecord<'_>) -> Vec<u8>,
    ) {
        if r.time < Timestamp::MIN_VALID || r.time >= Timestamp::MAX_VALID {
            let reject = Reject::new(
                RejectReason::InvalidTimestamp,
                format!("time {} ms is outside 1990..2100", r.time.millis()),
            );
            let raw = raw(&r);
            self.reject(n, &reject, &raw);
            return;
        }
        crate::quality::check(&mut r, &mut self.report.quality);
        self.report.records += 1;
        self.sink.accept(n, &r);
        self.in_chunk += 1;
        if self.in_chunk >= self.batch {
            self.sink.end_chunk();
            self.in_chunk = 0;
        }
    }

    /// Closes the last chunk and the dead-letter file.
    pub(crate) fn finish(
        mut self,
        started: Instant,
    ) -> Result<(IngestReport<S>, DeadLetterWriter), IngestError> {
        if self.in_chunk > 0 {
            self.sink.end_chunk();
        }
        if let Some(e) = self.dead_err {
            return Err(IngestError::DeadLetter(e));
        }
        self.dead.flush().map_err(IngestError::DeadLetter)?;
        self.report.sinks.push(self.sink);
        self.report.elapsed = started.elapsed();
        Ok((self.report, self.dead))
    }
}

/// Reads a capture into one sink. `batch_records` records make a chunk (the sink's
/// [`RecordSink::end_chunk`] is called after each). Records whose capture time is outside
/// the valid range are rejected (`invalid_timestamp`, the connection id kept in the
/// dead-letter file); a capture cut short counts one `truncated_input`.
pub fn run_capture<S: RecordSink>(
    input: &Input,
    sink: S,
    batch_records: usize,
    dead: DeadLetterWriter,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(IngestReport<S>, DeadLetterWriter, Stats), IngestError> {
    let started = Instant::now();
    let read_err = |source| IngestError::Read {
        input: input.label(),
        source,
    };
    let (reader, _) = input.open().map_err(read_err)?;
    let read = AtomicU64::new(0);
    let counting = Counting {
        inner: io::BufReader::with_capacity(1 << 20, reader),
        read: &read,
        progress,
    };
    let mut feed = Feed::new(sink, batch_records, dead);
    let stats = read_capture(counting, Options::default(), |r| {
        let n = feed.report.records + feed.report.rejects.total() + 1;
        feed.push(n, r, |r| {
            r.conn_id.as_deref().unwrap_or("").as_bytes().to_vec()
        });
    })
    .map_err(|e| read_err(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    if let Some(why) = &stats.cut_short {
        let reject = Reject::new(RejectReason::TruncatedInput, why.clone());
        feed.reject(stats.packets + 1, &reject, b"");
    }
    feed.report.lines = stats.packets;
    feed.report.bytes = read.load(Ordering::Relaxed);
    let (report, dead) = feed.finish(started)?;
    Ok((report, dead, stats))
}
