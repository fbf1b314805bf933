//! `shrike run` follows a log as it is written, rotated (by rename, then by copytruncate)
//! and as the service is killed with `kill -9` and restarted: each time the store ends with
//! exactly the sessions, features included, of one `shrike ingest` of the same lines.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{command, shrike, text};

/// Every stored session, features included, as one text (sorted by key).
fn sessions(store: &Path) -> String {
    support::sessions_text(store)
}

/// Records the service stored so far (0 before its store exists).
fn stored_records(store: &Path) -> u64 {
    if !store.exists() {
        return 0;
    }
    let Ok(c) = rusqlite::Connection::open(store) else {
        return 0;
    };
    c.query_row(
        "SELECT COALESCE(SUM(records + rejected), 0) FROM ingested_sources",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map_or(0, |n| n as u64)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn append(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

/// The simulated log, cut into `n` runs of whole lines of about equal size.
fn parts(d: &Path, n: usize) -> (Vec<u8>, Vec<Vec<u8>>) {
    support::simulate(d, "3", "40");
    let whole = std::fs::read(d.join("sim/traffic.jsonl")).unwrap();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=n {
        let end = if i == n {
            whole.len()
        } else {
            whole[..whole.len() * i / n]
                .iter()
                .rposition(|b| *b == b'\n')
                .unwrap()
                + 1
        };
        out.push(whole[start..end].to_vec());
        start = end;
    }
    (whole, out)
}

fn lines(b: &[u8]) -> u64 {
    b.iter().filter(|c| **c == b'\n').count() as u64
}

/// `shrike run` in `d` with `config`, its dashboard on a free port; returns the child and
/// the dashboard's URL.
fn start(d: &Path, config: &Path, store: &str) -> (Child, String) {
    let mut child = command(d)
        .args(["run", "--config"])
        .arg(config)
        .args(["--store", store, "--listen", "127.0.0.1:0"])
        .env("SHRIKE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = support::dashboard_url(&mut child);
    (child, url)
}

fn signal(child: &Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    std::io::Read::read_to_string(&mut s, &mut body).unwrap();
    body
}

fn config(d: &Path, log: &Path) -> PathBuf {
    let path = d.join("shrike.toml");
    std::fs::write(
        &path,
        format!(
            "[run]\ndetect_every = \"1h\"\nstore_every_secs = 1\nrotate_grace_secs = 1\nmax_batch_mib = 4\n\n\
             [[run.follow]]\npath = {:?}\n",
            log.display().to_string()
        ),
    )
    .unwrap();
    path
}

/// The sessions one `shrike ingest` of `bytes` stores.
fn one_ingest(d: &Path, bytes: &[u8]) -> String {
    std::fs::write(d.join("whole.jsonl"), bytes).unwrap();
    let o = shrike(&["ingest", "whole.jsonl", "--store", "whole.db"], d);
    assert!(o.status.success(), "{}", text(&o));
    sessions(&d.join("whole.db"))
}

#[test]
fn a_log_rotated_by_rename_and_by_copytruncate_is_stored_as_one_ingest_stores_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (whole, p) = parts(d, 5);
    let log = d.join("access.log");
    let store = d.join("run.db");
    let cfg = config(d, &log);
    let (mut child, url) = start(d, &cfg, "run.db");
    let mut written = 0;
    let wait_stored = |n: u64| wait_for("the lines written so far", || stored_records(&store) == n);

    // Part 1 in two writes, the first ending in the middle of a line: that line waits for
    // its newline.
    let cut = p[0].len() / 2;
    append(&log, &p[0][..cut]);
    written += lines(&p[0][..cut]);
    wait_stored(written);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stored_records(&store), written, "a partial line was stored");
    append(&log, &p[0][cut..]);
    written += lines(&p[0][cut..]);
    wait_stored(written);

    // Rotation by rename: the writer still writes to the renamed file before it reopens
    // its log; then writes the new one.
    std::fs::rename(&log, d.join("access.log.1")).unwrap();
    append(&d.join("access.log.1"), &p[1]);
    append(&log, &p[2]);
    written += lines(&p[1]) + lines(&p[2]);
    wait_stored(written);

    // Copytruncate: lines written, copied and truncated before the service reads them
    // (or after: either way each is stored once), then the writer goes on.
    append(&log, &p[3]);
    std::fs::copy(&log, d.join("access.log.2")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, &p[4]);
    written += lines(&p[3]) + lines(&p[4]);
    wait_stored(written);
    assert_eq!(written, lines(&whole));

    // Its health: no lag, the records counted.
    let service = http_get(&format!("{url}/api/service"));
    assert!(service.contains("\"running\":true"), "{service}");
    assert!(service.contains("\"lag_bytes\":0"), "{service}");
    let metrics = http_get(&format!("{url}/metrics"));
    assert!(
        metrics.contains(&format!(
            "shrike_follow_lag_bytes{{file=\"{}\"}} 0",
            log.display()
        )),
        "{metrics}"
    );

    // SIGHUP: a configuration that does not validate is refused and the service goes on;
    // a valid one applies (a cycle every second, an export written after each).
    let refused = std::fs::read_to_string(&cfg).unwrap()
        + "[[run.export]]\nformat = \"iptables\"\npath = \"x\"\n";
    std::fs::write(&cfg, refused).unwrap();
    signal(&child, "-HUP");
    wait_for("the refused reload", || {
        http_get(&format!("{url}/api/service")).contains("run.export[0].format")
    });
    let export = d.join("deny.conf");
    let reloaded = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("detect_every = \"1h\"", "detect_every = \"1s\"")
        .replace("\"iptables\"", "\"nginx\"")
        .replace("\"x\"", &format!("{:?}", export.display().to_string()));
    std::fs::write(&cfg, reloaded).unwrap();
    signal(&child, "-HUP");
    wait_for("a cycle and its export", || export.exists());
    let service = http_get(&format!("{url}/api/service"));
    assert!(
        service.contains("\"reloads\":1") && service.contains("\"outcome\":\"ok\""),
        "{service}"
    );
    let deny = std::fs::read_to_string(&export).unwrap();
    assert!(deny.lines().any(|l| l.starts_with("deny ")), "{deny}");

    signal(&child, "-TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let followed = sessions(&store);
    assert!(followed.lines().count() > 100);
    assert_eq!(followed, one_ingest(d, &whole));
}

#[test]
fn a_service_killed_mid_file_resumes_and_stores_each_line_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (whole, _) = parts(d, 1);
    // At least three rounds of 4 MiB.
    let mut bytes = whole.clone();
    while bytes.len() < 9 * 1024 * 1024 {
        bytes.extend_from_slice(&whole);
    }
    let log = d.join("access.log");
    std::fs::write(&log, &bytes).unwrap();
    let store = d.join("run.db");
    let cfg = config(d, &log);
    // Killed once after its first round is stored and once at a moment in the next.
    for delay_ms in [0, 150] {
        let (mut child, _) = start(d, &cfg, "run.db");
        let before = stored_records(&store);
        wait_for("a round stored", || stored_records(&store) > before);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(
            stored_records(&store) < lines(&bytes),
            "killed too late to test anything"
        );
    }
    let (mut child, _) = start(d, &cfg, "run.db");
    wait_for("the whole file", || stored_records(&store) >= lines(&bytes));
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
    assert_eq!(stored_records(&store), lines(&bytes), "a line stored twice");
    let c = rusqlite::Connection::open(&store).unwrap();
    let ok: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    drop(c);
    assert_eq!(sessions(&store), one_ingest(d, &bytes));
}

/// The shipped systemd unit passes `systemd-analyze verify` (with the unit's binary path
/// pointed at the one built here) and keeps its hardening; skipped without systemd.
#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let Ok(analyze) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        println!("skipped: systemd-analyze is not installed");
        return;
    };
    assert!(analyze.status.success());
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/shrike.service"),
    )
    .unwrap();
    for setting in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=shrike",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(unit.lines().any(|l| l == setting), "{setting} missing");
    }
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("shrike.service");
    std::fs::write(
        &local,
        unit.replace("/usr/bin/shrike", env!("CARGO_BIN_EXE_shrike")),
    )
    .unwrap();
    let o = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&local)
        .output()
        .unwrap();
    assert!(o.status.success() && o.stderr.is_empty(), "{}", text(&o));
    let o = std::process::Command::new("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&local)
        .output()
        .unwrap();
    let out = text(&o);
    match out.lines().find_map(|l| {
        l.split("Overall exposure level for shrike.service: ")
            .nth(1)
    }) {
        Some(level) => {
            let score: f64 = level.split_whitespace().next().unwrap().parse().unwrap();
            assert!(score <= 2.0, "exposure {score}: {out}");
        }
        None => println!(
            "systemd-analyze security --offline is not supported here: exposure not checked"
        ),
    }
}

/// `shrike run` updates its dictionaries from their sources at start (then every
/// `dictionaries.update_every`): the list a loopback publisher serves lands in the
/// dictionary directory, and the service reports the update.
#[test]
fn the_service_updates_its_dictionaries_from_their_sources() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = br#"[{"pattern": "ExampleCrawler\\/", "url": "https://example.org/bot", "instances": ["ExampleCrawler/1.0"]}]"#;
    let routes = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::from([(
        "/crawler-user-agents.json".to_string(),
        support::Serve::File(list.to_vec()),
    )])));
    let url = support::publisher(routes);
    let cfg = d.join("shrike.toml");
    std::fs::write(
        &cfg,
        format!(
            "[dictionaries]\ndir = \"dict\"\nupdate_every = \"1h\"\n\n[[dictionaries.source]]\nkind = \"ua-bots\"\nurl = \"{url}/crawler-user-agents.json\"\n\n[run]\ndetect_every = \"1h\"\n"
        ),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("dict")).unwrap();
    let (mut child, url) = start(d, &cfg, "run.db");
    wait_for("the updated dictionary", || {
        d.join("dict/ua_bots.json").exists()
    });
    wait_for("the update reported", || {
        let s = http_get(&format!("{url}/api/service"));
        s.contains("\"dict_update_ms\":1") && s.contains("\"dict_update_failed\":[]")
    });
    assert!(std::fs::read_to_string(d.join("dict/ua_bots.json"))
        .unwrap()
        .contains("ExampleCrawler"));
    signal(&child, "-TERM");
    assert!(child.wait().unwrap().success());
}
