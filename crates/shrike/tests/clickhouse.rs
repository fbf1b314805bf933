//! `shrike` on a ClickHouse store, end to end on the genuine engine: migrate, sync the
//! dictionaries, ingest while the server is killed and restarted, spool and replay, a
//! re-ingest deduplicated (on the shim, which the test may kill); then, on `CLICKHOUSE_URL`
//! when it is set (a real server) or the shim, a detection cycle whose verdicts, exports,
//! campaigns and dashboard API answers equal the embedded store's on the same traffic, and
//! an analyst's label that reaches the next cycle.

#[path = "../../clickhouse/tests/common/mod.rs"]
mod common;
mod support;

use support::{shrike, text, Server};

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

fn ok(o: Output) -> String {
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    t
}

fn count(client: &shrike_clickhouse::Client, sql: &str) -> u64 {
    let body = client.query(&format!("{sql} FORMAT TSV"), &[]).unwrap();
    String::from_utf8_lossy(&body).trim().parse().unwrap()
}

fn levels(out: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with("levels:"))
        .unwrap_or_else(|| panic!("no levels in {out}"))
        .trim()
        .to_string()
}

/// Parts 1–3 kill the engine: always the shim (a shared server cannot be killed).
#[test]
fn clickhouse_ingest_survives_a_killed_server_and_spools_while_it_is_down() {
    let Some(mut engine) = common::OwnEngine::start("cli_kill") else {
        return;
    };
    let t0 = Instant::now();
    let phase = |name: &str| println!("{name}: {:.1} s", t0.elapsed().as_secs_f64());
    let (dir, store, records) = setup(&engine.url);
    let cwd = dir.path();

    // 1. The server is killed once the first batches have landed, and restarted 1.5 s later:
    // the batches in flight are retried and every record arrives, once.
    let child = support::command(cwd)
        .args([
            "ingest",
            "--store",
            &store,
            "--batch-bytes",
            "262144",
            "--retry-for",
            "60",
            "sim/traffic.jsonl",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let http_logs = format!("SELECT count() FROM {}.http_logs", engine.url.database);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let landed = engine
            .client()
            .query(&format!("{http_logs} FORMAT TSV"), &[])
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if landed > 0 {
            assert!(landed < records, "the ingest finished before the kill");
            break;
        }
        assert!(Instant::now() < deadline, "no batch landed");
        std::thread::sleep(Duration::from_millis(10));
    }
    engine.kill();
    std::thread::sleep(Duration::from_millis(1500));
    engine.restart();
    let out = ok(child.wait_with_output().unwrap());
    let retries: u64 = out
        .split(" retries")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry count in {out}"));
    assert!(retries > 0, "the kill went unnoticed: {out}");
    assert_eq!(count(&engine.client(), &http_logs), records, "{out}");
    let distinct = format!(
        "SELECT uniqExact(ingest_seq) FROM {}.http_logs",
        engine.url.database
    );
    assert_eq!(count(&engine.client(), &distinct), records);

    phase("killed ingest");
    // 2. The same file again, forced, with the same batch size: the same batches under the
    // same tokens are stored once (as after a crash and a rerun).
    let out = ok(shrike(
        &[
            "ingest",
            "--store",
            &store,
            "--force",
            "--batch-bytes",
            "262144",
            "sim/traffic.jsonl",
        ],
        cwd,
    ));
    assert_eq!(count(&engine.client(), &http_logs), records, "{out}");
    let hits = format!(
        "SELECT sum(hits) FROM {}.agg_session_1h",
        engine.url.database
    );
    assert_eq!(
        count(&engine.client(), &hits),
        records,
        "the aggregates counted a batch twice"
    );

    phase("forced re-ingest");
    // 3. Down for good: batches are spooled, the run says so and fails; a replay once the
    // server is back delivers them.
    // The first 5,000 requests again, as another file (other tokens: stored again).
    let source = std::fs::read_to_string(cwd.join("sim/traffic.jsonl")).unwrap();
    let extra: String = source
        .lines()
        .take(5000)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(cwd.join("extra.jsonl"), extra).unwrap();
    engine.kill();
    let o = shrike(
        &[
            "ingest",
            "--store",
            &store,
            "--retry-for",
            "1",
            "extra.jsonl",
        ],
        cwd,
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(4), "{t}");
    assert!(
        t.contains("wait in the spool") && t.contains("ch replay"),
        "{t}"
    );
    engine.restart();
    let t = ok(shrike(&["ch", "replay", "--store", &store], cwd));
    assert!(t.contains("batches (5000 rows) sent"), "{t}");
    assert_eq!(count(&engine.client(), &http_logs), records + 5000);
    let t = ok(shrike(&["ch", "replay", "--store", &store], cwd));
    assert!(t.contains("0 batches (0 rows) sent"), "{t}");

    phase("spool and replay");
}

/// Parts 4–6 run on `CLICKHOUSE_URL` when it is set (a real server), else on the shim.
#[test]
fn clickhouse_store_detects_exports_and_serves_like_the_embedded_store() {
    let Some(engine) = common::Engine::start("cli_parity") else {
        return;
    };
    let t0 = Instant::now();
    let phase = |name: &str| println!("{name}: {:.1} s", t0.elapsed().as_secs_f64());
    let (dir, store, _) = setup(&engine.url);
    let cwd = dir.path();
    // 4. Detection on ClickHouse gives the embedded store's verdicts on the same traffic.
    ok(shrike(
        &["ingest", "--store", &store, "sim/traffic.jsonl"],
        cwd,
    ));
    ok(shrike(
        &[
            "ingest",
            "--store",
            "lite/shrike.db",
            "--dict-dir",
            "sim/dict",
            "sim/traffic.jsonl",
        ],
        cwd,
    ));
    let detect = |store: &str, models: &str| {
        ok(shrike(
            &[
                "detect",
                "--store",
                store,
                "--dict-dir",
                "sim/dict",
                "--models",
                models,
            ],
            cwd,
        ))
    };
    let lite = detect("lite/shrike.db", "lite/models");
    let ch = detect(&store, "ch-models");
    let cycle_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("cycle "))
            .map(str::to_string)
    };
    assert_eq!(cycle_line(&lite), cycle_line(&ch), "{lite}\n---\n{ch}");
    assert_eq!(levels(&lite), levels(&ch));
    phase("detect twice");
    // Every output table was written back.
    let db = &engine.url.database;
    let scored = count(
        &engine.client(),
        &format!("SELECT count() FROM {db}.all_scores"),
    );
    let sessions: u64 = ch
        .split(" sessions,")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert_eq!(scored, sessions);
    assert_eq!(
        count(
            &engine.client(),
            &format!("SELECT count() FROM {db}.sessions")
        ),
        sessions
    );
    assert_eq!(
        count(
            &engine.client(),
            &format!("SELECT count() FROM {db}.cycles")
        ),
        1
    );
    // One model per feature set: the simulator leaves 3% of visits uncorrelated, so both
    // sets have sessions.
    assert_eq!(
        count(
            &engine.client(),
            &format!("SELECT count() FROM {db}.models")
        ),
        2
    );
    for table in [
        "decisions",
        "fleet_detections",
        "detected_anomalies",
        "ingested_sources",
    ] {
        assert!(
            count(
                &engine.client(),
                &format!("SELECT count() FROM {db}.{table}")
            ) > 0,
            "{table} is empty"
        );
    }

    // 5. Acting on the verdicts reads the same from both stores.
    for args in [
        &["export", "--format", "csv", "--min-level", "MEDIUM"][..],
        &["export", "--format", "nginx"][..],
        &["campaigns", "--json"][..],
    ] {
        let run = |store: &str| ok(shrike(&[args, &["--store", store]].concat(), cwd));
        let (l, c) = (run("lite/shrike.db"), run(&store));
        assert!(l.lines().count() > 3, "{args:?}: {l}");
        assert_eq!(l, c, "{args:?}");
    }
    // 6. The dashboard's API answers the same from both stores (numbers within 1e-9: the
    // features agree within the parity tolerance, and so the scores to the last bits).
    let (lite_api, ch_api) = (
        Server::start("lite/shrike.db", cwd),
        Server::start(&store, cwd),
    );
    for path in [
        "/api/overview",
        "/api/threats?level=MEDIUM,HIGH&limit=50",
        "/api/threats?ip=1&limit=20&offset=5",
        "/api/threats?anomalies=true&min_score=0.5&limit=20",
        "/api/threats?campaign=2&limit=20",
        "/api/threats?fleet=0&host=shop.example&limit=20",
        "/api/fleets",
        "/api/tactics",
        "/api/campaigns",
    ] {
        let (l, c) = (lite_api.get(path), ch_api.get(path));
        assert!(l.to_string().len() > 200, "{path}: {l}");
        same_json(&l, &c, path);
    }
    // The page after a cursor (the one the embedded store gave) is the same on both.
    let first = lite_api.get("/api/threats?anomalies=false&limit=30");
    let path = format!(
        "/api/threats?anomalies=false&limit=30&after={}",
        first["next"].as_str().expect("a full page has a cursor")
    );
    let (l, c) = (lite_api.get(&path), ch_api.get(&path));
    assert_eq!(l["rows"].as_array().map(Vec::len), Some(30), "{l}");
    same_json(&l, &c, &path);
    let hz = ch_api.get("/healthz");
    assert_eq!(hz["status"], "ok", "{hz}");
    drop((lite_api, ch_api));

    // An analyst's label is stored, listed, used by the next cycle's trees, and removable.
    let body = engine
        .client()
        .query(
            &format!("SELECT src_ip FROM {db}.sessions ORDER BY src_ip LIMIT 1 FORMAT TSV"),
            &[],
        )
        .unwrap();
    let ip = String::from_utf8(body).unwrap().trim().to_string();
    let added = ok(shrike(
        &[
            "feedback",
            "--store",
            &store,
            "add",
            "--ip",
            &ip,
            "--label",
            "human",
            "--note",
            "our office <NAT>",
            "--analyst",
            "soc",
        ],
        cwd,
    ));
    let id = added
        .split('#')
        .nth(1)
        .and_then(|s| s.split(':').next())
        .unwrap_or_else(|| panic!("{added}"))
        .to_string();
    let listed = ok(shrike(&["feedback", "--store", &store, "list"], cwd));
    assert!(
        listed.contains(&ip) && listed.contains("our office <NAT>"),
        "{listed}"
    );
    let again = detect(&store, "ch-models");
    let trained = again
        .lines()
        .find(|l| l.contains("TREES_TRAINED complete"))
        .unwrap_or_else(|| panic!("the second cycle trained no trees: {again}"));
    assert!(!trained.contains("\"analyst_labels\":0"), "{trained}");
    ok(shrike(&["feedback", "--store", &store, "remove", &id], cwd));
    let listed = ok(shrike(&["feedback", "--store", &store, "list"], cwd));
    assert!(!listed.contains(&ip), "{listed}");
    let t = text(&shrike(
        &["feedback", "--store", &store, "remove", &id],
        cwd,
    ));
    assert!(t.contains(&format!("no feedback #{id}")), "{t}");
}

/// A working directory with three hours of recent simulated traffic in `sim/` (older
/// requests would be past http_logs' retention), the engine's schema migrated and the
/// dictionaries synced; the directory, the store address and the number of records.
fn setup(url: &shrike_clickhouse::ChUrl) -> (tempfile::TempDir, String, u64) {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let store = url.to_string().replace("http://", "clickhouse://");
    let store = store.as_str();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = now - now % 3600 - 3 * 3600;
    let start = shrike_types_time(start);
    ok(shrike(
        &[
            "simulate", "--hours", "3", "--start", &start, "--out", "sim",
        ],
        cwd,
    ));
    ok(shrike(&["ch", "migrate", "--store", store], cwd));
    ok(shrike(
        &[
            "ch",
            "dict-sync",
            "--store",
            store,
            "--dict-dir",
            "sim/dict",
        ],
        cwd,
    ));
    let records = std::fs::read_to_string(cwd.join("sim/traffic.jsonl"))
        .unwrap()
        .lines()
        .count() as u64;
    (dir, store.to_string(), records)
}

/// Equal JSON, numbers within 1e-9 relative.
fn same_json(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
                "{at}: {x} != {y}"
            );
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: lengths");
            for (i, (x, y)) in x.iter().zip(y).enumerate() {
                same_json(x, y, &format!("{at}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            let keys = |o: &serde_json::Map<String, Value>| o.keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(x), keys(y), "{at}: keys");
            for (k, v) in x {
                if let ("next", Value::String(c), Value::String(d)) = (k.as_str(), v, &y[k]) {
                    // A cursor holds its row's score by its bits.
                    let (c, d) = (
                        shrike_store::ThreatCursor::decode(c).unwrap(),
                        shrike_store::ThreatCursor::decode(d).unwrap(),
                    );
                    same_json(
                        &serde_json::json!(c.anomaly_score),
                        &serde_json::json!(d.anomaly_score),
                        at,
                    );
                    assert_eq!(
                        (c.src_ip, c.window_start_ms, c.ja4, c.host),
                        (d.src_ip, d.window_start_ms, d.ja4, d.host),
                        "{at}.next"
                    );
                    continue;
                }
                same_json(v, &y[k], &format!("{at}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

/// `secs` since the epoch as RFC 3339.
fn shrike_types_time(secs: u64) -> String {
    shrike_types::Timestamp::from_millis(secs as i64 * 1000).to_string()
}
