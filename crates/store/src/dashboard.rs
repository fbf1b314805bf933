//! Reads behind the dashboard and the API: cycle history, a cycle's scores joined with their
//! sessions (filtered and paginated), top values, the decisions log, models and fleets.
//! Every value from a request reaches SQLite as a bound parameter, never as SQL text.

use rusqlite::{params, OptionalExtension, Row};
use shrike_types::{DecisionKind, ThreatLevel, Timestamp};

use crate::outputs::{feature_set, parsed, score_row, SCORE_COLUMN_COUNT};
use crate::rows::{
    CycleSummary, DecisionRow, FleetRow, ModelRow, ThreatFilter, ThreatRow, TopBy, TopValue,
};
use crate::sqlite::{SqliteStore, StoreError};
use crate::traits::DashboardStore;

/// The columns of a score joined with its session; see [`threat_row`].
const THREAT_COLUMNS: &str = "a.window_start_ms, a.src_ip, a.ja4, a.host, a.model, a.threat_level,
    a.raw_score, a.anomaly_score, a.is_anomaly, a.recurrence, a.browser_confidence,
    a.browser_family, a.reason, a.top_features, a.fleet_id, a.fleet_score, a.fleet_flag,
    a.campaign_id, a.forest_score, a.flow_score, a.trees_prob, COALESCE(s.user_agent, ''), COALESCE(s.asn, 0), COALESCE(s.asn_org, ''),
    COALESCE(s.country, ''), COALESCE(s.hits, 0), COALESCE(s.first_seen_ms, a.window_start_ms),
    COALESCE(s.last_seen_ms, a.window_start_ms), COALESCE(s.bot_name, ''),
    COALESCE(s.correlated, 0), COALESCE(s.tcp_fingerprint, ''), s.features";

const THREAT_JOIN: &str = "FROM all_scores a LEFT JOIN sessions s
    ON s.window_start_ms = a.window_start_ms AND s.src_ip = a.src_ip AND s.ja4 = a.ja4
       AND s.host = a.host";

/// The filter of [`SqliteStore::threats`] as SQL over bound parameters `?1..?9`.
const THREAT_WHERE: &str = "WHERE a.cycle_id = ?1
    AND (?2 IS NULL OR a.threat_level IN (SELECT value FROM json_each(?2)))
    AND a.anomaly_score >= ?3
    AND (?4 IS NULL OR substr(a.src_ip, 1, length(?4)) = ?4)
    AND (?5 IS NULL OR a.ja4 = ?5)
    AND (?6 IS NULL OR a.host = ?6)
    AND (?7 IS NULL OR a.campaign_id = ?7)
    AND (?8 IS NULL OR a.fleet_id = ?8)
    AND (?9 = 0 OR a.is_anomaly = 1)";

/// The levels of a filter as the JSON array `THREAT_WHERE` reads (`None`: all).
fn levels_json(f: &ThreatFilter) -> Option<String> {
    (!f.levels.is_empty()).then(|| {
        let quoted: Vec<String> = f
            .levels
            .iter()
            .map(|l| format!("\"{}\"", l.replace(['"', '\\'], "")))
            .collect();
        format!("[{}]", quoted.join(","))
    })
}

/// `THREAT_WHERE`'s parameters `?1..?9`.
fn threat_filter<'a>(
    cycle: &'a i64,
    levels: &'a Option<String>,
    f: &'a ThreatFilter,
) -> [&'a dyn rusqlite::ToSql; 9] {
    [
        cycle,
        levels,
        &f.min_score,
        &f.ip_prefix,
        &f.ja4,
        &f.host,
        &f.campaign,
        &f.fleet,
        &f.anomalies_only,
    ]
}

fn threat_row(r: &Row<'_>) -> rusqlite::Result<ThreatRow> {
    let c = SCORE_COLUMN_COUNT;
    Ok(ThreatRow {
        score: score_row(r)?,
        user_agent: r.get(c)?,
        asn: r.get::<_, i64>(c + 1)? as u32,
        asn_org: r.get(c + 2)?,
        country: r.get(c + 3)?,
        hits: r.get::<_, i64>(c + 4)? as u64,
        first_seen: Timestamp::from_millis(r.get(c + 5)?),
        last_seen: Timestamp::from_millis(r.get(c + 6)?),
        bot_name: r.get(c + 7)?,
        correlated: r.get::<_, i64>(c + 8)? != 0,
        tcp_fingerprint: r.get(c + 9)?,
        features: r
            .get::<_, Option<Vec<u8>>>(c + 10)?
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    })
}

impl DashboardStore for SqliteStore {
    /// The schema version of the file.
    fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())
    }

    /// A number that changes whenever a cycle or a feedback label is written or removed:
    /// caches built from the store are valid while it stays the same.
    fn generation(&self) -> Result<(i64, i64, i64), StoreError> {
        self.conn
            .query_row(
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM cycles),
                        (SELECT COALESCE(MAX(id), 0) FROM feedback),
                        (SELECT COUNT(*) FROM feedback)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(self.err())
    }

    /// The `limit` latest cycles, oldest first.
    fn cycle_summaries(&self, limit: usize) -> Result<Vec<CycleSummary>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT id, started_at_ms, horizon_start_ms, horizon_end_ms, sessions, scored,
                        anomalies, anomaly_rate, metrics
                 FROM (SELECT * FROM cycles ORDER BY id DESC LIMIT ?1) ORDER BY id",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([limit as i64], |r| {
                Ok(CycleSummary {
                    id: r.get(0)?,
                    started_at: Timestamp::from_millis(r.get(1)?),
                    horizon_start: Timestamp::from_millis(r.get(2)?),
                    horizon_end: Timestamp::from_millis(r.get(3)?),
                    sessions: r.get::<_, i64>(4)? as u64,
                    scored: r.get::<_, i64>(5)? as u64,
                    anomalies: r.get::<_, i64>(6)? as u64,
                    anomaly_rate: r.get(7)?,
                    metrics: r.get(8)?,
                })
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// Sessions per (hour, level) of a cycle, by hour.
    fn level_timeline(&self, cycle: i64) -> Result<Vec<(Timestamp, ThreatLevel, u64)>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT window_start_ms, threat_level, COUNT(*) FROM all_scores
                 WHERE cycle_id = ?1 GROUP BY window_start_ms, threat_level
                 ORDER BY window_start_ms, threat_level",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([cycle], |r| {
                Ok((
                    Timestamp::from_millis(r.get(0)?),
                    parsed(r, 1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// The values of one dimension with the most anomalous sessions in a cycle (then the
    /// most sessions).
    fn top_values(&self, cycle: i64, by: TopBy, limit: usize) -> Result<Vec<TopValue>, StoreError> {
        // The grouping expressions are constants chosen by an enum, never request text.
        let (key, label) = match by {
            TopBy::Asn => (
                "CAST(COALESCE(s.asn, 0) AS TEXT)",
                "MAX(COALESCE(s.asn_org, ''))",
            ),
            TopBy::Country => ("COALESCE(s.country, '')", "''"),
            TopBy::Ja4 => ("a.ja4", "''"),
            TopBy::Host => ("a.host", "''"),
        };
        let sql = format!(
            "SELECT {key} AS k, {label}, COUNT(*), SUM(a.is_anomaly), SUM(COALESCE(s.hits, 0))
             {THREAT_JOIN} WHERE a.cycle_id = ?1 GROUP BY k
             ORDER BY SUM(a.is_anomaly) DESC, COUNT(*) DESC, k LIMIT ?2"
        );
        let mut q = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = q
            .query_map(params![cycle, limit as i64], |r| {
                Ok(TopValue {
                    key: r.get(0)?,
                    label: r.get(1)?,
                    sessions: r.get::<_, i64>(2)? as u64,
                    anomalies: r.get::<_, i64>(3)? as u64,
                    hits: r.get::<_, i64>(4)? as u64,
                })
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    fn threat_total(&self, cycle: i64, f: &ThreatFilter) -> Result<u64, StoreError> {
        let levels = levels_json(f);
        let filter = threat_filter(&cycle, &levels, f);
        let total: i64 = self
            .conn
            .query_row(
                &format!("SELECT COUNT(*) FROM all_scores a {THREAT_WHERE}"),
                &filter[..],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(total as u64)
    }

    fn threat_page(&self, cycle: i64, f: &ThreatFilter) -> Result<Vec<ThreatRow>, StoreError> {
        let levels = levels_json(f);
        let (limit, offset) = (f.limit as i64, f.offset as i64);
        let after = f.after.as_ref();
        let (score, ip, window, ja4, host) = (
            after.map(|c| c.anomaly_score),
            after.map(|c| c.src_ip.as_str()),
            after.map(|c| c.window_start_ms),
            after.map(|c| c.ja4.as_str()),
            after.map(|c| c.host.as_str()),
        );
        // Walks `all_scores_by_rank` from the cursor (or the top), joining only the rows
        // it keeps.
        // The cursor's bound only when there is one: behind `?12 IS NULL OR` it would not
        // bound the index range.
        let cursor = if after.is_some() {
            "AND a.anomaly_score <= ?12 AND (a.anomaly_score < ?12
                OR (a.src_ip, a.window_start_ms, a.ja4, a.host) > (?13, ?14, ?15, ?16))"
        } else {
            "AND ?12 IS NULL AND ?13 IS NULL AND ?14 IS NULL AND ?15 IS NULL AND ?16 IS NULL"
        };
        // The page's keys first, from `all_scores_by_rank` alone (it holds every filtered
        // column); only then are the page's rows read and joined.
        let sql = format!(
            "SELECT {THREAT_COLUMNS}
             FROM (SELECT a.window_start_ms AS w, a.src_ip AS ip, a.ja4 AS j, a.host AS h,
                          a.anomaly_score AS score
                   FROM all_scores a {THREAT_WHERE} {cursor}
                   ORDER BY a.anomaly_score DESC, a.src_ip, a.window_start_ms, a.ja4, a.host
                   LIMIT ?10 OFFSET ?11) p
             JOIN all_scores a ON a.cycle_id = ?1 AND a.window_start_ms = p.w
                  AND a.src_ip = p.ip AND a.ja4 = p.j AND a.host = p.h
             LEFT JOIN sessions s ON s.window_start_ms = a.window_start_ms
                  AND s.src_ip = a.src_ip AND s.ja4 = a.ja4 AND s.host = a.host
             ORDER BY p.score DESC, p.ip, p.w, p.j, p.h"
        );
        let mut q = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let params: Vec<&dyn rusqlite::ToSql> = threat_filter(&cycle, &levels, f)
            .into_iter()
            .chain([
                &limit as _,
                &offset as _,
                &score as _,
                &ip as _,
                &window as _,
                &ja4 as _,
                &host as _,
            ])
            .collect();
        let rows = q.query_map(&params[..], threat_row).map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// One scored session of a cycle.
    fn threat(
        &self,
        cycle: i64,
        window_start: Timestamp,
        src_ip: &str,
        ja4: &str,
        host: &str,
    ) -> Result<Option<ThreatRow>, StoreError> {
        let sql = format!(
            "SELECT {THREAT_COLUMNS} {THREAT_JOIN}
             WHERE a.cycle_id = ?1 AND a.window_start_ms = ?2 AND a.src_ip = ?3 AND a.ja4 = ?4
               AND a.host = ?5"
        );
        self.conn
            .query_row(
                &sql,
                params![cycle, window_start.millis(), src_ip, ja4, host],
                threat_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// The scores of a cycle whose window starts at or after `since`, joined with their
    /// sessions' enrichment and features, in key order.
    fn cycle_threats(&self, cycle: i64, since: Timestamp) -> Result<Vec<ThreatRow>, StoreError> {
        let sql = format!(
            "SELECT {THREAT_COLUMNS} {THREAT_JOIN} WHERE a.cycle_id = ?1 AND a.window_start_ms >= ?2
             ORDER BY a.window_start_ms, a.src_ip, a.ja4, a.host"
        );
        let mut q = self.conn.prepare(&sql).map_err(self.err())?;
        let rows = q
            .query_map(params![cycle, since.millis()], threat_row)
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// The decisions log, newest first: one page, optionally of one kind, and the count.
    fn decisions(
        &self,
        kind: Option<DecisionKind>,
        offset: usize,
        limit: usize,
    ) -> Result<(u64, Vec<DecisionRow>), StoreError> {
        let kind = kind.map(DecisionKind::as_str);
        let total: i64 = self
            .conn
            .query_row(
                "SELECT COUNT(*) FROM decisions WHERE (?1 IS NULL OR kind = ?1)",
                [kind],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        let mut q = self
            .conn
            .prepare(
                "SELECT id, cycle_id, at_ms, kind, model, payload FROM decisions
                 WHERE (?1 IS NULL OR kind = ?1) ORDER BY id DESC LIMIT ?2 OFFSET ?3",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map(params![kind, limit as i64, offset as i64], |r| {
                Ok(DecisionRow {
                    id: r.get(0)?,
                    cycle_id: r.get(1)?,
                    at: Timestamp::from_millis(r.get(2)?),
                    kind: parsed(r, 3)?,
                    model: feature_set(r, 4)?,
                    payload: r.get(5)?,
                })
            })
            .map_err(self.err())?;
        let page = rows
            .map(|r| r.map_err(self.err()))
            .collect::<Result<_, _>>()?;
        Ok((total as u64, page))
    }

    /// Every registered model version, newest first.
    fn models(&self) -> Result<Vec<ModelRow>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT model, version, cycle_id, trained_at_ms, meta FROM models
                 ORDER BY trained_at_ms DESC, model, version",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([], |r| {
                Ok(ModelRow {
                    model: parsed(r, 0)?,
                    version: r.get(1)?,
                    cycle_id: r.get(2)?,
                    trained_at: Timestamp::from_millis(r.get(3)?),
                    meta: r.get(4)?,
                })
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// The fleets of a cycle, flagged and largest first.
    fn fleets(&self, cycle: i64) -> Result<Vec<FleetRow>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT fleet_id, sessions, ips, prefixes, asns, ja4s, mean_browser_confidence,
                        score, flagged
                 FROM fleet_detections WHERE cycle_id = ?1
                 ORDER BY flagged DESC, sessions DESC, fleet_id",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([cycle], |r| {
                Ok(FleetRow {
                    fleet_id: r.get(0)?,
                    sessions: r.get::<_, i64>(1)? as usize,
                    ips: r.get::<_, i64>(2)? as usize,
                    prefixes: r.get::<_, i64>(3)? as usize,
                    asns: r.get(4)?,
                    ja4s: r.get(5)?,
                    mean_browser_confidence: r.get(6)?,
                    score: r.get(7)?,
                    flagged: r.get(8)?,
                })
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// Campaigns that cycle `cycle` saw (it is their latest).
    fn campaign_count(&self, cycle: i64) -> Result<u64, StoreError> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM campaigns WHERE last_cycle = ?1",
                [cycle],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(self.err())
    }
}
