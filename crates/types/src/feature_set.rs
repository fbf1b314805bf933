//! [`FeatureSetName`]: which of the two feature sets (and so which model) scores a session.

use crate::named::named_enum;

named_enum! {
    /// The two feature sets of SPEC §4, in the order a cycle scores them (`ALL`); each has
    /// its own model.
    pub enum FeatureSetName {
        /// Application + TCP/TLS: sessions whose connection was matched.
        Complete = "complete",
        /// L7 only: every session.
        Application = "application",
    }
    /// A name that is no [`FeatureSetName`].
    error UnknownFeatureSet = "feature set";
}
