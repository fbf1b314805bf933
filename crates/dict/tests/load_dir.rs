//! Loading a dictionary directory, and the errors a user sees for bad files.

use shrike_dict::{AsnLabel, Dictionaries};

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn loads_every_file_kind() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "bot_ip.csv",
        "cidr,bot_name\n66.249.64.0/19,Googlebot\n2001:4860:4801:10::/64,Googlebot\n",
    );
    write(
        d.path(),
        "bot_ja4.csv",
        "ja4,bot_name\nt13d190900_9dc949149365_97f8aa674fd9,Go-http-client\n",
    );
    write(
        d.path(),
        "browser_ja4.csv",
        "ja4,browser_family\nt13d1516h2_8daaf6152771_02713d6af862,Chrome\n",
    );
    write(
        d.path(),
        "browser_h2.csv",
        "h2_fingerprint,browser_family\n\"1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p\",Chrome\n",
    );
    write(
        d.path(),
        "asn_reputation.csv",
        "asn,label\n16509,hosting\nAS3215,isp\n",
    );
    write(
        d.path(),
        "ip_asn.csv",
        "start_ip,end_ip,asn,country,org\n90.0.0.0,90.127.255.255,3215,FR,Orange\n",
    );
    let dict = Dictionaries::load_dir(d.path()).unwrap();
    assert_eq!(
        dict.bot_for_ip("66.249.66.1".parse().unwrap()),
        Some("Googlebot")
    );
    assert_eq!(
        dict.bot_for_ip("2001:4860:4801:10::5".parse().unwrap()),
        Some("Googlebot")
    );
    assert_eq!(dict.bot_for_ip("66.249.96.1".parse().unwrap()), None);
    assert_eq!(
        dict.browser_family("t13d1516h2_8daaf6152771_02713d6af862"),
        "Chrome"
    );
    assert!(dict.pseudo_order_expected("Chrome", "m,a,s,p"));
    assert!(!dict.pseudo_order_expected("Chrome", "m,p,a,s"));
    assert_eq!(dict.asn_label(16509), AsnLabel::Hosting);
    assert_eq!(dict.asn_label(3215), AsnLabel::Isp);
    assert_eq!(dict.asn_label(1), AsnLabel::Unknown);
    assert_eq!(
        dict.ip_asn.get("90.1.2.3".parse().unwrap()).unwrap().org,
        "Orange"
    );
}

#[test]
fn errors_name_the_file_line_and_allowed_values() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "asn_reputation.csv",
        "asn,label\n16509,hosting\n3215,residential\n",
    );
    let err = Dictionaries::load_dir(d.path()).unwrap_err().to_string();
    assert!(err.contains("asn_reputation.csv"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("allowed: isp, hosting"), "{err}");
    write(d.path(), "asn_reputation.csv", "");
    write(d.path(), "bot_ip.csv", "10.0.0.0/40,x\n");
    let err = Dictionaries::load_dir(d.path()).unwrap_err().to_string();
    assert!(
        err.contains("bot_ip.csv") && err.contains("10.0.0.0/40"),
        "{err}"
    );
}

#[test]
fn googlebot_published_ranges_resolve_to_googlebot() {
    let data = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
        });
    let file = data.join("crawler-ip-ranges/goodbots/googlebot.ips");
    let Ok(text) = std::fs::read_to_string(&file) else {
        println!(
            "skipped: {} not found (set SHRIKE_SHARED_DATA)",
            file.display()
        );
        return;
    };
    let mut dict = Dictionaries::default();
    let csv: String = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("{},Googlebot\n", l.trim()))
        .collect();
    dict.load_text(shrike_dict::DictionaryFile::BotIp, &csv)
        .unwrap();
    assert!(dict.bot_ip.len() > 100);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (ip, _) = line.split_once('/').unwrap();
        assert_eq!(
            dict.bot_for_ip(ip.parse().unwrap()),
            Some("Googlebot"),
            "{line}"
        );
    }
    assert_eq!(dict.bot_for_ip("8.8.8.8".parse().unwrap()), None);
}

#[test]
fn a_watched_directory_reloads_changed_files_and_keeps_the_last_good_load() {
    use shrike_dict::{DictionaryWatch, Reload};
    use std::net::IpAddr;
    let d = tempfile::tempdir().unwrap();
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let mut w = DictionaryWatch::open(d.path()).unwrap();
    assert_eq!(w.current().bot_for_ip(ip), None);
    assert!(matches!(w.refresh(), Reload::Unchanged));

    // A new file: loaded at the next refresh, and named.
    write(
        d.path(),
        "bot_ip.csv",
        "cidr,bot_name\n203.0.113.0/24,ExampleBot\n",
    );
    match w.refresh() {
        Reload::Reloaded { changed } => assert_eq!(changed, vec!["bot_ip.csv"]),
        other => panic!("{other:?}"),
    }
    let before = w.current();
    assert_eq!(before.bot_for_ip(ip), Some("ExampleBot"));

    // A broken edit: the error names the file; the previous dictionaries stay in service,
    // and the same broken content is not reported again.
    write(
        d.path(),
        "bot_ip.csv",
        "cidr,bot_name\n203.0.113.0/33,Broken\n",
    );
    match w.refresh() {
        Reload::Failed(e) => assert!(e.to_string().contains("bot_ip.csv"), "{e}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.current().bot_for_ip(ip), Some("ExampleBot"));
    assert!(matches!(w.refresh(), Reload::Unchanged));

    // Fixed, and a file removed: both take effect.
    write(
        d.path(),
        "bot_ip.csv",
        "cidr,bot_name\n203.0.113.0/25,OtherBot\n",
    );
    match w.refresh() {
        Reload::Reloaded { changed } => assert_eq!(changed, vec!["bot_ip.csv"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.current().bot_for_ip(ip), Some("OtherBot"));
    std::fs::remove_file(d.path().join("bot_ip.csv")).unwrap();
    assert!(matches!(w.refresh(), Reload::Reloaded { .. }));
    assert_eq!(w.current().bot_for_ip(ip), None);
    // Holders of the old Arc keep a consistent snapshot.
    assert_eq!(before.bot_for_ip(ip), Some("ExampleBot"));
}
