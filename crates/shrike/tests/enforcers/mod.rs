//! The live enforcers of the export test: real nginx asking `/v1/auth`, and CrowdSec's
//! real custom and firewall bouncers reading the bouncer API.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use shrike_store::VerdictStore;

use crate::support::{self, text};

/// Where a program is installed, if it is.
pub fn installed(program: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| PathBuf::from(d).join(program))
        .find(|p| p.exists())
}

/// One HTTP/1.1 GET to `port` on loopback with extra headers: the status and body.
pub fn http_get(port: u16, headers: &[(&str, &str)]) -> (u16, String) {
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
pub fn nginx_auth_request(
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
pub fn second_cycle(store: &Path, calm: &str, hostile: &str) {
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
pub fn crowdsec_custom_bouncer(
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

/// Debian's `crowdsec-firewall-bouncer` in nftables set-only mode, inside a private network
/// namespace (the host's firewall is untouched): `shrike serve` and the bouncer run in the
/// namespace, and the bouncer's set must end up holding exactly the listed IPv4 addresses.
pub fn crowdsec_firewall_bouncer(d: &Path, store: &Path, listed: &BTreeSet<String>) {
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
pub fn covers(listed: &BTreeSet<String>, ip: IpAddr) -> bool {
    listed.contains(&ip.to_string()) || listed.contains(&shrike_export::prefix_of(ip))
}
