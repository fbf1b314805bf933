//! Copies shrike's loaded dictionaries into the `src_*` tables the ClickHouse dictionaries
//! read, then reloads them, so that the feature view enriches with exactly what the Rust
//! sessionizer uses.

use serde_json::json;
use shrike_dict::Dictionaries;

use crate::{ChError, Client};

/// Rows written per source table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// `(table, rows)`.
    pub tables: Vec<(&'static str, usize)>,
}

fn replace(
    client: &Client,
    table: &'static str,
    rows: Vec<serde_json::Value>,
) -> Result<usize, ChError> {
    let db = &client.url().database;
    client.execute(&format!("TRUNCATE TABLE {db}.{table}"))?;
    let n = rows.len();
    if n > 0 {
        let mut body = Vec::new();
        for r in rows {
            body.extend_from_slice(r.to_string().as_bytes());
            body.push(b'\n');
        }
        client.insert(
            &format!("INSERT INTO {db}.{table} FORMAT JSONEachRow"),
            &body,
            &[],
        )?;
    }
    Ok(n)
}

fn sorted(m: &std::collections::HashMap<String, String>) -> Vec<(&String, &String)> {
    let mut v: Vec<(&String, &String)> = m.iter().collect();
    v.sort();
    v
}

/// Replaces the dictionary source tables with `d` and reloads the dictionaries.
pub fn sync_dictionaries(client: &Client, d: &Dictionaries) -> Result<SyncReport, ChError> {
    let mut report = SyncReport::default();
    let bot_ip = d
        .bot_ip
        .entries()
        .into_iter()
        .map(|(ip, len, name)| json!({"cidr": format!("{ip}/{len}"), "bot_name": name}))
        .collect();
    report
        .tables
        .push(("src_bot_ip", replace(client, "src_bot_ip", bot_ip)?));
    let bot_ja4 = sorted(&d.bot_ja4)
        .into_iter()
        .map(|(k, v)| json!({"ja4": k, "bot_name": v}))
        .collect();
    report
        .tables
        .push(("src_bot_ja4", replace(client, "src_bot_ja4", bot_ja4)?));
    let browser_ja4 = sorted(&d.browser_ja4)
        .into_iter()
        .map(|(k, v)| json!({"ja4": k, "browser_family": v}))
        .collect();
    report.tables.push((
        "src_browser_ja4",
        replace(client, "src_browser_ja4", browser_ja4)?,
    ));
    let browser_h2 = sorted(&d.browser_h2)
        .into_iter()
        .map(|(k, v)| json!({"fingerprint": k, "browser_family": v}))
        .collect();
    report.tables.push((
        "src_browser_h2",
        replace(client, "src_browser_h2", browser_h2)?,
    ));
    let mut orders: Vec<(&String, &String)> = d
        .family_pseudo_orders
        .iter()
        .flat_map(|(f, set)| set.iter().map(move |o| (f, o)))
        .collect();
    orders.sort();
    let orders = orders
        .into_iter()
        .map(|(f, o)| json!({"browser_family": f, "pseudo_order": o}))
        .collect();
    report.tables.push((
        "src_pseudo_orders",
        replace(client, "src_pseudo_orders", orders)?,
    ));
    let mut asns: Vec<_> = d.asn_reputation.iter().collect();
    asns.sort();
    let asns = asns
        .into_iter()
        .map(|(a, l)| json!({"asn": a, "label": l.as_str()}))
        .collect();
    report.tables.push((
        "src_asn_reputation",
        replace(client, "src_asn_reputation", asns)?,
    ));
    let db = &client.url().database;
    for dict in [
        "dict_bot_ip",
        "dict_bot_ja4",
        "dict_browser_ja4",
        "dict_browser_h2",
        "dict_pseudo_orders",
        "dict_asn_reputation",
    ] {
        client.execute(&format!("SYSTEM RELOAD DICTIONARY {db}.{dict}"))?;
    }
    Ok(report)
}
