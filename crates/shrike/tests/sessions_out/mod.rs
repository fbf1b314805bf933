//! `shrike sessions export` in the export test, on its demo store.

use std::path::Path;
use std::process::Command;

use crate::support::{shrike, text};

/// `shrike sessions export`: JSON Lines whose features are the stored ones exactly (read
/// back through the store's `session_features` view, i.e. by plain SQL), CSV that Python's
/// csv module reads into the same rows and columns, and the level and prefix filters.
pub fn sessions_export(d: &Path, store: &Path, scores: &[shrike_store::ScoreRow]) {
    let s = store.to_str().unwrap();
    let o = shrike(
        &[
            "sessions", "export", "--store", s, "--format", "jsonl", "-o", "s.jsonl",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(d.join("s.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let c = rusqlite::Connection::open(store).unwrap();
    let sessions: i64 = c
        .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows.len() as i64, sessions);
    let names: Vec<&str> = shrike_features::FeatureId::ALL
        .iter()
        .map(|f| f.name())
        .collect();
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let mut q = c
        .prepare(&format!(
            "SELECT {} FROM session_features WHERE window_start_ms = ?1 AND src_ip = ?2 AND ja4 = ?3 AND host = ?4",
            quoted.join(", ")
        ))
        .unwrap();
    for row in rows.iter().step_by(17) {
        let values: Vec<f64> = q
            .query_row(
                rusqlite::params![
                    row["window_start_ms"].as_i64().unwrap(),
                    row["src_ip"].as_str().unwrap(),
                    row["ja4"].as_str().unwrap(),
                    row["host"].as_str().unwrap()
                ],
                |r| (0..names.len()).map(|i| r.get::<_, f64>(i)).collect(),
            )
            .unwrap();
        for (name, v) in names.iter().zip(values) {
            assert_eq!(
                row[*name].as_f64().unwrap() as f32,
                v as f32,
                "{name} of {row}"
            );
        }
    }
    let scored = rows.iter().filter(|r| !r["level"].is_null()).count();
    assert_eq!(
        scored,
        scores.len(),
        "every scored session carries its verdict"
    );

    let o = shrike(
        &[
            "sessions", "export", "--store", s, "--format", "csv", "-o", "s.csv",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let py = Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys\nr = list(csv.DictReader(open(sys.argv[1], newline='')))\nprint(json.dumps([len(r), list(r[0].keys()), [x['user_agent'] for x in r]]))",
            d.join("s.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(py.status.success(), "{}", text(&py));
    let (n, header, agents): (usize, Vec<String>, Vec<String>) =
        serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(n, rows.len());
    let keys: Vec<String> = rows[0].as_object().unwrap().keys().cloned().collect();
    let mut sorted_header = header.clone();
    sorted_header.sort();
    let mut sorted_keys = keys;
    sorted_keys.sort();
    assert_eq!(
        sorted_header, sorted_keys,
        "CSV and JSON Lines have the same columns"
    );
    assert!(header.ends_with(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>()));
    for (a, row) in agents.iter().zip(&rows) {
        let ua = row["user_agent"].as_str().unwrap();
        // Only a formula-looking agent differs: it is prefixed with a quote.
        assert!(a == ua || *a == format!("'{ua}"), "{a:?} vs {ua:?}");
    }

    // Parquet: read back by pyarrow when this machine has it.
    let o = shrike(
        &[
            "sessions",
            "export",
            "--store",
            s,
            "--format",
            "parquet",
            "-o",
            "s.parquet",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let pq = std::fs::read(d.join("s.parquet")).unwrap();
    assert!(pq.starts_with(b"PAR1") && pq.ends_with(b"PAR1"));
    let py = Command::new("python3")
        .args([
            "-c",
            "import json, sys, pyarrow.parquet as pq\nt = pq.read_table(sys.argv[1])\nprint(json.dumps(t.to_pylist()))",
            d.join("s.parquet").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    if py.status.success() {
        let table: Vec<serde_json::Value> = serde_json::from_slice(&py.stdout).unwrap();
        assert_eq!(table.len(), rows.len());
        for (a, b) in table.iter().zip(&rows) {
            for (k, v) in b.as_object().unwrap() {
                match (a[k].as_f64(), v.as_f64()) {
                    (Some(x), Some(y)) => assert_eq!(x as f32, y as f32, "{k}"),
                    _ => assert_eq!(&a[k], v, "{k}"),
                }
            }
        }
    } else {
        println!("pyarrow is not installed: the Parquet file is checked by its magic bytes only");
    }

    // Filters: levels and a prefix.
    let o = shrike(
        &[
            "sessions", "export", "--store", s, "--format", "jsonl", "--level", "CRITICAL",
            "--level", "HIGH",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let hot = scores
        .iter()
        .filter(|x| {
            matches!(
                x.threat_level,
                shrike_types::ThreatLevel::Critical | shrike_types::ThreatLevel::High
            )
        })
        .count();
    assert!(hot > 0);
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), hot);
    let ip = rows
        .iter()
        .map(|r| r["src_ip"].as_str().unwrap())
        .find(|ip| ip.contains('.'))
        .unwrap();
    let prefix = format!("{}.0/24", ip.rsplit_once('.').unwrap().0);
    let o = shrike(
        &[
            "sessions", "export", "--store", s, "--format", "jsonl", "--prefix", &prefix,
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let inside = String::from_utf8_lossy(&o.stdout).lines().count();
    assert!(inside >= 1 && inside < rows.len(), "{inside}");
    let o = shrike(
        &[
            "sessions",
            "export",
            "--store",
            s,
            "--format",
            "csv",
            "--prefix",
            "10.0.0.0/33",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("--prefix"), "{}", text(&o));
}
