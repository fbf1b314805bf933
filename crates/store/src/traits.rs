//! What the pipeline needs from a store, whatever it is: the embedded [`SqliteStore`] or the
//! ClickHouse store (crate `shrike-clickhouse`).

use std::collections::HashMap;

use shrike_types::Timestamp;

use crate::feedback::LabelRow;
use crate::rows::{
    CampaignRow, CycleRecord, Feedback, IngestedSource, Pruned, Retention, ScoreRow, SessionRow,
};
use crate::sqlite::{SqliteStore, StoreError};

/// The record of what was ingested, by which `shrike ingest` skips content it already read
/// and continues a file that grew.
pub trait IngestLedger {
    /// The earliest ingest of this exact content, if any.
    fn source_seen(&self, fingerprint: &str) -> Result<Option<IngestedSource>, StoreError>;
    /// The latest ingest of the file at this canonical path, if any.
    fn last_ingest_of(&self, path: &str) -> Result<Option<IngestedSource>, StoreError>;
}

/// What a detection cycle reads and writes.
pub trait CycleStore {
    /// The store's address, for messages (never with a password).
    fn describe(&self) -> String;
    /// Whether [`CycleRecord::sessions_scored`] should be filled: the store keeps the
    /// feature vectors each cycle scored (ClickHouse, whose sessions are otherwise computed
    /// by a view on demand). The embedded store already holds them.
    fn records_sessions(&self) -> bool {
        false
    }
    /// Start of the newest hour window holding a session.
    fn newest_window(&self) -> Result<Option<Timestamp>, StoreError>;
    /// Sessions whose window starts in `[start, end]`, with their features, by key.
    fn sessions_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SessionRow>, StoreError>;
    /// Per address, the number of earlier cycles that flagged it as an anomaly.
    fn recurrences(&self) -> Result<HashMap<String, u32>, StoreError>;
    /// The member addresses of the campaigns updated since `since`, by campaign, and the
    /// first free campaign id.
    #[allow(clippy::type_complexity)]
    fn campaign_memory(
        &self,
        since: Timestamp,
    ) -> Result<(Vec<(i64, Vec<String>)>, i64), StoreError>;
    /// Sessions of windows in `[from, to]` with a label: a level in `levels` at their latest
    /// score, or an analyst's label.
    fn labelled_sessions(
        &self,
        from: Timestamp,
        to: Timestamp,
        levels: &[&str],
    ) -> Result<Vec<LabelRow>, StoreError>;
    /// Writes a cycle's outputs; returns the cycle id. A cycle cut short leaves nothing a
    /// reader sees.
    fn save_cycle(&mut self, c: &CycleRecord) -> Result<i64, StoreError>;
    /// Applies the retention (a store whose tables expire by themselves does nothing).
    fn prune(&mut self, r: &Retention) -> Result<Pruned, StoreError>;
}

/// What acting on verdicts reads and writes: the latest cycle's scores (exports), the
/// campaigns, and analysts' labels.
pub trait VerdictStore {
    /// The store's address, for messages (never with a password).
    fn describe(&self) -> String;
    /// The latest finished cycle: its id and clock.
    fn latest_cycle(&self) -> Result<Option<(i64, Timestamp)>, StoreError>;
    /// Every score of a cycle, by session key.
    fn cycle_scores(&self, cycle: i64) -> Result<Vec<ScoreRow>, StoreError>;
    /// Campaigns, most recently updated first: one (`id`), or the `limit` latest.
    fn campaigns(&self, id: Option<i64>, limit: usize) -> Result<Vec<CampaignRow>, StoreError>;
    /// Member addresses of a campaign, most recently seen first.
    fn campaign_members(&self, id: i64) -> Result<Vec<(String, Timestamp)>, StoreError>;
    /// Stores a label; returns its id.
    fn add_feedback(&mut self, f: &Feedback) -> Result<i64, StoreError>;
    /// Removes a label; false when there was none with this id.
    fn remove_feedback(&mut self, id: i64) -> Result<bool, StoreError>;
    /// Labels, newest first: all, or those of one address.
    fn feedback(
        &self,
        src_ip: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError>;
}

impl VerdictStore for SqliteStore {
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
    fn latest_cycle(&self) -> Result<Option<(i64, Timestamp)>, StoreError> {
        SqliteStore::latest_cycle(self)
    }
    fn cycle_scores(&self, cycle: i64) -> Result<Vec<ScoreRow>, StoreError> {
        SqliteStore::cycle_scores(self, cycle)
    }
    fn campaigns(&self, id: Option<i64>, limit: usize) -> Result<Vec<CampaignRow>, StoreError> {
        SqliteStore::campaigns(self, id, limit)
    }
    fn campaign_members(&self, id: i64) -> Result<Vec<(String, Timestamp)>, StoreError> {
        SqliteStore::campaign_members(self, id)
    }
    fn add_feedback(&mut self, f: &Feedback) -> Result<i64, StoreError> {
        SqliteStore::add_feedback(self, f)
    }
    fn remove_feedback(&mut self, id: i64) -> Result<bool, StoreError> {
        SqliteStore::remove_feedback(self, id)
    }
    fn feedback(
        &self,
        src_ip: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        SqliteStore::feedback(self, src_ip, offset, limit)
    }
}

impl IngestLedger for SqliteStore {
    fn source_seen(&self, fingerprint: &str) -> Result<Option<IngestedSource>, StoreError> {
        SqliteStore::source_seen(self, fingerprint)
    }
    fn last_ingest_of(&self, path: &str) -> Result<Option<IngestedSource>, StoreError> {
        SqliteStore::last_ingest_of(self, path)
    }
}

impl CycleStore for SqliteStore {
    fn describe(&self) -> String {
        self.path().display().to_string()
    }
    fn newest_window(&self) -> Result<Option<Timestamp>, StoreError> {
        SqliteStore::newest_window(self)
    }
    fn sessions_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SessionRow>, StoreError> {
        SqliteStore::sessions_between(self, start, end)
    }
    fn recurrences(&self) -> Result<HashMap<String, u32>, StoreError> {
        SqliteStore::recurrences(self)
    }
    fn campaign_memory(
        &self,
        since: Timestamp,
    ) -> Result<(Vec<(i64, Vec<String>)>, i64), StoreError> {
        SqliteStore::campaign_memory(self, since)
    }
    fn labelled_sessions(
        &self,
        from: Timestamp,
        to: Timestamp,
        levels: &[&str],
    ) -> Result<Vec<LabelRow>, StoreError> {
        SqliteStore::labelled_sessions(self, from, to, levels)
    }
    fn save_cycle(&mut self, c: &CycleRecord) -> Result<i64, StoreError> {
        SqliteStore::save_cycle(self, c)
    }
    fn prune(&mut self, r: &Retention) -> Result<Pruned, StoreError> {
        SqliteStore::prune(self, r)
    }
}
