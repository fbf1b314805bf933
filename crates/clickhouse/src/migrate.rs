//! Versioned DDL: the SQL files under `crates/clickhouse/sql/`, embedded in the binary and
//! applied in order by [`migrate`]. Each applied version is recorded in
//! `shrike_migrations` with a checksum of its text, so a changed migration is refused rather
//! than silently skipped. Statements are sent one per request (a real server refuses
//! several in one).

use crate::{ChError, Client};

/// One migration: version, name and SQL template.
pub struct Migration {
    /// Version (applied in increasing order).
    pub version: u32,
    /// File name.
    pub name: &'static str,
    /// SQL with `{db}` and `{raw_ttl_days}`, `{agg_ttl_days}`, `{output_ttl_days}`,
    /// `{audit_ttl_days}` placeholders.
    pub sql: &'static str,
}

macro_rules! migration {
    ($version:literal, $name:literal) => {
        Migration {
            version: $version,
            name: $name,
            sql: include_str!(concat!("../sql/", $name)),
        }
    };
}

/// Every migration, in order.
pub const MIGRATIONS: &[Migration] = &[
    migration!(1, "001_http_logs.sql"),
    migration!(2, "002_session_aggregates.sql"),
    migration!(3, "003_ip_aggregates.sql"),
    migration!(4, "004_dictionaries.sql"),
    migration!(5, "005_features_view.sql"),
    migration!(6, "006_outputs.sql"),
    migration!(7, "007_session_h2.sql"),
];

/// Retention of the tables (days).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Raw `http_logs`.
    pub raw_days: u32,
    /// Hourly aggregates.
    pub aggregate_days: u32,
    /// Detection outputs: scores, sessions, fleets, campaigns.
    pub output_days: u32,
    /// The audit trail: cycles, decisions, models.
    pub audit_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            raw_days: 30,
            aggregate_days: 90,
            output_days: 90,
            audit_days: 365,
        }
    }
}

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Versions applied by this run.
    pub applied: Vec<u32>,
    /// The schema version now.
    pub version: u32,
}

fn checksum(text: &str) -> String {
    // FNV-1a 64: enough to notice an edited migration.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The statements of a migration for database `db`: split after each line that ends with
/// `;` (comment lines excepted).
pub fn statements(m: &Migration, db: &str, r: &Retention) -> Vec<String> {
    let text = m
        .sql
        .replace("{db}", db)
        .replace("{raw_ttl_days}", &r.raw_days.to_string())
        .replace("{agg_ttl_days}", &r.aggregate_days.to_string())
        .replace("{output_ttl_days}", &r.output_days.to_string())
        .replace("{audit_ttl_days}", &r.audit_days.to_string());
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        cur.push_str(line);
        cur.push('\n');
        let t = line.trim_end();
        if t.ends_with(';') && !t.trim_start().starts_with("--") {
            let stmt = cur.trim().trim_end_matches(';').trim().to_string();
            if !stmt.is_empty() {
                out.push(stmt);
            }
            cur.clear();
        }
    }
    let rest = cur.trim();
    if rest
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim().starts_with("--"))
    {
        out.push(rest.to_string());
    }
    out
}

/// Creates the database when needed and applies the migrations not yet applied.
pub fn migrate(client: &Client, retention: &Retention) -> Result<MigrateReport, ChError> {
    let db = client.url().database.clone();
    // The database may not exist yet: create it from the server's default one.
    let mut admin = client.clone();
    admin.set_database("default")?;
    admin.execute(&format!("CREATE DATABASE IF NOT EXISTS {db}"))?;
    client.execute(&format!(
        "CREATE TABLE IF NOT EXISTS {db}.shrike_migrations (version UInt32, name String, \
         checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) \
         ENGINE = MergeTree ORDER BY version"
    ))?;
    let done = client.query(
        &format!(
            "SELECT version, checksum FROM {db}.shrike_migrations ORDER BY version FORMAT TSV"
        ),
        &[],
    )?;
    let done = String::from_utf8_lossy(&done);
    let applied: Vec<(u32, String)> = done
        .lines()
        .filter_map(|l| {
            let (v, c) = l.split_once('\t')?;
            Some((v.parse().ok()?, c.to_string()))
        })
        .collect();
    let mut report = MigrateReport {
        applied: Vec::new(),
        version: applied.iter().map(|(v, _)| *v).max().unwrap_or(0),
    };
    for m in MIGRATIONS {
        let sum = checksum(m.sql);
        if let Some((_, recorded)) = applied.iter().find(|(v, _)| *v == m.version) {
            if *recorded != sum {
                return Err(ChError::Migration {
                    version: m.version,
                    why: format!(
                        "{} was applied with checksum {recorded} but the binary holds {sum}: \
                         a released migration was edited",
                        m.name
                    ),
                });
            }
            continue;
        }
        for stmt in statements(m, &db, retention) {
            client.execute(&stmt).map_err(|e| ChError::Migration {
                version: m.version,
                why: format!("{}: {e}", m.name),
            })?;
        }
        client.query(
            &format!(
                "INSERT INTO {db}.shrike_migrations (version, name, checksum) \
                 VALUES ({{v:UInt32}}, {{n:String}}, {{c:String}})"
            ),
            &[
                ("v", m.version.to_string()),
                ("n", m.name.to_string()),
                ("c", sum),
            ],
        )?;
        report.applied.push(m.version);
        report.version = m.version;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_split_into_statements_with_the_database_filled_in() {
        let r = Retention::default();
        for m in MIGRATIONS {
            let s = statements(m, "edge", &r);
            assert!(!s.is_empty(), "{}", m.name);
            for stmt in &s {
                assert!(
                    !stmt.contains("{db}") && !stmt.contains("_ttl_days}"),
                    "{stmt}"
                );
                assert!(!stmt.ends_with(';'));
            }
        }
        assert_eq!(statements(&MIGRATIONS[3], "edge", &r).len(), 16);
        let versions: Vec<u32> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
    }
}
