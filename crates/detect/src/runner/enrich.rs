//! What the dictionaries in service say of a stored session: known-bot name, browser family
//! of its JA4, ASN label, the Anubis policy and the user-agent bot patterns.

use std::net::IpAddr;

use shrike_dict::fcrdns::Verifier;
use shrike_dict::policy::DecidedBy;
use shrike_dict::{Dictionaries, H2Word};
use shrike_features::FeatureId;
use shrike_store::SessionRow;

use crate::prep::{PolicyMark, Session};

/// What a cycle looks sessions up in: the dictionaries in service and, when enabled, the
/// claimed-crawler verifier.
#[derive(Clone, Copy, Default)]
pub struct Enrich<'a> {
    /// Dictionaries (`None`: the names stored at ingest stand).
    pub dict: Option<&'a Dictionaries>,
    /// Forward-confirmed reverse DNS.
    pub verifier: Option<&'a Verifier>,
}

impl Enrich<'_> {
    /// A stored session as the cycle sees it. With dictionaries, the lookups that triage
    /// relies on (known-bot name by address or JA4, browser family of the JA4, ASN label)
    /// are made again, so that a dictionary edited since the ingest applies to the next
    /// cycle, and the policy marks the session.
    pub fn session(&self, mut row: SessionRow) -> Session {
        let Some(d) = self.dict else {
            return Session::new(row);
        };
        let ja4 = row.key.ja4_str();
        row.bot_name = d.bot_name(row.key.src_ip, ja4).unwrap_or("").to_string();
        // A match by structure stands on the HTTP/2 layer's word as judged at ingest (the
        // session keeps the judgement, not the SETTINGS).
        let on = |f: FeatureId| row.features.get(f.index()) == Some(&1.0);
        let h2 = H2Word::from_layers(
            on(FeatureId::H2Ja4Coherence) || on(FeatureId::H2PseudoOrderMatch),
            !on(FeatureId::H2SettingsKnown) && !on(FeatureId::H2SettingsRare),
        );
        let found = d.browser_match(ja4).filter(|m| h2.accepts(m.basis));
        let family = found.map_or("", |m| m.family);
        if shrike_dict::engine(family) != shrike_dict::engine(&row.browser_family) {
            // The HTTP/2 features compare the session with the family its JA4 had at
            // ingest; the dictionaries in service name another: those comparisons are
            // unknown now, not disagreements.
            for f in [FeatureId::H2Ja4Coherence, FeatureId::H2PseudoOrderMatch] {
                if let Some(v) = row.features.get_mut(f.index()) {
                    *v = -1.0;
                }
            }
        }
        row.browser_family = family.to_string();
        let identity = found.map(|m| m.basis);
        row.asn_label = d.asn_label(row.asn);
        let policy = policy_mark(d, self.verifier, &mut row);
        Session {
            row,
            policy,
            identity,
            shared_address: false,
        }
    }
}

/// The Anubis policy and the user-agent patterns applied to what a session keeps: its
/// address, ASN, country and first user agent (rules on headers, path or method cannot
/// match at this level). A matching ALLOW rule names the session a known bot.
fn policy_mark(d: &Dictionaries, verifier: Option<&Verifier>, r: &mut SessionRow) -> PolicyMark {
    let mut mark = PolicyMark::default();
    if let Some(claim) = d.ua_bots.classify(&r.user_agent) {
        // A claim is an identification only once the address is verified as that
        // crawler's (its operator's DNS names it).
        let verified = r.bot_name.is_empty()
            && verifier.and_then(|v| v.confirms_bot(r.key.src_ip, &claim.name)) == Some(true);
        if verified {
            r.bot_name = claim.name.clone();
        } else if r.bot_name.is_empty() {
            mark.claimed_bot = claim.name.clone();
        }
    }
    if d.policy.is_empty() {
        return mark;
    }
    let check = |ip: IpAddr, re: Option<&shrike_dict::cel::Regex>| verifier?.confirms(ip, re);
    let fields = shrike_dict::cel::Fields {
        user_agent: Some(&r.user_agent),
        remote_address: Some(r.key.src_ip),
        asn: (r.asn != 0).then_some(r.asn),
        country: (!r.country.is_empty()).then_some(r.country.as_str()),
        fcrdns: Some(&check),
        ..Default::default()
    };
    let v = d.policy.evaluate(&fields);
    match (&v.by, v.action) {
        (DecidedBy::Rule(_, name), shrike_dict::Action::Allow) if r.bot_name.is_empty() => {
            r.bot_name = format!("anubis:{name}");
        }
        (DecidedBy::Rule(_, name), shrike_dict::Action::Deny) => mark.deny = name.clone(),
        (_, shrike_dict::Action::Challenge) => mark.flagged = true,
        _ => {}
    }
    mark.flagged |= v.weight > 0;
    mark
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use shrike_types::Timestamp;

    use super::*;

    /// DNS answering for one Googlebot address only.
    struct GoogleOnly;
    impl shrike_dict::fcrdns::Resolver for GoogleOnly {
        fn reverse(
            &self,
            ip: std::net::IpAddr,
        ) -> Result<Vec<String>, shrike_dict::fcrdns::DnsError> {
            if ip.to_string() == "66.249.66.1" {
                Ok(vec!["crawl-66-249-66-1.googlebot.com.".into()])
            } else {
                Err(shrike_dict::fcrdns::DnsError::NotFound)
            }
        }
        fn forward(
            &self,
            name: &str,
        ) -> Result<Vec<std::net::IpAddr>, shrike_dict::fcrdns::DnsError> {
            Ok(if name == "crawl-66-249-66-1.googlebot.com" {
                vec!["66.249.66.1".parse().unwrap()]
            } else {
                Vec::new()
            })
        }
    }

    fn row(ip: &str, ua: &str) -> SessionRow {
        let mut r = SessionRow::new(shrike_types::SessionKey {
            window_start: Timestamp::from_millis(1_714_564_800_000),
            src_ip: ip.parse().unwrap(),
            ja4: None,
            host: "example.org".into(),
        });
        r.user_agent = ua.into();
        r
    }

    #[test]
    fn a_claimed_crawler_is_known_only_once_verified() {
        let ua_bots = shrike_dict::UaBots::new(vec![shrike_dict::UaPattern {
            pattern: r"Googlebot\/".into(),
            name: "Googlebot".into(),
            category: "search-engine".into(),
        }])
        .unwrap();
        let policy = shrike_dict::Policy::from_json(&serde_json::json!({"rules": [
            {"name": "headless", "user_agent_regex": "HeadlessChrome", "action": "DENY"},
            {"name": "telegram", "expression": "verifyFCrDNS(remoteAddress, \"googlebot\\\\.com$\")", "action": "ALLOW"},
            {"name": "generic-browser", "user_agent_regex": "Mozilla", "action": "WEIGH", "weight": {"adjust": 10}}
        ]}))
        .unwrap();
        let mut d = Dictionaries::default();
        d.ua_bots = ua_bots;
        d.policy = policy;
        let ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let v = Verifier::new(Box::new(GoogleOnly), Duration::from_secs(60), 100);
        let on = Enrich {
            dict: Some(&d),
            verifier: Some(&v),
        };
        let off = Enrich {
            dict: Some(&d),
            verifier: None,
        };
        // Without verification the user agent is a claim; the policy only weighs it.
        let s = off.session(row("66.249.66.1", ua));
        assert_eq!(s.row.bot_name, "");
        assert_eq!(s.policy.claimed_bot, "Googlebot");
        assert!(s.policy.flagged);
        // Verified: a known bot, by the user-agent pattern's name.
        let s = on.session(row("66.249.66.1", ua));
        assert_eq!(s.row.bot_name, "Googlebot");
        assert_eq!(s.policy.claimed_bot, "");
        // The same claim from elsewhere stays a claim, and is weighed.
        let s = on.session(row("203.0.113.9", ua));
        assert_eq!(
            (s.row.bot_name.as_str(), s.policy.claimed_bot.as_str()),
            ("", "Googlebot")
        );
        assert!(s.policy.flagged);
        // A DENY rule marks the session; verifyFCrDNS in a rule uses the verifier.
        let s = on.session(row("203.0.113.9", "Mozilla/5.0 HeadlessChrome/126"));
        assert_eq!(s.policy.deny, "headless");
        let s = on.session(row("66.249.66.1", "TelegramBot (like TwitterBot)"));
        assert_eq!(s.row.bot_name, "anubis:telegram");
    }

    #[test]
    fn http2_comparisons_with_a_family_the_ja4_no_longer_has_become_unknown() {
        const CHROME: &str = "t13d1516h2_8daaf6152771_02713d6af862";
        let mut d = Dictionaries::default();
        d.load_text(
            shrike_dict::DictionaryFile::BrowserJa4,
            &format!("{CHROME},Chrome\n"),
        )
        .unwrap();
        let mut r = row(
            "198.51.100.7",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
        );
        r.key.ja4 = Some(shrike_types::Ja4::parse(CHROME.into()).unwrap());
        // Ingested before the dictionary knew the JA4: no family, so no agreement.
        r.features[FeatureId::H2SettingsKnown.index()] = 1.0;
        let on = Enrich {
            dict: Some(&d),
            verifier: None,
        };
        let s = on.session(r.clone());
        assert_eq!(s.row.browser_family, "Chrome");
        assert_eq!(s.get(FeatureId::H2Ja4Coherence), -1.0);
        assert_eq!(s.get(FeatureId::H2PseudoOrderMatch), -1.0);
        assert!(crate::findings::findings_of(&s).is_empty());
        // Ingested with the same family: the comparisons stand.
        r.browser_family = "Chrome".into();
        let s = on.session(r);
        assert_eq!(s.get(FeatureId::H2Ja4Coherence), 0.0);
    }
}
