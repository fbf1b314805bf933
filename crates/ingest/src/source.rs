//! The [`Source`] trait and format detection.

use shrike_types::RequestRecord;

use crate::{CombinedLog, JsonLines, Reject};

/// A line-oriented log format: one line in, one validated record (or a reject) out.
pub trait Source: Send + Sync {
    /// Short name for messages (`jsonl`, `combined`).
    fn name(&self) -> &'static str;

    /// Parses one line (without its newline). `unknown_keys` is incremented for each key
    /// the format does not know (counted, not an error).
    fn parse_line<'a>(
        &self,
        line: &'a [u8],
        unknown_keys: &mut u64,
    ) -> Result<RequestRecord<'a>, Reject>;
}

/// The supported line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// shrike JSON Lines.
    Jsonl,
    /// Apache/nginx combined log format.
    Combined,
    /// A pcap or pcapng capture (not line-oriented: read by [`crate::run_capture`]).
    Pcap,
}

impl Format {
    /// Every format, for `--format` help and errors.
    pub const ALL: [Format; 3] = [Format::Jsonl, Format::Combined, Format::Pcap];

    /// The CLI name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Combined => "combined",
            Format::Pcap => "pcap",
        }
    }

    /// Parses a CLI name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The line parser for this format (`None` for captures, which are not lines).
    pub fn source(self) -> Option<Box<dyn Source>> {
        match self {
            Format::Jsonl => Some(Box::new(JsonLines)),
            Format::Combined => Some(Box::new(CombinedLog)),
            Format::Pcap => None,
        }
    }
}

/// Picks the format from the first bytes: a pcap/pcapng magic number is a capture; then,
/// from the first non-blank line, `{` starts JSON Lines and a line that parses as the
/// combined log format is combined; otherwise `None` (ambiguous: ask for `--format`).
pub fn detect_format(sample: &[u8]) -> Option<Format> {
    if shrike_pcap::is_capture(sample) {
        return Some(Format::Pcap);
    }
    let line = sample
        .split(|b| *b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty())?;
    if line.first() == Some(&b'{') {
        return Some(Format::Jsonl);
    }
    let mut unknown = 0;
    CombinedLog
        .parse_line(line, &mut unknown)
        .ok()
        .map(|_| Format::Combined)
}
