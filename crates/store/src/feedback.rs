//! Analyst feedback: labels on sessions or addresses, which override the models' labels
//! when the supervised scorer trains.

use rusqlite::params;
use shrike_types::Timestamp;

use crate::rows::{Feedback, FeedbackLabel, SessionKey};
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
                            (Some(w), Some(ja4), Some(host)) => Some(SessionKey {
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
