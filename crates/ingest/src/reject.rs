//! Why lines are refused, and the per-reason counters.

use std::collections::BTreeMap;
use std::fmt;

use shrike_types::{FieldError, TimestampError};

/// The reason one input line was refused. Each maps to a stable snake_case key used in
/// summaries, metrics and the dead-letter file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Not valid JSON, or not a JSON object.
    InvalidJson,
    /// The line is not UTF-8.
    NotUtf8,
    /// A line of the combined log format that does not parse.
    InvalidLogLine,
    /// A required field is absent or null.
    MissingField(&'static str),
    /// `src_ip` is not an IPv4 or IPv6 address.
    InvalidIp,
    /// `time` is malformed, impossible or out of range.
    InvalidTimestamp,
    /// A field has a value of the wrong shape.
    InvalidField(&'static str),
    /// A number is NaN or infinite.
    NonFinite(&'static str),
    /// A counter or size is negative.
    NegativeCounter(&'static str),
    /// A string field longer than 64 KiB.
    FieldTooLong(&'static str),
    /// A line longer than [`crate::MAX_LINE_BYTES`].
    LineTooLong,
    /// The input ended in the middle of a compressed stream or a line.
    TruncatedInput,
}

impl RejectReason {
    /// The counter key, e.g. `invalid_field:ja4`.
    pub fn key(&self) -> String {
        match self {
            RejectReason::InvalidJson => "invalid_json".into(),
            RejectReason::NotUtf8 => "not_utf8".into(),
            RejectReason::InvalidLogLine => "invalid_log_line".into(),
            RejectReason::MissingField(f) => format!("missing_field:{f}"),
            RejectReason::InvalidIp => "invalid_ip".into(),
            RejectReason::InvalidTimestamp => "invalid_timestamp".into(),
            RejectReason::InvalidField(f) => format!("invalid_field:{f}"),
            RejectReason::NonFinite(f) => format!("non_finite:{f}"),
            RejectReason::NegativeCounter(f) => format!("negative_counter:{f}"),
            RejectReason::FieldTooLong(f) => format!("field_too_long:{f}"),
            RejectReason::LineTooLong => "line_too_long".into(),
            RejectReason::TruncatedInput => "truncated_input".into(),
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

/// A refused line: the reason and a human-readable detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Counter key.
    pub reason: RejectReason,
    /// What exactly was wrong (never contains the raw line).
    pub detail: String,
}

impl Reject {
    /// A reject with a detail message.
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        Reject {
            reason,
            detail: detail.into(),
        }
    }
}

impl From<FieldError> for Reject {
    fn from(e: FieldError) -> Self {
        let reason = match e {
            FieldError::Invalid { field, .. } => RejectReason::InvalidField(field),
            FieldError::NonFinite { field } => RejectReason::NonFinite(field),
            FieldError::Negative { field } => RejectReason::NegativeCounter(field),
            FieldError::TooLong { field, .. } => RejectReason::FieldTooLong(field),
        };
        Reject::new(reason, e.to_string())
    }
}

impl From<TimestampError> for Reject {
    fn from(e: TimestampError) -> Self {
        Reject::new(RejectReason::InvalidTimestamp, e.to_string())
    }
}

/// Rejected-line counters by reason key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectCounts(BTreeMap<String, u64>);

impl RejectCounts {
    /// Counts one reject.
    pub fn add(&mut self, reason: &RejectReason) {
        *self.0.entry(reason.key()).or_default() += 1;
    }

    /// Adds another set of counters.
    pub fn merge(&mut self, other: &RejectCounts) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }

    /// Total rejected lines.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    /// `(reason key, count)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Count for one key.
    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}
