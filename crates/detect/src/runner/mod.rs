//! [`CycleRunner`]: one detection cycle against a store, from the sessions of the horizon
//! to the saved outputs: enrich (dictionaries in service) → score ([`run_cycle`]) → label
//! (the history the trees learn from) → save (one transaction) → prune (retention).
//!
//! The binary parses arguments, builds a runner and prints what it returns; anything that
//! drives cycles (`shrike detect`, `--every`, the demo, the evaluations) goes through here.

use shrike_dict::{Dictionaries, DictionaryWatch, Reload};
use shrike_store::{CycleStore, FeedbackLabel, Retention, StoreError};
use shrike_types::{ThreatLevel, Timestamp, HOUR_MS};

use crate::campaign::{CampaignMemory, KnownCampaign};
use crate::config::DetectConfig;
use crate::cycle::run_cycle;
use crate::findings::Evidence;
use crate::prep::Session;
use crate::registry::Registry;
use crate::supervised::{LabelSource, Labelled};
use crate::verdict::{CycleOutput, Decision, DecisionKind};

mod enrich;
mod save;

pub use enrich::Enrich;
pub use save::save;

/// Why a cycle could not run or be saved (a model that fails is a decision, not this).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cycle's figures could not be written as JSON.
    #[error("cycle metrics: {0}")]
    Metrics(#[from] serde_json::Error),
}

/// How long the store keeps each output, in hours before the cycle's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionHours {
    /// Scores.
    pub scores: u32,
    /// Sessions (and their sessionizer state).
    pub sessions: u32,
    /// Fleets.
    pub fleets: u32,
    /// Campaigns not seen since.
    pub campaigns: u32,
}

/// The outcome of a cycle: its sessions, their verdicts and the cycle's id in the store.
#[derive(Debug)]
pub struct CycleRun {
    /// The horizon's sessions, in the order of [`CycleOutput::verdicts`].
    pub sessions: Vec<Session>,
    /// Verdicts, decisions, metrics, fleets and campaigns.
    pub output: CycleOutput,
    /// The cycle's id.
    pub id: i64,
}

/// Runs detection cycles against a store with one configuration and model registry.
pub struct CycleRunner<'a> {
    /// Detection settings.
    pub cfg: &'a DetectConfig,
    /// Where models are kept.
    pub registry: &'a Registry,
    /// Hours of sessions a cycle scores (ending at its newest window).
    pub horizon_hours: u32,
    /// What the store keeps.
    pub retention: RetentionHours,
}

impl CycleRunner<'_> {
    /// Runs one cycle over the horizon ending at `at` (default: the newest window) and saves
    /// it; `None` when the store has no sessions. With `dictionaries`, changed files are
    /// reloaded first (a decision says so) and the sessions' names come from the
    /// dictionaries in service.
    pub fn run(
        &self,
        store: &mut dyn CycleStore,
        at: Option<Timestamp>,
        dictionaries: Option<&mut DictionaryWatch>,
    ) -> Result<Option<CycleRun>, RunError> {
        let (reload, dict, verifier) = match dictionaries {
            Some(w) => (refresh(w), Some(w.current()), w.verifier()),
            None => (None, None, None),
        };
        if let Some(v) = &verifier {
            let missed = v.new_cycle();
            if missed > 0 {
                tracing::warn!(missed, "the last cycle had more claimed crawlers than dictionaries.fcrdns_max_lookups: these stayed unverified");
            }
        }
        let enrich = Enrich {
            dict: dict.as_deref(),
            verifier: verifier.as_deref(),
        };
        let Some((sessions, start, end)) = load_sessions(store, self.horizon_hours, at, enrich)?
        else {
            return Ok(None);
        };
        let recurrence = store.recurrences()?;
        // The cycle's clock is the end of its horizon, so that replays are reproducible.
        let now = Timestamp::from_millis(end.millis() + HOUR_MS);
        let memory = campaign_memory(store, self.cfg, now)?;
        let labels = load_labels(store, self.cfg, now, dict.as_deref())?;
        let mut output = run_cycle(
            &sessions,
            &labels,
            &recurrence,
            &memory,
            self.registry,
            self.cfg,
            now,
        );
        output.decisions.splice(0..0, reload);
        let id = save(store, self.registry, &sessions, &output, (start, end), now)?;
        let pruned = store.prune(&self.retention_before(now))?;
        if pruned.total() > 0 {
            tracing::info!(
                scores = pruned.scores,
                sessions = pruned.sessions,
                fleets = pruned.fleets,
                campaigns = pruned.campaigns,
                "retention: deleted what is older than store.*_retention_hours"
            );
        }
        Ok(Some(CycleRun {
            sessions,
            output,
            id,
        }))
    }

    /// The retention cut-offs for a cycle whose clock is `now`.
    fn retention_before(&self, now: Timestamp) -> Retention {
        let hours = |h: u32| Timestamp::from_millis(now.millis() - h as i64 * HOUR_MS);
        let r = self.retention;
        Retention {
            scores_before: hours(r.scores),
            sessions_before: hours(r.sessions),
            fleets_before: hours(r.fleets),
            campaigns_before: hours(r.campaigns),
        }
    }
}

/// Reloads changed dictionary files; returns the decision to log, if any.
fn refresh(watch: &mut DictionaryWatch) -> Option<Decision> {
    let dir = watch.dir().display().to_string();
    match watch.refresh() {
        Reload::Unchanged => None,
        Reload::Reloaded { changed } => {
            tracing::info!(dir, ?changed, "dictionaries changed: reloaded");
            Some(Decision {
                kind: DecisionKind::DictionariesReloaded,
                model: None,
                payload: serde_json::json!({ "dir": dir, "changed": changed }),
            })
        }
        Reload::Failed(e) => {
            tracing::error!(error = %e, "dictionaries changed but do not load: the previous ones stay in service");
            Some(Decision {
                kind: DecisionKind::DictionaryReloadFailed,
                model: None,
                payload: serde_json::json!({ "dir": dir, "error": e.to_string() }),
            })
        }
    }
}

/// The campaigns of earlier cycles still within `campaign_memory_hours` of the cycle's clock.
pub fn campaign_memory(
    store: &dyn CycleStore,
    cfg: &DetectConfig,
    now: Timestamp,
) -> Result<CampaignMemory, StoreError> {
    let since = Timestamp::from_millis(now.millis() - (cfg.campaign_memory_hours * 3.6e6) as i64);
    let (known, next_id) = store.campaign_memory(since)?;
    Ok(CampaignMemory {
        known: known
            .into_iter()
            .map(|(id, ips)| KnownCampaign { id, ips })
            .collect(),
        next_id,
    })
}

/// The sessions of the horizon ending at `at` (default: the newest window), with the
/// horizon's first and last window; `None` when the store is empty. Sessions come in the
/// stores' listing order ([`shrike_types::SessionKey::listing_cmp`]), whatever the store.
pub fn load_sessions(
    store: &dyn CycleStore,
    horizon_hours: u32,
    at: Option<Timestamp>,
    enrich: Enrich<'_>,
) -> Result<Option<(Vec<Session>, Timestamp, Timestamp)>, StoreError> {
    let Some(end) = at.map(|t| t.hour_start()).or(store.newest_window()?) else {
        return Ok(None);
    };
    let start = Timestamp::from_millis(end.millis() - (horizon_hours as i64 - 1) * HOUR_MS);
    let mut sessions: Vec<Session> = store
        .sessions_between(start, end)?
        .into_iter()
        .map(|r| enrich.session(r))
        .collect();
    // One order whatever the store (clustering labels follow it).
    sessions.sort_by(|a, b| a.key().listing_cmp(b.key()));
    crate::prep::mark_shared_addresses(&mut sessions);
    Ok(Some((sessions, start, end)))
}

/// A session's label for the trees, from what does not come from the trees or from an
/// earlier verdict: an analyst's feedback, a known bot, or the session's evidence
/// ([`crate::findings::evidence`]). `None`: no trusted label. The level a cycle gave the
/// session is deliberately no input.
pub fn trusted_label(
    session: &Session,
    feedback: Option<FeedbackLabel>,
    cfg: &DetectConfig,
) -> Option<(bool, LabelSource)> {
    if let Some(f) = feedback {
        return Some((f == FeedbackLabel::Bot, LabelSource::Analyst));
    }
    if !session.row.bot_name.is_empty() {
        return Some((true, LabelSource::KnownBot));
    }
    let b = crate::prep::identify_browser(session);
    let findings = crate::findings::findings_of(session);
    match crate::findings::evidence(session, &b, &findings, cfg) {
        Evidence::Bot => Some((true, LabelSource::Evidence)),
        Evidence::Person => Some((false, LabelSource::Evidence)),
        Evidence::Unknown => None,
    }
}

/// The labelled history the boosted trees learn from: the sessions scored in the last
/// `label_history_days` before `now`, each labelled by an analyst (who wins), by the
/// dictionaries (a known bot), or by evidence read again from the session with the
/// dictionaries in service ([`crate::findings::evidence`]: a strong finding or a DENY, or a
/// confident browser browsing like a person); sessions with none of these are left out,
/// whatever level an earlier cycle gave them. A seeded sample of `trees_max_labels` at
/// most.
pub fn load_labels(
    store: &dyn CycleStore,
    cfg: &DetectConfig,
    now: Timestamp,
    dict: Option<&Dictionaries>,
) -> Result<Vec<Labelled>, StoreError> {
    if cfg.trees_weight <= 0.0 {
        return Ok(Vec::new());
    }
    let from = Timestamp::from_millis(
        now.millis() - (cfg.label_history_days * 24.0 * HOUR_MS as f64) as i64,
    );
    // Every session scored in the history: its label comes from evidence read again now,
    // never from the verdict an earlier cycle gave it (a client that passed once as a
    // browser must not teach the trees it is a person).
    let levels: Vec<ThreatLevel> = ThreatLevel::ALL
        .into_iter()
        .filter(|l| *l != ThreatLevel::Unscored)
        .collect();
    let enrich = Enrich {
        dict,
        verifier: None,
    };
    let rows = store.labelled_sessions(from, now, &levels)?;
    let feedback: Vec<Option<FeedbackLabel>> = rows.iter().map(|r| r.feedback).collect();
    let mut sessions: Vec<Session> = rows
        .into_iter()
        .map(|r| enrich.session(r.session))
        .collect();
    crate::prep::mark_shared_addresses(&mut sessions);
    let mut out: Vec<Labelled> = Vec::new();
    for (session, feedback) in sessions.into_iter().zip(feedback) {
        let Some((bot, source)) = trusted_label(&session, feedback, cfg) else {
            continue;
        };
        out.push(Labelled {
            session,
            bot,
            source,
        });
    }
    if out.len() > cfg.trees_max_labels {
        // Analyst labels are always kept; the rest is a seeded sample.
        let (mut keep, mut rest): (Vec<Labelled>, Vec<Labelled>) = out
            .into_iter()
            .partition(|l| l.source == LabelSource::Analyst);
        let mut rng = shrike_types::Rng::seed_from_u64(cfg.seed);
        for i in (1..rest.len()).rev() {
            rest.swap(i, rng.below(i as u64 + 1) as usize);
        }
        rest.truncate(cfg.trees_max_labels.saturating_sub(keep.len()));
        keep.extend(rest);
        out = keep;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use shrike_features::FeatureId;
    use shrike_store::SessionRow;
    use shrike_types::{SessionKey, Timestamp};

    use super::*;

    const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36";

    /// A Chrome session that browses like a person: confident identity, assets, referers,
    /// cookies, Accept-Language.
    fn chrome(ip: &str) -> Session {
        let mut row = SessionRow::new(SessionKey {
            window_start: Timestamp::from_millis(0),
            src_ip: ip.parse().unwrap(),
            ja4: Some(
                shrike_types::Ja4::parse("t13d1516h2_8daaf6152771_02713d6af862".into()).unwrap(),
            ),
            host: "shop.example".into(),
        });
        row.user_agent = CHROME_WIN.into();
        row.browser_family = "Chrome".into();
        row.correlated = true;
        for (f, v) in [
            (FeatureId::AssetRatio, 0.5),
            (FeatureId::HasReferer, 1.0),
            (FeatureId::HasCookie, 1.0),
            (FeatureId::HasAcceptLanguage, 1.0),
            (FeatureId::IsFakeNavigation, 0.0),
            (FeatureId::ModernBrowserScore, 1.0),
            (FeatureId::UaChMismatch, 0.0),
            (FeatureId::SecChMobileMismatch, 0.0),
            (FeatureId::H2SettingsKnown, 1.0),
            (FeatureId::H2Ja4Coherence, 1.0),
            (FeatureId::H2PseudoOrderMatch, 1.0),
        ] {
            row.features[f.index()] = v;
        }
        Session::new(row)
    }

    #[test]
    fn labels_come_from_evidence_never_from_an_earlier_verdict() {
        let cfg = DetectConfig::default();
        // A person: a negative by evidence.
        let person = chrome("198.51.100.1");
        assert_eq!(
            trusted_label(&person, None, &cfg),
            Some((false, LabelSource::Evidence))
        );
        // An impersonator an earlier cycle let through as LEGITIMATE_BROWSER (its hints
        // contradict its user agent, the scores were calm): a positive now, never a
        // negative, since the level is no input.
        let mut impersonator = chrome("198.51.100.2");
        impersonator.row.features[FeatureId::UaChMismatch.index()] = 1.0;
        assert_eq!(
            trusted_label(&impersonator, None, &cfg),
            Some((true, LabelSource::Evidence))
        );
        // A real stack driven like a script, with no finding: no label at all (neither a
        // person's browsing nor evidence of a bot), whatever the scores said of it.
        let mut scripted = chrome("198.51.100.3");
        for f in [
            FeatureId::AssetRatio,
            FeatureId::HasReferer,
            FeatureId::HasCookie,
        ] {
            scripted.row.features[f.index()] = 0.0;
        }
        assert_eq!(trusted_label(&scripted, None, &cfg), None);
        // The analyst wins, and a known bot is a bot.
        assert_eq!(
            trusted_label(&impersonator, Some(FeedbackLabel::Human), &cfg),
            Some((false, LabelSource::Analyst))
        );
        scripted.row.bot_name = "Googlebot".into();
        assert_eq!(
            trusted_label(&scripted, None, &cfg),
            Some((true, LabelSource::KnownBot))
        );
    }
}
