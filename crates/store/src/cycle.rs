//! What a detection cycle reads and writes in the embedded store: the horizon's sessions,
//! recurrences, campaign memory and labels, then the cycle's outputs in one transaction
//! and the retention.

use std::net::IpAddr;

use rusqlite::params;
use shrike_types::{ThreatLevel, Timestamp};

use crate::feedback::{join_labels, LabelKey, LabelRow};
use crate::rows::{CycleRecord, FeedbackLabel, Pruned, Retention, SessionRow};
use crate::sqlite::{key_order, sort_key, SqliteStore, StoreError};
use crate::traits::CycleStore;

impl CycleStore for SqliteStore {
    fn describe(&self) -> String {
        self.path().display().to_string()
    }

    /// Newest session window in the store.
    fn newest_window(&self) -> Result<Option<Timestamp>, StoreError> {
        self.conn
            .query_row("SELECT MAX(window_start_ms) FROM sessions", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .map(|v| v.map(Timestamp::from_millis))
            .map_err(self.err())
    }

    /// Sessions whose window starts in `[from, to]` (ordered by key).
    fn sessions_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT window_start_ms, src_ip, ja4, host, hits, asn_label, bot_name, browser_family, features,
                        first_seen_ms, asn, user_agent, correlated, country, last_seen_ms,
                        asn_org, tcp_fingerprint, h2_fingerprint
                 FROM sessions WHERE window_start_ms >= ?1 AND window_start_ms <= ?2
                 ORDER BY window_start_ms, src_ip, ja4, host",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map(params![from.millis(), to.millis()], |r| {
                let blob: Vec<u8> = r.get(8)?;
                if !blob.len().is_multiple_of(4) {
                    return Err(crate::outputs::bad_text(8, FeatureBlob(blob.len())));
                }
                Ok(SessionRow {
                    key: crate::outputs::session_key(r, 0)?,
                    hits: r.get::<_, i64>(4)? as u64,
                    asn_label: crate::outputs::asn_label(r, 5)?,
                    bot_name: r.get(6)?,
                    browser_family: r.get(7)?,
                    features: blob
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                    first_seen: Timestamp::from_millis(r.get(9)?),
                    asn: r.get::<_, i64>(10)? as u32,
                    user_agent: r.get(11)?,
                    correlated: r.get::<_, i64>(12)? != 0,
                    country: r.get(13)?,
                    last_seen: Timestamp::from_millis(r.get(14)?),
                    asn_org: r.get(15)?,
                    tcp_fingerprint: r.get(16)?,
                    h2_fingerprint: r.get(17)?,
                })
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row.map_err(self.err())?);
        }
        Ok(out)
    }

    /// Per IP, the number of earlier cycles that flagged it as an anomaly.
    fn recurrences(&self) -> Result<std::collections::HashMap<IpAddr, u32>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT src_ip, COUNT(DISTINCT cycle_id) FROM all_scores
                 WHERE is_anomaly = 1 GROUP BY src_ip",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([], |r| {
                let ip: String = r.get(0)?;
                let ip = ip.parse().map_err(|e| crate::outputs::bad_text(0, e))?;
                Ok((ip, r.get::<_, i64>(1)? as u32))
            })
            .map_err(self.err())?;
        rows.map(|r| r.map_err(self.err())).collect()
    }

    /// The member addresses of the campaigns updated since `since`, by campaign, and the
    /// first free campaign id.
    #[allow(clippy::type_complexity)]
    fn campaign_memory(
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

    /// Sessions whose window starts in `[from, to]` that carry a label: a level in
    /// `levels` at their latest score, or an analyst's label (on the session, or on its
    /// address). Ordered by session key.
    fn labelled_sessions(
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

    /// Writes a cycle's outputs in one transaction; returns the cycle id.
    fn save_cycle(&mut self, c: &CycleRecord) -> Result<i64, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO cycles (started_at_ms, horizon_start_ms, horizon_end_ms, sessions, scored,
                                 anomalies, anomaly_rate, metrics)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                c.started_at.millis(),
                c.horizon_start.millis(),
                c.horizon_end.millis(),
                c.sessions as i64,
                c.scored as i64,
                c.anomalies as i64,
                c.anomaly_rate,
                c.metrics
            ],
        )
        .map_err(sql)?;
        let id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare(
                    "INSERT INTO all_scores (cycle_id, window_start_ms, src_ip, ja4, host, model,
                        threat_level, raw_score, anomaly_score, is_anomaly, recurrence,
                        browser_confidence, browser_family, reason, top_features,
                        fleet_id, fleet_score, fleet_flag, campaign_id, forest_score,
                        flow_score, trees_prob)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                        ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
                )
                .map_err(sql)?;
            // In primary-key order, so that the table's B-tree is appended to rather than
            // split at random places.
            let keys: Vec<_> = c.scores.iter().map(|s| sort_key(&s.key)).collect();
            for (s, (_, ip, _, _)) in key_order(&keys)
                .into_iter()
                .map(|i| (&c.scores[i], &keys[i]))
            {
                ins.execute(params![
                    id,
                    s.key.window_start.millis(),
                    ip,
                    s.key.ja4_str(),
                    s.key.host,
                    s.model.map_or("", |m| m.as_str()),
                    s.threat_level.as_str(),
                    s.raw_score,
                    s.anomaly_score,
                    s.is_anomaly,
                    s.recurrence,
                    s.browser_confidence,
                    s.browser_family,
                    s.reason,
                    s.top_features,
                    s.fleet_id,
                    s.fleet_score,
                    s.fleet_flag,
                    s.campaign_id,
                    s.forest_score,
                    s.flow_score,
                    s.trees_prob
                ])
                .map_err(sql)?;
            }
            let mut ins = tx
                .prepare(
                    "INSERT INTO fleet_detections (cycle_id, fleet_id, detected_at_ms, sessions, ips,
                        prefixes, asns, ja4s, mean_browser_confidence, score, flagged)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(sql)?;
            for f in &c.fleets {
                ins.execute(params![
                    id,
                    f.fleet_id,
                    c.started_at.millis(),
                    f.sessions as i64,
                    f.ips as i64,
                    f.prefixes as i64,
                    f.asns,
                    f.ja4s,
                    f.mean_browser_confidence,
                    f.score,
                    f.flagged
                ])
                .map_err(sql)?;
            }
            let mut ins = tx
                .prepare(
                    "INSERT INTO campaigns (campaign_id, first_cycle, last_cycle, cycles,
                        first_seen_ms, last_seen_ms, updated_at_ms, model, algorithm, sessions, ips,
                        escalated, ja4s, asns, countries, hosts, features, levels)
                     VALUES (?1, ?2, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                     ON CONFLICT (campaign_id) DO UPDATE SET
                        last_cycle = excluded.last_cycle, cycles = cycles + 1,
                        first_seen_ms = MIN(first_seen_ms, excluded.first_seen_ms),
                        last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms),
                        updated_at_ms = excluded.updated_at_ms, model = excluded.model,
                        algorithm = excluded.algorithm, sessions = excluded.sessions,
                        ips = excluded.ips, escalated = excluded.escalated, ja4s = excluded.ja4s,
                        asns = excluded.asns, countries = excluded.countries,
                        hosts = excluded.hosts, features = excluded.features,
                        levels = excluded.levels",
                )
                .map_err(sql)?;
            let mut member = tx
                .prepare(
                    "INSERT INTO campaign_members (campaign_id, src_ip, last_seen_ms)
                     VALUES (?1, ?2, ?3)
                     ON CONFLICT (campaign_id, src_ip) DO UPDATE SET
                        last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)",
                )
                .map_err(sql)?;
            for c in &c.campaigns {
                ins.execute(params![
                    c.campaign_id,
                    id,
                    c.first_seen.millis(),
                    c.last_seen.millis(),
                    c.updated_at.millis(),
                    c.model.as_str(),
                    c.algorithm,
                    c.sessions as i64,
                    c.ips as i64,
                    c.escalated as i64,
                    c.ja4s,
                    c.asns,
                    c.countries,
                    c.hosts,
                    c.features,
                    c.levels
                ])
                .map_err(sql)?;
                for ip in &c.members {
                    member
                        .execute(params![c.campaign_id, ip, c.updated_at.millis()])
                        .map_err(sql)?;
                }
            }
            let mut ins = tx
                .prepare(
                    "INSERT INTO decisions (cycle_id, at_ms, kind, model, payload)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sql)?;
            for (kind, model, payload) in &c.decisions {
                let model = model.map_or("", |m| m.as_str());
                ins.execute(params![
                    id,
                    c.started_at.millis(),
                    kind.as_str(),
                    model,
                    payload
                ])
                .map_err(sql)?;
            }
            let mut ins = tx
                .prepare(
                    "INSERT OR REPLACE INTO models (model, version, cycle_id, trained_at_ms, meta)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(sql)?;
            for (model, version, at, meta) in &c.models {
                let model = model.as_str();
                ins.execute(params![model, version, id, at.millis(), meta])
                    .map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        Ok(id)
    }

    /// Retention: deletes the scores of cycles started before `scores_before`, the sessions
    /// (and their states) of windows before `sessions_before`, the fleets detected before `fleets_before`, and
    /// the campaigns (and member addresses) not seen since `campaigns_before`, in one
    /// transaction. The per-anomaly decisions go with their cycle's scores; cycles, the
    /// other decisions and models (small, the audit trail) are kept.
    fn prune(&mut self, r: &Retention) -> Result<Pruned, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let scores = tx
            .execute(
                "DELETE FROM all_scores WHERE cycle_id IN
                     (SELECT id FROM cycles WHERE started_at_ms < ?1)",
                [r.scores_before.millis()],
            )
            .map_err(sql)?;
        // A cycle logs one ANOMALY decision per anomaly (tens of MB on a large cycle): they
        // go with the cycle's scores; the cycle-level decisions stay.
        tx.execute(
            "DELETE FROM decisions WHERE kind = 'ANOMALY' AND cycle_id IN
                 (SELECT id FROM cycles WHERE started_at_ms < ?1)",
            [r.scores_before.millis()],
        )
        .map_err(sql)?;
        let sessions = tx
            .execute(
                "DELETE FROM sessions WHERE window_start_ms < ?1",
                [r.sessions_before.millis()],
            )
            .map_err(sql)?;
        // Their mergeable states go with them (a late request for such a window starts a
        // new session rather than growing one no longer kept).
        for table in ["session_states", "ip_window_states"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE window_start_ms < ?1"),
                [r.sessions_before.millis()],
            )
            .map_err(sql)?;
        }
        let fleets = tx
            .execute(
                "DELETE FROM fleet_detections WHERE detected_at_ms < ?1",
                [r.fleets_before.millis()],
            )
            .map_err(sql)?;
        tx.execute(
            "DELETE FROM campaign_members WHERE last_seen_ms < ?1",
            [r.campaigns_before.millis()],
        )
        .map_err(sql)?;
        let campaigns = tx
            .execute(
                "DELETE FROM campaigns WHERE updated_at_ms < ?1",
                [r.campaigns_before.millis()],
            )
            .map_err(sql)?;
        tx.commit().map_err(sql)?;
        Ok(Pruned {
            scores,
            sessions,
            fleets,
            campaigns,
        })
    }
}

/// A feature vector whose length is no whole number of `f32`s.
#[derive(Debug, thiserror::Error)]
#[error("a feature vector of {0} bytes (not a multiple of 4)")]
struct FeatureBlob(usize);
