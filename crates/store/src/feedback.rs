//! Analyst feedback: labels on sessions or addresses, which override the models' labels
//! when the supervised scorer trains.

use rusqlite::params;
use shrike_types::{ThreatLevel, Timestamp, UnknownLevel};

use crate::rows::{Feedback, FeedbackLabel, FeedbackSession};
use crate::sqlite::{SqliteStore, StoreError};

impl SqliteStore {
    /// Stores a label; returns its id.
    pub fn add_feedback(&mut self, f: &Feedback) -> Result<i64, StoreError> {
        let (window, ja4, host) = match &f.session {
            Some(k) => (
                Some(k.window_start.millis()),
                Some(k.ja4.as_str()),
                Some(k.host.as_str()),
            ),
            None => (None, None, None),
        };
        self.conn
            .execute(
                "INSERT INTO feedback (created_at_ms, analyst, label, note, src_ip,
                    window_start_ms, ja4, host)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    f.created_at.millis(),
                    f.analyst,
                    f.label.as_str(),
                    f.note,
                    f.src_ip,
                    window,
                    ja4,
                    host
                ],
            )
            .map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Removes a label; false when there was none with this id.
    pub fn remove_feedback(&mut self, id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM feedback WHERE id = ?1", [id])
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Labels, newest first: all, or those of one address.
    pub fn feedback(
        &self,
        src_ip: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT id, created_at_ms, analyst, label, note, src_ip, window_start_ms, ja4, host
                 FROM feedback WHERE (?1 IS NULL OR src_ip = ?1)
                 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map(params![src_ip, limit as i64, offset as i64], |r| {
                let label: String = r.get(3)?;
                let window: Option<i64> = r.get(6)?;
                let ja4: Option<String> = r.get(7)?;
                let host: Option<String> = r.get(8)?;
                Ok((
                    Feedback {
                        id: r.get(0)?,
                        created_at: Timestamp::from_millis(r.get(1)?),
                        analyst: r.get(2)?,
                        label: FeedbackLabel::Bot,
                        note: r.get(4)?,
                        src_ip: r.get(5)?,
                        session: match (window, ja4, host) {
                            (Some(w), Some(ja4), Some(host)) => Some(FeedbackSession {
                                window_start: Timestamp::from_millis(w),
                                ja4,
                                host,
                            }),
                            _ => None,
                        },
                    },
                    label,
                ))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (mut f, label) = row.map_err(self.err())?;
            f.label = FeedbackLabel::parse(&label).ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                what: format!("feedback.label {label:?} of #{}", f.id),
            })?;
            out.push(f);
        }
        Ok(out)
    }
}

/// A session with a label for the supervised scorer: the level its latest score gave it
/// and the analyst's label that applies to it, if any.
#[derive(Debug, Clone)]
pub struct LabelRow {
    /// The session.
    pub session: crate::rows::SessionRow,
    /// Threat level of its latest score (None when never scored).
    pub level: Option<ThreatLevel>,
    /// The newest analyst label on this session, or else on its address.
    pub feedback: Option<FeedbackLabel>,
}

impl SqliteStore {
    /// Sessions whose window starts in `[from, to]` that carry a label: a level in
    /// `levels` at their latest score, or an analyst's label (on the session, or on its
    /// address). Ordered by session key.
    pub fn labelled_sessions(
        &self,
        from: Timestamp,
        to: Timestamp,
        levels: &[ThreatLevel],
    ) -> Result<Vec<LabelRow>, StoreError> {
        use std::collections::HashMap;
        type Key = LabelKey;
        // The latest score per session: SQLite takes the bare columns from the MAX row.
        let mut q = self
            .conn
            .prepare(
                "SELECT window_start_ms, src_ip, ja4, host, threat_level, MAX(cycle_id)
                 FROM all_scores WHERE window_start_ms >= ?1 AND window_start_ms <= ?2
                 GROUP BY window_start_ms, src_ip, ja4, host",
            )
            .map_err(self.err())?;
        let mut latest: HashMap<Key, String> = HashMap::new();
        let rows = q
            .query_map(params![from.millis(), to.millis()], |r| {
                Ok(((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?), r.get(4)?))
            })
            .map_err(self.err())?;
        for row in rows {
            let (k, level) = row.map_err(self.err())?;
            latest.insert(k, level);
        }
        // Analyst labels, oldest first so that the newest wins.
        let mut q = self
            .conn
            .prepare("SELECT src_ip, window_start_ms, ja4, host, label FROM feedback ORDER BY id")
            .map_err(self.err())?;
        let mut by_session: HashMap<Key, FeedbackLabel> = HashMap::new();
        let mut by_ip: HashMap<String, FeedbackLabel> = HashMap::new();
        let rows = q
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<i64>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                ))
            })
            .map_err(self.err())?;
        for row in rows {
            let (ip, w, ja4, host, label) = row.map_err(self.err())?;
            let Some(label) = FeedbackLabel::parse(&label) else {
                continue;
            };
            match (w, ja4, host) {
                (Some(w), Some(ja4), Some(host)) => {
                    by_session.insert((w, ip, ja4, host), label);
                }
                _ => {
                    by_ip.insert(ip, label);
                }
            }
        }
        join_labels(
            self.sessions_between(from, to)?,
            latest,
            &by_session,
            &by_ip,
            levels,
        )
        .map_err(|e| StoreError::Corrupt {
            path: self.path().to_path_buf(),
            what: format!("all_scores.threat_level: {e}"),
        })
    }
}

/// A session's key as the label join sees it: window start (ms), address, JA4, host.
pub type LabelKey = (i64, String, String, String);

/// The labelled rows among `sessions`: each with its latest level (from `latest`) and the
/// analyst's label on the session or else on its address; kept when it has such a label
/// or its level is one of `levels`. Shared by every store so that they label alike.
pub fn join_labels(
    sessions: Vec<crate::rows::SessionRow>,
    mut latest: std::collections::HashMap<LabelKey, String>,
    by_session: &std::collections::HashMap<LabelKey, FeedbackLabel>,
    by_ip: &std::collections::HashMap<String, FeedbackLabel>,
    levels: &[ThreatLevel],
) -> Result<Vec<LabelRow>, UnknownLevel> {
    let mut out = Vec::new();
    for s in sessions {
        let key: LabelKey = (
            s.key.window_start.millis(),
            s.key.src_ip.to_string(),
            s.key.ja4_str().to_string(),
            s.key.host.clone(),
        );
        let feedback = by_session.get(&key).or_else(|| by_ip.get(&key.1)).copied();
        let level = latest
            .remove(&key)
            .map(|l| l.parse::<ThreatLevel>())
            .transpose()?;
        let labelled = feedback.is_some() || level.is_some_and(|l| levels.contains(&l));
        if labelled {
            out.push(LabelRow {
                session: s,
                level,
                feedback,
            });
        }
    }
    Ok(out)
}
