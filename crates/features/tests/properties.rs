//! Invariants of the sessionizer on arbitrary records.

use proptest::prelude::*;
use shrike_dict::Dictionaries;
use shrike_features::{FeatureId, FeatureKind, FinishOptions, HashKey, Sessionizer};
use shrike_ingest::{JsonLines, Source};

fn record() -> impl Strategy<Value = String> {
    (
        0i64..(3 * 3_600_000),
        0u8..6,
        prop::sample::select(vec!["", "t13d1516h2_8daaf6152771_02713d6af862", "t12d1209h1_d34a8e72043a_b39be8c56a14"]),
        prop::sample::select(vec!["a.example", "b.example", "A.example:8080"]),
        prop::sample::select(vec!["GET", "POST", "HEAD"]),
        prop::sample::select(vec!["/", "/login", "/app.js", "/../../etc/passwd", "/a/b/c"]),
        prop::option::of(0u16..3),
        prop::option::of(prop::bool::ANY),
        prop::option::of(0.0f64..500.0),
        prop::option::of(40u8..130),
        prop::option::of(prop::sample::select(vec!["h2", "http/1.1"])),
    )
        .prop_map(|(t, ip, ja4, host, m, path, port, corr, syn, ttl, alpn)| {
            let mut s = format!(
                r#"{{"time":{},"src_ip":"192.0.2.{ip}","ja4":"{ja4}","host":"{host}","method":"{m}","path":"{path}""#,
                1_714_564_800_000i64 + t
            );
            if let Some(p) = port { s += &format!(r#","src_port":{}"#, 40000 + p); }
            if let Some(c) = corr { s += &format!(r#","correlated":{c}"#); }
            if let Some(x) = syn { s += &format!(r#","syn_ack_ms":{x}"#); }
            if let Some(x) = ttl { s += &format!(r#","tcp_ttl":{x}"#); }
            if let Some(a) = alpn { s += &format!(r#","tls_alpn":"{a}""#); }
            s + "}"
        })
}

fn run(lines: &[String], parts: &[usize]) -> Vec<shrike_features::SessionFeatures> {
    let n = parts.iter().copied().max().unwrap_or(0) + 1;
    let mut sz: Vec<Sessionizer> = (0..n)
        .map(|_| Sessionizer::new(HashKey::FIXED, 3))
        .collect();
    for (i, (l, p)) in lines.iter().zip(parts).enumerate() {
        let r = JsonLines.parse_line(l.as_bytes(), &mut 0).unwrap();
        sz[*p].update(i as u64 + 1, &r);
    }
    let mut all = sz.remove(0);
    for s in sz.into_iter().rev() {
        all.merge(s);
    }
    all.finish(&Dictionaries::default(), &FinishOptions::default())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_split_gives_the_same_sessions(
        lines in prop::collection::vec(record(), 1..300),
        seed in any::<u64>(),
    ) {
        let whole = run(&lines, &vec![0; lines.len()]);
        let mut x = seed | 1;
        let parts: Vec<usize> = lines.iter().map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; (x % 4) as usize }).collect();
        let split = run(&lines, &parts);
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn features_are_finite_and_in_range(lines in prop::collection::vec(record(), 1..200)) {
        for s in run(&lines, &vec![0; lines.len()]) {
            for f in FeatureId::ALL {
                let v = s.get(*f);
                prop_assert!(v.is_finite(), "{} = {}", f.name(), v);
                match f.kind() {
                    FeatureKind::Ratio => prop_assert!((0.0..=1.0).contains(&v), "{} = {}", f.name(), v),
                    FeatureKind::Binary => prop_assert!(v == -1.0 || v == 0.0 || v == 1.0, "{} = {}", f.name(), v),
                    FeatureKind::Count => prop_assert!(v >= 0.0, "{} = {}", f.name(), v),
                    FeatureKind::Continuous => {}
                }
            }
        }
    }
}
