//! `[run]`: what the service follows, how often it stores and detects, what it exports.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;
use shrike_ingest::Format as LogFormat;
use shrike_types::ThreatLevel;

use crate::export::ExportJob;

/// `[run]` in the TOML file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// Log files to follow (`[[run.follow]]`).
    pub follow: Option<Vec<FollowConfig>>,
    /// How often the files are read and what they gained stored, s (1..=3600, default
    /// 30). Each store recomputes the features of the horizon's sessions (cohort features
    /// depend on them all), so fewer larger stores cost less; the lag behind the files is
    /// at most this interval while the service keeps up.
    pub store_every_secs: Option<u64>,
    /// Interval between detection cycles (`30s`, `10m`, `1h`; default 10m).
    pub detect_every: Option<String>,
    /// How long a file renamed away by a rotation is still read, s (0..=3600, default 30):
    /// a writer may write to it until it reopens its log.
    pub rotate_grace_secs: Option<u64>,
    /// Most bytes read per store, MiB (4..=1024, default 64).
    pub max_batch_mib: Option<u64>,
    /// Export files rewritten after each cycle (`[[run.export]]`).
    pub export: Option<Vec<ExportFileConfig>>,
}

/// `[[run.follow]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowConfig {
    /// A file, or a pattern with `*` and `?` in its last component (`/var/log/nginx/*.json`).
    pub path: String,
    /// jsonl, combined, nginx-json or cloudflare [default: detected from the first line].
    pub format: Option<String>,
}

/// `[[run.export]]`: the options of `shrike export`, written to `path` after each cycle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportFileConfig {
    /// json, csv, nginx, nginx-map, haproxy, ipset, crowdsec or anubis.
    pub format: String,
    /// The file (rewritten atomically).
    pub path: PathBuf,
    /// Lowest level exported (default MEDIUM).
    pub min_level: Option<String>,
    /// Lowest normalised anomaly score (default 0).
    pub min_score: Option<f64>,
    /// Only sessions of the last N hours of the cycle's horizon.
    pub max_age_hours: Option<u32>,
    /// See `shrike export --collapse-min` (default 8).
    pub collapse_min: Option<usize>,
    /// See `shrike export --ja4-min-ips` (default 5).
    pub ja4_min_ips: Option<usize>,
    /// ipset set name prefix (default shrike).
    pub set_name: Option<String>,
    /// CrowdSec decision duration (default 24h).
    pub duration: Option<String>,
    /// Header carrying the JA4 in front of Anubis (default X-JA4).
    pub ja4_header: Option<String>,
}

/// One followed name or pattern, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowSpec {
    /// The file or pattern.
    pub path: String,
    /// Its format, when configured.
    pub format: Option<LogFormat>,
}

/// `[run]`, validated.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub follow: Vec<FollowSpec>,
    pub store_every: Duration,
    pub detect_every: Duration,
    pub rotate_grace: Duration,
    pub max_batch_bytes: usize,
    pub exports: Vec<(PathBuf, ExportJob)>,
    /// `dictionaries.update_every` and the sources, when the service updates them.
    pub dict_update: Option<(Duration, Vec<crate::dict_update::Source>)>,
}

fn ranged(
    key: &str,
    v: Option<u64>,
    range: std::ops::RangeInclusive<u64>,
    default: u64,
) -> anyhow::Result<u64> {
    let v = v.unwrap_or(default);
    if !range.contains(&v) {
        bail!(
            "{key} = {v} is invalid (allowed: {} to {})",
            range.start(),
            range.end()
        );
    }
    Ok(v)
}

impl RunConfig {
    /// Validates the section; errors name the key and the allowed values.
    pub fn resolve(&self) -> anyhow::Result<RunSettings> {
        let mut follow = Vec::new();
        for (i, f) in self.follow.iter().flatten().enumerate() {
            if f.path.trim() == "-" {
                bail!("run.follow[{i}].path = \"-\": standard input cannot be followed (a restart could not resume it); pipe into `shrike ingest -` instead, or let the producer write a file");
            }
            if f.path.trim().is_empty() {
                bail!("run.follow[{i}].path is empty (allowed: a file or a pattern such as /var/log/nginx/*.json)");
            }
            let parent = std::path::Path::new(&f.path).parent();
            if parent.is_some_and(|p| p.to_string_lossy().contains(['*', '?'])) {
                bail!(
                    "run.follow[{i}].path = {:?} is invalid (allowed: `*` and `?` in the file name only)",
                    f.path
                );
            }
            let format = match f.format.as_deref() {
                None | Some("auto") => None,
                Some(name) => match LogFormat::ALL.iter().find(|x| x.as_str() == name) {
                    Some(LogFormat::Pcap | LogFormat::Zeek) => bail!(
                        "run.follow[{i}].format = {name:?} cannot be followed line by line (allowed: jsonl, combined, nginx-json, cloudflare or auto); ingest captures and Zeek logs with `shrike ingest`"
                    ),
                    Some(x) => Some(*x),
                    None => bail!(
                        "run.follow[{i}].format = {name:?} is invalid (allowed: jsonl, combined, nginx-json, cloudflare or auto)"
                    ),
                },
            };
            follow.push(FollowSpec {
                path: f.path.clone(),
                format,
            });
        }
        let detect_every = match self.detect_every.as_deref() {
            None => Duration::from_secs(600),
            Some(text) => crate::detect::parse_interval(text)
                .map_err(|e| anyhow::anyhow!("run.detect_every = {text:?} is invalid: {e}"))?,
        };
        let mut exports = Vec::new();
        for (i, e) in self.export.iter().flatten().enumerate() {
            let key = |k: &str| format!("run.export[{i}].{k}");
            let format = shrike_export::Format::parse(&e.format).ok_or_else(|| {
                let names: Vec<&str> = shrike_export::Format::ALL.iter().map(|(_, n)| *n).collect();
                anyhow::anyhow!(
                    "{} = {:?} is invalid (allowed: {})",
                    key("format"),
                    e.format,
                    names.join(", ")
                )
            })?;
            let min_level = match &e.min_level {
                None => ThreatLevel::Medium,
                Some(l) => l.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "{} = {l:?} is invalid (allowed: LOW, MEDIUM, HIGH or CRITICAL)",
                        key("min_level")
                    )
                })?,
            };
            let min_score = e.min_score.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&min_score) {
                bail!(
                    "{} = {min_score} is invalid (allowed: 0 to 1)",
                    key("min_score")
                );
            }
            let job = ExportJob {
                format,
                min_level,
                min_score,
                campaign: None,
                fleet: None,
                max_age_hours: e.max_age_hours,
                collapse_min: e.collapse_min.unwrap_or(8),
                ja4_min_ips: e.ja4_min_ips.unwrap_or(5),
                set_name: e.set_name.clone().unwrap_or_else(|| "shrike".into()),
                duration: e.duration.clone().unwrap_or_else(|| "24h".into()),
                ja4_header: e.ja4_header.clone().unwrap_or_else(|| "X-JA4".into()),
            };
            job.check(key)?;
            exports.push((e.path.clone(), job));
        }
        Ok(RunSettings {
            follow,
            store_every: Duration::from_secs(ranged(
                "run.store_every_secs",
                self.store_every_secs,
                1..=3600,
                30,
            )?),
            detect_every,
            rotate_grace: Duration::from_secs(ranged(
                "run.rotate_grace_secs",
                self.rotate_grace_secs,
                0..=3600,
                30,
            )?),
            max_batch_bytes: ranged("run.max_batch_mib", self.max_batch_mib, 4..=1024, 64)?
                as usize
                * 1024
                * 1024,
            exports,
            dict_update: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(toml: &str) -> anyhow::Result<RunSettings> {
        crate::config::Config::from_toml(toml)?
            .run
            .unwrap_or_default()
            .resolve()
    }

    #[test]
    fn defaults_and_the_example_file() {
        let s = resolve("").unwrap();
        assert_eq!(s.store_every, Duration::from_secs(30));
        assert_eq!(s.detect_every, Duration::from_secs(600));
        assert!(s.follow.is_empty() && s.exports.is_empty());
        let example =
            crate::config::Config::from_toml(include_str!("../../../../shrike.example.toml"))
                .unwrap()
                .run
                .unwrap()
                .resolve()
                .unwrap();
        assert!(!example.follow.is_empty());
        assert!(!example.exports.is_empty());
    }

    #[test]
    fn errors_name_the_key_and_the_allowed_values() {
        for (toml, key, allowed) in [
            (
                "[run]\nstore_every_secs = 0\n",
                "run.store_every_secs",
                "1 to 3600",
            ),
            (
                "[run]\ndetect_every = \"10\"\n",
                "run.detect_every",
                "s, m or h",
            ),
            (
                "[[run.follow]]\npath = \"/var/log/*/access.log\"\n",
                "run.follow[0].path",
                "file name only",
            ),
            (
                "[[run.follow]]\npath = \"-\"\n",
                "run.follow[0].path",
                "shrike ingest -",
            ),
            (
                "[[run.follow]]\npath = \"a.pcap\"\nformat = \"pcap\"\n",
                "run.follow[0].format",
                "shrike ingest",
            ),
            (
                "[[run.export]]\nformat = \"iptables\"\npath = \"x\"\n",
                "run.export[0].format",
                "nginx-map",
            ),
            (
                "[[run.export]]\nformat = \"ipset\"\npath = \"x\"\nset_name = \"a b\"\n",
                "run.export[0].set_name",
                "A-Z",
            ),
            (
                "[[run.export]]\nformat = \"nginx\"\npath = \"x\"\nmin_level = \"NORMAL\"\n",
                "run.export[0].min_level",
                "LOW, MEDIUM",
            ),
        ] {
            let e = resolve(toml).unwrap_err().to_string();
            assert!(e.contains(key) && e.contains(allowed), "{toml}: {e}");
        }
    }
}
