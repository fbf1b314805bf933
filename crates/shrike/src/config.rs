//! Layered configuration: TOML file < `SHRIKE_*` environment variables < command-line flags,
//! resolved into validated [`Settings`].

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// The TOML file, every field optional (see `shrike.example.toml`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the embedded store lives.
    pub store: Option<StoreConfig>,
    /// Reading inputs.
    pub ingest: Option<IngestConfig>,
    /// Enrichment dictionaries.
    pub dictionaries: Option<DictConfig>,
    /// Sessions and features.
    pub features: Option<FeaturesConfig>,
    /// The detection cycle (every seed knob; see shrike_detect::DetectConfig).
    pub detect: Option<shrike_detect::DetectConfig>,
    /// `shrike serve` (and the server of `shrike run`).
    pub serve: Option<ServeConfig>,
    /// `shrike run`: the service.
    pub run: Option<crate::run::RunConfig>,
}

/// `[serve]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address and port (default 127.0.0.1:8080).
    pub listen: Option<String>,
    /// API token; required beyond loopback (prefer SHRIKE_API_TOKEN or --token-file).
    pub token: Option<String>,
    /// Largest request body, KiB (1..=10240, default 64).
    pub max_body_kib: Option<u32>,
    /// Minutes a computed cluster map stays fresh (1..=1440, default 30).
    pub map_ttl_minutes: Option<u32>,
    /// Most (IP, JA4) pairs on the cluster map (1000..=20000000, default 2000000).
    pub map_max_rows: Option<usize>,
    /// Host names the dashboard is reached by, besides loopback names and addresses.
    pub public_names: Option<Vec<String>>,
    /// API keys of the CrowdSec bouncers allowed on `/v1/decisions` (at least 16 characters
    /// each; prefer SHRIKE_BOUNCER_API_KEY).
    pub bouncer_api_keys: Option<Vec<String>>,
    /// How long a bouncer keeps a decision if shrike stops answering (default 4h).
    pub bouncer_duration: Option<String>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite file.
    pub path: Option<PathBuf>,
    /// Scores (all_scores) kept for this many hours of data time after their cycle.
    pub scores_retention_hours: Option<u32>,
    /// Sessions kept for this many hours of data time (at least the horizon).
    pub sessions_retention_hours: Option<u32>,
    /// Fleet detections kept for this many hours of data time.
    pub fleet_retention_hours: Option<u32>,
    /// Campaigns (and their member addresses) kept this many hours after last seen.
    pub campaign_retention_hours: Option<u32>,
    /// Seconds a writing run (`ingest`, a `detect` cycle) waits for another to finish
    /// with the store before it gives up.
    pub lock_wait_secs: Option<u64>,
}

/// `[ingest]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Fail the run above this fraction of rejected lines (0..=1).
    pub max_reject_ratio: Option<f64>,
    /// Parsing threads (0 = one per core).
    pub workers: Option<usize>,
    /// Where refused lines go.
    pub dead_letter: Option<PathBuf>,
}

/// `[dictionaries]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DictConfig {
    /// Directory of `bot_ip.csv`, `browser_ja4.csv`, ...
    pub dir: Option<PathBuf>,
    /// Verify claimed crawlers by forward-confirmed reverse DNS (default false: it sends
    /// client addresses to the system's resolver).
    pub fcrdns: Option<bool>,
    /// Timeout of one DNS query, ms (100..=10000, default 2000).
    pub fcrdns_timeout_ms: Option<u64>,
    /// New addresses looked up per cycle at most (1..=1000000, default 1000).
    pub fcrdns_max_lookups: Option<usize>,
    /// The public lists `shrike dict update` fetches (`[[dictionaries.source]]`; none: the
    /// built-in list of publishers' URLs).
    pub source: Option<Vec<crate::dict_update::SourceConfig>>,
    /// How often `shrike run` runs `shrike dict update` (`12h`, `24h`; none: never).
    pub update_every: Option<String>,
}

/// Forward-confirmed reverse DNS, when enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FcrdnsSettings {
    /// Timeout of one query.
    pub timeout: std::time::Duration,
    /// New lookups per cycle.
    pub max_lookups: usize,
}

/// `[features]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    /// Cohort horizon in hours (1..=720).
    pub horizon_hours: Option<u32>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// SQLite file (with a ClickHouse store: the default one, beside which the dead-letter
    /// file, the models and the spool go).
    pub store_path: PathBuf,
    /// The ClickHouse store, when `store` is a `clickhouse://` address.
    pub clickhouse: Option<shrike_clickhouse::ChUrl>,
    /// Reject ratio limit.
    pub max_reject_ratio: f64,
    /// Parsing threads.
    pub workers: usize,
    /// Dead-letter file.
    pub dead_letter: PathBuf,
    /// Dictionary directory, if any.
    pub dict_dir: Option<PathBuf>,
    /// Claimed-crawler verification by DNS (`None`: off).
    pub fcrdns: Option<FcrdnsSettings>,
    /// Horizon in hours.
    pub horizon_hours: u32,
    /// Hours of data time that cycle scores are kept.
    pub scores_retention_hours: u32,
    /// Hours of data time that sessions are kept.
    pub sessions_retention_hours: u32,
    /// Hours of data time that fleet detections are kept.
    pub fleet_retention_hours: u32,
    /// Hours of data time that campaigns are kept after last seen.
    pub campaign_retention_hours: u32,
    /// How long a writing run waits for the store's writer lock.
    pub lock_wait: std::time::Duration,
}

impl Settings {
    /// The embedded store's writer lock for one writing run (`what` names it for whoever
    /// waits), waiting up to `store.lock_wait_secs`; `None` with ClickHouse, whose tables
    /// take concurrent inserts.
    pub fn writer_lock(&self, what: &str) -> anyhow::Result<Option<shrike_store::WriterLock>> {
        if self.clickhouse.is_some() {
            return Ok(None);
        }
        let lock =
            shrike_store::WriterLock::acquire(&self.store_path, what, self.lock_wait, |holder| {
                eprintln!(
                    "waiting for another shrike writer on {} ({holder}), up to {} s",
                    self.store_path.display(),
                    self.lock_wait.as_secs()
                )
            })?;
        Ok(Some(lock))
    }

    /// The SQLite file, for a command that only works on the embedded store; an error
    /// naming the commands that do support ClickHouse otherwise.
    pub fn embedded_store(&self, command: &str) -> anyhow::Result<&Path> {
        match &self.clickhouse {
            None => Ok(&self.store_path),
            Some(url) => bail!(
                "`shrike {command}` works on the embedded store only, not on the ClickHouse store {url} (docs/CLICKHOUSE.md): pass a SQLite file to --store"
            ),
        }
    }
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub store: Option<PathBuf>,
    pub max_reject_ratio: Option<f64>,
    pub workers: Option<usize>,
    pub dead_letter: Option<PathBuf>,
    pub dict_dir: Option<PathBuf>,
    pub horizon_hours: Option<u32>,
}

impl Overrides {
    /// The flags every command shares (`--store`, `--dict-dir`, `--horizon-hours`).
    pub fn common(common: &crate::CommonOpts) -> Overrides {
        Overrides {
            store: common.store.clone(),
            dict_dir: common.dict_dir.clone(),
            horizon_hours: common.horizon_hours,
            ..Overrides::default()
        }
    }
}

fn env<T: std::str::FromStr>(name: &str, allowed: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(v) => v.parse().map(Some).map_err(|_| {
            anyhow::anyhow!("environment variable {name}={v:?} is invalid (allowed: {allowed})")
        }),
        Err(_) => Ok(None),
    }
}

impl Config {
    /// Detection settings: `[detect]` < `SHRIKE_<KEY>` variables (e.g.
    /// `SHRIKE_ANOMALY_THRESHOLD`), validated.
    pub fn detect(&self) -> anyhow::Result<shrike_detect::DetectConfig> {
        let cfg = self
            .detect
            .clone()
            .unwrap_or_default()
            .with_overrides(|var| std::env::var(var).ok())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a TOML file; unknown keys are errors that name the key.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// Merges file < environment < flags and validates.
    pub fn resolve(self, flags: &Overrides) -> anyhow::Result<Settings> {
        let store = self.store.unwrap_or_default();
        let ingest = self.ingest.unwrap_or_default();
        let dict = self.dictionaries.unwrap_or_default();
        let feats = self.features.unwrap_or_default();
        let store_path = flags
            .store
            .clone()
            .or(env::<PathBuf>("SHRIKE_STORE", "a file path")?)
            .or(store.path)
            .unwrap_or_else(|| PathBuf::from("shrike-data/shrike.db"));
        let (store_path, clickhouse) = match store_path.to_str() {
            Some(s) if s.starts_with("clickhouse://") => (
                PathBuf::from("shrike-data/shrike.db"),
                Some(
                    shrike_clickhouse::ChUrl::parse(s)
                        .map_err(|e| anyhow::anyhow!("store.path: {e}"))?,
                ),
            ),
            _ => (store_path, None),
        };
        let max_reject_ratio = flags
            .max_reject_ratio
            .or(env("SHRIKE_MAX_REJECT_RATIO", "a number from 0 to 1")?)
            .or(ingest.max_reject_ratio)
            .unwrap_or(0.05);
        if !(0.0..=1.0).contains(&max_reject_ratio) {
            bail!("ingest.max_reject_ratio = {max_reject_ratio} is invalid (allowed: a number from 0 to 1)");
        }
        let workers = flags
            .workers
            .or(env("SHRIKE_WORKERS", "a whole number")?)
            .or(ingest.workers)
            .unwrap_or(0);
        let workers = if workers == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            workers
        };
        let dead_letter = flags
            .dead_letter
            .clone()
            .or(env::<PathBuf>("SHRIKE_DEAD_LETTER", "a file path")?)
            .or(ingest.dead_letter)
            .unwrap_or_else(|| store_path.with_file_name("rejected.jsonl"));
        let dict_dir = flags
            .dict_dir
            .clone()
            .or(env::<PathBuf>("SHRIKE_DICT_DIR", "a directory")?)
            .or(dict.dir);
        let fcrdns = env::<bool>("SHRIKE_FCRDNS", "true or false")?
            .or(dict.fcrdns)
            .unwrap_or(false);
        let timeout_ms = env::<u64>("SHRIKE_FCRDNS_TIMEOUT_MS", "100 to 10000")?
            .or(dict.fcrdns_timeout_ms)
            .unwrap_or(2000);
        if !(100..=10_000).contains(&timeout_ms) {
            bail!(
                "dictionaries.fcrdns_timeout_ms = {timeout_ms} is invalid (allowed: 100 to 10000)"
            );
        }
        let max_lookups = env::<usize>("SHRIKE_FCRDNS_MAX_LOOKUPS", "1 to 1000000")?
            .or(dict.fcrdns_max_lookups)
            .unwrap_or(1000);
        if !(1..=1_000_000).contains(&max_lookups) {
            bail!("dictionaries.fcrdns_max_lookups = {max_lookups} is invalid (allowed: 1 to 1000000)");
        }
        let fcrdns = fcrdns.then_some(FcrdnsSettings {
            timeout: std::time::Duration::from_millis(timeout_ms),
            max_lookups,
        });
        let horizon_hours = flags
            .horizon_hours
            .or(env("SHRIKE_HORIZON_HOURS", "1 to 720")?)
            .or(feats.horizon_hours)
            .unwrap_or(24);
        if !(1..=720).contains(&horizon_hours) {
            bail!("features.horizon_hours = {horizon_hours} is invalid (allowed: 1 to 720)");
        }
        let scores_retention_hours = env("SHRIKE_SCORES_RETENTION_HOURS", "1 to 87600")?
            .or(store.scores_retention_hours)
            .unwrap_or(168);
        if !(1..=87_600).contains(&scores_retention_hours) {
            bail!("store.scores_retention_hours = {scores_retention_hours} is invalid (allowed: 1 to 87600)");
        }
        let sessions_retention_hours = env("SHRIKE_SESSIONS_RETENTION_HOURS", "1 to 87600")?
            .or(store.sessions_retention_hours)
            .unwrap_or(720);
        if !(horizon_hours..=87_600).contains(&sessions_retention_hours) {
            bail!("store.sessions_retention_hours = {sessions_retention_hours} is invalid (allowed: the horizon, {horizon_hours}, to 87600)");
        }
        let fleet_retention_hours = env("SHRIKE_FLEET_RETENTION_HOURS", "1 to 87600")?
            .or(store.fleet_retention_hours)
            .unwrap_or(168);
        if !(1..=87_600).contains(&fleet_retention_hours) {
            bail!("store.fleet_retention_hours = {fleet_retention_hours} is invalid (allowed: 1 to 87600)");
        }
        let campaign_retention_hours = env("SHRIKE_CAMPAIGN_RETENTION_HOURS", "1 to 87600")?
            .or(store.campaign_retention_hours)
            .unwrap_or(720);
        if !(1..=87_600).contains(&campaign_retention_hours) {
            bail!("store.campaign_retention_hours = {campaign_retention_hours} is invalid (allowed: 1 to 87600)");
        }
        let lock_wait_secs = env("SHRIKE_LOCK_WAIT_SECS", "0 to 86400")?
            .or(store.lock_wait_secs)
            .unwrap_or(600);
        if lock_wait_secs > 86_400 {
            bail!("store.lock_wait_secs = {lock_wait_secs} is invalid (allowed: 0 to 86400)");
        }
        Ok(Settings {
            lock_wait: std::time::Duration::from_secs(lock_wait_secs),
            store_path,
            clickhouse,
            max_reject_ratio,
            workers,
            dead_letter,
            dict_dir,
            fcrdns,
            horizon_hours,
            scores_retention_hours,
            sessions_retention_hours,
            fleet_retention_hours,
            campaign_retention_hours,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_parses_and_resolves() {
        let text = include_str!("../../../shrike.example.toml");
        let s = Config::from_toml(text)
            .unwrap()
            .resolve(&Overrides::default())
            .unwrap();
        assert_eq!(s.horizon_hours, 24);
        assert_eq!(s.max_reject_ratio, 0.05);
    }

    #[test]
    fn errors_name_the_key_and_allowed_values() {
        let e = Config::from_toml("[ingest]\nmax_rejects = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_rejects"), "{e}");
        let e = Config::from_toml("[features]\nhorizon_hours = 0\n")
            .unwrap()
            .resolve(&Overrides::default())
            .unwrap_err();
        assert!(
            e.to_string().contains("features.horizon_hours") && e.to_string().contains("1 to 720"),
            "{e}"
        );
        let flags = Overrides {
            horizon_hours: Some(6),
            ..Overrides::default()
        };
        let s = Config::from_toml("[features]\nhorizon_hours = 12\n")
            .unwrap()
            .resolve(&flags)
            .unwrap();
        assert_eq!(s.horizon_hours, 6, "flags win over the file");
        // Sessions must outlive the horizon that scores them.
        let e = Config::from_toml("[store]\nsessions_retention_hours = 12\n")
            .unwrap()
            .resolve(&Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("store.sessions_retention_hours") && e.contains("the horizon, 24"),
            "{e}"
        );
    }

    #[test]
    fn crawler_verification_is_off_unless_asked() {
        let resolve = |toml: &str| {
            Config::from_toml(toml)
                .unwrap()
                .resolve(&Overrides::default())
        };
        assert_eq!(resolve("").unwrap().fcrdns, None);
        let on = resolve("[dictionaries]\nfcrdns = true\nfcrdns_timeout_ms = 500\n")
            .unwrap()
            .fcrdns
            .unwrap();
        assert_eq!(on.timeout, std::time::Duration::from_millis(500));
        assert_eq!(on.max_lookups, 1000);
        let e = resolve("[dictionaries]\nfcrdns = true\nfcrdns_timeout_ms = 5\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("dictionaries.fcrdns_timeout_ms") && e.contains("100 to 10000"),
            "{e}"
        );
    }
}
