//! `shrike dict import` on the real published lists in ../shared/data.

mod support;

use support::{publisher, shrike, text, Serve};

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use shrike_dict::Dictionaries;

fn shared() -> Option<PathBuf> {
    support::shared_data("crawler-ip-ranges")
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

/// Writes `content` as `file` in `dir` and imports it as `kind` into `dir/e`: the import must
/// fail, its error must say `says`, and `dir/e/<written>` must not exist.
fn refused_import(dir: &Path, kind: &str, file: &str, content: &str, says: &str, written: &str) {
    std::fs::write(dir.join(file), content).unwrap();
    let o = shrike(&["dict", "import", kind, file, "--dict-dir", "e"], dir);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(says),
        "{}",
        text(&o)
    );
    assert!(!dir.join("e").join(written).exists());
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
        (o.status.success(), text(&o))
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

#[test]
fn browser_ja4s_come_from_foxio_and_ja4db_and_tools_stay_out() {
    let Some(data) = shared() else {
        return;
    };
    let foxio = data.join("foxio-ja4/ja4plus-mapping.csv");
    let ja4db = data.join("ja4db/ja4db_verified.json");
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let import = |file: &Path| {
        let o = shrike(
            &[
                "dict",
                "import",
                "browser-ja4",
                file.to_str().unwrap(),
                "--dict-dir",
                "d",
            ],
            cwd,
        );
        let t = String::from_utf8_lossy(&o.stdout).to_string();
        assert!(
            o.status.success(),
            "{t}{}",
            String::from_utf8_lossy(&o.stderr)
        );
        t
    };
    let t = import(&foxio);
    assert!(
        t.contains("12 browser JA4s") && t.contains("Sliver Agent"),
        "{t}"
    );
    let d = Dictionaries::load_dir(&cwd.join("d")).unwrap();
    for (ja4, family) in [
        ("t13d1516h2_8daaf6152771_02713d6af862", "Chrome"),
        ("q13d0312h3_55b375c5d22e_06cda9e17597", "Chrome"),
        ("t13d1715h2_5b57614c22b0_7121afd63204", "Firefox"),
        ("t13d2014h2_a09f3c656075_14788d8d241b", "Safari"),
    ] {
        assert_eq!(d.browser_family(ja4), family, "{ja4}");
    }
    // Go's JA4, which the Sliver implant shares: neither a browser nor a good bot.
    let go = "t13d190900_9dc949149365_97f8aa674fd9";
    assert_eq!(d.browser_family(go), "");
    assert_eq!(d.bot_name("192.0.2.1".parse().unwrap(), go), None);
    assert!(!cwd.join("d/bot_ja4.csv").exists());

    // ja4db's verified records: each browser record's JA4 gets that browser's family unless
    // other browsers share the JA4 (then the family most records name).
    let t = import(&ja4db);
    assert!(t.contains("52 browser JA4s"), "{t}");
    let d = Dictionaries::load_dir(&cwd.join("d")).unwrap();
    let records: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&ja4db).unwrap()).unwrap();
    let mut families: std::collections::HashMap<String, std::collections::HashSet<&str>> =
        Default::default();
    for r in records.as_array().unwrap() {
        let (Some(ja4), Some(app)) = (r["ja4_fingerprint"].as_str(), r["application"].as_str())
        else {
            continue;
        };
        let first = app.split_whitespace().next().unwrap_or("");
        if ["Chrome", "Firefox", "Edge", "Safari"].contains(&first) {
            families.entry(ja4.to_string()).or_default().insert(first);
        }
    }
    assert!(families.len() > 40, "{}", families.len());
    for (ja4, named) in &families {
        let got = d.browser_family(ja4);
        if named.len() == 1 {
            assert!(named.contains(got), "{ja4}: {got} not in {named:?}");
        } else {
            assert!(!got.is_empty(), "{ja4}: shared by {named:?}, no family");
        }
    }
    assert_eq!(d.browser_family(go), "");
}

#[test]
fn browser_h2_fingerprints_and_pseudo_orders_come_from_real_profiles() {
    let Some(data) = shared() else {
        return;
    };
    let rama = data.join("rama-ua-profiles/embed_profiles.json");
    let dir = tempfile::tempdir().unwrap();
    let o = shrike(
        &[
            "dict",
            "import",
            "browser-h2",
            rama.to_str().unwrap(),
            "--dict-dir",
            "d",
        ],
        dir.path(),
    );
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success() && t.contains("from 52 profiles"),
        "{t}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let d = Dictionaries::load_dir(&dir.path().join("d")).unwrap();
    // Chrome's and Firefox's SETTINGS, WINDOW_UPDATE and pseudo-header order as captured.
    assert_eq!(
        d.h2_family("1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"),
        "Chrome"
    );
    assert_eq!(
        d.h2_family("1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s"),
        "Firefox"
    );
    // The orders each family's real browsers send (not the seed's hard-coded Firefox one).
    for (family, order, expected) in [
        ("Chrome", "m,a,s,p", true),
        ("Edge", "m,a,s,p", true),
        ("Firefox", "m,p,a,s", true),
        ("Safari", "m,s,p,a", true),
        ("Safari", "m,s,a,p", true),
        ("Firefox", "m,a,s,p", false),
        ("Chrome", "m,p,a,s", false),
    ] {
        assert_eq!(
            d.pseudo_order_expected(family, order),
            expected,
            "{family} {order}"
        );
    }
    // Not a profile file: a clear error, nothing written.
    refused_import(
        dir.path(),
        "browser-h2",
        "x.json",
        "[]",
        "embed_profiles.json layout",
        "browser_h2.csv",
    );
}

#[test]
fn browser_profiles_teach_each_engine_and_a_new_release_is_still_its_family() {
    let Some(data) = shared() else {
        return;
    };
    let sigs = data.join("curl-impersonate-signatures");
    let dir = tempfile::tempdir().unwrap();
    let import = |file: &Path| {
        let o = shrike(
            &[
                "dict",
                "import",
                "browser-profiles",
                file.to_str().unwrap(),
                "--dict-dir",
                "d",
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    // The original project's layout: several builds per file, named extensions.
    let t = import(&sigs.join("firefox.yaml"));
    assert!(t.contains("7 captures (Firefox 100, Firefox 102"), "{t}");
    // The fork's layout: one build per file, with its SETTINGS frame.
    let t = import(&sigs.join("lexiforest/chrome_133.0.6943.55.yaml"));
    assert!(t.contains("1 captures (Chrome 133)"), "{t}");
    let d = Dictionaries::load_dir(&dir.path().join("d")).unwrap();
    assert_eq!(
        d.browser_family("t13d1516h2_8daaf6152771_d8a2da3f94cd"),
        "Chrome"
    );
    assert_eq!(
        d.h2_family("1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"),
        "Chrome"
    );
    // Chrome 150 and Firefox 133, never imported: their cipher and extension sets are
    // their engines'.
    let m = d
        .browser_match("t13d1516h2_8daaf6152771_806a8c22fdea")
        .unwrap();
    assert_eq!(
        (m.family, m.basis),
        ("Chrome", shrike_dict::Basis::CipherSet)
    );
    let m = d
        .browser_match("t13d1716h2_5b57614c22b0_eeeea6562960")
        .unwrap();
    assert_eq!(
        (m.family, m.basis),
        ("Firefox", shrike_dict::Basis::CipherSet)
    );
    // Not a capture: a clear error, nothing written.
    refused_import(
        dir.path(),
        "browser-profiles",
        "x.yaml",
        "name: x\nbrowser: {name: lynx}\n",
        "not a curl-impersonate browser signature",
        "browser_ja4.csv",
    );
}

#[test]
fn iptoasn_tsv_gz_becomes_the_address_table() {
    use std::io::Write;
    // iptoasn.com's documented ip2asn-combined.tsv layout, gzip-compressed as published.
    let tsv = "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n\
               1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n\
               90.0.0.0\t90.127.255.255\t3215\tFR\tFrance Telecom - Orange\n\
               2001:200::\t2001:200:ffff:ffff:ffff:ffff:ffff:ffff\t2500\tJP\tWIDE-BB WIDE Project, JP\n";
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(tsv.as_bytes()).unwrap();
    std::fs::write(
        dir.path().join("ip2asn-combined.tsv.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    let o = shrike(
        &[
            "dict",
            "import",
            "ip-asn",
            "ip2asn-combined.tsv.gz",
            "--dict-dir",
            "d",
        ],
        dir.path(),
    );
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && t.contains("3 ranges (1 not routed"),
        "{t}"
    );
    let d = Dictionaries::load_dir(&dir.path().join("d")).unwrap();
    let info = |ip: &str| {
        d.ip_asn
            .get(ip.parse().unwrap())
            .map(|i| (i.asn, i.country.clone(), i.org.clone()))
    };
    assert_eq!(
        info("90.12.1.1"),
        Some((3215, "FR".into(), "France Telecom - Orange".into()))
    );
    assert_eq!(info("2001:200::1").map(|i| i.0), Some(2500));
    assert_eq!(info("1.0.2.1"), None);
    // A truncated line: refused with its number, nothing written.
    refused_import(
        dir.path(),
        "ip-asn",
        "bad.tsv",
        "1.0.0.0\t1.0.0.255\n",
        "line 1",
        "ip_asn.csv",
    );
}

#[test]
fn anubis_policies_and_user_agent_lists_import_or_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let o = shrike(args, dir.path());
        (o.status.success(), text(&o))
    };
    // A policy of our own, importing a rule file beside it: what shrike cannot evaluate is
    // listed with the reason, the rest is in service.
    std::fs::write(
        dir.path().join("extra.yaml"),
        "- name: block-wp-login\n  path_regex: ^/wp-login\\.php$\n  action: DENY\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy.yaml"),
        "bots:\n  - import: ./extra.yaml\n  - name: load\n    expression: load_1m >= 10.0\n    action: WEIGH\n    weight:\n      adjust: 5\n  - name: curl\n    user_agent_regex: ^curl/\n    action: CHALLENGE\n",
    )
    .unwrap();
    let (ok, t) = run(&["dict", "import", "anubis", "policy.yaml", "--dict-dir", "d"]);
    assert!(ok, "{t}");
    assert!(
        t.contains("2 rules (CHALLENGE 1, DENY 1) and 5 thresholds from 2 files"),
        "{t}"
    );
    assert!(
        t.contains("left out load") && t.contains("unsupported name `load_1m`"),
        "{t}"
    );
    let d = Dictionaries::load_dir(&dir.path().join("d")).unwrap();
    assert_eq!(d.policy.rules.len(), 2);

    // A YAML error names the file; the policy in service stays.
    std::fs::write(dir.path().join("bad.yaml"), "bots:\n  - name: [unclosed\n").unwrap();
    let (ok, t) = run(&["dict", "import", "anubis", "bad.yaml", "--dict-dir", "d"]);
    assert!(!ok && t.contains("bad.yaml"), "{t}");
    let d = Dictionaries::load_dir(&dir.path().join("d")).unwrap();
    assert_eq!(d.policy.rules.len(), 2);
    let (ok, t) = run(&[
        "dict",
        "import",
        "bot-ip",
        "policy.yaml",
        "--anubis-data",
        "x",
    ]);
    assert!(
        !ok && t.contains("--anubis-data applies to anubis only"),
        "{t}"
    );

    // The two user-agent lists, one after the other: both stay.
    let (Some(cua), Some(dd)) = (
        support::shared_data("crawler-user-agents"),
        support::shared_data("device-detector"),
    ) else {
        return;
    };
    let cua = cua.join("crawler-user-agents/crawler-user-agents.json");
    let dd = dd.join("device-detector/regexes/bots.yml");
    let (ok, t) = run(&[
        "dict",
        "import",
        "ua-bots",
        cua.to_str().unwrap(),
        "--dict-dir",
        "d",
    ]);
    assert!(ok && t.contains("1498 patterns from"), "{t}");
    let (ok, t) = run(&[
        "dict",
        "import",
        "ua-bots",
        dd.to_str().unwrap(),
        "--dict-dir",
        "d",
    ]);
    assert!(
        ok && t.contains("838 patterns from") && t.contains("1498 kept"),
        "{t}"
    );
    let d = Dictionaries::load_dir(&dir.path().join("d")).unwrap();
    assert_eq!(d.ua_bots.len(), 2336);
    let ua = "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)";
    // The latest list comes first: device-detector names it.
    let name = &d.ua_bots.classify(ua).unwrap().name;
    assert_eq!(name, "BingBot");
    assert!(
        shrike_dict::fcrdns::domains_of(name).is_some(),
        "verifiable as Bing's"
    );
}

#[test]
fn hosting_asn_lists_label_their_networks_and_keep_the_other_rows() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::create_dir(cwd.join("e")).unwrap();
    std::fs::write(
        cwd.join("e/asn_reputation.csv"),
        "asn,label\n3215,isp\n16509,isp\n",
    )
    .unwrap();
    // brianhama/bad-asn-list's layout.
    std::fs::write(
        cwd.join("bad-asn-list.csv"),
        "ASN,Entity\n16509,\"AMAZON-02 - Amazon.com, Inc., US\"\n14061,\"DIGITALOCEAN-ASN - Digital Ocean, Inc., US\"\n",
    )
    .unwrap();
    let o = shrike(
        &[
            "dict",
            "import",
            "asn-hosting",
            "bad-asn-list.csv",
            "--dict-dir",
            "e",
        ],
        cwd,
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 AS numbers labelled hosting"),
        "{}",
        text(&o)
    );
    let d = Dictionaries::load_dir(&cwd.join("e")).unwrap();
    use shrike_dict::AsnLabel;
    assert_eq!(d.asn_label(3215), AsnLabel::Isp, "other rows are kept");
    assert_eq!(
        d.asn_label(16509),
        AsnLabel::Hosting,
        "a listed ASN's row is replaced"
    );
    assert_eq!(d.asn_label(14061), AsnLabel::Hosting);
    // A list with a line that names no network is refused whole.
    refused_import(
        cwd,
        "asn-hosting",
        "bad.txt",
        "AS16509\nAmazon\n",
        "line 2",
        "never-written.csv",
    );
    assert_eq!(
        Dictionaries::load_dir(&cwd.join("e"))
            .unwrap()
            .asn_label(16509),
        AsnLabel::Hosting
    );
}

/// `shrike dict update` fetches the published lists from their URLs and imports them; a
/// download that breaks off, a malformed list, a checksum that differs and a file over its
/// size limit each fail alone, and the files they would have replaced stay byte for byte.
#[test]
fn dict_update_fetches_the_lists_and_keeps_the_old_ones_when_a_download_is_bad() {
    let Some(data) = shared() else { return };
    let google =
        std::fs::read(data.join("crawler-ip-ranges/cloud-ips-google/googlebot.json")).unwrap();
    let agents = std::fs::read(data.join("crawler-user-agents/crawler-user-agents.json")).unwrap();
    let mapping = std::fs::read(data.join("foxio-ja4/ja4plus-mapping.csv")).unwrap();
    let routes = std::sync::Arc::new(std::sync::Mutex::new(std::collections::HashMap::from([
        ("/googlebot.json".to_string(), Serve::File(google.clone())),
        (
            "/crawler-user-agents.json".to_string(),
            Serve::File(agents.clone()),
        ),
        ("/ja4plus-mapping.csv".to_string(), Serve::File(mapping)),
    ])));
    let url = publisher(routes.clone());
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let source = |kind: &str, path: &str, extra: &str| {
        format!("[[dictionaries.source]]\nkind = \"{kind}\"\nurl = \"{url}{path}\"\n{extra}\n")
    };
    let mut config = String::from("[dictionaries]\ndir = \"d\"\n\n");
    config += &source("bot-ip", "/googlebot.json", "");
    config += &source("ua-bots", "/crawler-user-agents.json", "");
    config += &source("browser-ja4", "/ja4plus-mapping.csv", "");
    std::fs::write(cwd.join("shrike.toml"), &config).unwrap();
    let o = shrike(&["dict", "update", "--config", "shrike.toml"], cwd);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    for file in ["bot_ip.csv", "ua_bots.json", "browser_ja4.csv"] {
        assert!(out.contains(&format!("  {file}: 0 → ")), "{file}: {out}");
    }
    let d = Dictionaries::load_dir(&cwd.join("d")).unwrap();
    let first = networks(&data.join("crawler-ip-ranges/cloud-ips-google/googlebot.json"))[0];
    assert_eq!(d.bot_for_ip(first), Some("googlebot"));
    let before: Vec<Vec<u8>> = ["bot_ip.csv", "ua_bots.json", "browser_ja4.csv"]
        .iter()
        .map(|f| std::fs::read(cwd.join("d").join(f)).unwrap())
        .collect();

    // Now every source but the mapping is bad in its own way.
    {
        let mut r = routes.lock().unwrap();
        r.insert("/googlebot.json".into(), Serve::Truncated(google.clone()));
        r.insert(
            "/crawler-user-agents.json".into(),
            Serve::File(b"[{\"pattern\": \"Googlebot\", ".to_vec()),
        );
        r.insert("/bingbot.json".into(), Serve::File(google.clone()));
        r.insert("/big.json".into(), Serve::File(vec![b' '; 1024 * 1024 + 1]));
    }
    config += &source(
        "bot-ip",
        "/bingbot.json",
        &format!("sha256 = \"{}\"", "0".repeat(64)),
    );
    config += &source("bot-ip", "/big.json", "max_mib = 1");
    std::fs::write(cwd.join("shrike.toml"), &config).unwrap();
    let o = shrike(&["dict", "update", "--config", "shrike.toml"], cwd);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(4), "{out}");
    for (path, says) in [
        ("/googlebot.json", "broke off"),
        ("/crawler-user-agents.json", "crawler-user-agents.json"),
        ("/bingbot.json", "SHA-256"),
        ("/big.json", "1 MiB limit"),
    ] {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("failed {url}{path}")))
            .unwrap_or_else(|| panic!("{path} not reported: {out}"));
        assert!(line.contains(says), "{line}");
    }
    assert!(out.contains("no dictionary file changed"), "{out}");
    let after: Vec<Vec<u8>> = ["bot_ip.csv", "ua_bots.json", "browser_ja4.csv"]
        .iter()
        .map(|f| std::fs::read(cwd.join("d").join(f)).unwrap())
        .collect();
    assert!(before == after, "a bad download changed a dictionary file");
    assert!(
        std::fs::read_dir(cwd).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".update")),
        "the staging copy was left behind"
    );
}
