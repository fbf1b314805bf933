//! End-to-end runs of the `shrike` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shrike(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shrike"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SHRIKE_STORE")
        .output()
        .unwrap()
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/example.jsonl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

#[test]
fn bad_flags_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = shrike(&["ingest", "nope.jsonl", "--store", "s.db"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("nope.jsonl"), "{}", text(&o));
    let o = shrike(&["ingest", "x", "--format", "xml"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("jsonl"), "{}", text(&o));
    std::fs::write(dir.path().join("bad.toml"), "[ingest]\nmax_reject = 1\n").unwrap();
    let o = shrike(&["--config", "bad.toml", "ingest", "x"], dir.path());
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("max_reject"), "{}", text(&o));
}

#[test]
fn every_command_has_help() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [
        vec!["--help"],
        vec!["demo", "--help"],
        vec!["ingest", "--help"],
        vec!["simulate", "--help"],
        vec!["bench", "ingest", "--help"],
    ] {
        let o = shrike(&cmd, dir.path());
        assert!(o.status.success(), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("Usage"),
            "{cmd:?}"
        );
    }
}

#[test]
fn demo_simulates_ingests_and_reports_every_population() {
    let dir = tempfile::tempdir().unwrap();
    let o = shrike(
        &[
            "demo",
            "--hours",
            "2",
            "--humans-per-hour",
            "80",
            "--out",
            "sim",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    for pop in [
        "human",
        "googlebot",
        "scraper",
        "credential_stuffing",
        "headless_chrome",
        "vuln_scanner",
        "residential_proxy_fleet",
        "ai_crawler",
        "chrome_impersonator",
    ] {
        assert!(out.contains(pop), "{pop} missing:\n{out}");
    }
    assert!(
        !out.contains("unlabelled"),
        "every session has ground truth:\n{out}"
    );
}

#[test]
fn detect_scores_the_demo_store_reuses_its_model_and_skips_thin_data() {
    let dir = tempfile::tempdir().unwrap();
    let o = shrike(
        &[
            "demo",
            "--hours",
            "6",
            "--humans-per-hour",
            "150",
            "--out",
            "sim",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let store = dir.path().join("sim/demo.db");
    let store = store.to_str().unwrap();
    let o = shrike(&["detect", "--store", store], dir.path());
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("MODEL_TRAINED complete"), "{out}");
    assert!(out.contains("KNOWN_BOT"), "{out}");
    assert!(out.contains("LEGITIMATE_BROWSER"), "{out}");
    // Second cycle on the same data: the model is young and nothing drifted.
    let o = shrike(&["detect", "--store", store], dir.path());
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("MODEL_LOADED complete"), "{out}");
    assert!(out.contains("cycle 2:"), "{out}");
    // A baseline requirement above the data: the cycle says so and scores nothing.
    let o = Command::new(env!("CARGO_BIN_EXE_shrike"))
        .args(["detect", "--store", store])
        .env("SHRIKE_MIN_BASELINE_SESSIONS", "1000000")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("SKIPPED_LOW_DATA"), "{out}");
    // A bad setting names its key and the allowed values.
    let o = Command::new(env!("CARGO_BIN_EXE_shrike"))
        .args(["detect", "--store", store])
        .env("SHRIKE_ANOMALY_PERCENTILE", "300")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("anomaly_percentile"), "{}", text(&o));
}
