//! `kill -9` anywhere: `shrike ingest` and `shrike detect` are killed at seeded random
//! moments, ten times each. After every kill the store passes SQLite's integrity check,
//! and a re-run ends with exactly what one uninterrupted run stores: the same sessions,
//! features included, and the same first cycle's verdicts.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{command, shrike, text};

/// Every stored session, features included, as one text (sorted by key).
fn sessions(store: &Path) -> String {
    support::sessions_text(store)
}

/// The first committed cycle's verdicts: `(address, JA4, host, level)` sorted.
fn first_cycle(store: &Path) -> String {
    let c = rusqlite::Connection::open(store).unwrap();
    let mut q = c
        .prepare(
            "SELECT window_start_ms, src_ip, ja4, host, threat_level FROM all_scores
             WHERE cycle_id = (SELECT min(id) FROM cycles)
             ORDER BY window_start_ms, src_ip, ja4, host",
        )
        .unwrap();
    let rows = q
        .query_map([], |r| {
            Ok(format!(
                "{} {} {} {} {}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

fn intact(store: &Path) {
    if !store.exists() {
        return; // killed before it created the file
    }
    let c = rusqlite::Connection::open(store).unwrap();
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", store.display());
}

/// Runs `args` in `d` and kills it with SIGKILL after `after`; whether it was killed (it
/// may finish first).
fn killed(d: &Path, args: &[&str], after: Duration) -> bool {
    let mut child = command(d)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while started.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    let _ = child.wait();
    true
}

#[test]
fn a_killed_ingest_or_detect_loses_nothing_and_a_rerun_stores_the_uninterrupted_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    support::simulate(d, "2", "30");
    let log = "sim/traffic.jsonl";

    // The uninterrupted run, timed: the kills fall within these durations.
    let started = Instant::now();
    let o = shrike(&["ingest", log, "--store", "whole/s.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    let ingest_time = started.elapsed();
    let started = Instant::now();
    let o = shrike(&["detect", "--store", "whole/s.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    let detect_time = started.elapsed();
    let (want_sessions, want_cycle) = (
        sessions(&d.join("whole/s.db")),
        first_cycle(&d.join("whole/s.db")),
    );
    assert!(want_sessions.lines().count() > 100 && want_cycle.lines().count() > 100);

    let mut rng = shrike_types::Rng::seed_from_u64(7);
    let mut at =
        |within: Duration| Duration::from_micros(rng.below(within.as_micros().max(1) as u64 + 1));
    let mut kills = 0;
    for i in 0..10 {
        let store = format!("ingest{i}/s.db");
        kills += usize::from(killed(
            d,
            &["ingest", log, "--store", &store],
            at(ingest_time),
        ));
        intact(&d.join(&store));
        let o = shrike(&["ingest", log, "--store", &store], d);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            sessions(&d.join(&store)) == want_sessions,
            "kill {i} of ingest: the re-run stored other sessions"
        );
    }
    for i in 0..10 {
        let store = format!("detect{i}/s.db");
        let o = shrike(&["ingest", log, "--store", &store], d);
        assert!(o.status.success(), "{}", text(&o));
        kills += usize::from(killed(d, &["detect", "--store", &store], at(detect_time)));
        intact(&d.join(&store));
        // The killed cycle either committed whole or left nothing: one more cycle makes
        // sure there is one, and the first one is the uninterrupted run's.
        let o = shrike(&["detect", "--store", &store], d);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            first_cycle(&d.join(&store)) == want_cycle,
            "kill {i} of detect: the first cycle's verdicts differ"
        );
    }
    // Most runs were cut short (a run may finish before its moment comes).
    assert!(kills >= 12, "only {kills} of 20 runs were killed");
}
