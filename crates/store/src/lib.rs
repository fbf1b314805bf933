//! The embedded store: one SQLite file (bundled SQLite, WAL journal), created on first use.
//!
//! [`SqliteStore`] keeps:
//! - `session_states` / `ip_window_states`: the mergeable accumulator of every session and
//!   (window, IP), so a later ingest extends sessions instead of duplicating them;
//! - `sessions`: each session's enrichment and feature vector (little-endian f32 in
//!   [`FeatureId`](shrike_features::FeatureId) order), recomputed over the horizon on ingest,
//!   and the `session_features` view, which decodes them into one column per feature for
//!   any SQL client;
//! - `follow_positions`: where `shrike run` stopped in each file it follows;
//! - `ingested_sources`: content fingerprints and byte spans of ingested inputs
//!   (idempotence, and continuing a file that grew);
//! - `meta`: the store's secret hash key and settings;
//! - the detection outputs (SPEC §6): `cycles`, `all_scores` (and the `detected_anomalies`
//!   view), `decisions`, `models`, `fleet_detections`, `campaigns` and
//!   `campaign_members`;
//! - `feedback`: analysts' bot/human labels on sessions or addresses.
//!
//! Schema changes are numbered migrations ([`migrations`]); every write is one transaction,
//! so a killed process leaves the file as it was before the write.

mod cycle;
mod dashboard;
mod feature_view;
mod feedback;
mod lock;
pub use feedback::{join_labels, LabelKey, LabelRow};
pub use lock::{LockError, WriterLock};
mod migrations;
mod outputs;
mod rows;
mod sqlite;
mod traits;

pub use rows::{
    CampaignRow, CycleRecord, CycleSummary, DecisionRow, Feedback, FeedbackLabel, FeedbackSession,
    FileSpan, FleetRow, IngestedSource, ModelRow, OutputTable, Pruned, Retention, ScoreRow,
    SessionRow, ThreatCursor, ThreatFilter, ThreatRow, TopBy, TopValue,
};
pub use sqlite::{SqliteStore, StoreError};
pub use traits::{CycleStore, DashboardStore, IngestLedger, VerdictStore};
