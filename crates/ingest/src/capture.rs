//! Packet captures as a source: pcap/pcapng read by `shrike-pcap`, its records handed to a
//! [`RecordSink`] like any line format's.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use shrike_pcap::{read_capture, Options, Stats};
use shrike_types::Timestamp;

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

/// Reads a capture into one sink. `batch_records` records make a chunk (the sink's
/// [`RecordSink::end_chunk`] is called after each). Records whose capture time is outside
/// the valid range are rejected (`invalid_timestamp`, the connection id kept in the
/// dead-letter file); a capture cut short counts one `truncated_input`.
pub fn run_capture<S: RecordSink>(
    input: &Input,
    mut sink: S,
    batch_records: usize,
    mut dead: DeadLetterWriter,
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
    let mut report = IngestReport::empty();
    let mut in_chunk = 0usize;
    let mut dead_err = None;
    let stats = read_capture(counting, Options::default(), |mut r| {
        let n = report.records + report.rejects.total() + 1;
        if r.time < Timestamp::MIN_VALID || r.time >= Timestamp::MAX_VALID {
            let reject = Reject::new(
                RejectReason::InvalidTimestamp,
                format!("capture time {} ms is outside 1990..2100", r.time.millis()),
            );
            report.rejects.add(&reject.reason);
            let raw = r.conn_id.as_deref().unwrap_or("").as_bytes();
            if let Err(e) = dead.write(n, &reject, raw) {
                dead_err.get_or_insert(e);
            }
            return;
        }
        crate::quality::check(&mut r, &mut report.quality);
        report.records += 1;
        sink.accept(n, &r);
        in_chunk += 1;
        if in_chunk >= batch_records.max(1) {
            sink.end_chunk();
            in_chunk = 0;
        }
    })
    .map_err(|e| read_err(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    if in_chunk > 0 {
        sink.end_chunk();
    }
    if let Some(e) = dead_err {
        return Err(IngestError::DeadLetter(e));
    }
    if let Some(why) = &stats.cut_short {
        let reject = Reject::new(RejectReason::TruncatedInput, why.clone());
        report.rejects.add(&reject.reason);
        dead.write(stats.packets + 1, &reject, b"")
            .map_err(IngestError::DeadLetter)?;
    }
    dead.flush().map_err(IngestError::DeadLetter)?;
    report.lines = stats.packets;
    report.bytes = read.load(Ordering::Relaxed);
    report.sinks.push(sink);
    report.elapsed = started.elapsed();
    Ok((report, dead, stats))
}
