//! Anubis policies and user-agent bot patterns, on the real files in `../shared/data`:
//! Anubis's default `botPolicies.yaml` with its `data/` imports, crawler-user-agents, and
//! device-detector's labelled bot and browser user agents.

use std::path::{Path, PathBuf};

use shrike_dict::cel::Fields;
use shrike_dict::policy::{import_anubis, Action, DecidedBy, Policy};
use shrike_dict::ua::{parse_crawler_user_agents, parse_device_detector, UaBots};

fn data(sub: &str) -> Option<PathBuf> {
    let base = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = base.join(sub);
    if p.exists() {
        Some(p)
    } else {
        println!(
            "skipped: {} not found (set SHRIKE_SHARED_DATA)",
            p.display()
        );
        None
    }
}

fn request<'a>(ua: &'a str, ip: &str, headers: Option<&'a [(&'a str, &'a str)]>) -> Fields<'a> {
    Fields {
        user_agent: Some(ua),
        remote_address: Some(ip.parse().unwrap()),
        path: Some("/articles/42"),
        method: Some("GET"),
        headers,
        query: Some(&[]),
        asn: Some(3215),
        country: Some("FR"),
        ..Fields::default()
    }
}

const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";

fn rule_of(p: &Policy, f: &Fields<'_>) -> (Action, String) {
    let v = p.evaluate(f);
    (v.action, v.label())
}

#[test]
fn anubis_default_policy_with_its_imports() {
    let Some(dir) = data("anubis/data") else {
        return;
    };
    let imported = import_anubis(&dir.join("botPolicies.yaml"), None).unwrap();
    let p = &imported.policy;
    println!(
        "{} rules from {} files, {} left out, {} thresholds",
        p.rules.len(),
        imported.files.len(),
        imported.skipped.len(),
        p.thresholds.len()
    );
    for s in &imported.skipped {
        println!("  left out {} ({}): {}", s.name, s.from, s.why);
    }
    assert!(p.rules.len() >= 35, "{}", p.rules.len());
    assert!(imported.files.len() >= 20);
    assert_eq!(p.thresholds.len(), 5);
    // Every rule of the default policy is understood.
    assert!(imported.skipped.is_empty(), "{:?}", imported.skipped);
    let cidrs: usize = p.rules.iter().map(|r| r.cidrs().len()).sum();
    assert!(cidrs > 500, "{cidrs} crawler CIDRs");

    // Googlebot from its published range: allowed by the googlebot rule. The same user
    // agent from anywhere else is only a browser-looking client to weigh.
    let google_ip = p
        .rules
        .iter()
        .find(|r| r.name == "googlebot")
        .map(|r| r.cidrs()[0].0)
        .unwrap();
    let g = google_ip.to_string();
    assert_eq!(
        rule_of(p, &request(GOOGLEBOT, &g, None)),
        (Action::Allow, "bot/googlebot".into())
    );
    let fake = rule_of(p, &request(GOOGLEBOT, "203.0.113.9", None));
    assert_ne!(fake.1, "bot/googlebot");
    assert_eq!(fake.0, Action::Challenge, "{fake:?}");

    // Header rules: a request relayed by a Cloudflare Worker is weighed by two rules (the
    // header regex and the kitesurf expression), and their weights add up.
    let worker = [("Cf-Worker", "example.workers.dev"), ("Accept", "*/*")];
    let v = p.evaluate(&request("node-fetch/1.0", "203.0.113.9", Some(&worker)));
    assert_eq!(
        v.weighed,
        ["cloudflare-kitesurf", "cloudflare-workers"],
        "{v:?}"
    );
    assert_eq!((v.weight, v.action), (30, Action::Challenge));
    // Headless browsers are denied: the first matching rule wins over the later ones.
    let headless = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36";
    assert_eq!(
        rule_of(p, &request(headless, "203.0.113.9", None)).0,
        Action::Deny
    );
    assert_eq!(
        rule_of(
            p,
            &request(
                "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)",
                "203.0.113.9",
                None
            )
        )
        .0,
        Action::Deny,
        "AI crawlers are blocked by the aggressive AI policy"
    );

    // WEIGH accumulates: a browser from a WEIGHed ASN and country reaches the next
    // threshold.
    let mut f = request(FIREFOX, "203.0.113.9", None);
    let base = p.evaluate(&f);
    assert_eq!(base.weight, 10);
    assert_eq!(base.by, DecidedBy::Threshold("moderate-suspicion".into()));
    f.asn = Some(13335);
    f.country = Some("CN");
    let heavy = p.evaluate(&f);
    assert_eq!(heavy.weight, 30);
    assert_eq!(heavy.by, DecidedBy::Threshold("extreme-suspicion".into()));
    assert_eq!(heavy.weighed.len(), 3);

    // Path rules: robots.txt is let through for everyone.
    let mut robots = request("curl/8.5.0", "203.0.113.9", None);
    robots.path = Some("/robots.txt");
    assert_eq!(rule_of(p, &robots).0, Action::Allow);

    // At session level only the user agent and address are known: rules needing a header
    // or the path do not match, rules on what is known still do.
    let session = Fields {
        user_agent: Some(GOOGLEBOT),
        remote_address: Some(google_ip),
        ..Fields::default()
    };
    assert_eq!(
        rule_of(p, &session),
        (Action::Allow, "bot/googlebot".into())
    );

    // shrike's saved form gives the same verdicts.
    let again = Policy::from_json(&p.to_json()).unwrap();
    assert_eq!(again.rules.len(), p.rules.len());
    for ua in [GOOGLEBOT, FIREFOX, "", headless, "node-fetch/1.0"] {
        for ip in [g.as_str(), "203.0.113.9", "2001:db8::1"] {
            let f = request(ua, ip, None);
            assert_eq!(again.evaluate(&f), p.evaluate(&f), "{ua} {ip}");
        }
    }
}

#[test]
fn every_anubis_data_file_imports_or_says_why() {
    let Some(dir) = data("anubis/data") else {
        return;
    };
    let mut rules = 0;
    let mut left_out = Vec::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(p.extension().and_then(|x| x.to_str()), Some("yaml" | "yml")) {
                let i = import_anubis(&p, Some(&dir)).unwrap();
                rules += i.policy.rules.len();
                left_out.extend(i.skipped);
            }
        }
    }
    println!(
        "{rules} rules imported across every file, {} left out",
        left_out.len()
    );
    for s in &left_out {
        println!("  left out {} ({}): {}", s.name, s.from, s.why);
        assert!(!s.why.is_empty());
    }
    assert!(rules > 150);
}

fn device_detector_uas(file: &str) -> Vec<String> {
    let dir = data("device-detector/fixtures").unwrap();
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    // `- user_agent: ...` lines, unquoted as YAML would.
    text.lines()
        .filter_map(|l| {
            l.trim_start_matches(['-', ' '])
                .strip_prefix("user_agent: ")
        })
        .map(|s| {
            let s = s.trim();
            if let Some(q) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                q.replace("\\\"", "\"").replace("\\\\", "\\")
            } else if let Some(q) = s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
                q.replace("''", "'")
            } else {
                s.to_string()
            }
        })
        .collect()
}

#[test]
fn user_agent_patterns_recognise_labelled_bots_and_spare_browsers() {
    let (Some(cua), Some(dd)) = (
        data("crawler-user-agents/crawler-user-agents.json"),
        data("device-detector/regexes/bots.yml"),
    ) else {
        return;
    };
    let (crawlers, skipped_c) =
        parse_crawler_user_agents(&std::fs::read_to_string(&cua).unwrap()).unwrap();
    let (detector, skipped_d) =
        parse_device_detector(&std::fs::read_to_string(&dd).unwrap()).unwrap();
    println!(
        "crawler-user-agents: {} patterns ({} left out); device-detector: {} ({} left out)",
        crawlers.len(),
        skipped_c.len(),
        detector.len(),
        skipped_d.len()
    );
    assert!(skipped_c.is_empty(), "{skipped_c:?}");
    assert!(skipped_d.is_empty(), "{skipped_d:?}");

    // Every example crawler-user-agents gives for its patterns is recognised.
    let only_c = UaBots::new(crawlers.clone()).unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cua).unwrap()).unwrap();
    let examples: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| e["instances"].as_array().into_iter().flatten())
        .filter_map(|s| s.as_str())
        .collect();
    let missed = examples
        .iter()
        .filter(|u| only_c.classify(u).is_none())
        .count();
    assert!(examples.len() > 2000);
    assert_eq!(missed, 0, "crawler-user-agents examples missed");

    let both = UaBots::new(crawlers.into_iter().chain(detector).collect()).unwrap();
    let bots = device_detector_uas("bots.yml");
    assert!(bots.len() > 1300, "{}", bots.len());
    let missed: Vec<&String> = bots.iter().filter(|u| both.classify(u).is_none()).collect();
    let recall = 1.0 - missed.len() as f64 / bots.len() as f64;
    println!(
        "device-detector labelled bots recognised: {}/{} ({:.1}%)",
        bots.len() - missed.len(),
        bots.len(),
        recall * 100.0
    );
    for m in missed.iter().take(10) {
        println!("  missed: {m}");
    }
    // Device-detector's four look-around patterns (its generic `bot|crawler|...` catch-all
    // among them) run on the fallback engine: 107 of these bots only they name.
    assert!(missed.is_empty(), "{recall}");

    let mut browsers = Vec::new();
    for f in [
        "desktop.yml",
        "desktop-1.yml",
        "smartphone.yml",
        "smartphone-1.yml",
    ] {
        browsers.extend(device_detector_uas(f));
    }
    assert!(browsers.len() > 1000);
    let flagged: Vec<&String> = browsers
        .iter()
        .filter(|u| both.classify(u).is_some())
        .collect();
    // Once the lazy DFA is warm (the first pass builds it), a user agent takes microseconds.
    let t = std::time::Instant::now();
    let again = browsers
        .iter()
        .filter(|u| both.classify(u).is_some())
        .count();
    assert_eq!(again, flagged.len());
    println!(
        "classified {} browser user agents again in {:?}",
        browsers.len(),
        t.elapsed()
    );
    println!(
        "device-detector real-browser UAs taken for bots: {}/{}",
        flagged.len(),
        browsers.len()
    );
    for f in flagged.iter().take(10) {
        println!("  flagged: {f} -> {:?}", both.classify(f).map(|p| &p.name));
    }
    // Wget, the Fluid browser and two Sogou mobile browsers carrying the Sogou spider's
    // token: crawler-user-agents' patterns take them for bots, device-detector does not.
    assert!(flagged.len() <= 4, "{} browsers flagged", flagged.len());

    // Googlebot is named as such.
    assert_eq!(both.classify(GOOGLEBOT).unwrap().name, "Googlebot");
    assert!(both.classify(FIREFOX).is_none());
}
