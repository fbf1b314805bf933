//! Reads of the detection outputs: the latest cycle's scores and the campaigns.

use rusqlite::{params, OptionalExtension};
use shrike_types::{SessionKey, Timestamp};

use crate::rows::{CampaignRow, ScoreRow};
use crate::sqlite::{SqliteStore, StoreError};

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
    let model: String = r.get(4)?;
    Ok(ScoreRow {
        key: session_key(r, 0)?,
        model: if model.is_empty() {
            None
        } else {
            Some(model.parse().map_err(|e| bad_text(4, e))?)
        },
        threat_level: r.get::<_, String>(5)?.parse().map_err(|e| bad_text(5, e))?,
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

impl SqliteStore {
    /// The member addresses of the campaigns updated since `since`, by campaign, and the
    /// first free campaign id.
    #[allow(clippy::type_complexity)]
    pub fn campaign_memory(
        &self,
        since: Timestamp,
    ) -> Result<(Vec<(i64, Vec<String>)>, i64), StoreError> {
        let next: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(campaign_id), 0) + 1 FROM campaigns",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        let mut q = self
            .conn
            .prepare(
                "SELECT m.campaign_id, m.src_ip FROM campaign_members m
                 JOIN campaigns c ON c.campaign_id = m.campaign_id
                 WHERE c.updated_at_ms >= ?1 AND m.last_seen_ms >= ?1
                 ORDER BY m.campaign_id, m.src_ip",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([since.millis()], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(self.err())?;
        let mut out: Vec<(i64, Vec<String>)> = Vec::new();
        for row in rows {
            let (id, ip) = row.map_err(self.err())?;
            match out.last_mut() {
                Some((last, ips)) if *last == id => ips.push(ip),
                _ => out.push((id, vec![ip])),
            }
        }
        Ok((out, next))
    }

    /// The latest cycle: its id and clock.
    pub fn latest_cycle(&self) -> Result<Option<(i64, Timestamp)>, StoreError> {
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
    pub fn cycle_scores(&self, cycle: i64) -> Result<Vec<ScoreRow>, StoreError> {
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
    pub fn campaigns(&self, id: Option<i64>, limit: usize) -> Result<Vec<CampaignRow>, StoreError> {
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
                    model: r.get(7)?,
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

    /// Campaigns that cycle `cycle` saw (it is their latest).
    pub fn campaign_count(&self, cycle: i64) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM campaigns WHERE last_cycle = ?1",
                [cycle],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// Member addresses of a campaign, most recently seen first.
    pub fn campaign_members(&self, id: i64) -> Result<Vec<(String, Timestamp)>, StoreError> {
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
}
