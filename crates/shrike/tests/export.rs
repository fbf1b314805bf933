//! `shrike export` end to end: a demo cycle's block lists, checked by their real consumers
//! (nginx -t, haproxy -c, ipset restore in a private network namespace, a YAML parser)
//! when this machine has them, and by the properties every export must keep.

mod support;

use support::{shrike, text};

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shrike_store::VerdictStore;

/// Runs a consumer; `None` (with one printed line) when it is not installed.
fn consumer(program: &str, args: &[&str]) -> Option<Output> {
    let Some(path) = installed(program) else {
        println!("{program} is not installed: its format is checked by the assertions only");
        return None;
    };
    Some(Command::new(path).args(args).output().unwrap())
}

/// Where a program is installed, if it is.
fn installed(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(program))
        .find(|p| p.exists())
}

/// One HTTP/1.1 GET to `port` on loopback with extra headers: the status and body.
fn http_get(port: u16, headers: &[(&str, &str)]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// Real nginx with `auth_request` to `shrike serve`'s `/v1/auth`: the client's address is
/// taken from a test header (nginx would use `$remote_addr`), so that one loopback client
/// can be every address. A listed address gets nginx's 403; a known bot's or a browser's
/// address gets the page.
fn nginx_auth_request(
    d: &Path,
    store: &str,
    listed: &BTreeSet<String>,
    protected: &BTreeSet<IpAddr>,
) {
    let Some(nginx) = installed("nginx") else {
        println!(
            "nginx is not installed: auth_request is checked through the Router only (serve.rs)"
        );
        return;
    };
    let shrike = support::Server::start(store, d);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = d.join("auth-nginx.conf");
    let t = d.join("nginx-temp");
    std::fs::create_dir_all(&t).unwrap();
    // The page is a file: a `return` would answer in the rewrite phase, before the access
    // phase where auth_request asks.
    let site = d.join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), "welcome\n").unwrap();
    std::fs::write(
        &conf,
        format!(
            "pid {d}/auth-nginx.pid;\nerror_log {d}/auth-error.log;\ndaemon off;\nmaster_process off;\nevents {{}}\n\
             http {{\n    access_log off;\n\
             client_body_temp_path {t}/body;\n    proxy_temp_path {t}/proxy;\n\
             fastcgi_temp_path {t}/fastcgi;\n    uwsgi_temp_path {t}/uwsgi;\n    scgi_temp_path {t}/scgi;\n\
             server {{\n        listen 127.0.0.1:{port};\n\
             location / {{\n            auth_request /_shrike;\n            root {site};\n        }}\n\
             location = /_shrike {{\n            internal;\n            proxy_pass {url}/v1/auth;\n\
             proxy_pass_request_body off;\n            proxy_set_header Content-Length \"\";\n\
             proxy_set_header X-Real-IP $http_x_test_client;\n        }}\n    }}\n}}\n",
            d = d.display(),
            t = t.display(),
            site = site.display(),
            url = shrike.url,
        ),
    )
    .unwrap();
    let _nginx = Running(
        Command::new(nginx)
            .args(["-c", conf.to_str().unwrap(), "-p", d.to_str().unwrap()])
            .spawn()
            .unwrap(),
    );
    let up = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(
        up,
        "nginx did not start: {}",
        std::fs::read_to_string(d.join("auth-error.log")).unwrap_or_default()
    );
    let blocked: Vec<&String> = listed
        .iter()
        .filter(|v| v.parse::<IpAddr>().is_ok())
        .take(10)
        .collect();
    assert!(!blocked.is_empty());
    for ip in &blocked {
        assert_eq!(http_get(port, &[("X-Test-Client", ip)]).0, 403, "{ip}");
    }
    for ip in protected.iter().take(10) {
        let ip = ip.to_string();
        assert_eq!(
            http_get(port, &[("X-Test-Client", &ip)]),
            (200, "welcome\n".into()),
            "{ip}"
        );
    }
}

/// The latest cycle of `store` written again as a new cycle in which `calm` is no longer a
/// threat and `hostile` is one (CRITICAL on each of its sessions): a second cycle whose
/// verdicts change in a known way.
fn second_cycle(store: &Path, calm: &str, hostile: &str) {
    let c = rusqlite::Connection::open(store).unwrap();
    c.execute_batch(&format!(
        "BEGIN;
         INSERT INTO cycles (id, started_at_ms, horizon_start_ms, horizon_end_ms, sessions,
             scored, anomalies, anomaly_rate, metrics)
             SELECT id + 1, started_at_ms + 1, horizon_start_ms, horizon_end_ms, sessions,
                 scored, anomalies, anomaly_rate, metrics
             FROM cycles ORDER BY id DESC LIMIT 1;
         INSERT INTO all_scores (cycle_id, window_start_ms, src_ip, ja4, host, model,
             threat_level, raw_score, anomaly_score, is_anomaly, recurrence,
             browser_confidence, browser_family, campaign_id, reason, top_features, fleet_id,
             fleet_score, fleet_flag, forest_score, flow_score, trees_prob)
             SELECT cycle_id + 1, window_start_ms, src_ip, ja4, host, model,
                 threat_level, raw_score, anomaly_score, is_anomaly, recurrence,
                 browser_confidence, browser_family, campaign_id, reason, top_features, fleet_id,
                 fleet_score, fleet_flag, forest_score, flow_score, trees_prob
             FROM all_scores WHERE cycle_id = (SELECT MAX(id) - 1 FROM cycles);
         UPDATE all_scores SET threat_level = 'NORMAL', is_anomaly = 0, anomaly_score = 0.1
             WHERE cycle_id = (SELECT MAX(id) FROM cycles) AND src_ip = '{calm}';
         UPDATE all_scores SET threat_level = 'CRITICAL', is_anomaly = 1, anomaly_score = 0.99,
                 reason = 'scripted requests'
             WHERE cycle_id = (SELECT MAX(id) FROM cycles) AND src_ip = '{hostile}';
         COMMIT;"
    ))
    .unwrap();
}

/// Debian's real `crowdsec-custom-bouncer` pointed at `shrike serve`'s bouncer API: its
/// script gets `add` for every listed address and prefix, then, once a second cycle
/// changes the verdicts (written by SQL, to change exactly one listed address and one
/// browser's), `add` for the new threat and `del` for the address no longer one.
fn crowdsec_custom_bouncer(
    d: &Path,
    store: &Path,
    listed: &BTreeSet<String>,
    calm_candidates: &[IpAddr],
) {
    let Some(bouncer) = installed("crowdsec-custom-bouncer") else {
        println!("crowdsec-custom-bouncer is not installed: the bouncer API is checked through the Router only (serve.rs)");
        return;
    };
    const KEY: &str = "shrike-test-bouncer-key-0123456789";
    let mut shrike = support::command(d);
    shrike
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            store.to_str().unwrap(),
        ])
        .env("SHRIKE_BOUNCER_API_KEY", KEY);
    let server = support::Server::spawn(shrike);
    let calls = d.join("bouncer-calls.txt");
    let script = d.join("bouncer-script.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1 $2\" >> {}\n", calls.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = d.join("bouncer.yaml");
    std::fs::write(
        &cfg,
        format!(
            "bin_path: {script}\nfeed_via_stdin: false\ntotal_retries: 0\nscenarios_containing: []\n\
             scenarios_not_containing: []\norigins: []\npiddir: {d}\nupdate_frequency: 1s\n\
             cache_retention_duration: 10s\ndaemonize: false\nlog_mode: stdout\nlog_dir: {d}\n\
             log_level: info\napi_url: {url}/\napi_key: {KEY}\nprometheus:\n  enabled: false\n  \
             listen_addr: 127.0.0.1\n  listen_port: 60602\n",
            script = script.display(),
            d = d.display(),
            url = server.url,
        ),
    )
    .unwrap();
    let log = std::fs::File::create(d.join("bouncer.log")).unwrap();
    let _bouncer = Running(
        Command::new(bouncer)
            .args(["-c", cfg.to_str().unwrap()])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let seen = |action: &str| -> BTreeSet<String> {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix(action).map(|v| v.trim().to_string()))
            .collect()
    };
    let wait = |what: &str, done: &dyn Fn() -> bool| {
        let up = (0..300).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(100));
            done()
        });
        assert!(
            up,
            "{what}; bouncer log:\n{}",
            std::fs::read_to_string(d.join("bouncer.log")).unwrap_or_default()
        );
    };
    wait("every listed address added", &|| &seen("add ") == listed);
    // The second cycle: one listed address calms down, one calm address turns hostile.
    let calm = listed
        .iter()
        .find(|v| v.parse::<IpAddr>().is_ok())
        .unwrap()
        .clone();
    let hostile = calm_candidates
        .iter()
        .map(|ip| ip.to_string())
        .find(|ip| !covers(listed, ip.parse().unwrap()))
        .expect("a calm address");
    second_cycle(store, &calm, &hostile);
    // What the second cycle's export lists instead.
    let db = shrike_store::SqliteStore::open(store).unwrap();
    let (cycle, _) = db.latest_cycle().unwrap().unwrap();
    let now: BTreeSet<String> = shrike_export::plan(
        &db.cycle_scores(cycle).unwrap(),
        &shrike_export::Filters::default(),
    )
    .unwrap()
    .addresses
    .into_iter()
    .map(|e| e.value)
    .collect();
    let added: BTreeSet<String> = now.difference(listed).cloned().collect();
    let deleted: BTreeSet<String> = listed.difference(&now).cloned().collect();
    assert!(
        added.contains(&hostile) && deleted.contains(&calm),
        "{added:?} {deleted:?}"
    );
    wait("the new threats added", &|| {
        seen("add ").is_superset(&added)
    });
    wait("the calmed addresses deleted", &|| seen("del ") == deleted);
    drop(server);
}

/// `shrike sessions export`: JSON Lines whose features are the stored ones exactly (read
/// back through the store's `session_features` view, i.e. by plain SQL), CSV that Python's
/// csv module reads into the same rows and columns, and the level and prefix filters.
fn sessions_export(d: &Path, store: &Path, scores: &[shrike_store::ScoreRow]) {
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

/// Debian's `crowdsec-firewall-bouncer` in nftables set-only mode, inside a private network
/// namespace (the host's firewall is untouched): `shrike serve` and the bouncer run in the
/// namespace, and the bouncer's set must end up holding exactly the listed IPv4 addresses.
fn crowdsec_firewall_bouncer(d: &Path, store: &Path, listed: &BTreeSet<String>) {
    let (Some(bouncer), Some(nft), Some(unshare)) = (
        installed("crowdsec-firewall-bouncer"),
        installed("nft"),
        installed("unshare"),
    ) else {
        println!("crowdsec-firewall-bouncer, nft or unshare is not installed: the firewall bouncer is not run");
        return;
    };
    if listed.iter().any(|v| v.contains('/')) {
        println!("the list has ranges, which a set without the interval flag cannot take: the firewall bouncer is not run");
        return;
    }
    const KEY: &str = "shrike-test-bouncer-key-0123456789";
    let port = 18_080 + (std::process::id() % 1000) as u16;
    let cfg = d.join("firewall-bouncer.yaml");
    std::fs::write(
        &cfg,
        format!(
            "mode: nftables\npid_dir: {d}\nupdate_frequency: 1s\ndaemonize: false\nlog_mode: stdout\n\
             log_level: info\napi_url: http://127.0.0.1:{port}/\napi_key: {KEY}\ndisable_ipv6: false\n\
             deny_action: DROP\ndeny_log: false\nsupported_decisions_types:\n  - ban\n\
             blacklists_ipv4: shrike-v4\nblacklists_ipv6: shrike-v6\nnftables:\n  ipv4:\n    enabled: true\n\
             \x20   set-only: true\n    table: shrike\n    chain: shrike-chain\n  ipv6:\n    enabled: true\n\
             \x20   set-only: true\n    table: shrike6\n    chain: shrike6-chain\nprometheus:\n  enabled: false\n\
             \x20 listen_addr: 127.0.0.1\n  listen_port: 60601\n",
            d = d.display(),
        ),
    )
    .unwrap();
    let script = format!(
        "set -e\nip link set lo up\n\
         {nft} add table ip shrike\n{nft} add set ip shrike shrike-v4 '{{ type ipv4_addr; flags timeout; }}'\n\
         {nft} add table ip6 shrike6\n{nft} add set ip6 shrike6 shrike-v6 '{{ type ipv6_addr; flags timeout; }}'\n\
         SHRIKE_BOUNCER_API_KEY={KEY} SHRIKE_LOG=warn {shrike} serve --store {store} --listen 127.0.0.1:{port} >/dev/null 2>&1 &\n\
         for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done\n\
         {bouncer} -c {cfg} > {d}/firewall-bouncer.log 2>&1 &\n\
         for i in $(seq 100); do sleep 0.2; {nft} -j list set ip shrike shrike-v4 > {d}/set.json; grep -q '\"elem\"' {d}/set.json && break; done\n\
         sleep 1\n{nft} -j list set ip shrike shrike-v4 > {d}/set.json\nkill %1 %2\n",
        nft = nft.display(),
        shrike = env!("CARGO_BIN_EXE_shrike"),
        store = store.display(),
        bouncer = bouncer.display(),
        cfg = cfg.display(),
        d = d.display(),
    );
    let o = Command::new(unshare)
        .args(["-n", "bash", "-c", &script])
        .output()
        .unwrap();
    if !o.status.success() {
        println!(
            "the firewall bouncer could not run in a network namespace here ({}): not checked",
            text(&o).trim()
        );
        return;
    }
    let set: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("set.json")).unwrap()).unwrap();
    let elems: BTreeSet<String> = set["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|x| x.get("set"))
        .flat_map(|s| s["elem"].as_array().cloned().unwrap_or_default())
        .map(|e| {
            e.get("elem")
                .and_then(|e| e["val"].as_str())
                .or(e.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let v4: BTreeSet<String> = listed
        .iter()
        .filter(|v| !v.contains(':'))
        .cloned()
        .collect();
    assert_eq!(
        elems,
        v4,
        "bouncer log:\n{}",
        std::fs::read_to_string(d.join("firewall-bouncer.log")).unwrap_or_default()
    );
}

/// A consumer process (nginx, a bouncer), stopped however the test ends.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `ip` is listed, alone or inside a listed /24 or /48.
fn covers(listed: &BTreeSet<String>, ip: IpAddr) -> bool {
    listed.contains(&ip.to_string()) || listed.contains(&shrike_export::prefix_of(ip))
}

#[test]
fn every_format_passes_its_consumer_and_never_blocks_a_good_bot_or_a_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(root.join("scripts/install-validators.sh"))
        .status()
        .unwrap();
    assert!(status.success());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = shrike(
        &[
            "demo",
            "--no-serve",
            "--hours",
            "6",
            "--humans-per-hour",
            "150",
            "--out",
            "sim",
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    let store = d.join("sim/demo.db");
    let store_s = store.to_str().unwrap();

    // What the cycle said about each address.
    let db = shrike_store::SqliteStore::open(&store).unwrap();
    let (cycle, _) = db.latest_cycle().unwrap().unwrap();
    let scores = db.cycle_scores(cycle).unwrap();
    let protected: BTreeSet<IpAddr> = scores
        .iter()
        .filter(|s| s.threat_level.is_protected())
        .map(|s| s.key.src_ip)
        .collect();
    let threats: BTreeSet<IpAddr> = scores
        .iter()
        .filter(|s| s.is_anomaly && s.threat_level != shrike_types::ThreatLevel::Low)
        .map(|s| s.key.src_ip)
        .collect();
    assert!(!protected.is_empty() && !threats.is_empty());

    let export = |format: &str, extra: &[&str]| -> PathBuf {
        let out = d.join(format!("block.{format}"));
        let mut args = vec![
            "export",
            "--store",
            store_s,
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let o = shrike(&args, d);
        assert!(o.status.success(), "{format}: {}", text(&o));
        out
    };

    // HAProxy: one address or prefix per line; the listed set drives the other checks.
    let haproxy = export("haproxy", &[]);
    let listed: BTreeSet<String> = std::fs::read_to_string(&haproxy)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(String::from)
        .collect();
    assert!(!listed.is_empty());
    for ip in &protected {
        assert!(
            !covers(&listed, *ip),
            "{ip} is a known bot or a browser, yet listed"
        );
    }
    let blocked = threats.iter().filter(|ip| covers(&listed, **ip)).count();
    assert!(
        blocked as f64 >= 0.9 * (threats.len() - threats.intersection(&protected).count()) as f64,
        "{blocked} of {} threat addresses listed",
        threats.len()
    );
    let cfg = d.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\nfrontend f\n    bind 127.0.0.1:18098\n    acl shrike_block src -f {}\n    http-request deny if shrike_block\n",
            haproxy.display()
        ),
    )
    .unwrap();
    if let Some(o) = consumer("haproxy", &["-c", "-f", cfg.to_str().unwrap()]) {
        assert!(o.status.success(), "haproxy -c: {}", text(&o));
    }

    // nginx: the deny include in a server, the geo/map include in http.
    let deny = export("nginx", &[]);
    let map = export("nginx-map", &[]);
    let deny_lines = std::fs::read_to_string(&deny).unwrap();
    assert_eq!(
        deny_lines
            .lines()
            .filter(|l| l.starts_with("deny "))
            .count(),
        listed.len()
    );
    let conf = d.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    include {map};\n    server {{\n        listen 127.0.0.1:18099;\n        include {deny};\n    }}\n}}\n",
            d = d.display(),
            map = map.display(),
            deny = deny.display()
        ),
    )
    .unwrap();
    if let Some(o) = consumer(
        "nginx",
        &[
            "-t",
            "-c",
            conf.to_str().unwrap(),
            "-p",
            d.to_str().unwrap(),
        ],
    ) {
        assert!(o.status.success(), "nginx -t: {}", text(&o));
    }

    // nginx in front of a site, asking shrike on every request (auth_request).
    nginx_auth_request(d, store_s, &listed, &protected);

    // ipset: restored into a private network namespace (the host's sets are untouched).
    let ipset = export("ipset", &["--set-name", "shrike_test"]);
    let ipset_text = std::fs::read_to_string(&ipset).unwrap();
    assert_eq!(
        ipset_text.lines().filter(|l| l.starts_with("add ")).count(),
        listed.len()
    );
    if Path::new("/usr/sbin/ipset").exists() || Path::new("/sbin/ipset").exists() {
        let o = consumer(
            "unshare",
            &[
                "-n",
                "sh",
                "-c",
                &format!(
                    "ipset restore < {} && ipset list -t shrike_test4",
                    ipset.display()
                ),
            ],
        );
        match o {
            Some(o) if o.status.success() => {
                let t = text(&o);
                let v4 = listed.iter().filter(|l| !l.contains(':')).count();
                assert!(t.contains(&format!("Number of entries: {v4}")), "{t}");
            }
            Some(o) => println!("ipset restore could not run in a network namespace here ({}): format checked by the assertions only", text(&o).trim()),
            None => {}
        }
    }

    // CrowdSec: cscli's documented JSON shape.
    let crowdsec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export("crowdsec", &[])).unwrap()).unwrap();
    for dec in crowdsec.as_array().unwrap() {
        let value = dec["value"].as_str().unwrap();
        assert!(listed.contains(value), "{value}");
        assert!(matches!(dec["scope"].as_str(), Some("ip" | "range")));
        assert!(matches!(dec["type"].as_str(), Some("ban" | "captcha")));
        assert_eq!(dec["duration"], "24h");
    }

    // Anubis: a YAML list of rules whose addresses are the listed ones.
    let anubis = export("anubis", &[]);
    let yaml = std::fs::read_to_string(&anubis).unwrap();
    assert!(yaml.contains("action: DENY"), "{yaml}");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            anubis.to_str().unwrap(),
        ])
        .output();
    match parsed {
        Ok(o) if o.status.success() => {
            let rules: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            let mut cidrs = 0;
            for r in rules.as_array().unwrap() {
                assert!(r["name"].as_str().unwrap().starts_with("shrike-"));
                assert!(matches!(r["action"].as_str(), Some("DENY" | "CHALLENGE")));
                for c in r["remote_addresses"].as_array().into_iter().flatten() {
                    assert!(c.as_str().unwrap().contains('/'));
                    cidrs += 1;
                }
            }
            assert_eq!(cidrs, listed.len());
        }
        _ => println!("python3 with PyYAML is not available: the Anubis file is checked by the assertions only"),
    }

    // JSON and CSV carry the same entries.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(export("json", &[])).unwrap()).unwrap();
    assert_eq!(json["addresses"].as_array().unwrap().len(), listed.len());
    let csv = std::fs::read_to_string(export("csv", &[])).unwrap();
    assert!(csv.starts_with("kind,value,level,"));

    // Filters narrow; shadow writes nothing and says why.
    let critical = export("haproxy", &["--min-level", "CRITICAL"]);
    let n = std::fs::read_to_string(&critical)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    assert!(n > 0 && n < listed.len(), "{n} of {}", listed.len());
    let shadow_out = d.join("never.txt");
    let o = shrike(
        &[
            "export",
            "--store",
            store_s,
            "--format",
            "nginx",
            "--shadow",
            "-o",
            shadow_out.to_str().unwrap(),
        ],
        d,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!shadow_out.exists(), "--shadow wrote a file");
    let t = text(&o);
    assert!(t.contains("shadow mode: nothing written"), "{t}");
    assert!(t.contains("  block ip ") && t.contains("anomaly"), "{t}");
    // Bad values are refused with the allowed ones.
    let o = shrike(&["export", "--store", store_s, "--format", "iptables"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).contains("allowed json, csv, nginx"),
        "{}",
        text(&o)
    );
    let o = shrike(
        &[
            "export",
            "--store",
            store_s,
            "--format",
            "json",
            "--min-level",
            "NORMAL",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o).contains("allowed LOW, MEDIUM, HIGH, CRITICAL"),
        "{}",
        text(&o)
    );

    sessions_export(d, &store, &scores);
    crowdsec_firewall_bouncer(d, &store, &listed);

    // Last, as it writes a second cycle: CrowdSec's real custom bouncer on the bouncer API.
    // A browser's address whose sessions the second cycle finds hostile.
    let known_bots: BTreeSet<IpAddr> = scores
        .iter()
        .filter(|s| s.threat_level == shrike_types::ThreatLevel::KnownBot)
        .map(|s| s.key.src_ip)
        .collect();
    let calm: Vec<IpAddr> = scores
        .iter()
        .filter(|s| s.threat_level == shrike_types::ThreatLevel::LegitimateBrowser)
        .map(|s| s.key.src_ip)
        .filter(|ip| !threats.contains(ip) && !known_bots.contains(ip))
        .collect();
    crowdsec_custom_bouncer(d, &store, &listed, &calm);
}
