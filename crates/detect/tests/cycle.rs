//! Whole cycles on simulated traffic.

use std::collections::HashMap;
use std::path::Path;

use shrike_detect::prep::{Session, SessionRow};
use shrike_detect::{run_cycle, CampaignMemory, DecisionKind, DetectConfig, Registry, ThreatLevel};
use shrike_dict::{Dictionaries, DictionaryFile};
use shrike_features::{FinishOptions, HashKey, Sessionizer};
use shrike_ingest::{JsonLines, Source};
use shrike_sim::SimConfig;
use shrike_types::{FeatureSetName, Timestamp};

/// Two hours of simulated traffic, sessionized with the simulated dictionaries less
/// `without` (the built-in browser profiles: the test does not need ../shared).
fn simulated(dir: &Path, without: DictionaryFile) -> Vec<Session> {
    let cfg = SimConfig {
        hours: 2,
        hosts: 2,
        humans_per_hour: 400,
        bots_per_family_per_hour: 2,
        ..SimConfig::default()
    };
    shrike_sim::simulate(&cfg, dir).unwrap();
    std::fs::remove_file(dir.join("dict").join(without.file_name())).unwrap();
    let dict = Dictionaries::load_dir(&dir.join("dict")).unwrap();
    let text = std::fs::read_to_string(dir.join("traffic.jsonl")).unwrap();
    let mut s = Sessionizer::new(HashKey::FIXED, 0);
    for (n, line) in text.lines().enumerate() {
        let r = JsonLines.parse_line(line.as_bytes(), &mut 0).unwrap();
        s.update(n as u64, &r);
    }
    let mut sessions: Vec<Session> = s
        .finish(&dict, &FinishOptions::default())
        .into_iter()
        .map(|f| Session::new(SessionRow::from(f)))
        .collect();
    sessions.sort_by(|a, b| a.key().listing_cmp(b.key()));
    sessions
}

fn cycle(sessions: &[Session], cfg: &DetectConfig, models: &Path) -> shrike_detect::CycleOutput {
    let now = Timestamp::from_millis(1_714_521_600_000 + 3 * 3_600_000);
    let registry = Registry::open(models).unwrap();
    run_cycle(
        sessions,
        &[],
        &HashMap::new(),
        &CampaignMemory::default(),
        &registry,
        cfg,
        now,
    )
}

#[test]
fn without_an_asn_reputation_file_the_baseline_comes_from_browser_identity() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = simulated(dir.path(), DictionaryFile::AsnReputation);
    let cfg = DetectConfig {
        flow_weight: 0.0,
        ..DetectConfig::default()
    };
    let out = cycle(&sessions, &cfg, &dir.path().join("models"));
    let known = out
        .verdicts
        .iter()
        .filter(|v| v.level == ThreatLevel::KnownBot)
        .count();
    let scored = out.metrics.scored;
    assert!(
        scored as f64 >= 0.95 * (sessions.len() - known) as f64,
        "{scored} of {} scored",
        sessions.len() - known
    );
    let how: Vec<_> = out
        .decisions
        .iter()
        .filter(|d| d.kind == DecisionKind::BaselineFromIdentity)
        .collect();
    assert!(
        how.iter()
            .any(|d| d.model == Some(FeatureSetName::Complete)),
        "{how:?}"
    );
    for d in &how {
        assert_eq!(d.payload["isp_sessions"], 0, "{}", d.payload);
        let (found, kept) = (&d.payload["identified_browsers"], &d.payload["baseline"]);
        assert!(
            kept.as_u64() < found.as_u64(),
            "the first pass trims: {}",
            d.payload
        );
    }

    // Switched off, the cycle skips for want of a baseline, and says so.
    let off = DetectConfig {
        identity_baseline: false,
        ..cfg
    };
    let out = cycle(&sessions, &off, &dir.path().join("models-off"));
    assert_eq!(out.metrics.scored, 0);
    assert!(out
        .decisions
        .iter()
        .any(|d| d.kind == DecisionKind::SkippedLowData));
}

/// LEGITIMATE_BROWSER is earned by behaviour too: the same confident browser sessions,
/// stripped of what a person's browsing shows (assets, referers, cookies), stay calm but
/// are no longer legitimate browsers, and so never become the trees' human labels.
#[test]
fn a_browser_that_does_not_browse_like_a_person_is_not_legitimate() {
    use shrike_features::FeatureId as F;
    let dir = tempfile::tempdir().unwrap();
    let mut sessions = simulated(dir.path(), DictionaryFile::IpAsn);
    let cfg = DetectConfig {
        flow_weight: 0.0,
        trees_weight: 0.0,
        ..DetectConfig::default()
    };
    let out = cycle(&sessions, &cfg, &dir.path().join("models"));
    let legit: Vec<usize> = (0..sessions.len())
        .filter(|i| out.verdicts[*i].level == ThreatLevel::LegitimateBrowser)
        .collect();
    assert!(legit.len() > 100, "{} legitimate browsers", legit.len());
    // Every tenth of them browses like a script from now on.
    let scripted: Vec<usize> = legit.iter().copied().step_by(10).collect();
    for i in &scripted {
        let f = &mut sessions[*i].row.features;
        for (id, v) in [
            (F::AssetRatio, 0.0),
            (F::HasReferer, 0.0),
            (F::HasCookie, 0.0),
            (F::IsFakeNavigation, 1.0),
        ] {
            f[id.index()] = v;
        }
    }
    let out = cycle(&sessions, &cfg, &dir.path().join("models-2"));
    for i in &scripted {
        let v = &out.verdicts[*i];
        assert_ne!(v.level, ThreatLevel::LegitimateBrowser, "{}", v.reason);
        assert_ne!(
            shrike_detect::runner::trusted_label(&sessions[*i], None, &cfg).map(|l| l.0),
            Some(false),
            "never a human label: {}",
            v.reason
        );
    }
}
