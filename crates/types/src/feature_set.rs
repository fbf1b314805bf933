//! [`FeatureSetName`]: which of the two feature sets (and so which model) scores a session.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The two feature sets of SPEC §4; each has its own model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureSetName {
    /// L7 only: every session.
    Application,
    /// Application + TCP/TLS: sessions whose connection was matched.
    Complete,
}

impl FeatureSetName {
    /// Both, in cycle order.
    pub const ALL: [FeatureSetName; 2] = [FeatureSetName::Complete, FeatureSetName::Application];

    /// The model's name, as stored (the serialisation's).
    pub const fn as_str(self) -> &'static str {
        match self {
            FeatureSetName::Application => "application",
            FeatureSetName::Complete => "complete",
        }
    }
}

impl fmt::Display for FeatureSetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`FeatureSetName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown feature set {0:?} (allowed: complete, application)")]
pub struct UnknownFeatureSet(pub String);

impl FromStr for FeatureSetName {
    type Err = UnknownFeatureSet;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        FeatureSetName::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownFeatureSet(s.to_string()))
    }
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
