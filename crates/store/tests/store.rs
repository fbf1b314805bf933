//! The store round-trips sessions, extends them across inputs and survives reopening.

use shrike_dict::Dictionaries;
use shrike_features::{FinishOptions, Sessionizer};
use shrike_store::{IngestedSource, SqliteStore};
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
    let mut all = Sessionizer::new(key, batch);
    store
        .load_states(&mut all, Timestamp::from_millis(0))
        .unwrap();
    all.merge(s.clone());
    let feats = all.finish(&Dictionaries::default(), &FinishOptions::default());
    let src = IngestedSource {
        fingerprint: fp.into(),
        label: fp.into(),
        records: recs.len() as u64,
        rejected: 0,
    };
    // The merged states (old + new) are what the next run must see.
    store
        .save_ingest(&all, &feats, &src, Timestamp::from_millis(0))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn sessions_accumulate_across_inputs_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shrike.db");
    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(
        store.schema_version().unwrap(),
        2,
        "both migrations applied"
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
