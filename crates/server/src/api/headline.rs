//! A verdict's headline: the evidence an analyst reads first, taken from the reason the
//! cycle wrote. The full reason (model scores, typical values, the fleet's cohort figures)
//! stays available on demand.
//!
//! A reason is `" | "`-separated segments: findings and evidence tagged `[Impersonation]`,
//! `[Unusual]`, `[Behaviour]`, `[Identification]`, `[Anubis DENY]`; a model's statistics
//! (`[complete] anomaly: score … ; orphan_ratio high (0.995 vs typical 0.000); …`); the
//! flow's (`flow: -log p …`); then ` [Campaign #6: …]` and ` [Fleet #0] …` context.

use serde::Serialize;

/// What the Threats page shows first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Headline {
    /// One or two findings, or the most unusual features.
    pub text: String,
    /// `Campaign #6`, `Fleet #0`: what else the session belongs to.
    pub context: Vec<String>,
}

/// The longest finding kept in a headline, in characters.
const FINDING_CHARS: usize = 110;

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The headline of a reason.
pub fn headline(reason: &str) -> Headline {
    // Context tags, and the reason without them.
    let mut context = Vec::new();
    let mut body_end = reason.len();
    for tag in ["[Campaign #", "[Fleet #"] {
        if let Some(at) = reason.find(tag) {
            body_end = body_end.min(at);
            let id: String = reason[at + tag.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if !id.is_empty() {
                context.push(format!("{}{id}", &tag[1..]));
            }
        }
    }
    let body = reason[..body_end].trim();
    let mut findings = Vec::new();
    let mut features = Vec::new();
    for segment in body.split(" | ").map(str::trim) {
        let Some(rest) = segment.strip_prefix('[') else {
            continue;
        };
        let Some((tag, text)) = rest.split_once(']') else {
            continue;
        };
        let text = text.trim();
        if matches!(tag, "application" | "complete") {
            // `name high (a vs typical b)` items after the score.
            for item in text.split("; ").skip(1) {
                if let Some((name, dir)) = item.split_once(' ') {
                    let dir = dir.split(' ').next().unwrap_or("");
                    if matches!(dir, "high" | "low") && !name.is_empty() {
                        features.push(format!("{name} {dir}"));
                    }
                }
            }
        } else if !text.is_empty() {
            findings.push(format!("{tag}: {}", clip(text, FINDING_CHARS)));
        }
    }
    let text = if !findings.is_empty() {
        findings.truncate(2);
        findings.join(" · ")
    } else if !features.is_empty() {
        features.truncate(3);
        format!("Unusual: {}", features.join(", "))
    } else {
        clip(body, FINDING_CHARS)
    };
    Headline { text, context }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_lead_then_features_then_the_text() {
        let r = "[Impersonation] the Chrome user agent and its Sec-CH-UA client hints disagree | [Unusual] Linux TCP SYN (TTL 57) under a Windows user agent | [application] anomaly: score -0.203 below threshold -0.067; orphan_ratio high (0.995 vs typical 0.000); ja4_asn_concentration high (0.255 vs typical 0.109) | flow: -log p 1858.8 (max_keepalives) [Campaign #6: 5 sessions from 3 addresses] escalated HIGH -> CRITICAL [Fleet #0] 132 sessions from 75 addresses";
        let h = headline(r);
        assert_eq!(
            h.text,
            "Impersonation: the Chrome user agent and its Sec-CH-UA client hints disagree · Unusual: Linux TCP SYN (TTL 57) under a Windows user agent"
        );
        assert_eq!(h.context, ["Campaign #6", "Fleet #0"]);
        let h = headline("[complete] anomaly: score -0.110 below threshold -0.050; ja4_asn_concentration high (0.594 vs typical 0.109); direct_access_ratio high (0.998 vs typical 0.100); a low (0 vs typical 1); b high (1 vs typical 0) | flow: -log p 122.6 (hits) [Fleet #0] 132 sessions");
        assert_eq!(
            h.text,
            "Unusual: ja4_asn_concentration high, direct_access_ratio high, a low"
        );
        assert_eq!(h.context, ["Fleet #0"]);
        assert_eq!(headline("").text, "");
        let long = "x".repeat(300);
        assert_eq!(headline(&long).text.chars().count(), FINDING_CHARS);
        // Attacker text inside a finding is kept as text (the page escapes it).
        assert!(headline("[Behaviour] <script> stack")
            .text
            .contains("<script>"));
    }
}
