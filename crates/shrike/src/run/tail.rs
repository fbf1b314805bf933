//! The files `shrike run` follows: patterns expanded into names, one [`Follower`] each, and
//! a store round that reads what they gained and stores it with their positions.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use shrike_dict::Dictionaries;
use shrike_features::Sessionizer;
use shrike_ingest::{
    detect_format, DeadLetterWriter, FollowEvent, Follower, Format, IngestOptions, Piece,
};
use shrike_server::service::FollowedFile;
use shrike_store::{IngestedSource, SqliteStore};
use shrike_types::{Clock, FilePosition, SystemClock, HOUR_MS};

use super::settings::FollowSpec;
use crate::config::Settings;
use crate::ingest::SessionSink;

/// One followed name.
struct Followed {
    follower: Follower,
    /// Configured, or detected from its first line.
    format: Option<Format>,
    status: FollowedFile,
}

/// What one store round did.
#[derive(Debug, Default)]
pub struct Round {
    /// Bytes stored.
    pub bytes: u64,
    /// Records stored.
    pub records: u64,
    /// Lines refused.
    pub rejected: u64,
    /// Whether a read stopped at the byte budget (more is waiting: store again at once).
    pub full: bool,
}

/// The followed names.
pub struct FollowSet {
    specs: Vec<FollowSpec>,
    files: Vec<Followed>,
    grace: std::time::Duration,
}

/// Whether `name` matches `pattern` (`*`: any run of characters, `?`: one character).
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            wildcard(&pattern[1..], name) || (!name.is_empty() && wildcard(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => wildcard(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// The files a spec names now: itself, or the matches of its pattern (sorted), leaving out
/// the rotated copies of another match (`access.log.1` beside `access.log`), which the
/// follower of that name reads.
fn expand(spec: &FollowSpec) -> Vec<PathBuf> {
    let path = Path::new(&spec.path);
    let Some(pattern) = path.file_name().and_then(|n| n.to_str()) else {
        return vec![path.to_path_buf()];
    };
    if !pattern.contains(['*', '?']) {
        return vec![path.to_path_buf()];
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| wildcard(pattern.as_bytes(), n.as_bytes()))
        .collect();
    names.sort();
    let rotated = |n: &String| {
        names.iter().any(|other| {
            other != n
                && n.strip_prefix(other.as_str())
                    .is_some_and(|rest| rest.starts_with(['.', '-']))
        })
    };
    names
        .iter()
        .filter(|n| !rotated(n))
        .map(|n| dir.join(n))
        .collect()
}

fn log_event(e: &FollowEvent) {
    match e {
        FollowEvent::Rotated { name, rotated_to } => {
            tracing::info!(file = %name, rotated_to = ?rotated_to, "rotated: the old file is read to its end, the new one from its start")
        }
        FollowEvent::Truncated {
            name,
            copy: Some(copy),
        } => {
            tracing::info!(file = %name, copy = %copy.display(), "truncated in place: its unread lines are read from the copy")
        }
        FollowEvent::Truncated { name, copy: None } => {
            tracing::warn!(file = %name, "truncated in place and no copy beside it holds the lines not read yet")
        }
        FollowEvent::Lost { name, offset } => {
            tracing::warn!(file = %name, offset, "a file with lines not read yet is gone (compressed or deleted before shrike read them): they are lost")
        }
        FollowEvent::Retired { name, path } => {
            tracing::info!(file = %name, path = ?path, "rotated file read to its end")
        }
    }
}

impl FollowSet {
    /// Follows what `specs` name now, resuming from the positions `store` keeps.
    pub fn open(
        specs: Vec<FollowSpec>,
        store: &SqliteStore,
        grace: std::time::Duration,
        now: Instant,
    ) -> anyhow::Result<FollowSet> {
        let mut set = FollowSet {
            specs,
            files: Vec::new(),
            grace,
        };
        set.rescan(store, now)?;
        Ok(set)
    }

    /// Starts following the names a pattern gained since the last scan, from their stored
    /// positions (read from `store` only when there is a new name).
    pub fn rescan(&mut self, store: &SqliteStore, now: Instant) -> anyhow::Result<()> {
        let mut stored: Option<Vec<FilePosition>> = None;
        for spec in &self.specs {
            for path in expand(spec) {
                let name = path.display().to_string();
                if self.files.iter().any(|f| f.status.name == name) {
                    continue;
                }
                let stored = match &mut stored {
                    Some(s) => s,
                    None => stored.insert(store.follow_positions()?),
                };
                let mine: Vec<FilePosition> =
                    stored.iter().filter(|p| p.name == name).cloned().collect();
                let (follower, events) = Follower::resume(&path, &mine, self.grace, now)
                    .map_err(|e| anyhow::anyhow!("cannot follow {name}: {e}"))?;
                events.iter().for_each(log_event);
                tracing::info!(file = %name, from = mine.iter().map(|p| p.offset).max().unwrap_or(0), "following");
                self.files.push(Followed {
                    follower,
                    format: spec.format,
                    status: FollowedFile {
                        name,
                        format: spec.format.map(|f| f.as_str().to_string()),
                        ..FollowedFile::default()
                    },
                });
            }
        }
        Ok(())
    }

    /// The files' status (lag measured now).
    pub fn status(&self) -> Vec<FollowedFile> {
        self.files
            .iter()
            .map(|f| FollowedFile {
                lag_bytes: f.follower.lag_bytes(),
                offset: f.follower.offset(),
                ..f.status.clone()
            })
            .collect()
    }

    /// Reads what the files gained (at most `budget` bytes) and stores its sessions with
    /// the positions reached, in one transaction; the followers move on only once it is
    /// committed.
    pub fn store_round(
        &mut self,
        store: &mut SqliteStore,
        settings: &Settings,
        dict: &Arc<Dictionaries>,
        budget: usize,
        now: Instant,
    ) -> anyhow::Result<Round> {
        let mut round = Round::default();
        let mut left = budget;
        let mut polled: Vec<Vec<Piece>> = Vec::with_capacity(self.files.len());
        for f in &mut self.files {
            let (pieces, events) = match f.follower.poll(left, now) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(file = %f.status.name, error = %e, "cannot read a followed file");
                    f.status.error = Some(e.to_string());
                    (Vec::new(), Vec::new())
                }
            };
            events.iter().for_each(log_event);
            let mut pieces = pieces;
            let bytes: usize = pieces.iter().map(|p| p.bytes().len()).sum();
            if f.format.is_none() {
                let first = pieces.iter().map(Piece::bytes).find(|b| !b.is_empty());
                match first.map(detect_format) {
                    Some(Some(Format::Pcap | Format::Zeek)) | Some(None) => {
                        f.status.error = Some("cannot tell its format from its first line: set run.follow.format (jsonl, combined, nginx-json or cloudflare)".into());
                        pieces.clear();
                    }
                    Some(Some(format)) => {
                        tracing::info!(file = %f.status.name, format = format.as_str(), "format detected");
                        f.format = Some(format);
                        f.status.format = Some(format.as_str().to_string());
                    }
                    // Nothing read yet: nothing to tell it by.
                    None => {}
                }
            }
            left = left.saturating_sub(bytes);
            round.bytes += bytes as u64;
            polled.push(pieces);
        }
        round.full = polled.iter().flatten().any(|p| p.more);
        if polled.iter().all(Vec::is_empty) {
            return Ok(round);
        }
        let key = store.hash_key()?;
        // Each run of lines is an input batch of its own, numbered in reading order (a
        // rotated file before its successor), as one ingest of the files in turn numbers
        // its lines: ties between requests of one millisecond order the same way.
        let mut batch = store.next_batch()?;
        let mut sources = Vec::new();
        let opts = |first_line| IngestOptions {
            workers: settings.workers,
            first_line,
            ..IngestOptions::default()
        };
        let mut merged = Sessionizer::new(key, batch);
        let mut per_file = vec![(0u64, 0u64); self.files.len()];
        for (i, (f, pieces)) in self.files.iter().zip(&polled).enumerate() {
            let Some(source) = f.format.and_then(|format| format.source()) else {
                continue;
            };
            for p in pieces.iter().filter(|p| !p.bytes().is_empty()) {
                let label = p.input.label();
                let dead = DeadLetterWriter::to_file(&settings.dead_letter)
                    .for_run(format!("batch {batch}"), &label);
                let (report, dead) = shrike_ingest::run(
                    &p.input,
                    source.as_ref(),
                    &opts(p.first_line),
                    dead,
                    || SessionSink(Sessionizer::new(key, batch)),
                    &|_| {},
                )?;
                if dead.written() > 0 {
                    tracing::warn!(file = %settings.dead_letter.display(), lines = dead.written(), source = %p.input.label(), "rejected lines kept in the dead-letter file");
                }
                let (sinks, report) = report.split_sinks();
                for s in sinks {
                    merged.merge(s.0);
                }
                sources.push(IngestedSource {
                    fingerprint: format!(
                        "follow:{}:{}:{}:{}",
                        p.after.dev, p.after.ino, p.after.offset, p.after.lines
                    ),
                    label,
                    records: report.records,
                    rejected: report.rejects.total(),
                    span: None,
                });
                batch += 1;
                per_file[i].0 += report.records;
                per_file[i].1 += report.rejects.total();
            }
        }
        let names: Vec<String> = self.files.iter().map(|f| f.status.name.clone()).collect();
        let positions: Vec<FilePosition> = self
            .files
            .iter()
            .zip(&polled)
            .flat_map(|(f, pieces)| f.follower.positions_after(pieces))
            .collect();
        let lock = settings.writer_lock("shrike run")?;
        store.merge_follow(
            merged,
            settings.horizon_hours as i64 * HOUR_MS,
            crate::ingest::finisher(dict, settings),
            &sources,
            &names,
            &positions,
            SystemClock.now(),
            // The records of what was read are kept as long as sessions are.
            i64::from(settings.sessions_retention_hours) * HOUR_MS,
        )?;
        drop(lock);
        let stored_at = SystemClock.now().millis();
        for ((f, pieces), (records, rejected)) in self.files.iter_mut().zip(&polled).zip(per_file) {
            f.follower.advance(pieces).iter().for_each(log_event);
            if !pieces.is_empty() {
                f.status.records += records;
                f.status.rejected += rejected;
                f.status.last_stored_ms = Some(stored_at);
                f.status.error = None;
            }
            round.records += records;
            round.rejected += rejected;
        }
        Ok(round)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_file_names_and_leave_rotated_copies_to_their_file() {
        assert!(wildcard(b"*.json", b"access.json"));
        assert!(wildcard(b"a?c*", b"abc"));
        assert!(!wildcard(b"*.json", b"access.json.1"));
        let dir = tempfile::tempdir().unwrap();
        for n in ["a.log", "a.log.1", "a.log-20261206", "b.log", "c.txt"] {
            std::fs::write(dir.path().join(n), "").unwrap();
        }
        let spec = FollowSpec {
            path: dir.path().join("*.log*").display().to_string(),
            format: None,
        };
        let names: Vec<String> = expand(&spec)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.log", "b.log"]);
    }
}
