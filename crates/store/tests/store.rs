//! The store round-trips sessions, extends them across inputs and survives reopening.

use shrike_dict::Dictionaries;
use shrike_features::{FinishOptions, Sessionizer};
use shrike_store::{
    CycleStore, DashboardStore, IngestLedger, IngestedSource, SqliteStore, VerdictStore,
};
use shrike_types::{RequestRecord, Timestamp};

fn rec(t: i64, ip: &str, path: &'static str) -> RequestRecord<'static> {
    RequestRecord {
        time: Timestamp::from_millis(1_714_564_800_000 + t),
        src_ip: Some(ip.parse().unwrap()),
        path: Some(path.into()),
        host: Some("shop.example".into()),
        ..RequestRecord::default()
    }
}

fn ingest(store: &mut SqliteStore, fp: &str, recs: &[RequestRecord<'_>]) {
    let key = store.hash_key().unwrap();
    let batch = store.next_batch().unwrap();
    let mut s = Sessionizer::new(key, batch);
    for (i, r) in recs.iter().enumerate() {
        s.update(i as u64 + 1, r);
    }
    let src = IngestedSource {
        fingerprint: fp.into(),
        label: fp.into(),
        records: recs.len() as u64,
        rejected: 0,
        span: None,
    };
    let finish =
        |all: &Sessionizer| all.finish(&Dictionaries::default(), &FinishOptions::default());
    store
        .merge_ingest(s, i64::MAX / 2, finish, &src, Timestamp::from_millis(0))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sessions_accumulate_across_inputs_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrike.db");
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        12,
        "every migration applied"
    );
    let key = store.hash_key().unwrap();
    ingest(
        &mut store,
        "a",
        &[rec(0, "192.0.2.1", "/"), rec(1000, "192.0.2.1", "/b")],
    );
    assert_eq!(store.session_count().unwrap(), 1);
    assert!(store.source_seen("a").unwrap().is_some());
    assert!(store.source_seen("b").unwrap().is_none());
    drop(store);
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.hash_key().unwrap(), key, "the key survives reopening");
    let rows = store.sessions().unwrap();
    assert_eq!(rows[0].hits, 2);
    assert_eq!(rows[0].features.len(), shrike_features::FeatureId::COUNT);
    let mut store = store;
    // A later input in the same hour extends the same session.
    ingest(
        &mut store,
        "b",
        &[rec(5000, "192.0.2.1", "/c"), rec(6000, "192.0.2.2", "/")],
    );
    let rows = store.sessions().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].hits, 3);
    let paths = rows[0].features[shrike_features::FeatureId::PathDiversityRatio.index()];
    assert!(
        (paths - 3.0 / 4.0).abs() < 1e-6,
        "3 distinct paths / (3 + 1): {paths}"
    );
}

fn cycle_at(hour: i64, flagged_ip: &str) -> shrike_store::CycleRecord {
    let t = Timestamp::from_millis(1_714_564_800_000 + hour * 3_600_000);
    let score = |ip: &str, anomaly: bool| shrike_store::ScoreRow {
        key: shrike_types::SessionKey {
            window_start: t,
            src_ip: ip.parse().unwrap(),
            ja4: Some(
                shrike_types::Ja4::parse("t13d1516h2_8daaf6152771_02713d6af862".into()).unwrap(),
            ),
            host: "shop.example".into(),
        },
        model: Some(shrike_types::FeatureSetName::Complete),
        threat_level: if anomaly {
            shrike_types::ThreatLevel::High
        } else {
            shrike_types::ThreatLevel::Normal
        },
        raw_score: if anomaly { -0.15 } else { 0.05 },
        anomaly_score: 0.5,
        is_anomaly: anomaly,
        recurrence: 1,
        browser_confidence: 0.0,
        browser_family: String::new(),
        reason: String::new(),
        top_features: "[]".into(),
        fleet_id: -1,
        fleet_score: 0.0,
        fleet_flag: false,
        campaign_id: if anomaly { 7 } else { -1 },
        forest_score: if anomaly { 0.9 } else { 0.1 },
        flow_score: None,
        trees_prob: anomaly.then_some(0.8),
    };
    shrike_store::CycleRecord {
        started_at: t,
        horizon_start: t,
        horizon_end: t,
        sessions: 2,
        scored: 2,
        anomalies: 1,
        anomaly_rate: 0.5,
        metrics: "{}".into(),
        scores: vec![score(flagged_ip, true), score("192.0.2.200", false)],
        decisions: vec![
            (
                shrike_types::DecisionKind::ModelLoaded,
                Some(shrike_types::FeatureSetName::Complete),
                "{}".into(),
            ),
            (
                shrike_types::DecisionKind::Anomaly,
                Some(shrike_types::FeatureSetName::Complete),
                format!("{{\"src_ip\":\"{flagged_ip}\"}}"),
            ),
        ],
        models: vec![],
        fleets: vec![shrike_store::FleetRow {
            fleet_id: 0,
            sessions: 40,
            ips: 30,
            prefixes: 28,
            asns: "[[3215,40]]".into(),
            ja4s: "[[\"t13d1715h2_5b57614c22b0_7121afd63204\",40]]".into(),
            mean_browser_confidence: 0.45,
            score: 0.5,
            flagged: true,
        }],
        campaigns: vec![shrike_store::CampaignRow {
            campaign_id: 7,
            first_cycle: 0,
            last_cycle: 0,
            cycles: 0,
            first_seen: t,
            last_seen: Timestamp::from_millis(t.millis() + 60_000),
            updated_at: t,
            model: shrike_types::FeatureSetName::Complete,
            algorithm: "dbscan".into(),
            sessions: 1,
            ips: 1,
            escalated: 0,
            ja4s: "[]".into(),
            asns: "[]".into(),
            countries: "[]".into(),
            hosts: "[]".into(),
            features: "[]".into(),
            levels: "{\"HIGH\":1}".into(),
            members: vec![flagged_ip.into()],
        }],
        sessions_scored: Vec::new(),
    }
}

#[test]
fn retention_deletes_old_scores_and_sessions_and_bounds_recurrence() {
    use shrike_store::OutputTable;
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("shrike.db")).unwrap();
    ingest(&mut store, "a", &[rec(0, "192.0.2.1", "/")]);
    // Hour 0: a session; cycles at hours 0, 1 and 30 flag 192.0.2.1.
    for hour in [0, 1, 30] {
        store.save_cycle(&cycle_at(hour, "192.0.2.1")).unwrap();
    }
    assert_eq!(
        store.recurrences().unwrap()[&"192.0.2.1".parse().unwrap()],
        3
    );
    assert_eq!(store.count(OutputTable::AllScores).unwrap(), 6);
    // Keep 24 h of scores and 10 h of sessions, measured from hour 31.
    let at = |hour: i64| Timestamp::from_millis(1_714_564_800_000 + hour * 3_600_000);
    assert_eq!(store.count(OutputTable::FleetDetections).unwrap(), 3);
    // ... and 2 h of fleets.
    // One campaign, seen by the three cycles, keeps its first sighting and counts them.
    let c = &store.campaigns(None, 10).unwrap()[0];
    assert_eq!(
        (c.campaign_id, c.cycles, c.first_cycle, c.last_cycle),
        (7, 3, 1, 3)
    );
    assert_eq!(c.first_seen, at(0));
    assert_eq!(c.last_seen.millis(), at(30).millis() + 60_000);
    assert_eq!(
        store.campaign_memory(at(29)).unwrap(),
        (vec![(7, vec!["192.0.2.1".to_string()])], 8)
    );
    assert_eq!(store.campaign_memory(at(31)).unwrap(), (vec![], 8));
    let retention = |campaigns: i64| shrike_store::Retention {
        scores_before: at(31 - 24),
        sessions_before: at(31 - 10),
        fleets_before: at(31 - 2),
        campaigns_before: at(campaigns),
    };
    let pruned = store.prune(&retention(31 - 2)).unwrap();
    assert_eq!(
        (
            pruned.scores,
            pruned.sessions,
            pruned.fleets,
            pruned.campaigns
        ),
        (4, 1, 2, 0)
    );
    assert_eq!(store.prune(&retention(31)).unwrap().campaigns, 1);
    assert_eq!(store.count(OutputTable::Campaigns).unwrap(), 0);
    assert!(store.campaign_members(7).unwrap().is_empty());
    assert_eq!(store.count(OutputTable::FleetDetections).unwrap(), 1);
    assert_eq!(store.count(OutputTable::AllScores).unwrap(), 2);
    assert_eq!(store.session_count().unwrap(), 0);
    // The audit trail stays, but for the per-anomaly decisions of the pruned cycles;
    // recurrence now counts the flags within the retention window.
    assert_eq!(store.count(OutputTable::Cycles).unwrap(), 3);
    assert_eq!(store.count(OutputTable::Decisions).unwrap(), 3 + 1);
    assert_eq!(
        store.recurrences().unwrap()[&"192.0.2.1".parse().unwrap()],
        1
    );
    // The pruned session's state went with it: a late request in its window starts it anew.
    ingest(&mut store, "b", &[rec(5, "192.0.2.1", "/late")]);
    let sessions = store.sessions().unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].hits, 1, "the pruned state was merged back");
}

#[test]
fn labels_come_from_the_latest_level_and_analysts_override_them() {
    use shrike_store::{Feedback, FeedbackLabel, FeedbackSession};
    use shrike_types::ThreatLevel;
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("shrike.db")).unwrap();
    ingest(
        &mut store,
        "a",
        &[
            rec(0, "192.0.2.1", "/"),
            rec(1, "192.0.2.2", "/"),
            rec(2, "192.0.2.3", "/"),
        ],
    );
    let ja4 = store.sessions().unwrap()[0].key.ja4.clone();
    let keyed = |mut c: shrike_store::CycleRecord, second: &str, level: &str| {
        for s in &mut c.scores {
            s.key.ja4 = ja4.clone();
        }
        c.scores[1].key.src_ip = second.parse().unwrap();
        c.scores[1].threat_level = level.parse().unwrap();
        c
    };
    // Cycle 1: .1 HIGH, .2 NORMAL. Cycle 2: .2 HIGH, .1 MEDIUM (its latest level).
    store
        .save_cycle(&keyed(cycle_at(0, "192.0.2.1"), "192.0.2.2", "NORMAL"))
        .unwrap();
    store
        .save_cycle(&keyed(cycle_at(0, "192.0.2.2"), "192.0.2.1", "MEDIUM"))
        .unwrap();
    let levels = [ThreatLevel::High, ThreatLevel::Normal];
    let all = |s: &SqliteStore| {
        s.labelled_sessions(
            Timestamp::from_millis(0),
            Timestamp::from_millis(i64::MAX),
            &levels,
        )
        .unwrap()
        .into_iter()
        .map(|r| (r.session.key.src_ip.to_string(), r.level, r.feedback))
        .collect::<Vec<_>>()
    };
    // .1's latest level (MEDIUM) is no label; .3 was never scored.
    assert_eq!(
        all(&store),
        vec![("192.0.2.2".to_string(), Some(ThreatLevel::High), None)]
    );
    let label = |ip: &str, label, session| Feedback {
        id: 0,
        created_at: Timestamp::from_millis(0),
        analyst: "soc".into(),
        label,
        note: String::new(),
        src_ip: ip.into(),
        session,
    };
    let t = Timestamp::from_millis(1_714_564_800_000);
    store
        .add_feedback(&label("192.0.2.3", FeedbackLabel::Bot, None))
        .unwrap();
    store
        .add_feedback(&label("192.0.2.2", FeedbackLabel::Bot, None))
        .unwrap();
    // A session label beats the address label given after it.
    store
        .add_feedback(&label(
            "192.0.2.2",
            FeedbackLabel::Human,
            Some(FeedbackSession {
                window_start: t,
                ja4: ja4.as_ref().map_or("", |j| j.as_str()).to_string(),
                host: "shop.example".into(),
            }),
        ))
        .unwrap();
    store
        .add_feedback(&label("192.0.2.2", FeedbackLabel::Bot, None))
        .unwrap();
    assert_eq!(
        all(&store),
        vec![
            (
                "192.0.2.2".to_string(),
                Some(ThreatLevel::High),
                Some(FeedbackLabel::Human)
            ),
            ("192.0.2.3".to_string(), None, Some(FeedbackLabel::Bot)),
        ]
    );
}

/// Writers that do not hold the writer lock still lose nothing: each merge reads the stored
/// states inside its own write transaction.
#[test]
fn concurrent_merges_lose_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrike.db");
    SqliteStore::open(&path).unwrap();
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut store = SqliteStore::open(&path).unwrap();
                for run in 0..5 {
                    // The same two sessions every time, 3 requests each.
                    let t = (w * 5 + run) * 10_000;
                    let recs: Vec<_> = (0..3)
                        .flat_map(|i| {
                            [
                                rec(t + i * 1000, "192.0.2.1", "/"),
                                rec(t + i * 1000 + 1, "192.0.2.2", "/a"),
                            ]
                        })
                        .collect();
                    ingest(&mut store, &format!("w{w}r{run}"), &recs);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let rows = store.sessions().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows.iter().map(|r| r.hits).collect::<Vec<_>>(),
        [90, 90],
        "6 writers × 5 runs × 3 requests per session"
    );
}

/// The `session_features` view gives every stored feature, bit for bit, as a named REAL
/// column, with plain SQL (no function of shrike's registered).
#[test]
fn the_feature_view_decodes_every_feature_exactly() {
    use shrike_features::FeatureId;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrike.db");
    let mut store = SqliteStore::open(&path).unwrap();
    let mut recs = Vec::new();
    for i in 0..40 {
        recs.push(rec(
            i * 1_700,
            &format!("192.0.2.{}", i % 7),
            if i % 3 == 0 { "/login" } else { "/a/b.css" },
        ));
    }
    ingest(&mut store, "a", &recs);
    let sessions = store.sessions().unwrap();
    assert!(sessions.len() >= 7);
    drop(store);
    // A plain connection, as an analyst's tool opens the file.
    let c = rusqlite::Connection::open(&path).unwrap();
    let names: Vec<String> = FeatureId::ALL
        .iter()
        .map(|f| format!("\"{}\"", f.name()))
        .collect();
    let sql = format!(
        "SELECT src_ip, window_start_ms, ja4, host, {} FROM session_features ORDER BY window_start_ms, src_ip, ja4, host",
        names.join(", ")
    );
    let mut q = c.prepare(&sql).unwrap();
    let rows: Vec<(String, Vec<Option<f64>>)> = q
        .query_map([], |r| {
            let values = (0..FeatureId::COUNT)
                .map(|i| r.get::<_, Option<f64>>(4 + i))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((r.get::<_, String>(0)?, values))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), sessions.len());
    let mut negative_or_fraction = 0;
    for (row, s) in rows.iter().zip(&sessions) {
        assert_eq!(row.0, s.key.src_ip.to_string());
        for (i, (got, want)) in row.1.iter().zip(&s.features).enumerate() {
            let want = f64::from(*want);
            assert_eq!(
                got.map(f64::to_bits),
                Some(want.to_bits()),
                "{} of {}",
                FeatureId::ALL[i].name(),
                row.0
            );
            if want < 0.0 || want.fract() != 0.0 {
                negative_or_fraction += 1;
            }
        }
    }
    assert!(
        negative_or_fraction > 0,
        "only whole non-negative values: a weak check"
    );
    // Filters on the key reach the sessions table (no full decode to answer them).
    let mut q = c
        .prepare("EXPLAIN QUERY PLAN SELECT hits FROM session_features WHERE window_start_ms = 0 AND src_ip = '192.0.2.1'")
        .unwrap();
    let plan: Vec<String> = q
        .query_map([], |r| r.get::<_, String>(3))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        plan.iter().any(|l| l.starts_with("SEARCH s USING")),
        "{plan:?}"
    );
}

/// `shrike run`'s records of what it read are pruned past their age, and batch numbers
/// never come back after a prune.
#[test]
fn a_services_read_records_are_bounded_and_batches_keep_rising() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(&dir.path().join("shrike.db")).unwrap();
    let keep = 3_600_000;
    let mut batches = Vec::new();
    for (i, at) in [0, 1_000, keep + 2_000].into_iter().enumerate() {
        let batch = store.next_batch().unwrap();
        batches.push(batch);
        let key = store.hash_key().unwrap();
        let mut s = Sessionizer::new(key, batch);
        s.update(1, &rec(i as i64, "192.0.2.1", "/"));
        let src = IngestedSource {
            fingerprint: format!("follow:1:2:{i}:1"),
            label: format!("piece {i}"),
            records: 1,
            rejected: 0,
            span: None,
        };
        let finish =
            |all: &Sessionizer| all.finish(&Dictionaries::default(), &FinishOptions::default());
        store
            .merge_follow(
                s,
                i64::MAX / 2,
                finish,
                &[src],
                &[],
                &[],
                Timestamp::from_millis(at),
                keep,
            )
            .unwrap();
    }
    assert_eq!(batches, [1, 2, 3]);
    // The first two are older than `keep` at the third's time: only the third is left.
    assert!(store.source_seen("follow:1:2:0:1").unwrap().is_none());
    assert!(store.source_seen("follow:1:2:1:1").unwrap().is_none());
    assert!(store.source_seen("follow:1:2:2:1").unwrap().is_some());
    assert_eq!(
        store.next_batch().unwrap(),
        4,
        "a batch number never comes back"
    );
}
