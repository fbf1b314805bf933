//! What acting on verdicts reads and writes in the embedded store ([`VerdictStore`]): the
//! latest cycle's scores, the campaigns and the analysts' labels.

use rusqlite::{params, OptionalExtension};
use shrike_dict::AsnLabel;
use shrike_types::{FeatureSetName, SessionKey, Timestamp};

use crate::rows::{CampaignRow, Feedback, FeedbackLabel, FeedbackSession, ScoreRow};
use crate::sqlite::{SqliteStore, StoreError};
use crate::traits::VerdictStore;

/// The columns [`score_row`] reads, in order.
pub(crate) const SCORE_COLUMNS: &str = "window_start_ms, src_ip, ja4, host, model, threat_level,
    raw_score, anomaly_score, is_anomaly, recurrence, browser_confidence, browser_family,
    reason, top_features, fleet_id, fleet_score, fleet_flag, campaign_id, forest_score,
    flow_score, trees_prob";

/// Number of [`SCORE_COLUMNS`].
pub(crate) const SCORE_COLUMN_COUNT: usize = 21;

/// A [`ScoreRow`] from the first [`SCORE_COLUMN_COUNT`] columns of a query, in
/// [`SCORE_COLUMNS`] order.
pub(crate) fn score_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ScoreRow> {
    Ok(ScoreRow {
        key: session_key(r, 0)?,
        model: feature_set(r, 4)?,
        threat_level: parsed(r, 5)?,
        raw_score: r.get(6)?,
        anomaly_score: r.get(7)?,
        is_anomaly: r.get(8)?,
        recurrence: r.get(9)?,
        browser_confidence: r.get(10)?,
        browser_family: r.get(11)?,
        reason: r.get(12)?,
        top_features: r.get(13)?,
        fleet_id: r.get(14)?,
        fleet_score: r.get(15)?,
        fleet_flag: r.get(16)?,
        campaign_id: r.get(17)?,
        forest_score: r.get(18)?,
        flow_score: r.get(19)?,
        trees_prob: r.get(20)?,
    })
}

/// A text column that does not parse as its type: the store is corrupt.
pub(crate) fn bad_text(
    column: usize,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(e))
}

/// A stored name that is none of its type's.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is no {1}")]
pub(crate) struct UnknownName(String, &'static str);

/// A text column holding one of `T`'s names.
pub(crate) fn parsed<T>(r: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    r.get::<_, String>(column)?
        .parse()
        .map_err(|e| bad_text(column, e))
}

/// A feature-set column, "" for none.
pub(crate) fn feature_set(
    r: &rusqlite::Row<'_>,
    column: usize,
) -> rusqlite::Result<Option<FeatureSetName>> {
    let text: String = r.get(column)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(|e| bad_text(column, e))
}

/// An ASN label column.
pub(crate) fn asn_label(r: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<AsnLabel> {
    let text: String = r.get(column)?;
    AsnLabel::parse(&text).ok_or_else(|| bad_text(column, UnknownName(text, "ASN label")))
}

/// A [`SessionKey`] from four columns from `first` on: `window_start_ms, src_ip, ja4, host`.
pub(crate) fn session_key(r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<SessionKey> {
    let ip: String = r.get(first + 1)?;
    Ok(SessionKey {
        window_start: Timestamp::from_millis(r.get(first)?),
        src_ip: ip.parse().map_err(|e| bad_text(first + 1, e))?,
        ja4: SessionKey::ja4_from_stored(r.get(first + 2)?).map_err(|e| bad_text(first + 2, e))?,
        host: r.get(first + 3)?,
    })
}

impl VerdictStore for SqliteStore {
    fn describe(&self) -> String {
        self.path().display().to_string()
    }

    /// The latest cycle: its id and clock.
    fn latest_cycle(&self) -> Result<Option<(i64, Timestamp)>, StoreError> {
        self.conn
            .query_row(
                "SELECT id, started_at_ms FROM cycles ORDER BY id DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)?, Timestamp::from_millis(r.get(1)?))),
            )
            .optional()
            .map_err(self.err())
    }

    /// Every score of a cycle.
    fn cycle_scores(&self, cycle: i64) -> Result<Vec<ScoreRow>, StoreError> {
        let mut q = self
            .conn
            .prepare(&format!(
                "SELECT {SCORE_COLUMNS} FROM all_scores WHERE cycle_id = ?1
                 ORDER BY window_start_ms, src_ip, ja4, host"
            ))
            .map_err(self.err())?;
        let rows = q.query_map([cycle], score_row).map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// Campaigns, most recently updated first: one (`id`), or the `limit` latest.
    fn campaigns(&self, id: Option<i64>, limit: usize) -> Result<Vec<CampaignRow>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT campaign_id, first_cycle, last_cycle, cycles, first_seen_ms, last_seen_ms,
                        updated_at_ms, model, algorithm, sessions, ips, escalated, ja4s, asns,
                        countries, hosts, features, levels
                 FROM campaigns WHERE (?1 IS NULL OR campaign_id = ?1)
                 ORDER BY updated_at_ms DESC, sessions DESC, campaign_id LIMIT ?2",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map(params![id, limit as i64], |r| {
                Ok(CampaignRow {
                    campaign_id: r.get(0)?,
                    first_cycle: r.get(1)?,
                    last_cycle: r.get(2)?,
                    cycles: r.get(3)?,
                    first_seen: Timestamp::from_millis(r.get(4)?),
                    last_seen: Timestamp::from_millis(r.get(5)?),
                    updated_at: Timestamp::from_millis(r.get(6)?),
                    model: parsed(r, 7)?,
                    algorithm: r.get(8)?,
                    sessions: r.get::<_, i64>(9)? as usize,
                    ips: r.get::<_, i64>(10)? as usize,
                    escalated: r.get::<_, i64>(11)? as usize,
                    ja4s: r.get(12)?,
                    asns: r.get(13)?,
                    countries: r.get(14)?,
                    hosts: r.get(15)?,
                    features: r.get(16)?,
                    levels: r.get(17)?,
                    members: Vec::new(),
                })
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// Member addresses of a campaign, most recently seen first.
    fn campaign_members(&self, id: i64) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT src_ip, last_seen_ms FROM campaign_members WHERE campaign_id = ?1
                 ORDER BY last_seen_ms DESC, src_ip",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([id], |r| {
                Ok((r.get::<_, String>(0)?, Timestamp::from_millis(r.get(1)?)))
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// Stores a label; returns its id.
    fn add_feedback(&mut self, f: &Feedback) -> Result<i64, StoreError> {
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
    fn remove_feedback(&mut self, id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .execute("DELETE FROM feedback WHERE id = ?1", [id])
            .map_err(self.err())?;
        Ok(n > 0)
    }

    /// Labels, newest first: all, or those of one address.
    fn feedback(
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
