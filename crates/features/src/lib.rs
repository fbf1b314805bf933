//! Sessions and their features.
//!
//! [`Sessionizer::update`] folds validated records into mergeable per-session and
//! per-(window, IP) accumulators; [`Sessionizer::merge`] combines sessionizers fed by
//! different threads or runs; [`Sessionizer::finish`] computes [`SessionFeatures`] for every
//! session of the horizon: the seed view's per-session formulas, its cohort features
//! (`OVER (PARTITION BY ...)`), the HTTP/2 and coherence features and the sequence features.
//! [`FeatureId`] is the catalogue: name, description, [`FeatureKind`], [`FeatureSet`].

mod accumulate;
mod catalogue;
mod finish;
mod hash;
pub mod request;
mod sequence;
mod sessionizer;

pub use catalogue::{FeatureId, FeatureKind, FeatureSet};
pub use finish::{FinishOptions, SessionFeatures};
pub use hash::HashKey;
pub use sessionizer::{SessionKey, Sessionizer, StateError};
