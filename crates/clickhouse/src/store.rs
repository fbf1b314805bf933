//! The ClickHouse store as the pipeline sees it: the ingest ledger, and what a detection
//! cycle reads (sessions from `view_ai_features_1h`, history from the output tables) and
//! writes (every output table of migration 006).

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::{json, Value};
use shrike_dict::AsnLabel;
use shrike_store::{
    join_labels, CycleRecord, CycleStore, FeedbackLabel, FileSpan, IngestLedger, IngestedSource,
    LabelKey, LabelRow, Pruned, Retention, SessionRow, StoreError,
};
use shrike_types::{FeatureSetName, SessionKey, ThreatLevel, Timestamp};

use crate::migrate::MIGRATIONS;
use crate::{read_features, ChError, ChUrl, Client};

/// `t` as ClickHouse reads a `DateTime64(3, 'UTC')` value: `2024-05-01 12:00:00.000`.
pub(crate) fn ch_time(t: Timestamp) -> String {
    t.to_string()
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string()
}

/// A string column of a JSONEachRow row ("" when absent or NULL).
pub(crate) fn text(r: &Value, k: &str) -> String {
    r[k].as_str().unwrap_or("").to_string()
}

/// The session key of a JSONEachRow row: its window start in milliseconds under `w`,
/// then `src_ip`, `ja4` and `host`.
pub(crate) fn session_key(r: &Value, w: &str) -> Result<SessionKey, ChError> {
    let bad = |what: &str| ChError::Decode(format!("{what} of {r}"));
    Ok(SessionKey {
        window_start: Timestamp::from_millis(int(r, w)?),
        src_ip: r["src_ip"]
            .as_str()
            .and_then(|x| x.parse::<IpAddr>().ok())
            .ok_or_else(|| bad("src_ip"))?,
        ja4: SessionKey::ja4_from_stored(text(r, "ja4")).map_err(|e| bad(&e.to_string()))?,
        host: text(r, "host"),
    })
}

/// A string column of a JSONEachRow row holding one of `T`'s names.
pub(crate) fn parsed<T>(r: &Value, k: &str) -> Result<T, ChError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text(r, k)
        .parse()
        .map_err(|e: T::Err| ChError::Decode(format!("{k}: {e}")))
}

/// A feature-set column of a JSONEachRow row, "" for none.
pub(crate) fn feature_set(r: &Value, k: &str) -> Result<Option<FeatureSetName>, ChError> {
    match text(r, k).as_str() {
        "" => Ok(None),
        _ => parsed(r, k).map(Some),
    }
}

/// An integer column of a JSONEachRow row; absent is an error naming it.
pub(crate) fn int(r: &Value, k: &str) -> Result<i64, ChError> {
    r[k].as_i64()
        .ok_or_else(|| ChError::Decode(format!("{k} missing from {r}")))
}

/// An `Array(Float32)` column of a JSONEachRow row.
pub(crate) fn floats(r: &Value, k: &str) -> Option<Vec<f32>> {
    r[k].as_array()
        .map(|a| a.iter().map(|v| v.as_f64().unwrap_or(0.0) as f32).collect())
}

/// A ClickHouse database holding shrike's schema.
#[derive(Debug, Clone)]
pub struct ChStore {
    client: Client,
}

impl ChStore {
    /// Connects and checks that every migration this shrike knows is applied.
    pub fn open(url: ChUrl) -> Result<Self, ChError> {
        let store = Self::connect(url);
        store.check_schema()?;
        Ok(store)
    }

    /// The store at `url`, without contacting it.
    pub fn connect(url: ChUrl) -> Self {
        ChStore {
            client: Client::new(url),
        }
    }

    /// Checks that every migration this shrike knows is applied.
    pub fn check_schema(&self) -> Result<(), ChError> {
        let client = &self.client;
        let db = &client.url().database;
        let need = MIGRATIONS.last().map_or(0, |m| m.version);
        let body = client
            .query(
                &format!("SELECT max(version) FROM {db}.shrike_migrations FORMAT TSV"),
                &[],
            )
            .map_err(|e| match e {
                // UNKNOWN_DATABASE, UNKNOWN_TABLE.
                ChError::Server { code: 81 | 60, .. } => ChError::Migration {
                    version: 1,
                    why: format!("{db} has no shrike schema: run `shrike ch migrate --store …`"),
                },
                e => e,
            })?;
        let have: u32 = String::from_utf8_lossy(&body).trim().parse().unwrap_or(0);
        if have < need {
            return Err(ChError::Migration {
                version: have + 1,
                why: format!(
                    "{db} is at schema version {have}, this shrike needs {need}: run `shrike ch migrate --store …`"
                ),
            });
        }
        Ok(())
    }

    /// The client (database set).
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn db(&self) -> &str {
        &self.client.url().database
    }

    pub(crate) fn remote(&self) -> impl Fn(ChError) -> StoreError + '_ {
        move |e| e.into_store_error(self.client.url())
    }

    /// Runs a `SELECT … FORMAT JSONEachRow` and decodes its rows.
    pub(crate) fn rows(&self, sql: &str, params: &[(&str, String)]) -> Result<Vec<Value>, ChError> {
        let sql = format!(
            "{sql} SETTINGS output_format_json_quote_64bit_integers = 0 FORMAT JSONEachRow"
        );
        let body = self.client.query(&sql, params)?;
        body.split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).map_err(|e| ChError::Decode(e.to_string())))
            .collect()
    }

    /// Inserts rows given as JSON objects, each serialised as it is produced.
    pub(crate) fn insert_json(
        &self,
        table: &str,
        rows: impl IntoIterator<Item = Value>,
    ) -> Result<(), ChError> {
        let mut body = Vec::new();
        for r in rows {
            serde_json::to_writer(&mut body, &r).map_err(|e| ChError::Decode(e.to_string()))?;
            body.push(b'\n');
        }
        if body.is_empty() {
            return Ok(());
        }
        self.client.insert(
            &format!("INSERT INTO {}.{table} FORMAT JSONEachRow", self.db()),
            &body,
            &[("date_time_input_format", "best_effort".into())],
        )
    }

    /// Records an ingested input in the ledger.
    pub fn record_source(&self, s: &IngestedSource, at: Timestamp) -> Result<(), ChError> {
        let span = s.span.as_ref();
        self.insert_json(
            "ingested_sources",
            [json!({
                "fingerprint": s.fingerprint,
                "label": s.label,
                "path": span.map(|x| x.path.clone()),
                "start_offset": span.map_or(0, |x| x.start),
                "end_offset": span.map(|x| x.end),
                "lines": span.map_or(0, |x| x.lines),
                "ends_with_newline": span.is_none_or(|x| x.ends_with_newline),
                "records": s.records,
                "rejected": s.rejected,
                "ingested_at": ch_time(at),
            })],
        )
    }

    fn sources(
        &self,
        filter: &str,
        value: &str,
        order: &str,
    ) -> Result<Option<IngestedSource>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT fingerprint, label, path, start_offset, end_offset, lines, \
                     ends_with_newline, records, rejected FROM {}.ingested_sources \
                     WHERE {filter} = {{v:String}} ORDER BY ingested_at {order} LIMIT 1",
                    self.db()
                ),
                &[("v", value.to_string())],
            )
            .map_err(self.remote())?;
        Ok(rows.first().map(|r| {
            let u = |k: &str| r[k].as_u64().unwrap_or(0);
            IngestedSource {
                fingerprint: r["fingerprint"].as_str().unwrap_or("").to_string(),
                label: r["label"].as_str().unwrap_or("").to_string(),
                records: u("records"),
                rejected: u("rejected"),
                span: r["path"].as_str().map(|p| FileSpan {
                    path: p.to_string(),
                    start: u("start_offset"),
                    end: u("end_offset"),
                    lines: u("lines"),
                    ends_with_newline: r["ends_with_newline"].as_bool().unwrap_or(true),
                }),
            }
        }))
    }

    /// The batch number for a new ingest: one more than the highest in `http_logs`, so that
    /// its requests sort after earlier ingests' at equal times.
    pub fn next_batch(&self) -> Result<u32, ChError> {
        let body = self.client.query(
            &format!(
                "SELECT bitShiftRight(max(ingest_seq), 40) + 1 FROM {}.http_logs FORMAT TSV",
                self.db()
            ),
            &[],
        )?;
        Ok(String::from_utf8_lossy(&body).trim().parse().unwrap_or(1))
    }

    /// Days `http_logs` keeps a request (its TTL), when it has one.
    pub fn raw_ttl_days(&self) -> Result<Option<u32>, ChError> {
        let body = self.client.query(
            "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = 'http_logs' FORMAT TSV",
            &[("db", self.db().to_string())],
        )?;
        let text = String::from_utf8_lossy(&body);
        Ok(text
            .split("toIntervalDay(")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.trim().parse().ok()))
    }

    /// Rows in `http_logs` (tests and summaries).
    pub fn raw_count(&self) -> Result<u64, ChError> {
        let body = self.client.query(
            &format!("SELECT count() FROM {}.http_logs FORMAT TSV", self.db()),
            &[],
        )?;
        String::from_utf8_lossy(&body)
            .trim()
            .parse()
            .map_err(|_| ChError::Decode("count".into()))
    }

    fn session_rows(&self, from: Timestamp, to: Timestamp) -> Result<Vec<SessionRow>, ChError> {
        // The feature vectors the latest cycle scored (labelled history).
        let rows = self.rows(
            &format!(
                "SELECT toUnixTimestamp(window_start) * 1000 AS w, src_ip, ja4, host, hits, \
                 asn_label, bot_name, browser_family, features, \
                 toUnixTimestamp64Milli(first_seen) AS f, toUnixTimestamp64Milli(last_seen) AS l, \
                 asn, user_agent, correlated, country, asn_org, tcp_fingerprint, h2_fingerprint \
                 FROM {}.sessions FINAL \
                 WHERE window_start >= toDateTime64({{from:Int64}} / 1000, 3, 'UTC') \
                   AND window_start <= toDateTime64({{to:Int64}} / 1000, 3, 'UTC') \
                 ORDER BY window_start, src_ip, ja4, host",
                self.db()
            ),
            &[
                ("from", from.millis().to_string()),
                ("to", to.millis().to_string()),
            ],
        )?;
        rows.iter()
            .map(|r| {
                let bad = || ChError::Decode(format!("sessions row: {r}"));
                Ok(SessionRow {
                    key: session_key(r, "w")?,
                    hits: int(r, "hits")? as u64,
                    asn_label: AsnLabel::parse(&text(r, "asn_label"))
                        .ok_or_else(|| ChError::Decode(format!("asn_label of {r}")))?,
                    bot_name: text(r, "bot_name"),
                    browser_family: text(r, "browser_family"),
                    features: floats(r, "features").ok_or_else(bad)?,
                    first_seen: Timestamp::from_millis(int(r, "f")?),
                    asn: int(r, "asn")? as u32,
                    user_agent: text(r, "user_agent"),
                    correlated: r["correlated"].as_bool().unwrap_or(false),
                    country: text(r, "country"),
                    last_seen: Timestamp::from_millis(int(r, "l")?),
                    asn_org: text(r, "asn_org"),
                    tcp_fingerprint: text(r, "tcp_fingerprint"),
                    h2_fingerprint: text(r, "h2_fingerprint"),
                })
            })
            .collect()
    }

    fn save(&self, c: &CycleRecord) -> Result<i64, ChError> {
        let db = self.db();
        // A fresh id above every id already used, committed or not.
        let body = self.client.query(
            &format!(
                "SELECT greatest((SELECT max(id) FROM {db}.cycles), \
                 (SELECT max(cycle_id) FROM {db}.all_scores), \
                 (SELECT max(cycle_id) FROM {db}.decisions)) + 1 FORMAT TSV"
            ),
            &[],
        )?;
        let id: i64 = String::from_utf8_lossy(&body)
            .trim()
            .parse()
            .map_err(|_| ChError::Decode("next cycle id".into()))?;
        let at = ch_time(c.started_at);
        self.insert_json(
            "sessions",
            c
            .sessions_scored
            .iter()
            .map(|s| {
                json!({
                    "cycle_id": id, "window_start": ch_time(s.key.window_start),
                    "src_ip": s.key.src_ip.to_string(), "ja4": s.key.ja4_str(), "host": s.key.host,
                    "first_seen": ch_time(s.first_seen), "last_seen": ch_time(s.last_seen),
                    "hits": s.hits, "asn": s.asn, "asn_org": s.asn_org, "country": s.country,
                    "tcp_fingerprint": s.tcp_fingerprint, "h2_fingerprint": s.h2_fingerprint, "asn_label": s.asn_label.as_str(),
                    "bot_name": s.bot_name, "browser_family": s.browser_family,
                    "correlated": s.correlated, "user_agent": s.user_agent,
                    "features": s.features.iter().map(|v| if v.is_finite() { *v } else { 0.0 }).collect::<Vec<f32>>(),
                })
            }),
        )?;
        self.insert_json(
            "all_scores",
            c.scores.iter().map(|s| {
                let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
                json!({
                    "cycle_id": id, "cycle_at": at, "window_start": ch_time(s.key.window_start),
                    "src_ip": s.key.src_ip.to_string(), "ja4": s.key.ja4_str(), "host": s.key.host,
                    "model": s.model.map_or("", |m| m.as_str()),
                    "threat_level": s.threat_level.as_str(), "raw_score": finite(s.raw_score),
                    "anomaly_score": finite(s.anomaly_score), "is_anomaly": s.is_anomaly,
                    "recurrence": s.recurrence, "browser_confidence": finite(s.browser_confidence),
                    "browser_family": s.browser_family, "campaign_id": s.campaign_id,
                    "reason": s.reason, "top_features": s.top_features, "fleet_id": s.fleet_id,
                    "fleet_score": finite(s.fleet_score), "fleet_flag": s.fleet_flag,
                    "forest_score": finite(s.forest_score),
                    "flow_score": s.flow_score.filter(|v| v.is_finite()),
                    "trees_prob": s.trees_prob.filter(|v| v.is_finite()),
                })
            }),
        )?;
        self.insert_json(
            "decisions",
            c.decisions
                .iter()
                .enumerate()
                .map(|(i, (kind, model, payload))| {
                    json!({"cycle_id": id, "seq": i, "at": at, "kind": kind.as_str(),
                       "model": model.map_or("", |m| m.as_str()), "payload": payload})
                }),
        )?;
        self.insert_json(
            "fleet_detections",
            c.fleets.iter().map(|f| {
                json!({
                    "cycle_id": id, "fleet_id": f.fleet_id, "detected_at": at,
                    "sessions": f.sessions, "ips": f.ips, "prefixes": f.prefixes,
                    "asns": f.asns, "ja4s": f.ja4s,
                    "mean_browser_confidence": f.mean_browser_confidence,
                    "score": f.score, "flagged": f.flagged,
                })
            }),
        )?;
        self.save_campaigns(c, id)?;
        self.insert_json(
            "models",
            c
            .models
            .iter()
            .map(|(model, version, trained, meta)| {
                json!({"model": model.as_str(), "version": version, "cycle_id": id, "trained_at": ch_time(*trained), "meta": meta})
            }),
        )?;
        // Last: the row that makes the cycle visible.
        self.insert_json(
            "cycles",
            [json!({
                "id": id, "started_at": at, "horizon_start": ch_time(c.horizon_start),
                "horizon_end": ch_time(c.horizon_end), "sessions": c.sessions,
                "scored": c.scored, "anomalies": c.anomalies,
                "anomaly_rate": if c.anomaly_rate.is_finite() { c.anomaly_rate } else { 0.0 },
                "metrics": c.metrics,
            })],
        )?;
        Ok(id)
    }

    /// Campaign rows carry their history (first cycle, cycles seen, first and last seen):
    /// merged here with the row the campaign had, as the embedded store's upsert does.
    fn save_campaigns(&self, c: &CycleRecord, id: i64) -> Result<(), ChError> {
        if c.campaigns.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = c
            .campaigns
            .iter()
            .map(|x| x.campaign_id.to_string())
            .collect();
        let known = self.rows(
            &format!(
                "SELECT campaign_id, first_cycle, cycles, toUnixTimestamp64Milli(first_seen) AS f, \
                 toUnixTimestamp64Milli(last_seen) AS l FROM {}.campaigns FINAL \
                 WHERE has(splitByChar(',', {{ids:String}}), toString(campaign_id))",
                self.db()
            ),
            &[("ids", ids.join(","))],
        )?;
        let known: HashMap<i64, &Value> = known
            .iter()
            .filter_map(|r| Some((r["campaign_id"].as_i64()?, r)))
            .collect();
        let mut rows = Vec::new();
        let mut members = Vec::new();
        for k in &c.campaigns {
            let old = known.get(&k.campaign_id);
            let old_i = |key: &str| old.and_then(|r| r[key].as_i64());
            let first_seen =
                old_i("f").map_or(k.first_seen.millis(), |f| f.min(k.first_seen.millis()));
            let last_seen =
                old_i("l").map_or(k.last_seen.millis(), |l| l.max(k.last_seen.millis()));
            rows.push(json!({
                "campaign_id": k.campaign_id,
                "first_cycle": old_i("first_cycle").unwrap_or(id),
                "last_cycle": id,
                "cycles": old_i("cycles").unwrap_or(0) + 1,
                "first_seen": ch_time(Timestamp::from_millis(first_seen)),
                "last_seen": ch_time(Timestamp::from_millis(last_seen)),
                "updated_at": ch_time(k.updated_at), "model": k.model.as_str(), "algorithm": k.algorithm,
                "sessions": k.sessions, "ips": k.ips, "escalated": k.escalated,
                "ja4s": k.ja4s, "asns": k.asns, "countries": k.countries, "hosts": k.hosts,
                "features": k.features, "levels": k.levels,
            }));
            for ip in &k.members {
                members.push(json!({"campaign_id": k.campaign_id, "src_ip": ip, "last_seen": ch_time(k.updated_at)}));
            }
        }
        self.insert_json("campaigns", rows)?;
        self.insert_json("campaign_members", members)
    }

    fn labels(
        &self,
        from: Timestamp,
        to: Timestamp,
        levels: &[ThreatLevel],
    ) -> Result<Vec<LabelRow>, ChError> {
        let db = self.db();
        let params = [
            ("from", from.millis().to_string()),
            ("to", to.millis().to_string()),
        ];
        let mut latest: HashMap<LabelKey, String> = HashMap::new();
        for r in self.rows(
            &format!(
                "SELECT toUnixTimestamp(window_start) * 1000 AS w, src_ip, ja4, host, \
                 argMax(threat_level, cycle_id) AS level FROM {db}.all_scores \
                 WHERE cycle_id IN (SELECT id FROM {db}.cycles) \
                   AND window_start >= toDateTime64({{from:Int64}} / 1000, 3, 'UTC') \
                   AND window_start <= toDateTime64({{to:Int64}} / 1000, 3, 'UTC') \
                 GROUP BY window_start, src_ip, ja4, host"
            ),
            &params,
        )? {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            latest.insert(
                (
                    r["w"].as_i64().unwrap_or(0),
                    s("src_ip"),
                    s("ja4"),
                    s("host"),
                ),
                s("level"),
            );
        }
        let mut by_session = HashMap::new();
        let mut by_ip = HashMap::new();
        // Oldest first, so that the newest label wins.
        for r in self.rows(
            &format!(
                "SELECT src_ip, toUnixTimestamp(window_start) * 1000 AS w, ja4, host, \
                 toString(label) AS label FROM {db}.feedback ORDER BY id"
            ),
            &[],
        )? {
            let Some(label) = r["label"].as_str().and_then(FeedbackLabel::parse) else {
                continue;
            };
            let ip = r["src_ip"].as_str().unwrap_or("").to_string();
            match (r["w"].as_i64(), r["ja4"].as_str(), r["host"].as_str()) {
                (Some(w), Some(ja4), Some(host)) => {
                    by_session.insert((w, ip, ja4.to_string(), host.to_string()), label);
                }
                _ => {
                    by_ip.insert(ip, label);
                }
            }
        }
        join_labels(
            self.session_rows(from, to)?,
            latest,
            &by_session,
            &by_ip,
            levels,
        )
        .map_err(|e| ChError::Decode(format!("all_scores.threat_level: {e}")))
    }
}

impl IngestLedger for ChStore {
    fn source_seen(&self, fingerprint: &str) -> Result<Option<IngestedSource>, StoreError> {
        self.sources("fingerprint", fingerprint, "ASC")
    }
    fn last_ingest_of(&self, path: &str) -> Result<Option<IngestedSource>, StoreError> {
        self.sources("path", path, "DESC")
    }
}

impl CycleStore for ChStore {
    fn describe(&self) -> String {
        self.client.url().to_string()
    }
    fn records_sessions(&self) -> bool {
        true
    }
    fn newest_window(&self) -> Result<Option<Timestamp>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT count() AS n, toUnixTimestamp(toStartOfHour(max(time))) * 1000 AS w \
                     FROM {}.http_logs",
                    self.db()
                ),
                &[],
            )
            .map_err(self.remote())?;
        Ok(rows
            .first()
            .filter(|r| r["n"].as_u64().unwrap_or(0) > 0)
            .and_then(|r| r["w"].as_i64())
            .map(Timestamp::from_millis))
    }
    fn sessions_between(
        &self,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<Vec<SessionRow>, StoreError> {
        let feats = read_features(&self.client, start, end).map_err(self.remote())?;
        Ok(feats.into_iter().map(SessionRow::from).collect())
    }
    fn recurrences(&self) -> Result<HashMap<IpAddr, u32>, StoreError> {
        let db = self.db();
        let rows = self
            .rows(
                &format!(
                    "SELECT src_ip, uniqExact(cycle_id) AS n FROM {db}.all_scores \
                     WHERE is_anomaly AND cycle_id IN (SELECT id FROM {db}.cycles) GROUP BY src_ip"
                ),
                &[],
            )
            .map_err(self.remote())?;
        rows.iter()
            .map(|r| {
                let ip = r["src_ip"].as_str().and_then(|x| x.parse::<IpAddr>().ok());
                match (ip, r["n"].as_u64()) {
                    (Some(ip), Some(n)) => Ok((ip, n as u32)),
                    _ => Err(ChError::Decode(format!("recurrence row {r}"))),
                }
            })
            .collect::<Result<_, _>>()
            .map_err(self.remote())
    }
    fn campaign_memory(
        &self,
        since: Timestamp,
    ) -> Result<(Vec<(i64, Vec<String>)>, i64), StoreError> {
        let db = self.db();
        let next = self
            .rows(
                &format!("SELECT max(campaign_id) + 1 AS n FROM {db}.campaigns"),
                &[],
            )
            .map_err(self.remote())?
            .first()
            .and_then(|r| r["n"].as_i64())
            .unwrap_or(1)
            .max(1);
        let rows = self
            .rows(
                &format!(
                    "SELECT m.campaign_id AS id, m.src_ip AS ip FROM {db}.campaign_members AS m FINAL \
                     WHERE m.last_seen >= {{since:DateTime64(3, 'UTC')}} AND m.campaign_id IN \
                     (SELECT campaign_id FROM {db}.campaigns FINAL WHERE updated_at >= {{since:DateTime64(3, 'UTC')}}) \
                     ORDER BY id, ip"
                ),
                &[("since", ch_time(since))],
            )
            .map_err(self.remote())?;
        let mut out: Vec<(i64, Vec<String>)> = Vec::new();
        for r in rows {
            let (Some(id), Some(ip)) = (r["id"].as_i64(), r["ip"].as_str()) else {
                continue;
            };
            match out.last_mut() {
                Some((last, ips)) if *last == id => ips.push(ip.to_string()),
                _ => out.push((id, vec![ip.to_string()])),
            }
        }
        Ok((out, next))
    }
    fn labelled_sessions(
        &self,
        from: Timestamp,
        to: Timestamp,
        levels: &[ThreatLevel],
    ) -> Result<Vec<LabelRow>, StoreError> {
        self.labels(from, to, levels).map_err(self.remote())
    }
    fn save_cycle(&mut self, c: &CycleRecord) -> Result<i64, StoreError> {
        self.save(c).map_err(self.remote())
    }
    fn prune(&mut self, _: &Retention) -> Result<Pruned, StoreError> {
        // The tables' TTLs (migration 006) expire rows in ClickHouse's background merges.
        Ok(Pruned::default())
    }
}
