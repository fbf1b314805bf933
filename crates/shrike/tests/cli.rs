//! End-to-end runs of the `shrike` binary.

mod support;

use support::{shrike, text};

use std::path::Path;
use std::process::{Command, Output};

use shrike_store::VerdictStore;

/// `shrike demo` into `cwd/sim`, with a small simulation.
fn demo(cwd: &Path, hours: &str, humans_per_hour: &str) -> Output {
    shrike(
        &[
            "demo",
            "--no-serve",
            "--hours",
            hours,
            "--humans-per-hour",
            humans_per_hour,
            "--out",
            "sim",
        ],
        cwd,
    )
}

/// The verdicts of every cycle in `db`: the levels and campaigns per cycle, and a digest of
/// every score's bits (FNV-1a over the rows in key order). A seeded run computes them with
/// a reduction order fixed by the code (no CPU-chosen kernel, no platform libm), so they
/// are pinned: if this changes on another machine without a change of code, something
/// that reaches a verdict has started to depend on the CPU.
fn verdicts(db: &Path) -> String {
    let db = rusqlite::Connection::open(db).unwrap();
    let mut out = String::new();
    // The levels per cycle, then the campaigns per cycle, one line each.
    for sql in [
        "SELECT 'cycle ' || cycle_id || ' ' || threat_level || ': ' || count(*)
         FROM all_scores GROUP BY cycle_id, threat_level ORDER BY cycle_id, threat_level",
        "SELECT 'cycle ' || cycle_id || ' campaign ' || campaign_id || ': ' || count(*)
         || ' sessions' FROM all_scores WHERE campaign_id >= 0
         GROUP BY cycle_id, campaign_id ORDER BY cycle_id, campaign_id",
    ] {
        let mut q = db.prepare(sql).unwrap();
        for line in q.query_map([], |r| r.get::<_, String>(0)).unwrap() {
            out += &line.unwrap();
            out.push('\n');
        }
    }
    let mut scores = db
        .prepare(
            "SELECT window_start_ms, src_ip, ja4, host, threat_level, raw_score, anomaly_score,
                    forest_score, flow_score, trees_prob, browser_confidence, fleet_score
             FROM all_scores ORDER BY cycle_id, window_start_ms, src_ip, ja4, host",
        )
        .unwrap();
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash = (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    };
    let mut rows = scores.query([]).unwrap();
    let mut n = 0;
    while let Some(r) = rows.next().unwrap() {
        feed(&r.get::<_, i64>(0).unwrap().to_le_bytes());
        for i in 1..5 {
            feed(r.get::<_, String>(i).unwrap().as_bytes());
        }
        for i in 5..12 {
            let v: Option<f64> = r.get(i).unwrap();
            feed(&v.map_or(u64::MAX, f64::to_bits).to_le_bytes());
        }
        n += 1;
    }
    out += &format!("{n} scores, digest {hash:016x}\n");
    out
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
fn demo_scores_every_population_then_detect_reuses_its_model_and_skips_thin_data() {
    let dir = tempfile::tempdir().unwrap();
    let o = demo(dir.path(), "6", "150");
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
    // The demo ends with a detection cycle and scores its verdicts against the labels.
    assert!(out.contains("cycle 1:"), "{out}");
    let figure = |name: &str| -> f64 {
        let at = out
            .find(name)
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"));
        out[at + name.len()..]
            .split([',', ' ', '\n'])
            .find(|t| !t.is_empty())
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("unreadable {name} in:\n{out}"))
    };
    // Few humans are flagged; the individually visible families are caught, and the
    // residential proxy fleet, whose sessions look human one by one, is caught as a fleet.
    assert!(figure("precision ") > 0.9, "{out}");
    assert!(figure("recall ") > 0.9, "{out}");
    let row = |family: &str| -> Vec<String> {
        out.lines()
            .find(|l| l.starts_with(family))
            .unwrap_or_else(|| panic!("no {family} row:\n{out}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    // population, class, sessions, flagged%, crit, high, med, low, deny, normal, browser, known
    let googlebot = row("googlebot");
    assert_eq!(googlebot[3], "0.0%", "good bots are never threats:\n{out}");
    assert_eq!(
        googlebot[11], googlebot[2],
        "googlebot is KNOWN_BOT:\n{out}"
    );
    let scanner = row("vuln_scanner");
    assert_eq!(scanner[3], "100.0%", "{out}");
    let fleet = row("residential_proxy_fleet");
    let flagged: f64 = fleet[3].trim_end_matches('%').parse().unwrap();
    assert!(flagged > 90.0, "{out}");
    assert!(out.contains("FLEET_DETECTED"), "{out}");
    let human = row("human");
    let flagged: f64 = human[3].trim_end_matches('%').parse().unwrap();
    assert!(flagged < 2.0, "{out}");
    {
        let store = shrike_store::SqliteStore::open(&dir.path().join("sim/demo.db")).unwrap();
        let fleets = store
            .count(shrike_store::OutputTable::FleetDetections)
            .unwrap();
        assert!(fleets >= 1, "fleet_detections has {fleets} rows");
    }
    // Campaigns: the anomalies of each attacking tool are grouped, without mixing tools.
    assert!(out.contains("CAMPAIGN_DETECTED"), "{out}");
    assert!(
        figure("campaign purity (members from their campaign's main population): ") > 0.95,
        "{out}"
    );
    for pop in ["credential_stuffing", "ai_crawler", "vuln_scanner"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("campaign #") && l.contains(pop)),
            "{pop} is in no campaign:\n{out}"
        );
    }
    let campaigns_before = {
        let store = shrike_store::SqliteStore::open(&dir.path().join("sim/demo.db")).unwrap();
        store.campaigns(None, 1000).unwrap()
    };
    assert!(campaigns_before.len() >= 3, "{campaigns_before:?}");
    let store = dir.path().join("sim/demo.db");
    let store = store.to_str().unwrap();
    // The demo ran cycle 1 and trained the models.
    let out = text(&o);
    assert!(out.contains("MODEL_TRAINED complete"), "{out}");
    assert!(out.contains("KNOWN_BOT"), "{out}");
    assert!(out.contains("LEGITIMATE_BROWSER"), "{out}");
    // Cycle 2 on the same data: the model is young and nothing drifted.
    let o = shrike(&["detect", "--store", store], dir.path());
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("MODEL_LOADED complete"), "{out}");
    assert!(out.contains("cycle 2:"), "{out}");
    // Cycle 1's verdicts are cycle 2's labels: the boosted trees train on them.
    assert!(out.contains("TREES_TRAINED complete"), "{out}");
    assert!(out.contains("LABEL_ISSUES_REMOVED complete"), "{out}");
    // Both cycles' verdicts, to the last bit of every score, are the same on every CPU.
    insta::assert_snapshot!("demo_verdicts", verdicts(&dir.path().join("sim/demo.db")));
    // The same attackers, seen again: their campaigns keep their ids. (The trees change
    // the verdicts of cycle 2, so a small campaign may not be flagged again; the large
    // ones must be.)
    let again = shrike_store::SqliteStore::open(&dir.path().join("sim/demo.db"))
        .unwrap()
        .campaigns(None, 1000)
        .unwrap();
    for c in campaigns_before.iter().filter(|c| c.sessions >= 20) {
        let now = again
            .iter()
            .find(|a| a.campaign_id == c.campaign_id)
            .unwrap_or_else(|| panic!("campaign {} lost its id:\n{out}", c.campaign_id));
        assert_eq!(
            (now.cycles, now.first_cycle, now.last_cycle),
            (2, 1, 2),
            "{now:?}"
        );
    }
    // A campaign may be new in cycle 2 (the trees, trained on cycle 1's verdicts, can flag
    // a population cycle 1 only caught as a fleet), but no campaign, new or continued,
    // counts a person among its members (an address only people used).
    let labels = std::fs::read_to_string(dir.path().join("sim/labels.csv")).unwrap();
    let with = |label: &str| -> std::collections::HashSet<&str> {
        labels
            .lines()
            .filter_map(|l| l.split_once(&format!(",{label},")).map(|(ip, _)| ip))
            .collect()
    };
    let bots = with("bad_bot");
    let humans: std::collections::HashSet<String> = with("human")
        .into_iter()
        .filter(|ip| !bots.contains(ip))
        .map(String::from)
        .collect();
    assert!(humans.len() > 100, "{} human addresses", humans.len());
    {
        let db = shrike_store::SqliteStore::open(&dir.path().join("sim/demo.db")).unwrap();
        for c in &again {
            for (ip, _) in db.campaign_members(c.campaign_id).unwrap() {
                assert!(
                    !humans.contains(&ip),
                    "campaign {} has the human {ip}:\n{out}",
                    c.campaign_id
                );
            }
        }
    }
    let o = shrike(
        &["campaigns", "--store", store, "--id", "1", "--json"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", text(&o));
    let shown: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["cycles"], 2);
    assert!(!shown["members"].as_array().unwrap().is_empty(), "{shown}");
    assert!(
        !shown["dominant_features"].as_array().unwrap().is_empty(),
        "{shown}"
    );
    let o = shrike(
        &["campaigns", "--store", store, "--id", "99999"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // Campaigns clustered in the flow's latent space: the payloads say so, and each
    // large campaign is still one operator's tooling: one JA4 carries at least half of it
    // (the simulated scrapers run two tools, Python's and Go's, with one behaviour).
    let o = support::command(dir.path())
        .args(["detect", "--store", store])
        .env("SHRIKE_CAMPAIGN_SPACE", "flow")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let found: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| l.split_once("decision CAMPAIGN_DETECTED complete: "))
        .map(|(_, payload)| serde_json::from_str(payload).unwrap())
        .collect();
    assert!(found.len() >= 3, "{out}");
    for c in &found {
        assert_eq!(c["space"], "flow", "{c}");
        let sessions = c["sessions"].as_u64().unwrap();
        let top = c["ja4s"][0][1].as_u64().unwrap();
        assert!(sessions < 20 || top * 2 >= sessions, "mixed campaign: {c}");
    }
    // Anubis's default policy in service: the headless browsers and the AI crawlers it
    // denies are scored and reported as ANUBIS_DENY, by rule.
    if let Some(data) = support::shared_data("anubis/data") {
        let policy = data.join("anubis/data/botPolicies.yaml");
        let o = shrike(
            &[
                "dict",
                "import",
                "anubis",
                policy.to_str().unwrap(),
                "--dict-dir",
                "sim/dict",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
        let o = shrike(
            &["detect", "--store", store, "--dict-dir", "sim/dict"],
            dir.path(),
        );
        let out = text(&o);
        assert!(o.status.success(), "{out}");
        let denied: Vec<serde_json::Value> = out
            .lines()
            .filter_map(|l| l.split_once("decision ANUBIS_DENY "))
            .filter_map(|(_, rest)| rest.split_once(": "))
            .map(|(_, payload)| serde_json::from_str(payload).unwrap())
            .collect();
        assert!(!denied.is_empty(), "{out}");
        let rules: Vec<String> = denied
            .iter()
            .flat_map(|d| d["sessions_per_rule"].as_object().unwrap().keys().cloned())
            .collect();
        println!("denied by rule: {rules:?}");
        assert!(rules.iter().any(|r| r == "headless-chrome"), "{rules:?}");
        assert!(rules.iter().any(|r| r.starts_with("ai-")), "{rules:?}");
        std::fs::remove_file(dir.path().join("sim/dict/anubis_policy.json")).unwrap();
    }
    // A baseline requirement above the data: the cycle says so and scores nothing.
    let o = support::command(dir.path())
        .args(["detect", "--store", store])
        .env("SHRIKE_MIN_BASELINE_SESSIONS", "1000000")
        .output()
        .unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("SKIPPED_LOW_DATA"), "{out}");
    // A bad setting names its key and the allowed values.
    let o = support::command(dir.path())
        .args(["detect", "--store", store])
        .env("SHRIKE_ANOMALY_PERCENTILE", "300")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).contains("anomaly_percentile"), "{}", text(&o));
}

#[test]
fn detect_every_cycles_until_sigterm_and_stops_cleanly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::sync::mpsc;
    use std::time::Duration;

    let dir = tempfile::tempdir().unwrap();
    let o = demo(dir.path(), "2", "60");
    assert!(o.status.success(), "{}", text(&o));
    let mut child = support::command(dir.path())
        .args([
            "detect",
            "--store",
            "sim/demo.db",
            "--every",
            "1s",
            "--dict-dir",
            "sim/dict",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let _ = tx.send(line.clone());
        }
    });
    let mut seen = Vec::new();
    let mut wait_for = |what: &str, seen: &mut Vec<String>| -> String {
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    seen.push(line.clone());
                    if line.contains(what) {
                        return line;
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    panic!("no `{what}` ({e}):\n{}", seen.join("\n"));
                }
            }
        }
    };
    // The loop's first cycle (cycle 2 of the store) runs with the simulator's dictionaries.
    wait_for("cycle 2:", &mut seen);
    // A broken edit of a dictionary: reported, the previous dictionaries stay in service.
    let bot_ip = dir.path().join("sim/dict/bot_ip.csv");
    std::fs::write(&bot_ip, "cidr,bot_name\n10.0.0.0/99,Broken\n").unwrap();
    let failed = wait_for("DICTIONARY_RELOAD_FAILED", &mut seen);
    assert!(failed.contains("bot_ip.csv"), "{failed}");
    // A good edit applies at the next cycle, to sessions ingested before it: every address
    // is now a known bot.
    std::fs::write(
        &bot_ip,
        "cidr,bot_name\n0.0.0.0/0,Everyone\n::/0,Everyone\n",
    )
    .unwrap();
    wait_for("DICTIONARIES_RELOADED", &mut seen);
    let at = seen.iter().rposition(|l| l.starts_with("cycle ")).unwrap();
    let sessions: u64 = seen[at].split_whitespace().nth(2).unwrap().parse().unwrap();
    let levels = seen[at..].iter().find(|l| l.contains("levels:")).unwrap();
    assert!(
        levels.contains(&format!("KNOWN_BOT={sessions}")),
        "{sessions} sessions, all known bots expected: {levels}"
    );
    // SIGTERM stops the loop after its current cycle.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    let out = seen.join("\n");
    assert!(status.success(), "exit {status:?}:\n{out}");
    assert!(out.contains("stopped by signal after"), "{out}");
    // Every cycle the loop started was completed and stored: the next one is numbered on.
    let o = shrike(&["detect", "--store", "sim/demo.db"], dir.path());
    let cycles = seen.iter().filter(|l| l.starts_with("cycle ")).count();
    let next = format!("cycle {}:", cycles + 2);
    assert!(text(&o).contains(&next), "expected {next}:\n{}", text(&o));
}

#[test]
fn damaged_models_are_reported_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let o = demo(dir.path(), "6", "150");
    assert!(o.status.success(), "{}", text(&o));
    let models = dir.path().join("sim/models");
    let current = |set: &str| {
        std::fs::read_to_string(models.join(format!("{set}.current")))
            .unwrap()
            .trim()
            .to_string()
    };
    let detect = || {
        let o = shrike(&["detect", "--store", "sim/demo.db"], dir.path());
        let out = text(&o);
        assert!(
            o.status.success(),
            "a damaged model never fails the cycle:\n{out}"
        );
        out
    };

    // A truncated forest file: reported, and a new model takes over.
    let eif = models.join(format!("complete-{}.eif", current("complete")));
    let bytes = std::fs::read(&eif).unwrap();
    std::fs::write(&eif, &bytes[..bytes.len() / 2]).unwrap();
    let out = detect();
    assert!(out.contains("MODEL_LOAD_FAILED complete"), "{out}");
    assert!(out.contains("corrupt or truncated forest model"), "{out}");
    assert!(out.contains("MODEL_TRAINED complete"), "{out}");

    // A missing pointer: no current model, so one is trained.
    std::fs::remove_file(models.join("complete.current")).unwrap();
    let out = detect();
    assert!(out.contains("MODEL_TRAINED complete"), "{out}");
    assert!(out.contains("no current model"), "{out}");

    // A pointer naming something outside the registry is refused, not followed.
    std::fs::write(models.join("complete.current"), "../../demo").unwrap();
    let out = detect();
    assert!(out.contains("MODEL_LOAD_FAILED complete"), "{out}");
    assert!(out.contains("invalid version id"), "{out}");
    assert!(out.contains("MODEL_TRAINED complete"), "{out}");

    // A stored model that uses a feature this build does not know.
    let json = models.join(format!("complete-{}.json", current("complete")));
    let meta = std::fs::read_to_string(&json).unwrap();
    let renamed = meta.replacen("\"burst_ratio\"", "\"no_such_feature\"", 1);
    assert_ne!(meta, renamed, "the model lists burst_ratio");
    std::fs::write(&json, renamed).unwrap();
    let out = detect();
    assert!(out.contains("MODEL_LOAD_FAILED complete"), "{out}");
    assert!(out.contains("does not know"), "{out}");
    assert!(out.contains("MODEL_TRAINED complete"), "{out}");
}

#[test]
fn feedback_is_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = shrike(
        &[
            "feedback",
            "--store",
            "f.db",
            "add",
            "--ip",
            "192.0.2.7",
            "--label",
            "bot",
            "--note",
            "scraper\nhidden",
            "--analyst",
            "ana",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("feedback #1: 192.0.2.7 labelled bot"));
    let o = shrike(&["feedback", "--store", "f.db", "list", "--json"], d);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (
            v["label"].as_str(),
            v["analyst"].as_str(),
            v["session"].is_null()
        ),
        (Some("bot"), Some("ana"), true)
    );
    let o = shrike(
        &[
            "feedback",
            "--store",
            "f.db",
            "add",
            "--ip",
            "192.0.2.7",
            "--label",
            "maybe",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(2), "clap names the allowed labels");
    let o = shrike(&["feedback", "--store", "f.db", "remove", "1"], d);
    assert!(o.status.success());
    let o = shrike(&["feedback", "--store", "f.db", "remove", "1"], d);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no feedback #1"));
}
