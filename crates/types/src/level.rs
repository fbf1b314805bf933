//! [`ThreatLevel`]: the verdict a cycle gives a session, spelled as text only here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The verdict on a session. The scored levels (`Critical` … `Normal`) grade a raw score;
/// the others say why a session was not graded that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThreatLevel {
    /// Raw score at or below `level_critical`.
    Critical,
    /// At or below `level_high`.
    High,
    /// At or below `level_medium`.
    Medium,
    /// Below `level_low`.
    Low,
    /// Not anomalous.
    Normal,
    /// A browser by its fingerprints and behaviour (confidence and family), not anomalous.
    LegitimateBrowser,
    /// Known good bot (dictionaries).
    KnownBot,
    /// An Anubis DENY rule matched (scored, always reported).
    AnubisDeny,
    /// Not scored this cycle (its feature set was skipped); the decisions say why.
    Unscored,
}

impl ThreatLevel {
    /// Every level.
    pub const ALL: [ThreatLevel; 9] = [
        ThreatLevel::Critical,
        ThreatLevel::High,
        ThreatLevel::Medium,
        ThreatLevel::Low,
        ThreatLevel::Normal,
        ThreatLevel::LegitimateBrowser,
        ThreatLevel::KnownBot,
        ThreatLevel::AnubisDeny,
        ThreatLevel::Unscored,
    ];

    /// The levels an export's `--min-level` may name, lowest first.
    pub const GRADED: [ThreatLevel; 4] = [
        ThreatLevel::Low,
        ThreatLevel::Medium,
        ThreatLevel::High,
        ThreatLevel::Critical,
    ];

    /// The stored and displayed name (the serialisation's).
    pub const fn as_str(self) -> &'static str {
        match self {
            ThreatLevel::Critical => "CRITICAL",
            ThreatLevel::High => "HIGH",
            ThreatLevel::Medium => "MEDIUM",
            ThreatLevel::Low => "LOW",
            ThreatLevel::Normal => "NORMAL",
            ThreatLevel::LegitimateBrowser => "LEGITIMATE_BROWSER",
            ThreatLevel::KnownBot => "KNOWN_BOT",
            ThreatLevel::AnubisDeny => "ANUBIS_DENY",
            ThreatLevel::Unscored => "UNSCORED",
        }
    }

    /// `levels` by name, separated by commas (for messages that list what is allowed).
    pub fn names(levels: &[ThreatLevel]) -> String {
        levels
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// How severe the level is as a threat, for minimum-level filters: 4 for `Critical`,
    /// 3 for `High` and `AnubisDeny`, 2 `Medium`, 1 `Low`, 0 for the levels that are no
    /// threat.
    pub const fn severity(self) -> u8 {
        match self {
            ThreatLevel::Critical => 4,
            ThreatLevel::High | ThreatLevel::AnubisDeny => 3,
            ThreatLevel::Medium => 2,
            ThreatLevel::Low => 1,
            _ => 0,
        }
    }

    /// The label this verdict gives the supervised trees: `Some(true)` (a bot) for `High`,
    /// `Critical`, `AnubisDeny` and `KnownBot`, `Some(false)` (a person) for `Normal` and
    /// `LegitimateBrowser`, `None` for the uncertain middle and unscored sessions.
    pub const fn label(self) -> Option<bool> {
        match self {
            ThreatLevel::High
            | ThreatLevel::Critical
            | ThreatLevel::AnubisDeny
            | ThreatLevel::KnownBot => Some(true),
            ThreatLevel::Normal | ThreatLevel::LegitimateBrowser => Some(false),
            ThreatLevel::Medium | ThreatLevel::Low | ThreatLevel::Unscored => None,
        }
    }

    /// A known good bot or a legitimate browser: never blocked, whatever else says so.
    pub const fn is_protected(self) -> bool {
        matches!(self, ThreatLevel::KnownBot | ThreatLevel::LegitimateBrowser)
    }
}

impl fmt::Display for ThreatLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no [`ThreatLevel`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown threat level {0:?} (allowed: {allowed})", allowed = ThreatLevel::names(&ThreatLevel::ALL))]
pub struct UnknownLevel(pub String);

impl FromStr for ThreatLevel {
    type Err = UnknownLevel;

    /// The stored name, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ThreatLevel::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownLevel(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for l in ThreatLevel::ALL {
            assert_eq!(l.as_str().parse::<ThreatLevel>(), Ok(l));
            assert_eq!(l.as_str().to_lowercase().parse::<ThreatLevel>(), Ok(l));
            let json = serde_json::to_string(&l).unwrap();
            assert_eq!(json, format!("\"{}\"", l.as_str()));
            assert_eq!(serde_json::from_str::<ThreatLevel>(&json).unwrap(), l);
        }
        let e = "SEVERE".parse::<ThreatLevel>().unwrap_err();
        assert!(e.to_string().contains("LEGITIMATE_BROWSER"), "{e}");
    }

    #[test]
    fn labels_and_protection_do_not_overlap() {
        for l in ThreatLevel::ALL {
            if l.is_protected() {
                assert_eq!(l.severity(), 0, "{l}");
            }
            if l.severity() >= 3 {
                assert_eq!(l.label(), Some(true), "{l}");
            }
        }
        assert_eq!(ThreatLevel::LegitimateBrowser.label(), Some(false));
        assert_eq!(ThreatLevel::Medium.label(), None);
    }
}
