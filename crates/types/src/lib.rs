//! shrike's shared vocabulary.
//!
//! Every other crate speaks these types:
//! - [`RequestRecord`]: one HTTP request with what the producer knew of its TLS and TCP
//!   connection, validated at the edge (typed IPs, UTC [`Timestamp`]s, [`Method`],
//!   [`HttpVersion`], [`TlsVersion`], [`Alpn`], the [`Ja4`] newtype, bounded strings).
//! - [`SessionKey`]: a session's identity (hour window, address, JA4, host), typed.
//! - [`ThreatLevel`], [`DecisionKind`], [`FeatureSetName`]: the verdict on a session, the
//!   kinds of a cycle's audit log and the two feature sets, each named as text only in
//!   its own module.
//! - [`Timestamp`]: milliseconds since the Unix epoch, UTC, with RFC 3339 and
//!   common-log-format parsing that rejects impossible dates.
//! - [`Clock`] and [`Rng`]: time and randomness are injected, never read from globals,
//!   so that the same input gives the same output.
//! - [`FilePosition`]: how far a followed log file was read, stored with what was read.
//! - [`math`]: `exp`, `ln` and the other transcendental functions, with the same bits on
//!   every CPU (std's call the platform's libm, which chooses its code by CPU).

mod clock;
mod decision;
mod feature_set;
pub mod hashing;
mod level;
pub mod math;
mod named;
mod position;
mod record;
mod rng;
mod session;
mod time;

pub use clock::{Clock, FixedClock, SystemClock};
pub use decision::{DecisionKind, UnknownDecisionKind};
pub use feature_set::{FeatureSetName, UnknownFeatureSet};
pub use level::{ThreatLevel, UnknownLevel};
pub use position::FilePosition;
pub use record::{
    Alpn, CountryCode, FieldError, HttpVersion, Ja4, Method, RequestRecord, TlsVersion,
    MAX_FIELD_BYTES,
};
pub use rng::Rng;
pub use session::SessionKey;
pub use time::{Timestamp, TimestampError, HOUR_MS};
