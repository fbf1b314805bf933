//! `shrike dict import` on the real published lists in ../shared/data.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shrike_dict::Dictionaries;

fn shrike(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_shrike"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SHRIKE_DICT_DIR")
        .output()
        .unwrap()
}

fn shared() -> Option<PathBuf> {
    let p = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if p.join("crawler-ip-ranges").is_dir() {
        Some(p)
    } else {
        println!("skipped: no {}", p.join("crawler-ip-ranges").display());
        None
    }
}

/// The network address of every range in a list (JSON or plain), by the importer's parser.
fn networks(file: &Path) -> Vec<IpAddr> {
    let text = std::fs::read_to_string(file).unwrap();
    shrike_dict::import::parse_ip_ranges(&text)
        .unwrap()
        .iter()
        .map(|c| c.split('/').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn published_crawler_ranges_resolve_to_their_crawler() {
    let Some(data) = shared() else {
        return;
    };
    let google = data.join("crawler-ip-ranges/cloud-ips-google/googlebot.json");
    let bing = data.join("crawler-ip-ranges/goodbots/bingbot.ips");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let run = |args: &[&str]| {
        let o = shrike(args, cwd);
        let t = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.success(), t)
    };
    let g = google.to_str().unwrap();
    let (ok, t) = run(&[
        "dict",
        "import",
        "bot-ip",
        g,
        "--name",
        "Googlebot",
        "--dict-dir",
        "d",
    ]);
    assert!(
        ok && t.contains("315 ranges for Googlebot (replacing 0)"),
        "{t}"
    );
    // No --name: the file name.
    let (ok, t) = run(&[
        "dict",
        "import",
        "bot-ip",
        bing.to_str().unwrap(),
        "--dict-dir",
        "d",
    ]);
    assert!(ok && t.contains("ranges for bingbot (replacing 0)"), "{t}");

    let dict = Dictionaries::load_dir(&cwd.join("d")).unwrap();
    let google_nets = networks(&google);
    assert_eq!(google_nets.len(), 315);
    for ip in &google_nets {
        assert_eq!(dict.bot_name(*ip, ""), Some("Googlebot"), "{ip}");
    }
    for ip in networks(&bing) {
        assert_eq!(dict.bot_name(ip, ""), Some("bingbot"), "{ip}");
    }
    for ip in ["192.0.2.1", "8.8.8.8", "2001:db8::1"] {
        assert_eq!(dict.bot_name(ip.parse().unwrap(), ""), None, "{ip}");
    }

    // A newer list under the same name replaces the old one.
    let csv = cwd.join("d/bot_ip.csv");
    let before = std::fs::read_to_string(&csv).unwrap();
    let (ok, t) = run(&[
        "dict",
        "import",
        "bot-ip",
        g,
        "--name",
        "Googlebot",
        "--dict-dir",
        "d",
    ]);
    assert!(ok && t.contains("(replacing 315)"), "{t}");
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap().lines().count(),
        before.lines().count()
    );

    // A list with one bad line is refused whole, naming the line; the file in service stays.
    let bad = cwd.join("bad.txt");
    std::fs::write(&bad, "66.249.64.0/19\n66.249.80.0/40\n").unwrap();
    let (ok, t) = run(&["dict", "import", "bot-ip", "bad.txt", "--dict-dir", "d"]);
    assert!(
        !ok && t.contains("line 2") && t.contains("66.249.80.0/40"),
        "{t}"
    );
    assert_eq!(
        std::fs::read_to_string(&csv).unwrap().lines().count(),
        before.lines().count()
    );
}
