//! The dashboard's reads on the ClickHouse store: the same answers as the embedded store's
//! `dashboard.rs`, every request value a bound `{name:Type}` parameter. Decision ids are
//! `cycle × 1,000,000 + rank in the cycle` (the table has no sequence).

use serde_json::Value;
use shrike_store::{
    CycleSummary, DashboardStore, DecisionRow, FleetRow, ModelRow, StoreError, ThreatFilter,
    ThreatRow, TopBy, TopValue,
};
use shrike_types::{DecisionKind, ThreatLevel, Timestamp};

use crate::store::{floats, int, text};
use crate::verdicts::score_row;
use crate::{ChError, ChStore};

/// A score joined with the session the cycle scored (the latest copy of it).
const THREAT_SELECT: &str =
    "SELECT toUnixTimestamp(a.window_start) * 1000 AS w, a.src_ip AS src_ip,
    a.ja4 AS ja4, a.host AS host, a.model AS model, a.threat_level AS threat_level,
    a.raw_score AS raw_score, a.anomaly_score AS anomaly_score, a.is_anomaly AS is_anomaly,
    a.recurrence AS recurrence, a.browser_confidence AS browser_confidence,
    a.browser_family AS browser_family, a.reason AS reason, a.top_features AS top_features,
    a.fleet_id AS fleet_id, a.fleet_score AS fleet_score, a.fleet_flag AS fleet_flag,
    a.campaign_id AS campaign_id, a.forest_score AS forest_score, a.flow_score AS flow_score,
    a.trees_prob AS trees_prob, s.user_agent AS user_agent, s.asn AS asn, s.country AS country,
    s.hits AS hits, if(s.hits = 0, w, toUnixTimestamp64Milli(s.first_seen)) AS f,
    if(s.hits = 0, w, toUnixTimestamp64Milli(s.last_seen)) AS l, s.bot_name AS bot_name,
    s.correlated AS correlated, s.features AS features, s.asn_org AS asn_org,
    s.tcp_fingerprint AS tcp_fingerprint";

fn threat_join(db: &str) -> String {
    format!(
        "FROM {db}.all_scores AS a LEFT JOIN (SELECT * FROM {db}.sessions FINAL) AS s \
         ON s.window_start = a.window_start AND s.src_ip = a.src_ip AND s.ja4 = a.ja4 \
         AND s.host = a.host"
    )
}

/// The filter of [`ThreatFilter`] over bound parameters.
const THREAT_WHERE: &str = "WHERE a.cycle_id = {c:UInt64}
    AND (empty({levels:Array(String)}) OR has({levels:Array(String)}, toString(a.threat_level)))
    AND a.anomaly_score >= {min:Float64}
    AND startsWith(a.src_ip, {prefix:String})
    AND (isNull({ja4:Nullable(String)}) OR a.ja4 = {ja4:Nullable(String)})
    AND (isNull({host:Nullable(String)}) OR a.host = {host:Nullable(String)})
    AND (isNull({campaign:Nullable(Int64)}) OR a.campaign_id = {campaign:Nullable(Int64)})
    AND (isNull({fleet:Nullable(Int64)}) OR a.fleet_id = {fleet:Nullable(Int64)})
    AND (NOT {anomalies:Bool} OR a.is_anomaly)";

/// `THREAT_WHERE`'s parameters.
fn threat_params(cycle: i64, f: &ThreatFilter) -> Vec<(&'static str, String)> {
    let levels: Vec<String> = f
        .levels
        .iter()
        .map(|l| format!("'{}'", l.replace('\\', "\\\\").replace('\'', "\\'")))
        .collect();
    vec![
        ("c", cycle.to_string()),
        ("levels", escape(&format!("[{}]", levels.join(",")))),
        ("min", f.min_score.to_string()),
        ("prefix", escape(f.ip_prefix.as_deref().unwrap_or(""))),
        ("ja4", nullable(&f.ja4)),
        ("host", nullable(&f.host)),
        ("campaign", nullable(&f.campaign)),
        ("fleet", nullable(&f.fleet)),
        ("anomalies", f.anomalies_only.to_string()),
    ]
}

/// A parameter value: `\N` is NULL in ClickHouse's parameter syntax.
fn nullable<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "\\N".to_string(), |x| escape(&x.to_string()))
}

/// A string parameter with the escapes ClickHouse's parameter syntax (TSV) applies.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

fn threat_row(r: &Value) -> Result<ThreatRow, ChError> {
    Ok(ThreatRow {
        score: score_row(r)?,
        user_agent: text(r, "user_agent"),
        asn: int(r, "asn")? as u32,
        asn_org: text(r, "asn_org"),
        country: text(r, "country"),
        hits: int(r, "hits")? as u64,
        first_seen: Timestamp::from_millis(int(r, "f")?),
        last_seen: Timestamp::from_millis(int(r, "l")?),
        bot_name: text(r, "bot_name"),
        correlated: r["correlated"].as_bool().unwrap_or(false),
        tcp_fingerprint: text(r, "tcp_fingerprint"),
        // No session row (joined with defaults): no features.
        features: floats(r, "features").unwrap_or_default(),
    })
}

impl ChStore {
    fn threat_rows(
        &self,
        sql: &str,
        params: &[(&str, String)],
    ) -> Result<Vec<ThreatRow>, StoreError> {
        self.rows(sql, params)
            .and_then(|rows| rows.iter().map(threat_row).collect())
            .map_err(self.remote())
    }

    fn one_int(&self, sql: &str, params: &[(&str, String)]) -> Result<i64, StoreError> {
        Ok(self
            .rows(sql, params)
            .map_err(self.remote())?
            .first()
            .and_then(|r| r["n"].as_i64())
            .unwrap_or(0))
    }
}

impl DashboardStore for ChStore {
    fn schema_version(&self) -> Result<i64, StoreError> {
        self.one_int(
            &format!(
                "SELECT max(version) AS n FROM {}.shrike_migrations",
                self.db()
            ),
            &[],
        )
    }

    fn generation(&self) -> Result<(i64, i64, i64), StoreError> {
        let db = self.db();
        let rows = self
            .rows(
                &format!(
                    "SELECT (SELECT max(id) FROM {db}.cycles) AS c, \
                     (SELECT max(id) FROM {db}.feedback) AS f, (SELECT count() FROM {db}.feedback) AS n"
                ),
                &[],
            )
            .map_err(self.remote())?;
        let r = rows.first().cloned().unwrap_or_default();
        let get = |k: &str| r[k].as_i64().unwrap_or(0);
        Ok((get("c"), get("f"), get("n")))
    }

    fn cycle_summaries(&self, limit: usize) -> Result<Vec<CycleSummary>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT * FROM (SELECT id, toUnixTimestamp64Milli(started_at) AS t, \
                     toUnixTimestamp64Milli(horizon_start) AS hs, toUnixTimestamp64Milli(horizon_end) AS he, \
                     sessions, scored, anomalies, anomaly_rate, metrics FROM {}.cycles \
                     ORDER BY id DESC LIMIT {{limit:UInt64}}) ORDER BY id",
                    self.db()
                ),
                &[("limit", limit.to_string())],
            )
            .map_err(self.remote())?;
        rows.iter()
            .map(|r| {
                Ok(CycleSummary {
                    id: int(r, "id")?,
                    started_at: Timestamp::from_millis(int(r, "t")?),
                    horizon_start: Timestamp::from_millis(int(r, "hs")?),
                    horizon_end: Timestamp::from_millis(int(r, "he")?),
                    sessions: int(r, "sessions")? as u64,
                    scored: int(r, "scored")? as u64,
                    anomalies: int(r, "anomalies")? as u64,
                    anomaly_rate: r["anomaly_rate"].as_f64().unwrap_or(0.0),
                    metrics: text(r, "metrics"),
                })
            })
            .collect::<Result<_, ChError>>()
            .map_err(self.remote())
    }

    fn level_timeline(&self, cycle: i64) -> Result<Vec<(Timestamp, ThreatLevel, u64)>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT toUnixTimestamp(window_start) * 1000 AS w, toString(threat_level) AS level, \
                     count() AS n FROM {}.all_scores WHERE cycle_id = {{c:UInt64}} \
                     GROUP BY w, level ORDER BY w, level",
                    self.db()
                ),
                &[("c", cycle.to_string())],
            )
            .map_err(self.remote())?;
        rows.iter()
            .map(|r| {
                let n = r["n"]
                    .as_u64()
                    .ok_or_else(|| ChError::Decode(format!("timeline row {r}")))?;
                Ok((
                    Timestamp::from_millis(int(r, "w")?),
                    crate::store::parsed(r, "level")?,
                    n,
                ))
            })
            .collect::<Result<_, ChError>>()
            .map_err(self.remote())
    }

    fn top_values(&self, cycle: i64, by: TopBy, limit: usize) -> Result<Vec<TopValue>, StoreError> {
        // The grouping expressions are constants chosen by an enum, never request text.
        let (key, label) = match by {
            TopBy::Asn => ("toString(s.asn)", "max(s.asn_org)"),
            TopBy::Country => ("s.country", "''"),
            TopBy::Ja4 => ("a.ja4", "''"),
            TopBy::Host => ("a.host", "''"),
        };
        let rows = self
            .rows(
                &format!(
                    "SELECT {key} AS k, {label} AS label, count() AS n, countIf(a.is_anomaly) AS anomalies, \
                     sum(s.hits) AS hits {} WHERE a.cycle_id = {{c:UInt64}} GROUP BY k \
                     ORDER BY anomalies DESC, n DESC, k LIMIT {{limit:UInt64}}",
                    threat_join(self.db())
                ),
                &[("c", cycle.to_string()), ("limit", limit.to_string())],
            )
            .map_err(self.remote())?;
        Ok(rows
            .iter()
            .map(|r| TopValue {
                key: text(r, "k"),
                label: text(r, "label"),
                sessions: r["n"].as_u64().unwrap_or(0),
                anomalies: r["anomalies"].as_u64().unwrap_or(0),
                hits: r["hits"].as_u64().unwrap_or(0),
            })
            .collect())
    }

    fn threat_total(&self, cycle: i64, f: &ThreatFilter) -> Result<u64, StoreError> {
        let db = self.db();
        let total = self.one_int(
            &format!("SELECT count() AS n FROM {db}.all_scores AS a {THREAT_WHERE}"),
            &threat_params(cycle, f),
        )?;
        Ok(total as u64)
    }

    fn threat_page(&self, cycle: i64, f: &ThreatFilter) -> Result<Vec<ThreatRow>, StoreError> {
        let mut params = threat_params(cycle, f);
        let after = f.after.as_ref();
        params.extend([
            ("limit", f.limit.to_string()),
            ("offset", f.offset.to_string()),
            ("after", after.is_some().to_string()),
            (
                "a_score",
                after.map_or(0.0, |c| c.anomaly_score).to_string(),
            ),
            ("a_ip", escape(after.map_or("", |c| c.src_ip.as_str()))),
            ("a_w", after.map_or(0, |c| c.window_start_ms).to_string()),
            ("a_ja4", escape(after.map_or("", |c| c.ja4.as_str()))),
            ("a_host", escape(after.map_or("", |c| c.host.as_str()))),
        ]);
        self.threat_rows(
            &format!(
                "{THREAT_SELECT} {} {THREAT_WHERE} \
                 AND (NOT {{after:Bool}} OR a.anomaly_score < {{a_score:Float64}} \
                      OR (a.anomaly_score = {{a_score:Float64}} \
                          AND (a.src_ip, toUnixTimestamp(a.window_start) * 1000, a.ja4, a.host) \
                              > ({{a_ip:String}}, {{a_w:Int64}}, {{a_ja4:String}}, {{a_host:String}}))) \
                 ORDER BY a.anomaly_score DESC, a.src_ip, a.window_start, a.ja4, a.host \
                 LIMIT {{limit:UInt64}} OFFSET {{offset:UInt64}}",
                threat_join(self.db())
            ),
            &params,
        )
    }

    fn threat(
        &self,
        cycle: i64,
        window_start: Timestamp,
        src_ip: &str,
        ja4: &str,
        host: &str,
    ) -> Result<Option<ThreatRow>, StoreError> {
        let rows = self.threat_rows(
            &format!(
                "{THREAT_SELECT} {} WHERE a.cycle_id = {{c:UInt64}} \
                 AND a.window_start = toDateTime(intDiv({{w:Int64}}, 1000), 'UTC') \
                 AND a.src_ip = {{ip:String}} AND a.ja4 = {{ja4:String}} AND a.host = {{host:String}} LIMIT 1",
                threat_join(self.db())
            ),
            &[
                ("c", cycle.to_string()),
                ("w", window_start.millis().to_string()),
                ("ip", escape(src_ip)),
                ("ja4", escape(ja4)),
                ("host", escape(host)),
            ],
        )?;
        Ok(rows.into_iter().next())
    }

    fn cycle_threats(&self, cycle: i64, since: Timestamp) -> Result<Vec<ThreatRow>, StoreError> {
        self.threat_rows(
            &format!(
                "{THREAT_SELECT} {} WHERE a.cycle_id = {{c:UInt64}} \
                 AND toUnixTimestamp(a.window_start) * 1000 >= {{since:Int64}} \
                 ORDER BY a.window_start, a.src_ip, a.ja4, a.host",
                threat_join(self.db())
            ),
            &[
                ("c", cycle.to_string()),
                ("since", since.millis().to_string()),
            ],
        )
    }

    fn decisions(
        &self,
        kind: Option<DecisionKind>,
        offset: usize,
        limit: usize,
    ) -> Result<(u64, Vec<DecisionRow>), StoreError> {
        let kind = kind.map(DecisionKind::as_str);
        let db = self.db();
        let filter = "WHERE isNull({kind:Nullable(String)}) OR kind = {kind:Nullable(String)}";
        let params = [
            ("kind", nullable(&kind)),
            ("limit", limit.to_string()),
            ("offset", offset.to_string()),
        ];
        let total = self.one_int(
            &format!("SELECT count() AS n FROM {db}.decisions {filter}"),
            &params,
        )?;
        // A decision's id: its cycle and its rank in the cycle.
        let rows = self
            .rows(
                &format!(
                    "SELECT cycle_id * 1000000 + seq AS id, cycle_id, toUnixTimestamp64Milli(at) AS t, \
                     toString(kind) AS kind, toString(model) AS model, payload FROM {db}.decisions {filter} \
                     ORDER BY cycle_id DESC, seq DESC LIMIT {{limit:UInt64}} OFFSET {{offset:UInt64}}"
                ),
                &params,
            )
            .map_err(self.remote())?;
        let page = rows
            .iter()
            .map(|r| {
                Ok(DecisionRow {
                    id: int(r, "id")?,
                    cycle_id: int(r, "cycle_id")?,
                    at: Timestamp::from_millis(int(r, "t")?),
                    kind: crate::store::parsed(r, "kind")?,
                    model: crate::store::feature_set(r, "model")?,
                    payload: text(r, "payload"),
                })
            })
            .collect::<Result<_, ChError>>()
            .map_err(self.remote())?;
        Ok((total as u64, page))
    }

    fn models(&self) -> Result<Vec<ModelRow>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT toString(model) AS model, version, cycle_id, \
                     toUnixTimestamp64Milli(trained_at) AS t, meta FROM {}.models FINAL \
                     ORDER BY trained_at DESC, model, version",
                    self.db()
                ),
                &[],
            )
            .map_err(self.remote())?;
        rows.iter()
            .map(|r| {
                Ok(ModelRow {
                    model: crate::store::parsed(r, "model")?,
                    version: text(r, "version"),
                    cycle_id: int(r, "cycle_id")?,
                    trained_at: Timestamp::from_millis(int(r, "t")?),
                    meta: text(r, "meta"),
                })
            })
            .collect::<Result<_, ChError>>()
            .map_err(self.remote())
    }

    fn fleets(&self, cycle: i64) -> Result<Vec<FleetRow>, StoreError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT * FROM {}.fleet_detections WHERE cycle_id = {{c:UInt64}} \
                     ORDER BY flagged DESC, sessions DESC, fleet_id",
                    self.db()
                ),
                &[("c", cycle.to_string())],
            )
            .map_err(self.remote())?;
        rows.iter()
            .map(|r| {
                Ok(FleetRow {
                    fleet_id: int(r, "fleet_id")?,
                    sessions: int(r, "sessions")? as usize,
                    ips: int(r, "ips")? as usize,
                    prefixes: int(r, "prefixes")? as usize,
                    asns: text(r, "asns"),
                    ja4s: text(r, "ja4s"),
                    mean_browser_confidence: r["mean_browser_confidence"].as_f64().unwrap_or(0.0),
                    score: r["score"].as_f64().unwrap_or(0.0),
                    flagged: r["flagged"].as_bool().unwrap_or(false),
                })
            })
            .collect::<Result<_, ChError>>()
            .map_err(self.remote())
    }

    fn campaign_count(&self, cycle: i64) -> Result<u64, StoreError> {
        self.one_int(
            &format!(
                "SELECT count() AS n FROM {}.campaigns FINAL WHERE last_cycle = {{c:UInt64}}",
                self.db()
            ),
            &[("c", cycle.to_string())],
        )
        .map(|n| n as u64)
    }
}
