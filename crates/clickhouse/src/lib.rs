//! shrike's scale-out store: ClickHouse, spoken to over its HTTP interface.
//!
//! - [`ChUrl`]: a store address, `clickhouse://user:password@host:port/database`.
//! - [`Client`]: a small blocking HTTP client (timeouts, bounded responses, bound query
//!   parameters, server errors with their ClickHouse code).
//! - [`migrate()`]: the versioned DDL under `sql/` (raw `http_logs`, hourly aggregates fed by
//!   materialized views, dictionaries, the feature view `view_ai_features_1h`).
//! - [`rowbinary`]: records encoded for `INSERT … FORMAT RowBinary`.
//! - [`push`]: batches delivered with retries, backoff, deduplication tokens and a disk
//!   spool, so that nothing is lost while the server is down.

#![warn(missing_docs)]

mod dashboard;
pub mod dict;
mod features;
mod http;
pub mod migrate;
pub mod push;
pub mod rowbinary;
mod store;
mod url;
mod verdicts;

pub use dict::{sync_dictionaries, SyncReport};
pub use features::read_features;
pub use http::{Client, MAX_RESPONSE_BYTES};
pub use migrate::{migrate, MigrateReport, Retention};
pub use push::{Delivery, PushOptions, PushReport, Pusher, SpoolStatus};
pub use store::ChStore;
pub use url::{ChUrl, DEFAULT_PORT};

/// What can go wrong talking to ClickHouse.
#[derive(Debug, thiserror::Error)]
pub enum ChError {
    /// The store address is malformed.
    #[error("ClickHouse address {0}")]
    Url(String),
    /// No connection could be made.
    #[error("cannot reach ClickHouse at {url}: {why}")]
    Unreachable {
        /// Address.
        url: String,
        /// The system's reason.
        why: String,
    },
    /// The connection failed mid-request (reset, timeout).
    #[error("ClickHouse at {url}: {why}")]
    Io {
        /// Address.
        url: String,
        /// The system's reason.
        why: String,
    },
    /// The answer is not HTTP as ClickHouse speaks it.
    #[error("ClickHouse at {url} answered something unexpected: {why}")]
    Protocol {
        /// Address.
        url: String,
        /// What was wrong.
        why: String,
    },
    /// The server refused the request.
    #[error("ClickHouse error {code} (HTTP {status}): {message}")]
    Server {
        /// HTTP status.
        status: u16,
        /// ClickHouse error code (`X-ClickHouse-Exception-Code`), 0 when absent.
        code: i32,
        /// The server's message.
        message: String,
    },
    /// A migration could not be applied.
    #[error("ClickHouse migration {version}: {why}")]
    Migration {
        /// Version.
        version: u32,
        /// Why.
        why: String,
    },
    /// A result could not be read.
    #[error("ClickHouse result: {0}")]
    Decode(String),
    /// The spool directory cannot be written or read: batches would be lost, so this
    /// stops the run.
    #[error("ClickHouse spool {0}")]
    Spool(String),
}

impl ChError {
    /// This error as the store crate's, for the store at `url`.
    pub fn into_store_error(self, url: &ChUrl) -> shrike_store::StoreError {
        shrike_store::StoreError::Remote {
            store: url.to_string(),
            transient: self.is_transient(),
            message: self.to_string(),
        }
    }

    /// Worth retrying later: the server is down, overloaded or timed out, as opposed to a
    /// request it will refuse again.
    pub fn is_transient(&self) -> bool {
        match self {
            ChError::Unreachable { .. } | ChError::Io { .. } | ChError::Protocol { .. } => true,
            // ClickHouse answers most exceptions, malformed data included, with HTTP 500: its
            // code says whether a retry can succeed (timeouts, overload, too many parts,
            // memory, read-only replica, Keeper trouble). Without a code the answer comes
            // from something in front of it (a proxy's 502/503/504, 429).
            ChError::Server {
                status, code: 0, ..
            } => *status >= 500 || *status == 429,
            ChError::Server { code, .. } => matches!(
                code,
                159 | 160 | 202 | 203 | 209 | 210 | 241 | 242 | 252 | 285 | 319 | 394 | 425 | 999
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status: u16, code: i32) -> ChError {
        ChError::Server {
            status,
            code,
            message: String::new(),
        }
    }

    #[test]
    fn only_failures_a_retry_can_cure_are_transient() {
        // Too many parts, memory limit, timeout, a proxy's 503, a refused connection.
        for e in [
            server(500, 252),
            server(500, 241),
            server(500, 159),
            server(503, 0),
        ] {
            assert!(e.is_transient(), "{e}");
        }
        let down = ChError::Unreachable {
            url: "x".into(),
            why: "refused".into(),
        };
        assert!(down.is_transient());
        // Malformed data (HTTP 500 too), syntax, unknown table, read-only user, bad auth.
        for e in [
            server(500, 33),
            server(400, 62),
            server(404, 60),
            server(500, 164),
            server(403, 516),
        ] {
            assert!(!e.is_transient(), "{e}");
        }
    }
}
