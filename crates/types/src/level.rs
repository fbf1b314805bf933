//! [`ThreatLevel`]: the verdict a cycle gives a session, spelled as text only here.

use crate::named::named_enum;

named_enum! {
    /// The verdict on a session. The scored levels (`Critical` … `Normal`) grade a raw
    /// score; the others say why a session was not graded that way.
    pub enum ThreatLevel {
        /// Raw score at or below `level_critical`.
        Critical = "CRITICAL",
        /// At or below `level_high`.
        High = "HIGH",
        /// At or below `level_medium`.
        Medium = "MEDIUM",
        /// Below `level_low`.
        Low = "LOW",
        /// Not anomalous.
        Normal = "NORMAL",
        /// A browser by its fingerprints and behaviour (confidence and family), not anomalous.
        LegitimateBrowser = "LEGITIMATE_BROWSER",
        /// Known good bot (dictionaries).
        KnownBot = "KNOWN_BOT",
        /// An Anubis DENY rule matched (scored, always reported).
        AnubisDeny = "ANUBIS_DENY",
        /// Not scored this cycle (its feature set was skipped); the decisions say why.
        Unscored = "UNSCORED",
    }
    /// A name that is no [`ThreatLevel`].
    error UnknownLevel = "threat level";
}

impl ThreatLevel {
    /// The levels an export's `--min-level` may name, lowest first.
    pub const GRADED: [ThreatLevel; 4] = [
        ThreatLevel::Low,
        ThreatLevel::Medium,
        ThreatLevel::High,
        ThreatLevel::Critical,
    ];

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

    /// A known good bot or a legitimate browser: never blocked, whatever else says so.
    pub const fn is_protected(self) -> bool {
        matches!(self, ThreatLevel::KnownBot | ThreatLevel::LegitimateBrowser)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_levels_are_never_severe() {
        for l in ThreatLevel::ALL {
            if l.is_protected() {
                assert_eq!(l.severity(), 0, "{l}");
            }
        }
        assert!(
            !ThreatLevel::Normal.is_protected(),
            "calm scores protect nothing"
        );
    }
}
