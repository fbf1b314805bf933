//! shrike's detection cycle (SPEC §5): preprocessing, triage, the human baseline, the model
//! registry with drift checks and a validation gate, Extended Isolation Forest scoring,
//! adaptive thresholds with a recurrence penalty, threat levels, legitimate-browser
//! classification and per-anomaly explanations. Every choice is logged as a [`Decision`].
//!
//! [`run_cycle`] is storage-agnostic: it takes sessions and earlier recurrences, and
//! returns verdicts, decisions and metrics. [`CycleRunner`] drives it against any
//! [`shrike_store::CycleStore`]: enrich → score → label → save → prune.

#![warn(missing_docs)]

pub mod campaign;
pub mod cohort;
pub mod config;
pub mod cycle;
pub mod drift;
pub mod findings;
pub mod fleet;
pub mod prep;
pub mod registry;
pub mod runner;
pub mod supervised;
pub mod verdict;

pub use campaign::{Campaign, CampaignMemory, KnownCampaign};
pub use config::{CampaignAlgorithm, CampaignSpace, ConfigError, DetectConfig};
pub use cycle::{
    run_cycle, Contribution, CycleMetrics, CycleOutput, Decision, DecisionKind, Ensemble,
    ThreatLevel, Verdict,
};
pub use prep::{FeatureSetName, PolicyMark, Session};
pub use registry::{FlowMeta, Model, ModelMeta, Registry, RegistryError};
pub use runner::{CycleRun, CycleRunner, Enrich, RetentionHours, RunError};
pub use supervised::{LabelSource, Labelled, MetaWeights, TreesMeta, TreesModel};
