//! `shrike export` end to end: a demo cycle's block lists, checked by their real consumers
//! (nginx -t, haproxy -c, ipset restore in a private network namespace, a YAML parser)
//! when this machine has them, and by the properties every export must keep.

mod enforcers;
mod sessions_out;
mod support;

use enforcers::{covers, installed};
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
    enforcers::nginx_auth_request(d, store_s, &listed, &protected);

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

    sessions_out::sessions_export(d, &store, &scores);
    enforcers::crowdsec_firewall_bouncer(d, &store, &listed);

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
    enforcers::crowdsec_custom_bouncer(d, &store, &listed, &calm);
}
