//! What `shrike run` reports about itself (the files it follows and how far behind it is,
//! its last cycle, its exports, the age of its dictionaries), shown by `/api/service`,
//! `/metrics` and the Health page. `shrike serve` alone has no status: the page says so.

use std::sync::{Arc, RwLock};

use serde::Serialize;
use shrike_types::Timestamp;

/// One followed file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FollowedFile {
    /// The followed name.
    pub name: String,
    /// The log format read from it (`None` until its first line told it).
    pub format: Option<String>,
    /// Bytes written to it (and to its rotated predecessors still read) not stored yet.
    pub lag_bytes: u64,
    /// Bytes of the current file stored.
    pub offset: u64,
    /// Records stored from it since the service started.
    pub records: u64,
    /// Lines refused since the service started.
    pub rejected: u64,
    /// When its last lines were stored (ms since the epoch).
    pub last_stored_ms: Option<i64>,
    /// The last error reading it, if the last attempt failed.
    pub error: Option<String>,
}

/// The last detection cycle the service ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleRun {
    /// Cycle id (`None`: the cycle failed or there was nothing to score).
    pub id: Option<i64>,
    /// When it finished (ms since the epoch).
    pub finished_ms: i64,
    /// How long it took, ms.
    pub duration_ms: u64,
    /// `ok`, `no sessions` or the error.
    pub outcome: String,
}

/// One export file the service rewrites after each cycle.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportFile {
    /// Where it is written.
    pub path: String,
    /// Its format.
    pub format: String,
    /// When it was last written (ms since the epoch).
    pub written_ms: Option<i64>,
    /// Entries (addresses, prefixes, JA4s) in it.
    pub entries: usize,
    /// The last error writing it.
    pub error: Option<String>,
}

/// One dictionary file in service.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DictionaryFile {
    /// File name.
    pub file: String,
    /// Its modification time (ms since the epoch).
    pub modified_ms: i64,
}

/// Everything the service reports.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceStatus {
    /// When the service started (ms since the epoch).
    pub started_ms: i64,
    /// The files it follows.
    pub files: Vec<FollowedFile>,
    /// The last cycle.
    pub last_cycle: Option<CycleRun>,
    /// Interval between cycles, s.
    pub cycle_every_s: u64,
    /// The export files.
    pub exports: Vec<ExportFile>,
    /// The dictionary files in service.
    pub dictionaries: Vec<DictionaryFile>,
    /// When the service last updated the dictionaries from their sources (ms since the
    /// epoch), and the sources that failed then.
    pub dict_update_ms: Option<i64>,
    /// Sources of the last dictionary update that failed, with why.
    pub dict_update_failed: Vec<String>,
    /// Configuration reloads (SIGHUP) applied.
    pub reloads: u64,
    /// The last reload's error, when it was refused (the previous configuration stays).
    pub reload_error: Option<String>,
}

/// Shared between the service, which writes it, and the server, which reads it.
pub type ServiceHandle = Arc<RwLock<ServiceStatus>>;

impl ServiceStatus {
    /// Prometheus lines for the status, ages measured at `now`.
    pub fn render_metrics(&self, now: Timestamp, out: &mut String) {
        use std::fmt::Write;
        let label = crate::ops::label;
        let age = |ms: i64| (now.millis() - ms).max(0) as f64 / 1000.0;
        let _ = writeln!(out, "# HELP shrike_follow_lag_bytes Bytes written to a followed file and not stored yet.\n# TYPE shrike_follow_lag_bytes gauge");
        for f in &self.files {
            let _ = writeln!(
                out,
                "shrike_follow_lag_bytes{{file=\"{}\"}} {}",
                label(&f.name),
                f.lag_bytes
            );
        }
        let _ = writeln!(out, "# HELP shrike_follow_records_total Records stored from a followed file since the service started.\n# TYPE shrike_follow_records_total counter");
        for f in &self.files {
            let _ = writeln!(
                out,
                "shrike_follow_records_total{{file=\"{}\"}} {}",
                label(&f.name),
                f.records
            );
        }
        let _ = writeln!(out, "# HELP shrike_follow_rejected_total Lines of a followed file refused since the service started.\n# TYPE shrike_follow_rejected_total counter");
        for f in &self.files {
            let _ = writeln!(
                out,
                "shrike_follow_rejected_total{{file=\"{}\"}} {}",
                label(&f.name),
                f.rejected
            );
        }
        if let Some(c) = &self.last_cycle {
            let _ = writeln!(out, "# HELP shrike_service_last_cycle_age_seconds Time since the service's last cycle finished.\n# TYPE shrike_service_last_cycle_age_seconds gauge\nshrike_service_last_cycle_age_seconds {}", age(c.finished_ms));
            let _ = writeln!(out, "# HELP shrike_service_last_cycle_ok Whether the service's last cycle stored its outputs.\n# TYPE shrike_service_last_cycle_ok gauge\nshrike_service_last_cycle_ok {}", u8::from(c.id.is_some()));
        }
        let _ = writeln!(out, "# HELP shrike_dictionary_age_seconds Time since a dictionary file in service was written.\n# TYPE shrike_dictionary_age_seconds gauge");
        for d in &self.dictionaries {
            let _ = writeln!(
                out,
                "shrike_dictionary_age_seconds{{file=\"{}\"}} {}",
                label(&d.file),
                age(d.modified_ms)
            );
        }
        let _ = writeln!(out, "# HELP shrike_export_age_seconds Time since an export file was written.\n# TYPE shrike_export_age_seconds gauge");
        for e in &self.exports {
            if let Some(ms) = e.written_ms {
                let _ = writeln!(
                    out,
                    "shrike_export_age_seconds{{path=\"{}\"}} {}",
                    label(&e.path),
                    age(ms)
                );
            }
        }
        let _ = writeln!(out, "# HELP shrike_service_reloads_total Configuration reloads applied.\n# TYPE shrike_service_reloads_total counter\nshrike_service_reloads_total {}", self.reloads);
    }
}
