//! Browser identification on the real browser profiles of `../shared/data/rama-ua-profiles`:
//! each profile's captured ClientHello (→ JA4), HTTP/2 SETTINGS and pseudo-header order,
//! navigation header order and user agent, sent as one page view (a navigation and three
//! assets on one HTTP/2 connection) through the real ingest edge and sessionizer.
#![recursion_limit = "256"]

use std::fmt::Write as _;
use std::path::PathBuf;

use shrike_detect::findings::{findings_of, Strength};
use shrike_detect::prep::{identify_browser, Session, SessionRow};
use shrike_detect::DetectConfig;
use shrike_detect::Enrich;
use shrike_dict::import::parse_browser_ja4;
use shrike_dict::{Dictionaries, DictionaryFile};
use shrike_features::{FinishOptions, HashKey, SessionFeatures, Sessionizer};
use shrike_ingest::{JsonLines, Source};
use shrike_sim::captured::{self, CapturedProfile};
use shrike_sim::profiles::{load_rama, BrowserProfile};

fn shared_data() -> Option<PathBuf> {
    let p = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    p.is_dir().then_some(p)
}

const HOST: &str = "shop.example";

/// One page view by this browser: the navigation, then a stylesheet, a script and an image.
fn page_view(p: &BrowserProfile, ip: &str) -> Vec<String> {
    let (ttl, window, scale, tcp_options) = p.os.tcp();
    let chromium = p.sec_ch_ua.is_some();
    let mut lines = Vec::new();
    for (i, (path, dest, accept)) in [
        (
            "/",
            "document",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        ),
        ("/static/site.css", "style", "text/css,*/*;q=0.1"),
        ("/static/app.js", "script", "*/*"),
        ("/img/hero.webp", "image", "image/avif,image/webp,*/*;q=0.8"),
    ]
    .into_iter()
    .enumerate()
    {
        let nav = i == 0;
        let headers: Vec<&str> = if nav {
            p.nav_headers.iter().map(String::as_str).collect()
        } else {
            vec![
                "user-agent",
                "accept",
                "referer",
                "accept-encoding",
                "accept-language",
                "cookie",
            ]
        };
        let r = serde_json::json!({
            "time": 1_714_564_800_000u64 + i as u64 * 180,
            "src_ip": ip,
            "src_port": 51234,
            "dst_port": 443,
            "host": HOST,
            "method": "GET",
            "path": path,
            "http_version": "2",
            "status": 200,
            "bytes": 18_000,
            "user_agent": p.user_agent,
            "referer": if nav { None } else { Some(format!("https://{HOST}/")) },
            "header_names": headers,
            "accept": accept,
            "accept_language": "en-US,en;q=0.9",
            "accept_encoding": "gzip, deflate, br, zstd",
            "has_cookie": !nav,
            "sec_ch_ua": p.sec_ch_ua,
            // A phone's Chromium says so in its hint, as its user agent does.
            "sec_ch_ua_mobile": chromium.then_some(if p.user_agent.contains("Mobile") { "?1" } else { "?0" }),
            "sec_ch_ua_platform": chromium.then(|| p.os.ch_platform()),
            "sec_fetch_site": if nav { "none" } else { "same-origin" },
            "sec_fetch_mode": if nav { "navigate" } else { "no-cors" },
            "sec_fetch_dest": dest,
            "sec_fetch_user": nav.then_some("?1"),
            "conn_id": format!("{ip}-1"),
            "keepalive_index": i,
            "ip_total_length": 620,
            "ja4": p.ja4,
            "tls_version": "1.3",
            "tls_alpn": "h2",
            "tls_sni": HOST,
            "tcp_ttl": ttl,
            "tcp_window": window,
            "tcp_window_scale": scale,
            "tcp_mss": 1460,
            "tcp_options": tcp_options,
            "ip_df": true,
            "syn_ack_ms": 21.5,
            "h2_fingerprint": (!p.h2_fingerprint.is_empty()).then_some(&p.h2_fingerprint),
            "h2_pseudo_order": p.pseudo_order,
            "asn": 3215,
            "country": "FR",
            "correlated": true,
        });
        lines.push(r.to_string());
    }
    lines
}

/// The dictionaries `shrike dict import` derives from the same profiles: every profile's
/// HTTP/2 fingerprint, and its JA4 when `with_ja4`.
fn dictionaries(profiles: &[BrowserProfile], with_ja4: bool) -> Dictionaries {
    let mut d = Dictionaries::default();
    let mut h2 = String::new();
    let mut ja4 = String::new();
    for p in profiles {
        if !p.h2_fingerprint.is_empty() {
            writeln!(h2, "\"{}\",{}", p.h2_fingerprint, p.family).unwrap();
        }
        writeln!(ja4, "{},{}", p.ja4, p.family).unwrap();
    }
    d.load_text(DictionaryFile::BrowserH2, &h2).unwrap();
    if with_ja4 {
        d.load_text(DictionaryFile::BrowserJa4, &ja4).unwrap();
    }
    d.load_text(DictionaryFile::AsnReputation, "3215,isp\n")
        .unwrap();
    d
}

/// A sessionizer's output as the cycle reads it from the store.
fn to_session(f: &SessionFeatures) -> Session {
    Session::new(SessionRow::from(f.clone()))
}

/// One session per profile, in profile order.
fn sessions(profiles: &[BrowserProfile], dict: &Dictionaries) -> Vec<Session> {
    let mut s = Sessionizer::new(HashKey::FIXED, 0);
    let mut n = 0;
    for (i, p) in profiles.iter().enumerate() {
        let ip = format!("90.{}.{}.7", i / 200, i % 200);
        for line in page_view(p, &ip) {
            n += 1;
            let r = JsonLines
                .parse_line(line.as_bytes(), &mut 0)
                .unwrap_or_else(|e| panic!("{e:?}: {line}"));
            s.update(n, &r);
        }
    }
    let mut out: Vec<(usize, Session)> = s
        .finish(dict, &FinishOptions::default())
        .into_iter()
        .map(|f| {
            let octets = match f.key.src_ip {
                std::net::IpAddr::V4(v4) => v4.octets(),
                _ => unreachable!(),
            };
            let i = octets[1] as usize * 200 + octets[2] as usize;
            (i, to_session(&f))
        })
        .collect();
    out.sort_by_key(|(i, _)| *i);
    assert_eq!(out.len(), profiles.len(), "one session per profile");
    out.into_iter().map(|(_, s)| s).collect()
}

#[test]
fn real_browsers_are_identified_as_browsers_of_their_family() {
    let Some(data) = shared_data() else {
        println!("skipped: ../shared/data not found (set SHRIKE_SHARED_DATA)");
        return;
    };
    let profiles = load_rama(&data.join("rama-ua-profiles/embed_profiles.json"))
        .expect("rama profiles readable");
    assert!(profiles.len() >= 40, "{} profiles", profiles.len());
    let threshold = DetectConfig::default().browser_confidence_threshold;

    let mut table = String::from(
        "browser OS | JA4 | JA4 in the dictionary: confidence family | JA4 unknown: confidence family axes\n",
    );
    let known = sessions(&profiles, &dictionaries(&profiles, true));
    let unknown = sessions(&profiles, &dictionaries(&profiles, false));
    for ((p, ks), us) in profiles.iter().zip(&known).zip(&unknown) {
        // A real browser's layers agree: no finding that would call it an impersonator,
        // whether the dictionaries know its JA4 or not.
        for s in [ks, us] {
            let strong: Vec<_> = findings_of(s)
                .into_iter()
                .filter(|f| f.strength == Strength::Strong)
                .collect();
            assert!(strong.is_empty(), "{}: {strong:?}", p.user_agent);
        }
        let (k, u) = (identify_browser(ks), identify_browser(us));
        // With its JA4 in the dictionary, every real browser is a confident browser of its
        // family: the LEGITIMATE_BROWSER level is open to it.
        assert_eq!(k.family, p.family, "{}", p.user_agent);
        assert!(
            k.confidence >= threshold,
            "{} ({}): confidence {:.3} < {threshold}, axes {:?}",
            p.family,
            p.user_agent,
            k.confidence,
            k.axes
        );
        // With a JA4 the dictionary has never seen (a new browser release), the family is
        // still inferred from the fingerprint's structure and the HTTP behaviour, and the
        // five remaining axes all vouch for a browser.
        assert_eq!(u.family, p.family, "unknown JA4: {}", p.user_agent);
        assert_eq!(u.axes[0], 0.0);
        for (axis, v) in u.axes.iter().enumerate().skip(1) {
            assert!(
                *v >= 0.5,
                "{}: axis {axis} = {v}, axes {:?}",
                p.user_agent,
                u.axes
            );
        }
        writeln!(
            table,
            "{} {} | {} | {:.2} {} | {:.2} {} {:?}",
            p.family,
            p.os.ch_platform().trim_matches('"'),
            &p.ja4,
            k.confidence,
            k.family,
            u.confidence,
            u.family,
            u.axes.map(|a| (a * 100.0).round() / 100.0)
        )
        .unwrap();
    }
    insta::assert_snapshot!("real_browser_profiles", table);
}

#[test]
fn scripted_clients_are_not_taken_for_browsers() {
    // A Python client and a Go scraper claiming Chrome's user agent: no browser JA4
    // structure, HTTP/1.1, no Sec-Fetch, no assets or referer.
    let chrome_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
    let mut s = Sessionizer::new(HashKey::FIXED, 0);
    let clients = [
        (
            "198.51.100.1",
            "t13d0512h1_2a284e3b0c56_8a4fa0c12b9f",
            "python-requests/2.32.3",
        ),
        (
            "198.51.100.2",
            "t12d1209h1_c4b3e3e0c7b2_a2fd8d8e2d3c",
            chrome_ua,
        ),
    ];
    let mut n = 0;
    for (ip, ja4, ua) in clients {
        for k in 0..5 {
            n += 1;
            let line = serde_json::json!({
                "time": 1_714_564_800_000u64 + k * 1000,
                "src_ip": ip, "host": HOST, "method": "GET", "path": format!("/product/{k}"),
                "http_version": "1.1", "user_agent": ua, "accept": "*/*",
                "accept_encoding": "gzip, deflate", "header_names": ["host", "user-agent", "accept-encoding", "accept", "connection"],
                "ja4": ja4, "tls_version": "1.3", "tls_alpn": "http/1.1", "tls_sni": HOST,
                "asn": 16509, "correlated": true,
            })
            .to_string();
            s.update(n, &JsonLines.parse_line(line.as_bytes(), &mut 0).unwrap());
        }
    }
    let threshold = DetectConfig::default().browser_confidence_threshold;
    for f in s.finish(&Dictionaries::default(), &FinishOptions::default()) {
        let b = identify_browser(&to_session(&f));
        assert_eq!(b.family, "", "{}: {b:?}", f.user_agent);
        assert!(b.confidence < threshold / 2.0, "{}: {b:?}", f.user_agent);
    }
}

/// Every real capture (rama and curl-impersonate), one version held out at a time: the
/// dictionaries learn from every other version's captures and from FoxIO's and ja4db's
/// browser JA4s. Twice: with the version's own rows removed (what the other versions share
/// with it stays), and with every JA4 it sends removed as well (a release whose ClientHello
/// changed). Its page view must still be a browser of its family, above the confidence
/// threshold, with no strong finding: identity by structure, not by exact JA4.
#[test]
fn every_real_version_held_out_is_still_its_family() {
    let Some(data) = shared_data() else {
        println!("skipped: ../shared/data not found (set SHRIKE_SHARED_DATA)");
        return;
    };
    let captures = captured::load_all(&data);
    assert!(captures.len() >= 90, "{} captures", captures.len());
    let mut public = String::new();
    for file in ["foxio-ja4/ja4plus-mapping.csv", "ja4db/ja4db_verified.json"] {
        let text = std::fs::read_to_string(data.join(file)).unwrap();
        for (ja4, family) in parse_browser_ja4(&text).unwrap().rows {
            writeln!(public, "{ja4},{family}").unwrap();
        }
    }
    let cfg = DetectConfig::default();
    let mut versions: Vec<String> = captures.iter().map(CapturedProfile::version).collect();
    versions.sort();
    versions.dedup();
    let mut table = String::from("held out | version | capture | JA4 | identified as, by\n");
    let mut wrong = Vec::new();
    for ja4_too in [false, true] {
        for v in &versions {
            let (held, learned): (Vec<&CapturedProfile>, Vec<&CapturedProfile>) =
                captures.iter().partition(|c| &c.version() == v);
            let held_ja4: Vec<&str> = held.iter().map(|c| c.profile.ja4.as_str()).collect();
            let kept = |ja4: &str| !ja4_too || !held_ja4.contains(&ja4);
            let mut d = dictionaries(
                &learned
                    .iter()
                    .map(|c| c.profile.clone())
                    .collect::<Vec<_>>(),
                false,
            );
            let rows: String = learned
                .iter()
                .map(|c| format!("{},{}\n", c.profile.ja4, c.profile.family))
                .chain(public.lines().map(|l| format!("{l}\n")))
                .filter(|l| kept(l.split(',').next().unwrap_or("")))
                .collect();
            d.load_text(DictionaryFile::BrowserJa4, &rows).unwrap();
            let profiles: Vec<BrowserProfile> = held.iter().map(|c| c.profile.clone()).collect();
            let enrich = Enrich {
                dict: Some(&d),
                verifier: None,
            };
            for (c, s) in held.iter().zip(sessions(&profiles, &d)) {
                let s = enrich.session(s.row);
                let b = identify_browser(&s);
                // Tor Browser is Firefox ESR underneath, and says so in its user agent.
                let expected = match c.profile.family.as_str() {
                    "Tor" => "Firefox",
                    f => f,
                };
                let strong: Vec<_> = findings_of(&s)
                    .into_iter()
                    .filter(|f| f.strength == Strength::Strong)
                    .collect();
                let by = s.identity.map_or("user agent", |b| b.as_str());
                let held = if ja4_too {
                    "version and its JA4s"
                } else {
                    "version"
                };
                if b.family != expected
                    || !b.identified(cfg.browser_confidence_threshold)
                    || !strong.is_empty()
                {
                    wrong.push(format!(
                        "{held} {v} ({}): {:?} by {by}, confidence {:.2}, {strong:?}",
                        c.source, b.family, b.confidence
                    ));
                }
                writeln!(
                    table,
                    "{held} | {v} | {} | {} | {} by {by} ({:.2})",
                    c.source, c.profile.ja4, b.family, b.confidence
                )
                .unwrap();
            }
        }
    }
    println!("{table}");
    assert!(
        wrong.is_empty(),
        "{} of {} held-out captures:\n{}",
        wrong.len(),
        2 * captures.len(),
        wrong.join("\n")
    );
}
