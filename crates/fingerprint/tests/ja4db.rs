//! Every verified ja4db raw JA4 string hashes to its stored JA4.

use std::path::PathBuf;

fn shared_data() -> Option<PathBuf> {
    let p = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    p.is_dir().then_some(p)
}

#[test]
fn ja4db_raw_strings_hash_to_their_ja4() {
    let Some(data) = shared_data() else {
        println!("skipped: ../shared/data not found (set SHRIKE_SHARED_DATA)");
        return;
    };
    let text = std::fs::read_to_string(data.join("ja4db/ja4db_verified.json")).unwrap();
    let records: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let (mut checked, mut matched) = (0, 0);
    let mut mismatches = Vec::new();
    for r in &records {
        let (Some(raw), Some(ja4)) = (
            r["ja4_fingerprint_string"].as_str(),
            r["ja4_fingerprint"].as_str(),
        ) else {
            continue;
        };
        checked += 1;
        match shrike_fingerprint::ja4_from_raw(raw) {
            Some(h) if h == ja4 => matched += 1,
            other => mismatches.push((raw.to_string(), ja4.to_string(), other)),
        }
    }
    println!("ja4db: {matched}/{checked} raw strings hash to their JA4");
    assert!(
        checked >= 2700,
        "expected the 2,739 vectors, found {checked}"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        mismatches.len(),
        mismatches.first()
    );
}
