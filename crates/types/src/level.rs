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

    /// The label this verdict gives the supervised trees: `Some(true)` (a bot) for `High`,
    /// `Critical`, `AnubisDeny` and `KnownBot`, `Some(false)` (a person) for
    /// `LegitimateBrowser` only (a browser by identity that browses like a person), `None`
    /// for the rest. `Normal` is no label: it says only that the scorers found the session
    /// calm, so a client that slipped past them once would teach the trees it is a person.
    pub const fn label(self) -> Option<bool> {
        match self {
            ThreatLevel::High
            | ThreatLevel::Critical
            | ThreatLevel::AnubisDeny
            | ThreatLevel::KnownBot => Some(true),
            ThreatLevel::LegitimateBrowser => Some(false),
            ThreatLevel::Normal
            | ThreatLevel::Medium
            | ThreatLevel::Low
            | ThreatLevel::Unscored => None,
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
        assert_eq!(
            ThreatLevel::Normal.label(),
            None,
            "calm scores are no evidence of a person"
        );
        assert_eq!(ThreatLevel::Medium.label(), None);
    }
}
