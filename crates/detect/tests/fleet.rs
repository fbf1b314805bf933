//! Fleet detection on hand-built cycles.

use shrike_detect::fleet::{detect_fleets, prefix};
use shrike_detect::prep::{BrowserId, Session, SessionRow};
use shrike_detect::DetectConfig;
use shrike_types::{math, Ja4, SessionKey, Timestamp};

const CHROME: &str = "t13d1516h2_8daaf6152771_02713d6af862";
const FLEET: &str = "t13d1715h2_5b57614c22b0_7121afd63204";
const PYTHON: &str = "t13d0512h1_2a284e3b0c56_8a4fa0c12b9f";

fn session(ip: String, ja4: &'static str, asn: u32) -> Session {
    let mut row = SessionRow::new(SessionKey {
        window_start: Timestamp::from_millis(1_714_564_800_000),
        src_ip: ip.parse().unwrap(),
        ja4: Some(Ja4::parse(ja4.into()).unwrap()),
        host: "shop.example".into(),
    });
    row.asn_label = shrike_dict::AsnLabel::Isp;
    row.asn = asn;
    row.correlated = true;
    Session::new(row)
}

/// A browser identification with its confidence and its navigation axis.
fn browser(confidence: f64, navigation: f64) -> BrowserId {
    let mut axes = [0.0; 6];
    axes[3] = navigation;
    BrowserId {
        axes,
        confidence,
        family: String::new(),
    }
}

/// 300 humans on Chrome over four ISPs, a 40-address fleet with its own JA4 on the same
/// ISPs, and one scraper on a hosting network.
fn cycle() -> (Vec<Session>, Vec<BrowserId>) {
    let isps = [3215u32, 12322, 5410, 3320];
    let mut s = Vec::new();
    let mut b = Vec::new();
    for i in 0..300u32 {
        s.push(session(
            format!("90.{}.{}.{}", i % 7, i / 7, 10 + i % 5),
            CHROME,
            isps[(i % 4) as usize],
        ));
        b.push(browser(0.9 + 0.05 * ((i % 3) as f64) / 2.0, 0.9));
    }
    for i in 0..40u32 {
        let ip = format!("80.{}.{}.{}", 10 + i % 9, 100 + i, 20 + i % 11);
        // Two sessions per address (two hosts).
        for _ in 0..2 {
            s.push(session(ip.clone(), FLEET, isps[(i % 4) as usize]));
            b.push(browser(0.45, 0.3));
        }
    }
    s.push(session("203.0.113.9".into(), PYTHON, 16509));
    b.push(browser(0.1, 0.0));
    (s, b)
}

#[test]
fn a_fleet_on_residential_networks_is_found_and_humans_are_left_alone() {
    let (s, b) = cycle();
    let all: Vec<usize> = (0..s.len()).collect();
    let cfg = DetectConfig::default();
    let r = detect_fleets(&s, &b, &all, &cfg);
    let flagged: Vec<_> = r.fleets.iter().filter(|f| f.flagged).collect();
    assert_eq!(flagged.len(), 1, "{:#?}", r.fleets);
    let f = flagged[0];
    assert_eq!((f.ips, f.sessions), (40, 80));
    assert_eq!(f.ja4s, vec![(FLEET.to_string(), 80)]);
    assert_eq!(f.asns.len(), 4);
    assert!((f.mean_browser_confidence - 0.45).abs() < 1e-9);
    // 40 /24 prefixes out of a saturation of 50: breadth ln 41 / ln 51; each session is as
    // much a person's as the lower of its confidence (0.45) and its navigation (0.3).
    let expected = (math::ln(41.0) / math::ln(51.0)) * 0.7;
    assert!(
        (f.score - expected).abs() < 1e-9,
        "{} vs {expected}",
        f.score
    );
    for (i, session) in s.iter().enumerate() {
        let is_fleet = session.key().ja4_str() == FLEET;
        assert_eq!(r.flagged(i), is_fleet, "session {i}");
        if session.key().ja4_str() == CHROME {
            assert_eq!(r.member_of[i], None, "browsers are never fleet members");
            assert_eq!(r.score(i), 0.0);
        }
    }
    // The lone scraper is no fleet: one address.
    assert!(!r.flagged(s.len() - 1));
    // Deterministic.
    let again = detect_fleets(&s, &b, &all, &cfg);
    assert_eq!(again.fleets, r.fleets);
    assert_eq!(again.member_of, r.member_of);
}

#[test]
fn thresholds_turn_fleets_off_or_demand_more() {
    let (s, b) = cycle();
    let all: Vec<usize> = (0..s.len()).collect();
    let off = DetectConfig {
        fleet_min_ips: 0,
        ..DetectConfig::default()
    };
    let r = detect_fleets(&s, &b, &all, &off);
    assert!(r.fleets.is_empty() && r.member_of.iter().all(Option::is_none));
    let strict = DetectConfig {
        fleet_min_ips: 41,
        ..DetectConfig::default()
    };
    assert!(detect_fleets(&s, &b, &all, &strict)
        .fleets
        .iter()
        .all(|f| !f.flagged));
    // Sessions the caller leaves out (known bots) are not part of the graph.
    let without_fleet: Vec<usize> = all
        .iter()
        .copied()
        .filter(|i| s[*i].key().ja4_str() != FLEET)
        .collect();
    let r = detect_fleets(&s, &b, &without_fleet, &DetectConfig::default());
    assert!(r.fleets.iter().all(|f| !f.flagged), "{:#?}", r.fleets);
}

#[test]
fn prefixes_are_slash_24_and_slash_48() {
    assert_eq!(prefix("192.0.2.77".parse().unwrap()), "192.0.2.0/24");
    assert_eq!(
        prefix("2001:db8:1234:5678::1".parse().unwrap()),
        "2001:db8:1234::/48"
    );
}

/// A browser release the dictionaries do not know yet: its users share one unknown JA4 over
/// many residential prefixes, at middling confidence, but browse like people.
#[test]
fn a_new_browser_release_browsing_like_people_is_no_fleet() {
    let (s, mut b) = cycle();
    let all: Vec<usize> = (0..s.len()).collect();
    let cfg = DetectConfig::default();
    for (i, session) in s.iter().enumerate() {
        if session.key().ja4_str() == FLEET {
            // Assets fetched, referers, cookies, Accept-Language, real navigation.
            b[i].axes[3] = 0.9;
        }
    }
    let r = detect_fleets(&s, &b, &all, &cfg);
    let f = r.fleets.iter().find(|f| f.ja4s[0].0 == FLEET).unwrap();
    assert!((f.mean_navigation - 0.9).abs() < 1e-9);
    assert!(!f.flagged, "{f:#?}");
    assert!((0..s.len()).all(|i| !r.flagged(i)));
    // The same population browsing like a script is a fleet again.
    for (i, session) in s.iter().enumerate() {
        if session.key().ja4_str() == FLEET {
            b[i].axes[3] = 0.2;
        }
    }
    let r = detect_fleets(&s, &b, &all, &cfg);
    assert!(r.fleets.iter().any(|f| f.flagged && f.ja4s[0].0 == FLEET));
}

/// A real Chrome's stack (the humans' own JA4, high confidence) driven through residential
/// proxies like a script: the script-like sessions of the Chrome community are the fleet,
/// and the people sharing its JA4 stay out of it.
#[test]
fn a_real_browser_stack_driven_like_a_script_is_a_fleet_without_its_users() {
    let (mut s, mut b) = cycle();
    let isps = [3215u32, 12322, 5410, 3320];
    let first = s.len();
    for i in 0..40u32 {
        s.push(session(
            format!("81.{}.{}.{}", 10 + i % 9, 100 + i, 20 + i % 11),
            CHROME,
            isps[(i % 4) as usize],
        ));
        b.push(browser(0.92, 0.2));
    }
    let all: Vec<usize> = (0..s.len()).collect();
    let r = detect_fleets(&s, &b, &all, &DetectConfig::default());
    for (i, session) in s.iter().enumerate() {
        let scripted = i >= first || session.key().ja4_str() == FLEET;
        assert_eq!(r.flagged(i), scripted, "session {i}");
    }
    let f = r
        .fleets
        .iter()
        .find(|f| f.flagged && f.ja4s[0].0 == CHROME)
        .expect("the Chrome-stack fleet");
    assert_eq!((f.ips, f.sessions), (40, 40));
}
