//! Evidence across layers: what a session's TLS, HTTP/2, HTTP and client-hint layers say
//! of each other. A real browser's layers agree; a client that borrows a browser's
//! ClientHello or user agent rarely makes every other layer agree too. Each [`Finding`]
//! names the layers that disagree and how much that weighs ([`Strength`]).

use serde::Serialize;
use shrike_features::FeatureId;

use shrike_dict::engine;
use shrike_fingerprint::{h2_library, syn_os, SynOs};

use crate::prep::{ua_family, BrowserId, Session};
use crate::DetectConfig;

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// Unusual but seen from real people (a proxy's TCP stack, say): evidence for the
    /// scorers, never a verdict alone.
    Weak,
    /// Impossible for a real browser: the session is an impersonator whatever its scores.
    Strong,
}

/// What disagrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The user agent and Sec-CH-UA name different browsers or versions, or a Chromium of
    /// version 90 or later sent no client hints over TLS.
    UaClientHints,
    /// Sec-CH-UA-Platform or -Mobile contradicts the user agent.
    ClientHintsPlatform,
    /// ALPN negotiated h2 and the requests were not HTTP/2.
    AlpnHttpVersion,
    /// An HTTP/2 pseudo-header order the JA4's browser family never sends.
    H2PseudoOrder,
    /// The user agent names a browser engine other than the one whose ClientHello the JA4 is.
    UaTlsEngine,
    /// HTTP/2 SETTINGS a browser of another engine sends, under a browser's JA4.
    H2SettingsEngine,
    /// An HTTP/2 library's default SETTINGS (Go, curl, okhttp, Python h2), under a
    /// browser's JA4.
    H2SettingsLibrary,
    /// HTTP/2 SETTINGS no known browser sends, under a browser's JA4 (a new release is
    /// possible: weak).
    H2SettingsUnknown,
    /// The TCP SYN is another operating system's than the user agent's (a corporate proxy,
    /// a VPN or a residential proxy shows its own stack: weak).
    TcpOsUserAgent,
}

/// One disagreement between layers, with the evidence an analyst reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What disagrees.
    pub kind: FindingKind,
    /// How much it weighs.
    pub strength: Strength,
    /// The layers and values, in words.
    pub evidence: String,
}

/// On iOS and iPadOS every browser uses WebKit's network stack, whatever its user agent.
fn is_apple_mobile(ua: &str) -> bool {
    ["iPhone", "iPad", "CriOS/", "FxiOS/", "EdgiOS/"]
        .iter()
        .any(|k| ua.contains(k))
}

/// The findings of one session, strongest first.
///
/// Client hints and the HTTP/2 fingerprint are the address's in the window, joined to its
/// sessions. When the address sent several JA4s in the window ([`Session::shared_address`]:
/// people behind one NAT or a carrier's CGNAT), those layers may be another client's, so
/// what they contradict is weak evidence, not an impersonation; the layers of the session's
/// own requests (its user agent against its ClientHello, ALPN, the TCP SYN) keep their
/// strength.
pub fn findings_of(s: &Session) -> Vec<Finding> {
    use FeatureId as F;
    let on = |f: FeatureId| s.get(f) == 1.0;
    let ua = s.row.user_agent.as_str();
    let ja4_family = s.row.browser_family.as_str();
    let mut out = Vec::new();
    let mut add = |kind, strength, evidence: String| {
        out.push(Finding {
            kind,
            strength,
            evidence,
        })
    };
    // What an address-level layer contradicts, on an address several clients share.
    let (address_level, shared) = if s.shared_address {
        (
            Strength::Weak,
            " (the address sent several ClientHellos this hour)",
        )
    } else {
        (Strength::Strong, "")
    };
    if on(F::UaChMismatch) {
        add(
            FindingKind::UaClientHints,
            address_level,
            match ua_family(ua) {
                "" => format!("the user agent and its Sec-CH-UA client hints disagree{shared}"),
                family => format!(
                    "the {family} user agent and its Sec-CH-UA client hints disagree{shared}"
                ),
            },
        );
    }
    if on(F::SecChMobileMismatch) {
        add(
            FindingKind::ClientHintsPlatform,
            address_level,
            format!("Sec-CH-UA-Platform or -Mobile contradicts the user agent's platform{shared}"),
        );
    }
    if on(F::AlpnHttpMismatch) {
        add(
            FindingKind::AlpnHttpVersion,
            Strength::Strong,
            "ALPN negotiated h2 but the requests were not HTTP/2".into(),
        );
    }
    let h2 = on(F::H2SettingsKnown) || on(F::H2SettingsRare);
    if h2 && !ja4_family.is_empty() && s.get(F::H2PseudoOrderMatch) == 0.0 {
        add(
            FindingKind::H2PseudoOrder,
            address_level,
            format!(
                "{ja4_family} JA4 with an HTTP/2 pseudo-header order {ja4_family} never sends{shared}"
            ),
        );
    }
    // On iOS and iPadOS the stack is WebKit's whatever browser the user agent names.
    let claimed = if is_apple_mobile(ua) {
        Some("WebKit")
    } else {
        engine(ua_family(ua))
    };
    if let (Some(tls), Some(claimed)) = (engine(ja4_family), claimed) {
        if tls != claimed {
            add(
                FindingKind::UaTlsEngine,
                Strength::Strong,
                format!(
                    "{ja4_family} ClientHello ({tls}) under a{} {} user agent ({claimed})",
                    if is_apple_mobile(ua) { "n iOS" } else { "" },
                    ua_family(ua)
                ),
            );
        }
    }
    if on(F::H2SettingsKnown) && !ja4_family.is_empty() && s.get(F::H2Ja4Coherence) == 0.0 {
        add(
            FindingKind::H2SettingsEngine,
            address_level,
            format!("{ja4_family} JA4 with HTTP/2 SETTINGS of another browser engine{shared}"),
        );
    }
    let library = (!ja4_family.is_empty())
        .then(|| h2_library(&s.row.h2_fingerprint))
        .flatten();
    if let Some(library) = library {
        let settings = s.row.h2_fingerprint.split('|').next().unwrap_or("");
        add(
            FindingKind::H2SettingsLibrary,
            address_level,
            format!("{ja4_family} JA4 with {library}'s HTTP/2 SETTINGS ({settings}){shared}"),
        );
    } else if h2 && !ja4_family.is_empty() && on(F::H2SettingsRare) {
        add(
            FindingKind::H2SettingsUnknown,
            Strength::Weak,
            format!("{ja4_family} JA4 with HTTP/2 SETTINGS no known browser sends{shared}"),
        );
    }
    let ttl = s.get(F::AvgTtl);
    let syn = syn_os(&s.row.tcp_fingerprint, (ttl > 0.0).then_some(ttl));
    if let (Some(syn), Some(claimed)) = (syn, ua_os(ua)) {
        if syn != claimed {
            add(
                FindingKind::TcpOsUserAgent,
                Strength::Weak,
                format!(
                    "{} TCP SYN (TTL {ttl:.0}) under a {} user agent",
                    syn.as_str(),
                    claimed.as_str()
                ),
            );
        }
    }
    out.sort_by_key(|f| std::cmp::Reverse(f.strength));
    out
}

/// A session's label by evidence the scorers do not produce: what every cycle validates its
/// scorers on, and what the trees learn from (never a previous verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    /// A strong cross-layer finding, or a policy DENY.
    Bot,
    /// A confidently identified browser that browses like a person, with no finding.
    Person,
    /// Neither.
    Unknown,
}

/// The evidence of one session, from its findings ([`findings_of`]), its browser
/// identification and the policy.
pub fn evidence(s: &Session, b: &BrowserId, findings: &[Finding], cfg: &DetectConfig) -> Evidence {
    let strong = findings.iter().any(|f| f.strength == Strength::Strong);
    if strong || !s.policy.deny.is_empty() {
        Evidence::Bot
    } else if findings.is_empty() && b.person_like(cfg) {
        Evidence::Person
    } else {
        Evidence::Unknown
    }
}

/// The operating system family whose TCP stack the user agent's platform uses.
fn ua_os(ua: &str) -> Option<SynOs> {
    if ua.contains("Windows NT") {
        Some(SynOs::Windows)
    } else if ["iPhone", "iPad", "Macintosh"]
        .iter()
        .any(|k| ua.contains(k))
    {
        Some(SynOs::Apple)
    } else if ["Android", "Linux", "CrOS"].iter().any(|k| ua.contains(k)) {
        Some(SynOs::Linux)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use shrike_store::SessionRow;
    use shrike_types::{SessionKey, Timestamp};

    use super::*;

    fn session(ua: &str, family: &str, set: &[(FeatureId, f32)]) -> Session {
        let mut row = SessionRow::new(SessionKey {
            window_start: Timestamp::from_millis(0),
            src_ip: "198.51.100.7".parse().unwrap(),
            ja4: None,
            host: "shop.example".into(),
        });
        row.user_agent = ua.into();
        row.browser_family = family.into();
        for (f, v) in set {
            row.features[f.index()] = *v;
        }
        Session::new(row)
    }

    const CHROME_WIN: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36";
    const FIREFOX: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const CHROME_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/123.0.6312.52 Mobile/15E148 Safari/604.1";

    #[test]
    fn a_coherent_browser_has_no_finding() {
        let s = session(
            CHROME_WIN,
            "Chrome",
            &[
                (FeatureId::H2SettingsKnown, 1.0),
                (FeatureId::H2Ja4Coherence, 1.0),
                (FeatureId::H2PseudoOrderMatch, 1.0),
            ],
        );
        assert_eq!(findings_of(&s), vec![]);
        // Firefox's SETTINGS under Chrome's JA4: no real browser sends them.
        let s = session(
            CHROME_WIN,
            "Chrome",
            &[
                (FeatureId::H2SettingsKnown, 1.0),
                (FeatureId::H2Ja4Coherence, 0.0),
                (FeatureId::H2PseudoOrderMatch, 1.0),
            ],
        );
        let f = findings_of(&s);
        assert_eq!(
            f.iter().map(|f| (f.kind, f.strength)).collect::<Vec<_>>(),
            vec![(FindingKind::H2SettingsEngine, Strength::Strong)]
        );
        // Compared with a family the JA4 no longer has (-1: unknown): no finding.
        let s = session(
            CHROME_WIN,
            "Chrome",
            &[
                (FeatureId::H2SettingsKnown, 1.0),
                (FeatureId::H2Ja4Coherence, -1.0),
                (FeatureId::H2PseudoOrderMatch, -1.0),
            ],
        );
        assert_eq!(findings_of(&s), vec![]);
        // Chrome on iOS sends Safari's ClientHello: no engine disagreement.
        assert_eq!(findings_of(&session(CHROME_IOS, "Safari", &[])), vec![]);
        // But Chrome's own ClientHello cannot come from an iPhone.
        let f = findings_of(&session(CHROME_IOS, "Chrome", &[]));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].evidence.contains("(WebKit)"), "{}", f[0].evidence);
        // Edge and Opera share Chrome's ClientHello.
        let edge = CHROME_WIN.replace("Safari/537.36", "Safari/537.36 Edg/134.0.0.0");
        assert_eq!(findings_of(&session(&edge, "Chrome", &[])), vec![]);
    }

    #[test]
    fn each_disagreement_is_named_strongest_first() {
        let s = session(
            FIREFOX,
            "Chrome",
            &[
                (FeatureId::H2SettingsRare, 1.0),
                (FeatureId::H2PseudoOrderMatch, 0.0),
                (FeatureId::UaChMismatch, 1.0),
            ],
        );
        let kinds: Vec<(FindingKind, Strength)> = findings_of(&s)
            .iter()
            .map(|f| (f.kind, f.strength))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (FindingKind::UaClientHints, Strength::Strong),
                (FindingKind::H2PseudoOrder, Strength::Strong),
                (FindingKind::UaTlsEngine, Strength::Strong),
                (FindingKind::H2SettingsUnknown, Strength::Weak),
            ]
        );
        let engine = &findings_of(&s)[2].evidence;
        assert!(
            engine.contains("Chrome ClientHello (Chromium) under a Firefox user agent (Gecko)"),
            "{engine}"
        );
        // Unknown HTTP/2 SETTINGS alone are weak: a new browser release may send them.
        let s = session(
            CHROME_WIN,
            "Chrome",
            &[
                (FeatureId::H2SettingsRare, 1.0),
                (FeatureId::H2PseudoOrderMatch, 1.0),
            ],
        );
        assert!(findings_of(&s).iter().all(|f| f.strength == Strength::Weak));
    }

    #[test]
    fn a_library_http2_stack_under_a_browser_ja4_is_named() {
        // httpx keeps Chrome's pseudo-header order: only its SETTINGS give it away.
        let mut s = session(
            CHROME_WIN,
            "Chrome",
            &[
                (FeatureId::H2SettingsRare, 1.0),
                (FeatureId::H2PseudoOrderMatch, 1.0),
            ],
        );
        s.row.h2_fingerprint = "1:4096;2:0;4:65535;5:16384;3:100;6:65536|16777216|0|m,a,s,p".into();
        let f = findings_of(&s);
        assert_eq!(
            f.iter().map(|f| (f.kind, f.strength)).collect::<Vec<_>>(),
            vec![(FindingKind::H2SettingsLibrary, Strength::Strong)],
            "named instead of 'unknown'"
        );
        assert_eq!(
            f[0].evidence,
            "Chrome JA4 with Python h2 (httpx)'s HTTP/2 SETTINGS (1:4096;2:0;4:65535;5:16384;3:100;6:65536)"
        );
        // Behind an address that sent several ClientHellos this hour, the HTTP/2 fingerprint
        // may be another client's: weak evidence, which says why.
        s.shared_address = true;
        let f = findings_of(&s);
        assert_eq!(
            f.iter().map(|f| (f.kind, f.strength)).collect::<Vec<_>>(),
            vec![(FindingKind::H2SettingsLibrary, Strength::Weak)]
        );
        assert!(f[0]
            .evidence
            .ends_with("(the address sent several ClientHellos this hour)"));
        // The same SETTINGS from a client that claims no browser stack: nothing to contradict.
        s.shared_address = false;
        s.row.browser_family.clear();
        assert_eq!(findings_of(&s), vec![]);
    }

    #[test]
    fn an_address_shared_by_several_clients_keeps_its_sessions_own_layers_strong() {
        let mut s = session(
            FIREFOX,
            "Chrome",
            &[
                (FeatureId::UaChMismatch, 1.0),
                (FeatureId::H2PseudoOrderMatch, 0.0),
            ],
        );
        s.row.features[FeatureId::H2SettingsKnown.index()] = 1.0;
        s.row.features[FeatureId::H2Ja4Coherence.index()] = 1.0;
        s.shared_address = true;
        let kinds: Vec<(FindingKind, Strength)> = findings_of(&s)
            .iter()
            .map(|f| (f.kind, f.strength))
            .collect();
        // The user agent against the ClientHello is the session's own: strong. The hints
        // and the pseudo-header order are the address's: weak.
        assert_eq!(
            kinds,
            vec![
                (FindingKind::UaTlsEngine, Strength::Strong),
                (FindingKind::UaClientHints, Strength::Weak),
                (FindingKind::H2PseudoOrder, Strength::Weak),
            ]
        );
    }

    #[test]
    fn addresses_that_sent_several_ja4s_in_a_window_are_marked() {
        let at = |ip: &str, ja4: &str, hour: i64| {
            let mut s = session(CHROME_WIN, "Chrome", &[]);
            s.row.key.src_ip = ip.parse().unwrap();
            s.row.key.ja4 = Some(shrike_types::Ja4::parse(ja4.to_string().into()).unwrap());
            s.row.key.window_start = Timestamp::from_millis(hour * 3_600_000);
            s
        };
        let (chrome, firefox) = (
            "t13d1516h2_8daaf6152771_02713d6af862",
            "t13d1715h2_5b57614c22b0_3d5424432f57",
        );
        let mut v = vec![
            at("198.51.100.1", chrome, 0),
            at("198.51.100.1", firefox, 0),
            at("198.51.100.1", chrome, 1),
            at("198.51.100.2", chrome, 0),
        ];
        v.push(v[3].clone()); // the same JA4 on another host: one client
        v[4].row.key.host = "blog.example".into();
        crate::prep::mark_shared_addresses(&mut v);
        let marks: Vec<bool> = v.iter().map(|s| s.shared_address).collect();
        assert_eq!(marks, vec![true, true, false, false, false]);
    }

    #[test]
    fn a_syn_of_another_os_than_the_user_agent_is_weak_evidence() {
        let with_syn = |ua: &str, fp: &str, ttl: f32| {
            let mut s = session(ua, "Chrome", &[(FeatureId::AvgTtl, ttl)]);
            s.row.tcp_fingerprint = fp.into();
            findings_of(&s)
        };
        let linux = "64240_2-4-8-1-3_1460_7";
        let f = with_syn(CHROME_WIN, linux, 52.0);
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].kind, f[0].strength),
            (FindingKind::TcpOsUserAgent, Strength::Weak)
        );
        assert_eq!(
            f[0].evidence,
            "Linux TCP SYN (TTL 52) under a Windows user agent"
        );
        // Windows' own stack, an Android phone on Linux's, an iPhone on Apple's: nothing.
        assert_eq!(
            with_syn(CHROME_WIN, "64240_2-1-3-1-1-4_1460_8", 116.0),
            vec![]
        );
        let android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Mobile Safari/537.36";
        assert_eq!(with_syn(android, linux, 50.0), vec![]);
        let apple = "65535_2-1-3-1-1-8-4-0-0_1460_6";
        let mut s = session(CHROME_IOS, "Safari", &[(FeatureId::AvgTtl, 55.0)]);
        s.row.tcp_fingerprint = apple.into();
        assert_eq!(findings_of(&s), vec![]);
        // No SYN, or one no signature knows: no guess.
        assert_eq!(with_syn(CHROME_WIN, "", 0.0), vec![]);
        assert_eq!(with_syn(CHROME_WIN, "1024_2_1460_00", 50.0), vec![]);
    }
}
