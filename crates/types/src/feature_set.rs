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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for f in FeatureSetName::ALL {
            assert_eq!(f.as_str().parse::<FeatureSetName>(), Ok(f));
            let json = serde_json::to_string(&f).unwrap();
            assert_eq!(json, format!("\"{}\"", f.as_str()));
            assert_eq!(serde_json::from_str::<FeatureSetName>(&json).unwrap(), f);
        }
        assert!("partial".parse::<FeatureSetName>().is_err());
    }
}
