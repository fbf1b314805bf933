//! The ClickHouse backend on the genuine engine: migrations, RowBinary ingest through the
//! materialized views, and feature parity with the Rust sessionizer.

mod common;

use std::collections::BTreeMap;

use shrike_clickhouse::{migrate, read_features, rowbinary, sync_dictionaries, Retention};
use shrike_dict::Dictionaries;
use shrike_features::{FeatureId, FinishOptions, HashKey, SessionFeatures, Sessionizer};
use shrike_ingest::{JsonLines, Source};
use shrike_types::{Timestamp, HOUR_MS};

#[test]
fn migrations_apply_once_and_build_every_object() {
    let Some(engine) = common::Engine::start("migrate") else {
        return;
    };
    let client = engine.client();
    let first = migrate(&client, &Retention::default()).unwrap();
    assert_eq!(first.applied, vec![1, 2, 3, 4, 5, 6, 7]);
    let again = migrate(&client, &Retention::default()).unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.version, 7);
    let db = &engine.url.database;
    let tables = client
        .query(
            &format!(
                "SELECT name FROM system.tables WHERE database = '{db}' ORDER BY name FORMAT TSV"
            ),
            &[],
        )
        .unwrap();
    let tables = String::from_utf8(tables).unwrap();
    for t in [
        "http_logs",
        "agg_session_1h",
        "agg_ip_1h",
        "mv_session_1h",
        "mv_ip_1h",
        "view_ai_features_1h",
        "dict_bot_ip",
        "ingested_sources",
        "cycles",
        "sessions",
        "all_scores",
        "detected_anomalies",
        "decisions",
        "models",
        "fleet_detections",
        "campaigns",
        "campaign_members",
        "feedback",
    ] {
        assert!(tables.lines().any(|l| l == t), "{t} missing from {tables}");
    }
}

/// Requests that exercise what the simulator leaves constant: ALPN/version mismatches,
/// SNI mismatch, fake navigation, JA4 rotation and drift on one address, TLS 1.2,
/// HTTP/1.0, plain HTTP, DF/TTL variation, correlation without window scale, XFF, odd POST
/// content types, non-standard ports, JA3 diversity, payload patterns, client-hint lies.
fn edge_cases(t0: i64) -> Vec<u8> {
    let mut out = String::new();
    let ja4s = [
        "t12d1209h1_aaaaaaaaaaaa_bbbbbbbbbbbb",
        "t13d0810h2_cccccccccccc_dddddddddddd",
    ];
    for i in 0..60i64 {
        let ip = format!("198.51.100.{}", 10 + i % 4);
        let ja4 = ja4s[(i % 3 == 0) as usize];
        let tls = if i % 2 == 0 { "1.2" } else { "1.3" };
        let line = serde_json::json!({
            "time": t0 + i * 7_300 + (i % 5) * 40_000,
            "src_ip": ip,
            "src_port": 40_000 + i % 7,
            "dst_port": ([443, 80, 8443][(i % 3) as usize]),
            "host": (["Shop.Example:8443", "news.example.", "api.example"][(i % 3) as usize]),
            "method": (["GET", "POST", "HEAD", "POST"][(i % 4) as usize]),
            "path": (["/login", "/a/b/../../etc/passwd", "/static/app.JS", "/", "/api/v1/token"][(i % 5) as usize]),
            "query": if i % 6 == 0 { "q=1%27%20or%20%271" } else { "" },
            "http_version": (["1.0", "1.1", "2"][(i % 3) as usize]),
            "user_agent": if i % 4 == 0 { "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36" } else { "curl/8.5.0" },
            "header_names": if i % 5 == 0 { serde_json::json!(["Host", "User-Agent", "Accept"]) } else { serde_json::json!(["Host", "Accept", "Cookie", "Referer"]) },
            "accept": if i % 2 == 0 { "*/*" } else { "text/html" },
            "content_type": (["application/json", "application/x-java-serialized-object", "text/plain; charset=utf-8"][(i % 3) as usize]),
            "has_xff": i % 7 == 0,
            "sec_fetch_mode": if i % 3 == 0 { "navigate" } else { "cors" },
            "sec_fetch_dest": "empty",
            "sec_ch_ua_mobile": if i % 4 == 0 { "?1" } else { "?0" },
            "ja4": ja4,
            "ja3": format!("ja3-{}", i % 3),
            "tls_version": tls,
            "tls_alpn": (["h2", "00", "http/1.1"][(i % 3) as usize]),
            "tls_sni": if i % 2 == 0 { "other.example" } else { "shop.example" },
            "tcp_ttl": 40 + (i % 9) * 3,
            "tcp_window": 29200,
            "tcp_mss": 1460,
            "tcp_options": "2-4-8-1-3",
            "tcp_window_scale": if i % 2 == 0 { serde_json::Value::Null } else { serde_json::json!(7) },
            "ip_df": i % 3 != 0,
            "ip_id": i % 2,
            "syn_ack_ms": 12.5 + (i % 4) as f64 * 3.25,
            "correlated": i % 5 != 1,
            "asn": 64_500 + (i % 2) as u32,
            "country": "NL",
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out.into_bytes()
}

/// Simulated traffic through both paths: every session gets the same features.
#[test]
fn the_feature_view_matches_the_rust_sessionizer() {
    let Some(engine) = common::Engine::start("parity") else {
        return;
    };
    let client = engine.client();
    migrate(&client, &Retention::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Recent traffic: the tables' TTL drops rows older than the retention at insert.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let cfg = shrike_sim::SimConfig {
        start: Timestamp::from_millis(now - now.rem_euclid(HOUR_MS) - 3 * HOUR_MS),
        hours: 3,
        humans_per_hour: 60,
        bots_per_family_per_hour: 2,
        ..shrike_sim::SimConfig::default()
    };
    shrike_sim::simulate(&cfg, dir.path()).unwrap();
    let dict = Dictionaries::load_dir(&dir.path().join("dict")).unwrap();
    sync_dictionaries(&client, &dict).unwrap();
    let mut text = std::fs::read(dir.path().join("traffic.jsonl")).unwrap();
    text.extend(edge_cases(cfg.start.millis() + HOUR_MS));
    let source = JsonLines;
    let mut sessionizer = Sessionizer::new(HashKey::FIXED, 1);
    let insert = rowbinary::insert_statement(&format!("{}.http_logs", engine.url.database));
    let mut batch = Vec::new();
    let mut rows = 0;
    for (i, line) in text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let line_no = i as u64 + 1;
        let mut unknown = 0;
        let r = source.parse_line(line, &mut unknown).unwrap();
        sessionizer.update(line_no, &r);
        assert!(rowbinary::encode(&mut batch, &r, 1 << 40 | line_no));
        rows += 1;
        // Several insert blocks: the aggregates must merge across them.
        if rows % 3000 == 0 {
            client.insert(&insert, &batch, &[]).unwrap();
            batch.clear();
        }
    }
    client.insert(&insert, &batch, &[]).unwrap();
    let rust = sessionizer.finish(&dict, &FinishOptions::default());
    let at = sessionizer.newest().unwrap();
    let from = Timestamp::from_millis(at.millis() - 24 * HOUR_MS);
    let ch = read_features(&client, from, at).unwrap();
    assert!(rust.len() > 200, "{} sessions", rust.len());
    let by_key: BTreeMap<_, &SessionFeatures> = ch.iter().map(|s| (&s.key, s)).collect();
    let mut mismatches: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for r in &rust {
        let c = by_key.get(&r.key).unwrap_or_else(|| {
            panic!(
                "session {:?} missing from the view ({} rows; first {:?})",
                r.key,
                ch.len(),
                ch.first().map(|s| &s.key)
            )
        });
        assert_eq!(
            (c.first_seen, c.last_seen, c.correlated),
            (r.first_seen, r.last_seen, r.correlated),
            "{:?}",
            r.key
        );
        assert_eq!(
            (
                c.asn,
                &c.country,
                &c.browser_family,
                &c.tcp_fingerprint,
                &c.h2_fingerprint
            ),
            (
                r.asn,
                &r.country,
                &r.browser_family,
                &r.tcp_fingerprint,
                &r.h2_fingerprint
            ),
            "{:?}",
            r.key
        );
        for f in FeatureId::ALL {
            let (a, b) = (f64::from(r.get(*f)), f64::from(c.get(*f)));
            if (a - b).abs() > 1e-6 * a.abs().max(b.abs()).max(1e-3) {
                let e = mismatches
                    .entry(f.name())
                    .or_insert((0, format!("{:?}: rust {a} clickhouse {b}", r.key)));
                e.0 += 1;
            }
        }
    }
    assert_eq!(ch.len(), rust.len(), "session counts");
    // The comparison means something only for features the traffic exercises.
    let constant: Vec<&str> = FeatureId::ALL
        .iter()
        .filter(|f| rust.iter().all(|r| r.get(**f) == rust[0].get(**f)))
        .map(|f| f.name())
        .collect();
    assert!(
        constant.len() <= 8,
        "features the simulated traffic leaves constant: {constant:?}"
    );
    assert!(
        mismatches.is_empty(),
        "features that differ (count, first case):\n{mismatches:#?}"
    );
}
