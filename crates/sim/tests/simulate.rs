//! The simulator is seeded, labelled and loads with shrike's own dictionary loader.

use shrike_sim::{simulate, SimConfig};

#[test]
fn same_seed_same_bytes_labels_apart_from_the_log() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let cfg = SimConfig {
        hours: 2,
        humans_per_hour: 60,
        ..SimConfig::default()
    };
    let sa = simulate(&cfg, a.path()).unwrap();
    simulate(&cfg, b.path()).unwrap();
    let la = std::fs::read(a.path().join("traffic.jsonl")).unwrap();
    assert_eq!(la, std::fs::read(b.path().join("traffic.jsonl")).unwrap());
    assert!(sa.records > 5000, "{}", sa.records);
    let text = String::from_utf8(la).unwrap();
    assert!(
        !text.contains("bad_bot") && !text.contains("\"label\""),
        "labels leaked into the log"
    );
    let labels = std::fs::read_to_string(a.path().join("labels.csv")).unwrap();
    for class in ["human", "good_bot", "bad_bot"] {
        assert!(labels.contains(class), "{class} missing");
    }
    // Time-ordered log.
    let times: Vec<&str> = text.lines().map(|l| &l[9..33]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let other = simulate(&SimConfig { seed: 7, ..cfg }, b.path()).unwrap();
    assert_ne!(other.records, 0);
    assert_ne!(
        std::fs::read(b.path().join("traffic.jsonl")).unwrap(),
        text.as_bytes()
    );
}
