//! Acting on verdicts from the ClickHouse store: the latest cycle's scores (exports), the
//! campaigns, and analysts' labels.

use serde_json::{json, Value};
use shrike_store::{
    CampaignRow, Feedback, FeedbackLabel, FeedbackSession, ScoreRow, StoreError, VerdictStore,
};
use shrike_types::Timestamp;

use crate::store::{ch_time, int, text};
use crate::{ChError, ChStore};

fn float(r: &Value, k: &str) -> f64 {
    r[k].as_f64().unwrap_or(0.0)
}

pub(crate) fn score_row(r: &Value) -> Result<ScoreRow, ChError> {
    Ok(ScoreRow {
        key: crate::store::session_key(r, "w")?,
        model: crate::store::feature_set(r, "model")?,
        threat_level: crate::store::parsed(r, "threat_level")?,
        raw_score: float(r, "raw_score"),
        anomaly_score: float(r, "anomaly_score"),
        is_anomaly: r["is_anomaly"].as_bool().unwrap_or(false),
        recurrence: int(r, "recurrence")? as u32,
        browser_confidence: float(r, "browser_confidence"),
        browser_family: text(r, "browser_family"),
        reason: text(r, "reason"),
        top_features: text(r, "top_features"),
        fleet_id: int(r, "fleet_id")?,
        fleet_score: float(r, "fleet_score"),
        fleet_flag: r["fleet_flag"].as_bool().unwrap_or(false),
        campaign_id: int(r, "campaign_id")?,
        forest_score: float(r, "forest_score"),
        flow_score: r["flow_score"].as_f64(),
        trees_prob: r["trees_prob"].as_f64(),
    })
}

fn campaign_row(r: &Value) -> Result<CampaignRow, ChError> {
    Ok(CampaignRow {
        campaign_id: int(r, "campaign_id")?,
        first_cycle: int(r, "first_cycle")?,
        last_cycle: int(r, "last_cycle")?,
        cycles: int(r, "cycles")?,
        first_seen: Timestamp::from_millis(int(r, "f")?),
        last_seen: Timestamp::from_millis(int(r, "l")?),
        updated_at: Timestamp::from_millis(int(r, "u")?),
        model: crate::store::parsed(r, "model")?,
        algorithm: text(r, "algorithm"),
        sessions: int(r, "sessions")? as usize,
        ips: int(r, "ips")? as usize,
        escalated: int(r, "escalated")? as usize,
        ja4s: text(r, "ja4s"),
        asns: text(r, "asns"),
        countries: text(r, "countries"),
        hosts: text(r, "hosts"),
        features: text(r, "features"),
        levels: text(r, "levels"),
        members: Vec::new(),
    })
}

impl ChStore {
    fn feedback_rows(
        &self,
        src_ip: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Feedback>, ChError> {
        let rows = self.rows(
            &format!(
                "SELECT id, toUnixTimestamp64Milli(created_at) AS c, analyst, toString(label) AS label, \
                 note, src_ip, toUnixTimestamp(window_start) * 1000 AS w, ja4, host \
                 FROM {}.feedback WHERE {{all:Bool}} OR src_ip = {{ip:String}} \
                 ORDER BY id DESC LIMIT {{limit:UInt64}} OFFSET {{offset:UInt64}}",
                self.db()
            ),
            &[
                ("all", src_ip.is_none().to_string()),
                ("ip", src_ip.unwrap_or("").to_string()),
                ("limit", limit.to_string()),
                ("offset", offset.to_string()),
            ],
        )?;
        rows.iter()
            .map(|r| {
                let label = text(r, "label");
                Ok(Feedback {
                    id: int(r, "id")?,
                    created_at: Timestamp::from_millis(int(r, "c")?),
                    analyst: text(r, "analyst"),
                    label: FeedbackLabel::parse(&label).ok_or_else(|| {
                        ChError::Decode(format!("feedback.label {label:?} of #{}", r["id"]))
                    })?,
                    note: text(r, "note"),
                    src_ip: text(r, "src_ip"),
                    session: match (r["w"].as_i64(), r["ja4"].as_str(), r["host"].as_str()) {
                        (Some(w), Some(ja4), Some(host)) => Some(FeedbackSession {
                            window_start: Timestamp::from_millis(w),
                            ja4: ja4.to_string(),
                            host: host.to_string(),
                        }),
                        _ => None,
                    },
                })
            })
            .collect()
    }

    fn insert_feedback(&self, f: &Feedback) -> Result<i64, ChError> {
        // Ids follow the highest; two analysts adding at the same instant could share one
        // (labels are rare and `remove` would then remove both).
        let id = self
            .rows(
                &format!("SELECT max(id) + 1 AS n FROM {}.feedback", self.db()),
                &[],
            )?
            .first()
            .and_then(|r| r["n"].as_i64())
            .unwrap_or(1)
            .max(1);
        let (w, ja4, host) = match &f.session {
            Some(k) => (
                Some(ch_time(k.window_start)),
                Some(k.ja4.clone()),
                Some(k.host.clone()),
            ),
            None => (None, None, None),
        };
        self.insert_json(
            "feedback",
            [json!({
                "id": id, "created_at": ch_time(f.created_at), "analyst": f.analyst,
                "label": f.label.as_str(), "note": f.note, "src_ip": f.src_ip,
                "window_start": w, "ja4": ja4, "host": host,
            })],
        )?;
        Ok(id)
    }

    fn delete_feedback(&self, id: i64) -> Result<bool, ChError> {
        let params = [("id", id.to_string())];
        let db = self.db();
        let found = self
            .rows(
                &format!("SELECT count() AS n FROM {db}.feedback WHERE id = {{id:Int64}}"),
                &params,
            )?
            .first()
            .and_then(|r| r["n"].as_u64())
            .unwrap_or(0);
        if found == 0 {
            return Ok(false);
        }
        // A lightweight delete: the row disappears from queries at once.
        self.client()
            .query(
                &format!("DELETE FROM {db}.feedback WHERE id = {{id:Int64}}"),
                &params,
            )
            .map(|_| true)
    }
}

impl VerdictStore for ChStore {
    fn describe(&self) -> String {
        self.client().url().to_string()
    }

    fn latest_cycle(&self) -> Result<Option<(i64, Timestamp)>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT id, toUnixTimestamp64Milli(started_at) AS t FROM {}.cycles \
                     ORDER BY id DESC LIMIT 1",
                    self.db()
                ),
                &[],
            )
            .map_err(self.remote())?;
        Ok(rows
            .first()
            .and_then(|r| Some((r["id"].as_i64()?, Timestamp::from_millis(r["t"].as_i64()?)))))
    }

    fn cycle_scores(&self, cycle: i64) -> Result<Vec<ScoreRow>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT toUnixTimestamp(window_start) * 1000 AS w, * FROM {}.all_scores \
                     WHERE cycle_id = {{c:UInt64}} ORDER BY window_start, src_ip, ja4, host",
                    self.db()
                ),
                &[("c", cycle.to_string())],
            )
            .map_err(self.remote())?;
        rows.iter()
            .map(score_row)
            .collect::<Result<_, _>>()
            .map_err(self.remote())
    }

    fn campaigns(&self, id: Option<i64>, limit: usize) -> Result<Vec<CampaignRow>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT *, toUnixTimestamp64Milli(first_seen) AS f, \
                     toUnixTimestamp64Milli(last_seen) AS l, toUnixTimestamp64Milli(updated_at) AS u \
                     FROM {}.campaigns FINAL WHERE {{all:Bool}} OR campaign_id = {{id:Int64}} \
                     ORDER BY updated_at DESC, sessions DESC, campaign_id LIMIT {{limit:UInt64}}",
                    self.db()
                ),
                &[
                    ("all", id.is_none().to_string()),
                    ("id", id.unwrap_or(0).to_string()),
                    ("limit", limit.to_string()),
                ],
            )
            .map_err(self.remote())?;
        rows.iter()
            .map(campaign_row)
            .collect::<Result<_, _>>()
            .map_err(self.remote())
    }

    fn campaign_members(&self, id: i64) -> Result<Vec<(String, Timestamp)>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT src_ip, toUnixTimestamp64Milli(last_seen) AS l \
                     FROM {}.campaign_members FINAL WHERE campaign_id = {{id:Int64}} \
                     ORDER BY last_seen DESC, src_ip",
                    self.db()
                ),
                &[("id", id.to_string())],
            )
            .map_err(self.remote())?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some((
                    r["src_ip"].as_str()?.to_string(),
                    Timestamp::from_millis(r["l"].as_i64()?),
                ))
            })
            .collect())
    }

    fn add_feedback(&mut self, f: &Feedback) -> Result<i64, StoreError> {
        self.insert_feedback(f).map_err(self.remote())
    }

    fn remove_feedback(&mut self, id: i64) -> Result<bool, StoreError> {
        self.delete_feedback(id).map_err(self.remote())
    }

    fn feedback(
        &self,
        src_ip: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<Feedback>, StoreError> {
        self.feedback_rows(src_ip, offset, limit)
            .map_err(self.remote())
    }
}
