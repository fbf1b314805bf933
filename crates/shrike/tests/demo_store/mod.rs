//! The demo store the server tests share: made once per test binary by `shrike demo`,
//! with its most anomalous session given an attacker's user agent and host; each test
//! works on its own copy.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use shrike_store::{DashboardStore, SqliteStore, ThreatFilter, VerdictStore};

/// What the browser must show as text, never run.
pub const EVIL_UA: &str = "<script>alert(1)</script><img src=x onerror=\"window.__xss=1\">";
/// A JA4 is checked when read (a forged one is a corrupt row); a host is free text.
pub const EVIL_HOST: &str = "shop\"'><svg onload=alert(2)>";

/// A demo store, made once; each test works on its own copy.
pub fn demo_store() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = crate::support::command(&dir)
            .args([
                "demo",
                "--no-serve",
                "--hours",
                "6",
                "--humans-per-hour",
                "150",
            ])
            .args(["--out", "sim"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let db = dir.join("sim/demo.db");
        poison(&db);
        db
    })
}

/// Gives the most anomalous session of the latest cycle an attacker's user agent and JA4,
/// in `sessions` and `all_scores` alike.
pub fn poison(db: &Path) {
    let store = SqliteStore::open(db).unwrap();
    let (cycle, _) = store.latest_cycle().unwrap().unwrap();
    let f = ThreatFilter {
        anomalies_only: true,
        limit: 1,
        ..ThreatFilter::default()
    };
    let (_, top) = store.threats(cycle, &f).unwrap();
    let t = &top[0].score;
    drop(store);
    let c = rusqlite::Connection::open(db).unwrap();
    let key = rusqlite::params![
        t.key.window_start.millis(),
        t.key.src_ip.to_string(),
        t.key.ja4_str(),
        t.key.host,
        EVIL_UA,
        EVIL_HOST
    ];
    c.execute(
        "UPDATE sessions SET user_agent = ?5, host = ?6
         WHERE window_start_ms = ?1 AND src_ip = ?2 AND ja4 = ?3 AND host = ?4",
        key,
    )
    .unwrap();
    c.execute(
        "UPDATE all_scores SET host = ?6
         WHERE window_start_ms = ?1 AND src_ip = ?2 AND ja4 = ?3 AND host = ?4 AND ?5 != ''",
        key,
    )
    .unwrap();
}

/// A private copy of the demo store.
pub fn copy_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().join("shrike.db");
    std::fs::copy(demo_store(), &to).unwrap();
    (dir, to)
}
