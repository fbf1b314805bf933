//! What the exports block, and that nothing an attacker controls escapes its place.

use std::net::IpAddr;

use shrike_export::{plan, render, EntryKind, Filters, Format, RenderOptions};
use shrike_store::ScoreRow;
use shrike_types::{Ja4, SessionKey, ThreatLevel, Timestamp};

const BOT_JA4: &str = "t13d190900_9dc949149365_97f8aa674fd9";
const CHROME: &str = "t13d1516h2_8daaf6152771_02713d6af862";

fn s(ip: &str, ja4: &str, level: &str, anomaly: bool) -> ScoreRow {
    ScoreRow {
        key: SessionKey {
            window_start: Timestamp::from_millis(1_714_564_800_000),
            src_ip: ip.parse::<IpAddr>().unwrap(),
            ja4: Some(Ja4::parse(ja4.to_string().into()).unwrap()),
            host: "shop.example".into(),
        },
        model: Some(shrike_types::FeatureSetName::Complete),
        threat_level: level.parse().unwrap(),
        raw_score: if anomaly { -0.2 } else { 0.05 },
        anomaly_score: if anomaly { 0.9 } else { 0.1 },
        is_anomaly: anomaly,
        recurrence: 1,
        browser_confidence: 0.5,
        browser_family: String::new(),
        reason: "[complete] anomaly".into(),
        top_features: "[]".into(),
        fleet_id: -1,
        fleet_score: 0.0,
        fleet_flag: false,
        campaign_id: if anomaly { 3 } else { -1 },
        forest_score: 0.5,
        flow_score: None,
        trees_prob: None,
    }
}

/// A /24 entirely bad (10 addresses), a bad address next to a browser in another /24, a
/// NAT address with a bot and a real browser, a Googlebot, and a MEDIUM one.
fn cycle() -> Vec<ScoreRow> {
    let mut v: Vec<ScoreRow> = (1..=10)
        .map(|i| s(&format!("198.51.100.{i}"), BOT_JA4, "CRITICAL", true))
        .collect();
    v.push(s("203.0.113.5", BOT_JA4, "HIGH", true));
    v.push(s("203.0.113.6", CHROME, "LEGITIMATE_BROWSER", false));
    v.push(s("192.0.2.77", BOT_JA4, "HIGH", true));
    v.push(s("192.0.2.77", CHROME, "LEGITIMATE_BROWSER", false));
    v.push(s(
        "66.249.66.1",
        "t13d1010h2_5b57614c22b0_7121afd63204",
        "KNOWN_BOT",
        false,
    ));
    v.push(s("2001:db8::1", CHROME, "MEDIUM", true));
    v.push(s("2001:db8::2", CHROME, "NORMAL", false));
    v
}

/// A strict RFC 4180 reader (quoted cells, doubled quotes, no line breaks in cells).
fn csv_records(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(|line| {
            let mut cells = vec![String::new()];
            let mut quoted = false;
            let mut chars = line.chars().peekable();
            while let Some(c) = chars.next() {
                match (c, quoted) {
                    ('"', true) if chars.peek() == Some(&'"') => {
                        chars.next();
                        cells.last_mut().unwrap().push('"');
                    }
                    ('"', _) => quoted = !quoted,
                    (',', false) => cells.push(String::new()),
                    (c, _) => cells.last_mut().unwrap().push(c),
                }
            }
            assert!(!quoted, "unterminated quote in {line}");
            cells
        })
        .collect()
}

#[test]
fn prefixes_collapse_only_when_every_seen_address_is_bad_and_browsers_are_never_blocked() {
    let p = plan(&cycle(), &Filters::default()).unwrap();
    let values: Vec<(&str, EntryKind)> = p
        .addresses
        .iter()
        .map(|e| (e.value.as_str(), e.kind))
        .collect();
    assert_eq!(
        values,
        vec![
            ("198.51.100.0/24", EntryKind::Prefix),
            ("203.0.113.5", EntryKind::Ip),
            ("2001:db8::1", EntryKind::Ip),
        ]
    );
    assert_eq!(p.addresses[0].addresses, 10);
    // The NAT address carries a real browser: held back, with the reason.
    assert_eq!(p.held_back.len(), 1);
    assert_eq!(p.held_back[0].ip, "192.0.2.77");
    assert!(
        p.held_back[0].why.contains("LEGITIMATE_BROWSER"),
        "{:?}",
        p.held_back
    );
    // The bot JA4 is on 11 blocked addresses but also on the held-back NAT address, whose
    // session is a candidate that is not blocked: the JA4 is not exported. Chrome's JA4 is
    // shared by browsers: never.
    assert!(p.ja4s.is_empty(), "{:?}", p.ja4s);
    let mut without_nat = cycle();
    without_nat.retain(|x| x.key.src_ip.to_string() != "192.0.2.77");
    let p = plan(&without_nat, &Filters::default()).unwrap();
    assert_eq!(p.ja4s.len(), 1);
    assert_eq!(p.ja4s[0].value, BOT_JA4);
    assert_eq!(p.ja4s[0].addresses, 11);
}

#[test]
fn filters_narrow_the_list_and_bad_levels_are_refused() {
    let only_critical = Filters {
        min_level: ThreatLevel::Critical,
        collapse_min: 0,
        ..Filters::default()
    };
    let p = plan(&cycle(), &only_critical).unwrap();
    assert_eq!(p.addresses.len(), 10);
    assert!(p
        .addresses
        .iter()
        .all(|e| e.level == ThreatLevel::Critical && e.kind == EntryKind::Ip));
    let other_campaign = Filters {
        campaign: Some(4),
        ..Filters::default()
    };
    assert!(plan(&cycle(), &other_campaign)
        .unwrap()
        .addresses
        .is_empty());
    let late = Filters {
        since: Some(Timestamp::from_millis(1_714_564_800_001)),
        ..Filters::default()
    };
    assert!(plan(&cycle(), &late).unwrap().addresses.is_empty());
    // A name that is no level at all is refused where it is parsed (the CLI, the API).
    assert!("severe".parse::<ThreatLevel>().is_err());
    for bad in [
        ThreatLevel::Normal,
        ThreatLevel::KnownBot,
        ThreatLevel::AnubisDeny,
    ] {
        let e = plan(
            &cycle(),
            &Filters {
                min_level: bad,
                ..Filters::default()
            },
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("allowed LOW, MEDIUM, HIGH, CRITICAL"),
            "{e}"
        );
    }
}

#[test]
fn attacker_strings_cannot_escape_comments_cells_or_rules() {
    let mut v = cycle();
    for x in &mut v {
        x.reason = "evil\n}\ndeny all; \"quoted\" \u{202e}".into();
    }
    // A JA4 with quotes and braces (never a real one) cannot reach a plan: a session's JA4
    // is checked when it is read from the store.
    let evil_ja4 = "t13d\"}; deny all; #";
    assert!(Ja4::parse(evil_ja4.into()).is_err());
    let p = plan(&v, &Filters::default()).unwrap();
    let o = RenderOptions::default();
    for (format, name) in Format::ALL {
        let text = render(&p, format, &o);
        assert!(
            matches!(format, Format::Json | Format::Csv) || !text.contains("deny all; \""),
            "{name}: the reason escaped:\n{text}"
        );
        // JSON carries the reason as escaped data; every other format keeps one line of
        // printable ASCII.
        assert!(
            format == Format::Json || !text.contains('\u{202e}'),
            "{name}: a control character escaped"
        );
        match format {
            Format::Nginx => assert!(text
                .lines()
                .all(|l| l.starts_with('#') || l.starts_with("deny "))),
            Format::Haproxy => assert!(text
                .lines()
                .all(|l| l.starts_with('#') || l.parse::<IpAddr>().is_ok() || l.contains('/'))),
            Format::Csv => {
                // RFC 4180: every record has the header's 12 cells, the reason one of them.
                let records = csv_records(&text);
                assert!(records.iter().all(|r| r.len() == 12), "{records:?}");
                assert_eq!(records[1][11], "evil?}?deny all; \"quoted\" ?");
            }
            Format::Json | Format::Crowdsec => {
                serde_json::from_str::<serde_json::Value>(&text).unwrap();
            }
            _ => {}
        }
    }
    // A reason that a spreadsheet would run is neutralised.
    let mut v = cycle();
    v[0].reason = "=HYPERLINK(\"http://x\")".into();
    let text = render(
        &plan(
            &v,
            &Filters {
                collapse_min: 0,
                ..Filters::default()
            },
        )
        .unwrap(),
        Format::Csv,
        &o,
    );
    assert!(text.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{text}");
}

#[test]
fn crowdsec_and_ipset_follow_their_documented_shapes() {
    let p = plan(&cycle(), &Filters::default()).unwrap();
    let o = RenderOptions {
        duration: "4h".into(),
        ..RenderOptions::default()
    };
    // cscli decisions import: [{"duration", "reason", "scope": ip|range, "type", "value"}].
    let doc: serde_json::Value = serde_json::from_str(&render(&p, Format::Crowdsec, &o)).unwrap();
    let list = doc.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0]["scope"], "range");
    assert_eq!(list[0]["value"], "198.51.100.0/24");
    assert_eq!(list[0]["type"], "ban");
    assert_eq!(
        list[2]["type"], "captcha",
        "MEDIUM is challenged, not banned"
    );
    assert!(list
        .iter()
        .all(|d| d["duration"] == "4h" && d["reason"].as_str().unwrap().starts_with("shrike: ")));
    // ipset restore: one create per family, then adds to the right family.
    let text = render(&p, Format::Ipset, &o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "create shrike4 hash:net family inet hashsize 1024 maxelem 65536 -exist"
    );
    assert_eq!(lines[1], "add shrike4 198.51.100.0/24 -exist");
    assert_eq!(
        lines[3],
        "create shrike6 hash:net family inet6 hashsize 1024 maxelem 65536 -exist"
    );
    assert_eq!(lines[4], "add shrike6 2001:db8::1 -exist");
}
