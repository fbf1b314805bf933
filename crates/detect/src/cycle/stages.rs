//! The cycle's stages around the scoring of the feature sets: the verdicts before any
//! score, triage, legitimate browsers, campaigns, fleets, and the cycle's summary.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde_json::json;

use super::Ctx;
use crate::campaign::CampaignMemory;
use crate::config::CampaignSpace;
use crate::prep::{BrowserId, Session};
use crate::verdict::{DecisionKind, ThreatLevel, Verdict};

/// Every session's verdict before triage: unscored, with its browser identification and
/// its recurrence (earlier cycles that flagged the address, plus this one).
pub(super) fn unscored(
    sessions: &[Session],
    browsers: &[BrowserId],
    recurrence: &HashMap<IpAddr, u32>,
) -> Vec<Verdict> {
    sessions
        .iter()
        .zip(browsers)
        .map(|(s, b)| Verdict {
            model: None,
            level: ThreatLevel::Unscored,
            raw_score: 0.0,
            anomaly_score: 0.0,
            forest_score: 0.0,
            flow_score: None,
            trees_prob: None,
            is_anomaly: false,
            recurrence: recurrence.get(&s.key().src_ip).copied().unwrap_or(0) + 1,
            browser_confidence: b.confidence,
            browser_family: b.family.clone(),
            reason: String::new(),
            top: Vec::new(),
            fleet: None,
            fleet_score: 0.0,
            fleet_flag: false,
            campaign: None,
            findings: Vec::new(),
        })
        .collect()
}

/// Each session's evidence label: a bot by a strong finding or a policy DENY, a person by
/// a confident browser identity, a person's navigation and no finding at all.
pub(super) fn evidence(ctx: &Ctx<'_>) -> Vec<super::Evidence> {
    let cfg = ctx.cfg;
    (0..ctx.sessions.len())
        .map(|i| {
            crate::findings::evidence(&ctx.sessions[i], &ctx.browsers[i], &ctx.findings[i], cfg)
        })
        .collect()
}

/// Step 1: sessions the dictionaries (or an ALLOW rule) name are KNOWN_BOT; returns the
/// others, which the models score.
pub(super) fn triage(ctx: &mut Ctx<'_>) -> Vec<usize> {
    let sessions = ctx.sessions;
    let mut bots: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in sessions.iter().enumerate() {
        if !s.row.bot_name.is_empty() {
            let v = &mut ctx.out.verdicts[i];
            v.level = ThreatLevel::KnownBot;
            v.reason = format!("[Identification] known bot: {}", s.row.bot_name);
            *bots.entry(&s.row.bot_name).or_default() += 1;
        }
    }
    if !bots.is_empty() {
        ctx.decide(
            DecisionKind::KnownBot,
            None,
            json!({"sessions_per_bot": bots}),
        );
    }
    (0..sessions.len())
        .filter(|i| sessions[*i].row.bot_name.is_empty())
        .collect()
}

/// Anomalies are logged one decision each, as the seed does, with their reason.
pub(super) fn log_anomalies(ctx: &mut Ctx<'_>) {
    for i in 0..ctx.sessions.len() {
        let (s, v) = (&ctx.sessions[i], &ctx.out.verdicts[i]);
        if !v.is_anomaly {
            continue;
        }
        let k = s.key();
        let payload = json!({"src_ip": k.src_ip.to_string(), "ja4": k.ja4_str(), "host": k.host,
                             "level": v.level, "raw_score": v.raw_score,
                             "recurrence": v.recurrence, "reason": v.reason});
        let model = v.model;
        ctx.decide(DecisionKind::Anomaly, model, payload);
    }
}

/// The cycle's figures: sessions, scored, anomalies and the count per level.
pub(super) fn summarise(ctx: &mut Ctx<'_>) {
    let m = &mut ctx.out.metrics;
    let verdicts = &ctx.out.verdicts;
    m.sessions = ctx.sessions.len();
    m.scored = verdicts.iter().filter(|v| v.model.is_some()).count();
    m.anomalies = verdicts.iter().filter(|v| v.is_anomaly).count();
    m.anomaly_rate = m.anomalies as f64 / m.scored.max(1) as f64;
    for v in verdicts {
        *m.levels.entry(v.level.as_str().to_string()).or_default() += 1;
    }
}

/// Cross-layer evidence ([`crate::findings`]) for every session triage left: a strong
/// finding makes the session an impersonator (at least HIGH, an anomaly) whatever its
/// scores, with the disagreeing layers leading its reason; a weak one is noted.
pub(super) fn findings(ctx: &mut Ctx<'_>, unknown: &[usize]) {
    let mut by_kind: BTreeMap<crate::findings::FindingKind, usize> = BTreeMap::new();
    let mut impersonators = 0usize;
    for i in unknown {
        // Nothing reads the cycle's copy after this stage: the verdict keeps them.
        let found = std::mem::take(&mut ctx.findings[*i]);
        if found.is_empty() {
            continue;
        }
        let v = &mut ctx.out.verdicts[*i];
        let (strong, weak): (Vec<_>, Vec<_>) = found
            .iter()
            .partition(|f| f.strength == crate::findings::Strength::Strong);
        let text = |fs: &[&crate::findings::Finding]| {
            fs.iter()
                .map(|f| f.evidence.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        };
        // The evidence leads the reason, the statistics follow it.
        let mut lead = Vec::new();
        if !strong.is_empty() {
            impersonators += 1;
            for f in &strong {
                *by_kind.entry(f.kind).or_default() += 1;
            }
            v.is_anomaly = true;
            if v.level.severity() < ThreatLevel::High.severity() {
                v.level = ThreatLevel::High;
            }
            lead.push(format!("[Impersonation] {}", text(&strong)));
        }
        if !weak.is_empty() {
            lead.push(format!("[Unusual] {}", text(&weak)));
        }
        if !v.reason.is_empty() {
            lead.push(std::mem::take(&mut v.reason));
        }
        v.reason = lead.join(" | ");
        v.findings = found;
    }
    if impersonators > 0 {
        ctx.decide(
            DecisionKind::ImpersonationDetected,
            None,
            json!({"sessions": impersonators, "findings": by_kind}),
        );
    }
}

/// Step 9: calm, confidently identified browsers that browse like people become
/// LEGITIMATE_BROWSER, and so do the calm sessions browsing like people of a JA4 whose
/// sessions are mostly browsers.
pub(super) fn legitimate_browsers(ctx: &mut Ctx<'_>) {
    let (sessions, cfg) = (ctx.sessions, ctx.cfg);
    let calm = |l: ThreatLevel| matches!(l, ThreatLevel::Normal | ThreatLevel::Low);
    // Behaviour: assets, referers, cookies, Accept-Language, real navigation.
    let person: Vec<bool> = ctx
        .browsers
        .iter()
        .map(|b| b.navigation() >= cfg.legit_navigation_min)
        .collect();
    let mut legit = vec![false; sessions.len()];
    for (i, v) in ctx.out.verdicts.iter().enumerate() {
        legit[i] = v.model.is_some() && calm(v.level) && ctx.browsers[i].person_like(cfg);
    }
    let mut per_ja4: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, v) in ctx.out.verdicts.iter().enumerate() {
        if v.model.is_some() {
            let e = per_ja4.entry(sessions[i].row.key.ja4_str()).or_default();
            e.1 += 1;
            e.0 += legit[i] as usize;
        }
    }
    let mut cohort = 0;
    for (i, v) in ctx.out.verdicts.iter().enumerate() {
        let (l, n) = per_ja4
            .get(sessions[i].row.key.ja4_str())
            .copied()
            .unwrap_or((0, 0));
        if !legit[i]
            && v.model.is_some()
            && calm(v.level)
            && person[i]
            && l > 0
            && l as f64 >= cfg.browser_cohort_ratio * n as f64
        {
            legit[i] = true;
            cohort += 1;
        }
    }
    let mut families: BTreeMap<String, usize> = BTreeMap::new();
    for (i, v) in ctx.out.verdicts.iter_mut().enumerate() {
        if legit[i] {
            v.level = ThreatLevel::LegitimateBrowser;
            v.is_anomaly = false;
            v.top.clear();
            let family = if v.browser_family.is_empty() {
                "Unknown"
            } else {
                &v.browser_family
            };
            // A family found by structure says so: the analyst sees a release the
            // dictionaries do not list yet.
            let by = match sessions[i].identity {
                Some(b) if b != shrike_dict::Basis::Exact => format!(" by {}", b.as_str()),
                _ => String::new(),
            };
            v.reason = format!(
                "[Legitimate browser] {family}{by} (confidence {:.2})",
                v.browser_confidence
            );
            // What was unusual still shows (a proxy's TCP stack, say).
            let unusual: Vec<&str> = v.findings.iter().map(|f| f.evidence.as_str()).collect();
            if !unusual.is_empty() {
                v.reason = format!("{} | [Unusual] {}", v.reason, unusual.join("; "));
            }
            *families.entry(family.to_string()).or_default() += 1;
        }
    }
    if !families.is_empty() {
        ctx.decide(
            DecisionKind::LegitimateBrowser,
            None,
            json!({"count": legit.iter().filter(|l| **l).count(), "cohort_propagated": cohort, "families": families}),
        );
    }
}

/// The stack cohorts of the sessions triage did not settle ([`crate::cohort`]): the
/// largest are kept in the output, and a decision lists the ten largest JA4 × HTTP/2
/// stacks.
pub(super) fn cohorts(ctx: &mut Ctx<'_>, unknown: &[usize]) {
    let mut all = crate::cohort::cohorts(ctx.sessions, &ctx.browsers, unknown, ctx.cfg);
    all.truncate(super::COHORTS_KEPT);
    let top: Vec<&crate::cohort::Cohort> = all.iter().filter(|c| c.h2.is_some()).take(10).collect();
    if !top.is_empty() {
        let payload = json!({"stacks": top, "note": "the largest JA4 × HTTP/2 stacks of the horizon: their populations (addresses, ASNs, user agents, share browsing like people, requests per address)"});
        ctx.decide(DecisionKind::StackCohorts, None, payload);
    }
    ctx.out.cohorts = all;
}

/// Fleet detection over the sessions triage did not settle; marks members and escalates
/// the flagged fleets' calm, scored members.
pub(super) fn fleets(ctx: &mut Ctx<'_>, unknown: &[usize]) {
    let report = crate::fleet::detect_fleets(ctx.sessions, &ctx.browsers, unknown, ctx.cfg);
    let mut escalated = vec![0usize; report.fleets.len()];
    for (i, member) in report.member_of.iter().enumerate() {
        let Some(f) = *member else { continue };
        let fleet = &report.fleets[f];
        let v = &mut ctx.out.verdicts[i];
        v.fleet = Some(fleet.id);
        v.fleet_score = fleet.score;
        v.fleet_flag = fleet.flagged;
        if !fleet.flagged || v.model.is_none() {
            continue;
        }
        let what = format!(
            "[Fleet #{}] {} sessions from {} addresses in {} prefixes and {} ASNs share {} (mean browser confidence {:.2}, fleet score {:.2})",
            fleet.id,
            fleet.sessions,
            fleet.ips,
            fleet.prefixes,
            fleet.asns.len(),
            match fleet.ja4s.as_slice() {
                [(one, _)] => format!("JA4 {one}"),
                many => format!("{} JA4s", many.len()),
            },
            fleet.mean_browser_confidence,
            fleet.score
        );
        // Beside the fleet, its main JA4's whole population.
        let what = match fleet.ja4s.first().and_then(|(ja4, _)| {
            ctx.out
                .cohorts
                .iter()
                .find(|c| c.h2.is_none() && c.ja4 == *ja4)
        }) {
            Some(c) => format!("{what}; {}", c.summary()),
            None => what,
        };
        if matches!(v.level, ThreatLevel::Normal | ThreatLevel::Low) {
            v.level = ThreatLevel::Medium;
            v.is_anomaly = true;
            v.reason = what;
            escalated[f] += 1;
        } else if v.is_anomaly {
            v.reason = format!("{} {what}", v.reason);
        }
    }
    for (f, fleet) in report.fleets.iter().enumerate().filter(|(_, f)| f.flagged) {
        let payload = json!({
            "fleet": fleet.id, "sessions": fleet.sessions, "ips": fleet.ips,
            "prefixes": fleet.prefixes, "asns": fleet.asns.len(),
            "ja4s": fleet.ja4s.iter().take(5).collect::<Vec<_>>(),
            "mean_browser_confidence": fleet.mean_browser_confidence,
            "mean_navigation": fleet.mean_navigation,
            "score": fleet.score, "escalated_to_medium": escalated[f],
            "graph": {"nodes": report.graph.0, "edges": report.graph.1,
                      "communities": report.communities, "modularity": report.modularity},
        });
        ctx.decide(DecisionKind::FleetDetected, None, payload);
    }
    ctx.out.fleets = report.fleets;
}

/// Flagged sessions whose layers agree on a browser (identified with confidence, no strong
/// finding) but whose browsing is a script's: the disagreement is between the stack and
/// the behaviour, and the reason leads with it ("[Behaviour] Chrome stack driven like a
/// script: no assets, a steady 2.0 s period over 14 requests").
pub(super) fn behaviour(ctx: &mut Ctx<'_>) {
    let cfg = ctx.cfg;
    let mut named = 0usize;
    for (i, v) in ctx.out.verdicts.iter_mut().enumerate() {
        let b = &ctx.browsers[i];
        let strong = v
            .findings
            .iter()
            .any(|f| f.strength == crate::findings::Strength::Strong);
        if !v.is_anomaly
            || strong
            || !b.identified(cfg.browser_confidence_threshold)
            || b.navigation() >= cfg.legit_navigation_min
        {
            continue;
        }
        let traits = crate::prep::script_traits(&ctx.sessions[i]);
        if traits.is_empty() {
            continue;
        }
        v.reason = format!(
            "[Behaviour] {} stack driven like a script: {} | {}",
            b.family,
            traits.join(", "),
            v.reason
        );
        named += 1;
    }
    if named > 0 {
        ctx.decide(
            DecisionKind::ScriptedBrowserStack,
            None,
            json!({"sessions": named, "note": "flagged sessions of a confidently identified browser stack whose browsing is a script's; the reason names what"}),
        );
    }
}

/// Each scored session's verdict score: its combined score in the upper half when the
/// verdict flags it, whatever flagged it (the scorers, a strong finding, a fleet, a DENY),
/// in the lower half when not (see [`Verdict::anomaly_score`]). Until now the verdict's
/// score was the scorers' alone, so an impersonator or a fleet's member the scorers found
/// typical ranked among the people.
pub(super) fn verdict_scores(ctx: &mut Ctx<'_>) {
    for v in ctx.out.verdicts.iter_mut().filter(|v| v.model.is_some()) {
        let flagged = v.is_anomaly || v.level == ThreatLevel::AnubisDeny;
        v.anomaly_score = v.anomaly_score.clamp(0.0, 1.0) / 2.0 + if flagged { 0.5 } else { 0.0 };
    }
}

/// Campaigns among the anomalies; HIGH members of large campaigns become CRITICAL.
pub(super) fn campaigns(ctx: &mut Ctx<'_>, memory: &CampaignMemory) {
    let sets = std::mem::take(&mut ctx.scored_sets);
    let (found, errors) = crate::campaign::find_campaigns(
        ctx.sessions,
        &mut ctx.out.verdicts,
        &sets,
        memory,
        ctx.cfg,
    );
    for (set, e) in errors {
        ctx.decide(
            DecisionKind::CampaignFailed,
            Some(set),
            json!({"error": e.to_string(), "note": "this set's anomalies stay outside any campaign this cycle"}),
        );
    }
    for c in &found {
        // The space this set was clustered in; "flow" requested without a flow this cycle
        // falls back to the features, and the payload says so.
        let space = sets
            .iter()
            .find(|s| s.set == c.model)
            .map_or(CampaignSpace::Features, |s| s.space);
        let payload = json!({
            "campaign": c.id, "continued": c.continued, "algorithm": c.algorithm.as_str(),
            "space": space.as_str(), "requested_space": ctx.cfg.campaign_space.as_str(),
            "sessions": c.sessions, "ips": c.ips.len(), "escalated_to_critical": c.escalated,
            "ja4s": c.ja4s.iter().take(5).collect::<Vec<_>>(),
            "asns": c.asns.iter().take(5).collect::<Vec<_>>(),
            "features": c.features.iter().take(3).map(|f| &f.feature).collect::<Vec<_>>(),
        });
        ctx.decide(DecisionKind::CampaignDetected, Some(c.model), payload);
    }
    ctx.out.campaigns = found;
}
