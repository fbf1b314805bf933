//! What the pipeline needs from a store, whatever it is: the embedded [`SqliteStore`] or the
//! ClickHouse store (crate `shrike-clickhouse`).

use std::collections::HashMap;
use std::net::IpAddr;

use shrike_types::{DecisionKind, ThreatLevel, Timestamp};

use crate::feedback::LabelRow;
use crate::rows::{
    CampaignRow, CycleRecord, CycleSummary, DecisionRow, Feedback, FleetRow, IngestedSource,
    ModelRow, Pruned, Retention, ScoreRow, SessionRow, ThreatFilter, ThreatRow, TopBy, TopValue,
};
use crate::sqlite::StoreError;

/// The record of what was ingested, by which `shrike ingest` skips content it already read
/// and continues a file that grew.
pub trait IngestLedger {
    /// The earliest ingest of this exact content, if any.
    fn source_seen(&self, fingerprint: &str) -> Result<Option<IngestedSource>, StoreError>;
    /// The latest ingest of the file at this canonical path, if any.
    fn last_ingest_of(&self, path: &str) -> Result<Option<IngestedSource>, StoreError>;
    /// Whether an ingest on record read a file of exactly `size` bytes (its first `size`
    /// bytes, for a file that grew). When none did, no ingest can have had the content of a
    /// file of that size, and its fingerprint can wait until it is read. The default (true)
    /// always fingerprints first.
    fn may_have_seen_size(&self, size: u64) -> Result<bool, StoreError> {
        let _ = size;
        Ok(true)
    }
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
    fn recurrences(&self) -> Result<HashMap<IpAddr, u32>, StoreError>;
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
        levels: &[ThreatLevel],
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

/// What the dashboard and its API read (besides [`VerdictStore`]): every value from a
/// request reaches the store as a bound parameter.
pub trait DashboardStore: VerdictStore + Send {
    /// The schema version (a liveness probe).
    fn schema_version(&self) -> Result<i64, StoreError>;
    /// Changes whenever a cycle or a feedback label is written or removed.
    fn generation(&self) -> Result<(i64, i64, i64), StoreError>;
    /// The `limit` latest cycles, oldest first.
    fn cycle_summaries(&self, limit: usize) -> Result<Vec<CycleSummary>, StoreError>;
    /// Sessions per (hour, level) of a cycle, by hour.
    fn level_timeline(&self, cycle: i64) -> Result<Vec<(Timestamp, ThreatLevel, u64)>, StoreError>;
    /// The values of one dimension with the most anomalous sessions of a cycle.
    fn top_values(&self, cycle: i64, by: TopBy, limit: usize) -> Result<Vec<TopValue>, StoreError>;
    /// One page of a cycle's scores matching `f`, highest anomaly score first, and the
    /// number of matches (`f`'s paging aside).
    fn threats(&self, cycle: i64, f: &ThreatFilter) -> Result<(u64, Vec<ThreatRow>), StoreError> {
        Ok((self.threat_total(cycle, f)?, self.threat_page(cycle, f)?))
    }
    /// The number of a cycle's scores matching `f` (its paging aside).
    fn threat_total(&self, cycle: i64, f: &ThreatFilter) -> Result<u64, StoreError>;
    /// One page of a cycle's scores matching `f`, highest anomaly score first (ties by
    /// address, window, JA4 and host).
    fn threat_page(&self, cycle: i64, f: &ThreatFilter) -> Result<Vec<ThreatRow>, StoreError>;
    /// One scored session of a cycle.
    fn threat(
        &self,
        cycle: i64,
        window_start: Timestamp,
        src_ip: &str,
        ja4: &str,
        host: &str,
    ) -> Result<Option<ThreatRow>, StoreError>;
    /// The scores of a cycle whose window starts at or after `since`, in key order.
    fn cycle_threats(&self, cycle: i64, since: Timestamp) -> Result<Vec<ThreatRow>, StoreError>;
    /// The decisions log, newest first: one page, optionally of one kind, and the count.
    fn decisions(
        &self,
        kind: Option<DecisionKind>,
        offset: usize,
        limit: usize,
    ) -> Result<(u64, Vec<DecisionRow>), StoreError>;
    /// Every registered model version, newest first.
    fn models(&self) -> Result<Vec<ModelRow>, StoreError>;
    /// The fleets of a cycle, flagged and largest first.
    fn fleets(&self, cycle: i64) -> Result<Vec<FleetRow>, StoreError>;
    /// Campaigns that cycle `cycle` saw.
    fn campaign_count(&self, cycle: i64) -> Result<u64, StoreError>;
}
