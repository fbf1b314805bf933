//! Sessions out, for analysis: every stored session of a window range with its enrichment,
//! the latest cycle's verdict on it and its 75 features as named columns, as CSV (RFC 4180),
//! JSON Lines or Parquet, which pandas, DuckDB and spreadsheets read as they are.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::IpAddr;

use shrike_features::FeatureId;
use shrike_store::{ScoreRow, SessionRow};
use shrike_types::{SessionKey, ThreatLevel};

use crate::formats::csv_cell;

/// The table formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// A header line, then one line per session.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet (one row group, uncompressed: see [`crate::parquet`]).
    Parquet,
}

/// An address prefix (`192.0.2.0/24`, `2001:db8::/32`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    net: IpAddr,
    len: u8,
}

impl Prefix {
    /// Parses `a.b.c.d/n`, `x::/n` or an address alone.
    pub fn parse(text: &str) -> Option<Prefix> {
        let (addr, len) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let net: IpAddr = addr.trim().parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        (len <= max).then_some(Prefix { net, len })
    }

    /// Whether `ip` is inside.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ((net, width), (addr, w)) = (bits(self.net), bits(ip));
        if width != w {
            return false;
        }
        let shift = width - u32::from(self.len);
        let mask = if shift >= 128 { 0 } else { !0u128 << shift };
        (net & mask) == (addr & mask)
    }
}

/// Which sessions to write.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only sessions whose latest verdict is one of these (none: every session, scored or
    /// not).
    pub levels: Vec<ThreatLevel>,
    /// Only addresses in this prefix.
    pub prefix: Option<Prefix>,
}

/// The columns before the features (the request count is the feature `hits`).
const HEAD: [&str; 22] = [
    "window_start",
    "window_start_ms",
    "src_ip",
    "ja4",
    "host",
    "first_seen_ms",
    "last_seen_ms",
    "asn",
    "asn_org",
    "country",
    "asn_label",
    "bot_name",
    "browser_family",
    "correlated",
    "user_agent",
    "tcp_fingerprint",
    "h2_fingerprint",
    "level",
    "anomaly_score",
    "is_anomaly",
    "campaign_id",
    "reason",
];

/// Writes the sessions `filter` keeps, each with its verdict in `verdicts` (the latest
/// cycle's scores); returns how many were written.
pub fn write_sessions(
    out: &mut impl Write,
    sessions: &[SessionRow],
    verdicts: &[ScoreRow],
    filter: &SessionFilter,
    format: TableFormat,
) -> io::Result<usize> {
    let by_key: HashMap<&SessionKey, &ScoreRow> = verdicts.iter().map(|s| (&s.key, s)).collect();
    if format == TableFormat::Parquet {
        let kept: Vec<(&SessionRow, Option<&ScoreRow>)> = sessions
            .iter()
            .map(|s| (s, by_key.get(&s.key).copied()))
            .filter(|(s, v)| keep(filter, s, *v))
            .collect();
        crate::parquet::write(out, &columns(&kept))?;
        return Ok(kept.len());
    }
    if format == TableFormat::Csv {
        let names: Vec<&str> = HEAD
            .iter()
            .copied()
            .chain(FeatureId::ALL.iter().map(|f| f.name()))
            .collect();
        writeln!(out, "{}", names.join(","))?;
    }
    let mut written = 0;
    for s in sessions {
        let verdict = by_key.get(&s.key).copied();
        if !keep(filter, s, verdict) {
            continue;
        }
        match format {
            TableFormat::Csv => csv_row(out, s, verdict)?,
            TableFormat::Jsonl | TableFormat::Parquet => json_row(out, s, verdict)?,
        }
        written += 1;
    }
    Ok(written)
}

/// Whether `filter` keeps a session with this verdict.
fn keep(filter: &SessionFilter, s: &SessionRow, verdict: Option<&ScoreRow>) -> bool {
    (filter.levels.is_empty() || verdict.is_some_and(|v| filter.levels.contains(&v.threat_level)))
        && filter.prefix.is_none_or(|p| p.contains(s.key.src_ip))
}

/// The kept sessions as Parquet columns, in the order and with the names of the CSV header.
fn columns(kept: &[(&SessionRow, Option<&ScoreRow>)]) -> Vec<crate::parquet::Column> {
    use crate::parquet::{Column, Values};
    let text = |f: &dyn Fn(&SessionRow, Option<&ScoreRow>) -> Option<String>| {
        Values::Text(kept.iter().map(|(s, v)| f(s, *v)).collect())
    };
    let int = |f: &dyn Fn(&SessionRow, Option<&ScoreRow>) -> Option<i64>| {
        Values::Int(kept.iter().map(|(s, v)| f(s, *v)).collect())
    };
    let head: Vec<Values> = vec![
        text(&|s, _| Some(s.key.window_start.to_string())),
        int(&|s, _| Some(s.key.window_start.millis())),
        text(&|s, _| Some(s.key.src_ip.to_string())),
        text(&|s, _| Some(s.key.ja4_str().to_string())),
        text(&|s, _| Some(s.key.host.clone())),
        int(&|s, _| Some(s.first_seen.millis())),
        int(&|s, _| Some(s.last_seen.millis())),
        int(&|s, _| Some(i64::from(s.asn))),
        text(&|s, _| Some(s.asn_org.clone())),
        text(&|s, _| Some(s.country.clone())),
        text(&|s, _| Some(s.asn_label.as_str().to_string())),
        text(&|s, _| Some(s.bot_name.clone())),
        text(&|s, _| Some(s.browser_family.clone())),
        Values::Bool(kept.iter().map(|(s, _)| Some(s.correlated)).collect()),
        text(&|s, _| Some(s.user_agent.clone())),
        text(&|s, _| Some(s.tcp_fingerprint.clone())),
        text(&|s, _| Some(s.h2_fingerprint.clone())),
        text(&|_, v| v.map(|v| v.threat_level.as_str().to_string())),
        Values::Double(
            kept.iter()
                .map(|(_, v)| v.map(|v| v.anomaly_score))
                .collect(),
        ),
        Values::Bool(kept.iter().map(|(_, v)| v.map(|v| v.is_anomaly)).collect()),
        int(&|_, v| v.map(|v| v.campaign_id)),
        text(&|_, v| v.map(|v| v.reason.clone())),
    ];
    let mut out: Vec<Column> = HEAD
        .iter()
        .zip(head)
        .map(|(name, values)| Column {
            name: (*name).to_string(),
            values,
        })
        .collect();
    for f in FeatureId::ALL {
        out.push(Column {
            name: f.name().to_string(),
            values: Values::Float(
                kept.iter()
                    .map(|(s, _)| s.features.get(f.index()).copied().unwrap_or(f32::NAN))
                    .collect(),
            ),
        });
    }
    out
}

fn csv_row(out: &mut impl Write, s: &SessionRow, v: Option<&ScoreRow>) -> io::Result<()> {
    let k = &s.key;
    write!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},",
        k.window_start,
        k.window_start.millis(),
        k.src_ip,
        csv_cell(k.ja4_str()),
        csv_cell(&k.host),
        s.first_seen.millis(),
        s.last_seen.millis(),
        s.asn,
        csv_cell(&s.asn_org),
        csv_cell(&s.country),
        s.asn_label.as_str(),
        csv_cell(&s.bot_name),
        csv_cell(&s.browser_family),
        u8::from(s.correlated),
        csv_cell(&s.user_agent),
        csv_cell(&s.tcp_fingerprint),
        csv_cell(&s.h2_fingerprint),
    )?;
    match v {
        Some(v) => write!(
            out,
            "{},{},{},{},{}",
            v.threat_level,
            v.anomaly_score,
            u8::from(v.is_anomaly),
            v.campaign_id,
            csv_cell(&v.reason)
        )?,
        None => write!(out, ",,,,")?,
    }
    for x in &s.features {
        // Rust prints the shortest text that reads back to the same f32.
        write!(out, ",{x}")?;
    }
    writeln!(out)
}

fn json_row(out: &mut impl Write, s: &SessionRow, v: Option<&ScoreRow>) -> io::Result<()> {
    use serde_json::{json, Map, Value};
    let k = &s.key;
    let mut row = Map::new();
    let head = [
        json!(k.window_start.to_string()),
        json!(k.window_start.millis()),
        json!(k.src_ip.to_string()),
        json!(k.ja4_str()),
        json!(k.host),
        json!(s.first_seen.millis()),
        json!(s.last_seen.millis()),
        json!(s.asn),
        json!(s.asn_org),
        json!(s.country),
        json!(s.asn_label.as_str()),
        json!(s.bot_name),
        json!(s.browser_family),
        json!(s.correlated),
        json!(s.user_agent),
        json!(s.tcp_fingerprint),
        json!(s.h2_fingerprint),
        v.map_or(Value::Null, |v| json!(v.threat_level.as_str())),
        v.map_or(Value::Null, |v| json!(v.anomaly_score)),
        v.map_or(Value::Null, |v| json!(v.is_anomaly)),
        v.map_or(Value::Null, |v| json!(v.campaign_id)),
        v.map_or(Value::Null, |v| json!(v.reason)),
    ];
    for (name, value) in HEAD.iter().zip(head) {
        row.insert((*name).to_string(), value);
    }
    for (f, x) in FeatureId::ALL.iter().zip(&s.features) {
        // Through the shortest decimal text, so that the JSON says what CSV says.
        let value = x
            .to_string()
            .parse::<f64>()
            .map_or(Value::Null, |d| json!(d));
        row.insert(f.name().to_string(), value);
    }
    serde_json::to_writer(&mut *out, &Value::Object(row))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_contain_what_they_should() {
        let p = Prefix::parse("192.0.2.0/24").unwrap();
        assert!(p.contains("192.0.2.77".parse().unwrap()));
        assert!(!p.contains("192.0.3.1".parse().unwrap()));
        assert!(!p.contains("2001:db8::1".parse().unwrap()));
        let p = Prefix::parse("2001:db8::/32").unwrap();
        assert!(p.contains("2001:db8:ffff::1".parse().unwrap()));
        assert!(!p.contains("2001:db9::1".parse().unwrap()));
        assert!(Prefix::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Prefix::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
        assert!(!Prefix::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.2".parse().unwrap()));
        for bad in ["10.0.0.0/33", "x/8", "10.0.0.0/", "::/129"] {
            assert_eq!(Prefix::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_feature_is_a_named_column_and_text_is_escaped() {
        let key = SessionKey {
            window_start: shrike_types::Timestamp::from_millis(1_714_521_600_000),
            src_ip: "192.0.2.9".parse().unwrap(),
            ja4: None,
            host: "a,b.example".into(),
        };
        let mut s = SessionRow::new(key);
        s.user_agent = "=cmd|' /C calc'!A0".into();
        s.features = (0..FeatureId::COUNT)
            .map(|i| i as f32 / 3.0 - 1.0)
            .collect();
        let mut out = Vec::new();
        let n = write_sessions(
            &mut out,
            &[s.clone()],
            &[],
            &SessionFilter::default(),
            TableFormat::Csv,
        )
        .unwrap();
        assert_eq!(n, 1);
        let text = String::from_utf8(out).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header.len(), HEAD.len() + FeatureId::COUNT);
        let unique: std::collections::BTreeSet<&&str> = header.iter().collect();
        assert_eq!(unique.len(), header.len(), "a column name twice");
        assert_eq!(header[HEAD.len()], FeatureId::ALL[0].name());
        let row = lines.next().unwrap();
        assert!(row.contains("\"a,b.example\""), "{row}");
        assert!(row.contains("'=cmd"), "a formula is neutralised: {row}");
        // Features read back to the same f32.
        let last: f32 = row.rsplit(',').next().unwrap().parse().unwrap();
        assert_eq!(last, *s.features.last().unwrap());
        let mut out = Vec::new();
        write_sessions(
            &mut out,
            &[s.clone()],
            &[],
            &SessionFilter::default(),
            TableFormat::Jsonl,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["host"], "a,b.example");
        assert_eq!(v["level"], serde_json::Value::Null);
        assert_eq!(
            v[FeatureId::ALL[1].name()].as_f64().unwrap() as f32,
            s.features[1]
        );
        // A level filter keeps only sessions with a verdict of that level.
        let mut out = Vec::new();
        let f = SessionFilter {
            levels: vec![ThreatLevel::High],
            prefix: None,
        };
        assert_eq!(
            write_sessions(&mut out, &[s], &[], &f, TableFormat::Jsonl).unwrap(),
            0
        );
    }
}
