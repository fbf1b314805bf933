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
    Ok(Some((sessions, start, end)))
}

/// The labelled history the boosted trees learn from: sessions of the last
/// `label_history_days` before `now` whose latest level is a label, or that an analyst
/// labelled (the analyst wins); a seeded sample of `trees_max_labels` at most.
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
    let levels: Vec<ThreatLevel> = ThreatLevel::ALL
        .into_iter()
        .filter(|l| l.label().is_some())
        .collect();
    let enrich = Enrich {
        dict,
        verifier: None,
    };
    let mut out: Vec<Labelled> = Vec::new();
    for row in store.labelled_sessions(from, now, &levels)? {
        let (bot, source) = match (row.feedback, row.level.and_then(|l| Some((l.label()?, l)))) {
            (Some(f), _) => (f == FeedbackLabel::Bot, LabelSource::Analyst),
            (None, Some((bot, level))) => (bot, LabelSource::Level(level)),
            (None, None) => continue,
        };
        out.push(Labelled {
            session: enrich.session(row.session),
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
