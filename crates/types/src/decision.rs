//! [`DecisionKind`]: what a detection cycle's audit log records, named as text only here.

use crate::named::named_enum;

named_enum! {
    /// Kinds of audit-log entries (the `decisions` table's `kind`).
    pub enum DecisionKind {
        /// The current model was reused.
        ModelLoaded = "MODEL_LOADED",
        /// A new model was trained and made current.
        ModelTrained = "MODEL_TRAINED",
        /// A new model failed the validation gate.
        ModelRejected = "MODEL_REJECTED",
        /// A stored model could not be loaded or used.
        ModelLoadFailed = "MODEL_LOAD_FAILED",
        /// Training failed.
        ModelFailed = "MODEL_FAILED",
        /// The baseline drifted from the model's.
        DriftDetected = "DRIFT_DETECTED",
        /// Low-variance features removed at training.
        FeaturePruned = "FEATURE_PRUNED",
        /// Features dropped by validation (constant, mostly missing).
        FeaturesDropped = "FEATURES_DROPPED",
        /// Too few human-baseline sessions.
        SkippedLowData = "SKIPPED_LOW_DATA",
        /// Too few sessions on networks the ASN dictionary calls ISPs: the human baseline
        /// came from browser identity instead; the payload says how it was built.
        BaselineFromIdentity = "BASELINE_FROM_IDENTITY",
        /// Known bots of the cycle.
        KnownBot = "KNOWN_BOT",
        /// Anubis DENY sessions.
        AnubisDeny = "ANUBIS_DENY",
        /// An anomaly.
        Anomaly = "ANOMALY",
        /// Sessions whose layers disagree in a way no real browser's do (a browser's
        /// ClientHello under another engine's user agent, client hints against the user
        /// agent...): reported as impersonators whatever their scores.
        ImpersonationDetected = "IMPERSONATION_DETECTED",
        /// Flagged sessions of a confidently identified browser stack that browse like a
        /// script (no assets, a steady period...): their reasons name what.
        ScriptedBrowserStack = "SCRIPTED_BROWSER_STACK",
        /// Legitimate browsers of the cycle.
        LegitimateBrowser = "LEGITIMATE_BROWSER",
        /// The largest stack cohorts of the horizon (JA4 × HTTP/2 fingerprint): each
        /// stack's population.
        StackCohorts = "STACK_COHORTS",
        /// A flagged fleet.
        FleetDetected = "FLEET_DETECTED",
        /// A campaign of the cycle.
        CampaignDetected = "CAMPAIGN_DETECTED",
        /// Campaign clustering failed for a feature set (its anomalies stay unclustered).
        CampaignFailed = "CAMPAIGN_FAILED",
        /// Dictionary files changed and were loaded again before the cycle.
        DictionariesReloaded = "DICTIONARIES_RELOADED",
        /// Dictionary files changed but no longer load; the previous ones stayed in service.
        DictionaryReloadFailed = "DICTIONARY_RELOAD_FAILED",
        /// The boosted trees were reused.
        TreesLoaded = "TREES_LOADED",
        /// New boosted trees were trained (and saved).
        TreesTrained = "TREES_TRAINED",
        /// The boosted trees were not trained (too few labels, disabled, failed); the payload
        /// says why and which model, if any, scores instead.
        TreesSkipped = "TREES_SKIPPED",
        /// Confident learning removed likely-wrong labels before training the trees.
        LabelIssuesRemoved = "LABEL_ISSUES_REMOVED",
        /// The normalizing flow could not be trained or used; the forest scores alone.
        FlowFailed = "FLOW_FAILED",
        /// A scorer did no better than chance on the cycle's evidence labels and was left
        /// out of the combination.
        ScorerMuted = "SCORER_MUTED",
    }
    /// A name that is no [`DecisionKind`].
    error UnknownDecisionKind = "decision kind";
}

impl DecisionKind {
    /// Something went wrong or needs an operator's eye (logged as a warning); the other
    /// kinds are the cycle's ordinary record.
    pub const fn needs_attention(self) -> bool {
        matches!(
            self,
            DecisionKind::ModelRejected
                | DecisionKind::ModelLoadFailed
                | DecisionKind::ModelFailed
                | DecisionKind::CampaignFailed
                | DecisionKind::DriftDetected
                | DecisionKind::SkippedLowData
                | DecisionKind::BaselineFromIdentity
                | DecisionKind::ScorerMuted
                | DecisionKind::DictionaryReloadFailed
        )
    }
}
