//! `shrike ingest` end to end: rejects kept and reported, idempotent re-runs, a log that
//! grew continued where it stopped, and concurrent ingests and a cycle on one store.

mod support;

use support::{shrike, text};

use std::path::{Path, PathBuf};

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/example.jsonl")
}

#[test]
fn ingest_reports_rejects_keeps_them_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let input = example();
    let input = input.to_str().unwrap();
    let o = shrike(&["ingest", input, "--store", "s.db"], dir.path());
    // 1 of 3 lines is invalid: above the default 5% limit → exit code 3, valid lines stored.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("rejected invalid_ip: 1"), "{out}");
    assert!(out.contains("2 sessions"), "{out}");
    let dead = std::fs::read_to_string(dir.path().join("rejected.jsonl")).unwrap();
    assert!(
        dead.contains("\"line\":3") && dead.contains("not-an-ip"),
        "{dead}"
    );

    let o = shrike(&["ingest", input, "--store", "s.db"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("already ingested"), "{}", text(&o));
    assert!(text(&o).contains("store s.db: 2 sessions"), "{}", text(&o));
    // The first run fingerprinted the file as it read it (no earlier ingest had its size):
    // the fingerprint on record is the file's SHA-256, and the same content under another
    // name is recognised.
    use sha2::Digest;
    use shrike_store::IngestLedger;
    let digest: String = sha2::Sha256::digest(std::fs::read(input).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let store = shrike_store::SqliteStore::open(&dir.path().join("s.db")).unwrap();
    assert!(store.source_seen(&digest).unwrap().is_some());
    drop(store);
    std::fs::copy(input, dir.path().join("copy.jsonl")).unwrap();
    let o = shrike(&["ingest", "copy.jsonl", "--store", "s.db"], dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("already ingested"), "{}", text(&o));

    let o = shrike(
        &[
            "ingest",
            input,
            "--store",
            "t.db",
            "--max-reject-ratio",
            "0.5",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// The stored sessions of a store, without what depends on the store's secret key.
fn session_features(db: &Path) -> Vec<(String, Vec<f32>)> {
    let store = shrike_store::SqliteStore::open(db).unwrap();
    let mut rows: Vec<_> = store
        .sessions()
        .unwrap()
        .into_iter()
        .map(|r| {
            let key = format!(
                "{} {} {} {} hits={} bot={} family={}",
                r.key.window_start.millis(),
                r.key.src_ip,
                r.key.ja4_str(),
                r.key.host,
                r.hits,
                r.bot_name,
                r.browser_family
            );
            (key, r.features)
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn a_log_that_grew_is_read_from_where_the_last_run_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::simulate(d, "3", "40");
    let whole = std::fs::read(d.join("sim/traffic.jsonl")).unwrap();
    let lines = whole.iter().filter(|b| **b == b'\n').count();
    // Cut on the line boundary nearest the middle of the file.
    let mid = whole[..whole.len() / 2]
        .iter()
        .rposition(|b| *b == b'\n')
        .unwrap()
        + 1;
    let log = d.join("access.jsonl");
    std::fs::write(&log, &whole[..mid]).unwrap();
    let o = shrike(&["ingest", "access.jsonl", "--store", "grown.db"], d);
    assert!(o.status.success(), "{}", text(&o));

    // The file grows: the rest of the traffic, then one bad line.
    let mut grown = whole.clone();
    grown.extend_from_slice(b"{\"time\":\"2024-05-01T01:00:00Z\",\"src_ip\":\"999.1.1.1\"}\n");
    std::fs::write(&log, &grown).unwrap();
    let o = shrike(&["ingest", "access.jsonl", "--store", "grown.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(&format!("read from byte {mid} on")),
        "the second run must read the new bytes only: {out}"
    );
    let appended_records = whole[mid..].iter().filter(|b| **b == b'\n').count();
    assert!(
        out.contains(&format!(": {appended_records} records,")),
        "{out}"
    );
    // The bad line is reported with its line number in the whole file.
    let dead = std::fs::read_to_string(d.join("rejected.jsonl")).unwrap();
    assert!(
        dead.contains(&format!("\"line\":{}", lines + 1)),
        "line {} expected in {dead}",
        lines + 1
    );
    // A third run finds nothing new.
    let o = shrike(&["ingest", "access.jsonl", "--store", "grown.db"], d);
    assert!(text(&o).contains("already ingested"), "{}", text(&o));

    // Reading the file in two runs gives the sessions one run over the whole file gives.
    std::fs::write(d.join("whole.jsonl"), &grown).unwrap();
    let o = shrike(&["ingest", "whole.jsonl", "--store", "whole.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    let (a, b) = (
        session_features(&d.join("grown.db")),
        session_features(&d.join("whole.db")),
    );
    assert!(a.len() > 100, "{} sessions", a.len());
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }

    // A file rewritten with other content is read whole again, not continued.
    std::fs::write(&log, &whole[mid..]).unwrap();
    let o = shrike(&["ingest", "access.jsonl", "--store", "grown.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("read from byte"), "{}", text(&o));

    // --force ingests the same content a second time on purpose.
    let o = shrike(
        &["ingest", "whole.jsonl", "--store", "whole.db", "--force"],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// Requests and sessions of a store: `(sessions, sum of hits)`.
fn hits(store: &Path) -> (i64, i64) {
    let c = rusqlite::Connection::open(store).unwrap();
    c.query_row(
        "SELECT count(*), coalesce(sum(hits), 0) FROM sessions",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[test]
fn two_ingests_and_a_cycle_at_once_store_what_they_store_in_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::simulate(d, "2", "40");
    // Three parts of one log, as three files (every third line: all span the same hours,
    // so their sessions must be merged).
    let whole = std::fs::read_to_string(d.join("sim/traffic.jsonl")).unwrap();
    let mut parts = [String::new(), String::new(), String::new()];
    for (i, line) in whole.lines().enumerate() {
        parts[i % 3].push_str(line);
        parts[i % 3].push('\n');
    }
    for (name, part) in ["a.jsonl", "b.jsonl", "c.jsonl"].iter().zip(&parts) {
        std::fs::write(d.join(name), part).unwrap();
    }
    for f in ["c.jsonl", "a.jsonl", "b.jsonl"] {
        let o = shrike(&["ingest", f, "--store", "sequential.db"], d);
        assert!(o.status.success(), "{}", text(&o));
    }
    // Two ingests at once on a new store: schema creation and the merge must not race.
    let spawn = |args: &[&str]| {
        support::command(d)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let o = shrike(&["ingest", "c.jsonl", "--store", "concurrent.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    // ...and a detection cycle beside them, on the sessions stored so far.
    let children = [
        spawn(&["ingest", "a.jsonl", "--store", "concurrent.db"]),
        spawn(&["detect", "--store", "concurrent.db"]),
        spawn(&["ingest", "b.jsonl", "--store", "concurrent.db"]),
    ];
    for child in children {
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let requests = whole.lines().count() as i64;
    let sequential = hits(&d.join("sequential.db"));
    assert_eq!(sequential.1, requests);
    assert_eq!(hits(&d.join("concurrent.db")), sequential);
    // Session by session: the same requests, first and last seen.
    let per_session = |store: &str| -> Vec<(i64, String, String, String, i64, i64, i64)> {
        let c = rusqlite::Connection::open(d.join(store)).unwrap();
        let mut q = c
            .prepare(
                "SELECT window_start_ms, src_ip, ja4, host, hits, first_seen_ms, last_seen_ms
                 FROM sessions ORDER BY window_start_ms, src_ip, ja4, host",
            )
            .unwrap();
        let rows = q
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(per_session("concurrent.db"), per_session("sequential.db"));
    let c = rusqlite::Connection::open(d.join("concurrent.db")).unwrap();
    let cycles: i64 = c
        .query_row("SELECT count(*) FROM cycles", [], |r| r.get(0))
        .unwrap();
    assert_eq!(cycles, 1, "the cycle ran and was recorded");
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}
