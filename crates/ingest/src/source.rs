//! The [`Source`] trait and format detection.

use shrike_types::RequestRecord;

use crate::mapped::{Dialect, MappedJson};
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

    /// Whether a line is a comment or header line the format defines (Zeek's `#` lines),
    /// passed over and counted with the blank lines.
    fn is_comment(&self, _line: &[u8]) -> bool {
        false
    }
}

/// The supported line formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// shrike JSON Lines.
    Jsonl,
    /// Apache/nginx combined log format.
    Combined,
    /// nginx JSON access log (variable names as keys; see docs/FORMATS.md).
    NginxJson,
    /// Cloudflare Logpush `http_requests`.
    Cloudflare,
    /// A pcap or pcapng capture (not line-oriented: read by [`crate::run_capture`]).
    Pcap,
    /// Zeek logs, TSV or JSON: http.log joined to ssl.log and conn.log (not line by line:
    /// read by [`crate::run_zeek`]).
    Zeek,
}

impl Format {
    /// Every format, for `--format` help and errors.
    pub const ALL: [Format; 6] = [
        Format::Jsonl,
        Format::Combined,
        Format::NginxJson,
        Format::Cloudflare,
        Format::Zeek,
        Format::Pcap,
    ];

    /// The CLI name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Combined => "combined",
            Format::NginxJson => "nginx-json",
            Format::Cloudflare => "cloudflare",
            Format::Pcap => "pcap",
            Format::Zeek => "zeek",
        }
    }

    /// Parses a CLI name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The line parser for this format (`None` for captures and Zeek logs, which are read
    /// whole).
    pub fn source(self) -> Option<Box<dyn Source>> {
        match self {
            Format::Jsonl => Some(Box::new(JsonLines)),
            Format::Combined => Some(Box::new(CombinedLog)),
            Format::NginxJson => Some(Box::new(MappedJson(Dialect::Nginx))),
            Format::Cloudflare => Some(Box::new(MappedJson(Dialect::Cloudflare))),
            Format::Pcap | Format::Zeek => None,
        }
    }
}

/// Picks the format from the first bytes: a pcap/pcapng magic number is a capture; a Zeek
/// TSV header or a JSON object with Zeek's `uid` and `id.orig_h` is Zeek; then,
/// from the first non-blank line: a JSON object with Cloudflare's `ClientIP` and
/// `EdgeStartTimestamp` is Logpush, one with nginx's `remote_addr` is nginx JSON, any other
/// object is shrike JSON Lines; a line that parses as the combined log format is combined;
/// otherwise `None` (ambiguous: ask for `--format`).
pub fn detect_format(sample: &[u8]) -> Option<Format> {
    if shrike_pcap::is_capture(sample) {
        return Some(Format::Pcap);
    }
    if crate::zeek::detect_zeek(sample).is_some() {
        return Some(Format::Zeek);
    }
    let line = sample
        .split(|b| *b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty())?;
    if line.first() == Some(&b'{') {
        let has = |key: &[u8]| memchr::memmem::find(line, key).is_some();
        return Some(if has(b"\"ClientIP\"") && has(b"\"EdgeStartTimestamp\"") {
            Format::Cloudflare
        } else if has(b"\"remote_addr\"") {
            Format::NginxJson
        } else {
            Format::Jsonl
        });
    }
    let mut unknown = 0;
    CombinedLog
        .parse_line(line, &mut unknown)
        .ok()
        .map(|_| Format::Combined)
}
