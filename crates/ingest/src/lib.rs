//! Sources: from bytes on disk (or stdin) to validated [`RequestRecord`]s.
//!
//! - [`Input`] opens a file (plain or gzip, detected by magic bytes) or stdin and
//!   [`ChunkReader`] cuts it into newline-aligned chunks with bounded memory.
//! - A [`Source`] parses one line into a record borrowing from the chunk:
//!   [`JsonLines`] (shrike's canonical schema) and [`CombinedLog`] (Apache/nginx combined).
//!   [`detect_format`] picks one from the first line.
//! - Every refused line becomes a [`Reject`] with a [`RejectReason`], counted in
//!   [`RejectCounts`] and written to the [`DeadLetterWriter`] (line number, reason, raw bytes).
//! - Packet captures (pcap/pcapng) are read by [`run_capture`] through `shrike-pcap`;
//!   Zeek logs (http.log joined to ssl.log and conn.log) by [`run_zeek`].
//! - [`Follower`] follows a log file as `tail -F` does (rotations, truncations, partial
//!   lines), in [`Piece`]s that carry the position to store with them.
//! - [`run`] drives it all on several threads, handing records to one [`RecordSink`] per
//!   worker; sinks are merged by the caller.
//!
//! [`RequestRecord`]: shrike_types::RequestRecord

mod capture;
mod combined;
mod deadletter;
#[cfg(unix)]
mod follow;
pub mod json;
mod jsonl;
mod mapped;
mod pipeline;
pub mod quality;
mod reader;
mod reject;
mod source;
mod zeek;

pub use capture::run_capture;
pub use combined::CombinedLog;
pub use deadletter::DeadLetterWriter;
#[cfg(unix)]
pub use follow::{FollowEvent, Follower, Piece};
pub use jsonl::JsonLines;
pub use mapped::{Dialect, MappedJson};
pub use pipeline::{run, run_tapped, IngestError, IngestOptions, IngestReport, RecordSink};
pub use quality::QualityCounts;
pub use reader::{Chunk, ChunkReader, Input, Tap, MAX_LINE_BYTES};
pub use reject::{Reject, RejectCounts, RejectReason};
pub use source::{detect_format, Format, Source};
pub use zeek::{detect_zeek, run_zeek, sibling, ZeekLog, ZeekStats};
