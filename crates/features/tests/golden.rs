//! A small hand-checked log: every expected value is worked out in the comments.

use shrike_dict::{Dictionaries, DictionaryFile};
use shrike_features::{FeatureId as F, FinishOptions, HashKey, SessionFeatures, Sessionizer};
use shrike_ingest::{JsonLines, Source};
use shrike_types::math;

const CHROME_JA4: &str = "t13d1516h2_8daaf6152771_02713d6af862";
const CHROME_H2: &str = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p";
const CHROME_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

fn log() -> String {
    let tcp = r#""correlated":true,"tls_version":"1.3","tls_alpn":"h2","tls_sni":"shop.example","tcp_ttl":64,"tcp_window":64240,"tcp_window_scale":8,"tcp_mss":1460,"tcp_options":"2-1-3-1-1-4","ip_df":true"#;
    let common = format!(
        r#""src_ip":"203.0.113.5","host":"Shop.Example:443","ja4":"{CHROME_JA4}","http_version":"2","user_agent":"{CHROME_UA}","sec_ch_ua":"\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\"","sec_ch_ua_mobile":"?0","sec_ch_ua_platform":"\"Windows\"","h2_fingerprint":"{CHROME_H2}","asn":3215,"country":"FR","dst_port":443"#
    );
    [
        // A1: a navigation with the full header set.
        format!(r#"{{"time":"2024-05-01T12:00:00.000Z",{common},{tcp},"method":"GET","path":"/","accept":"text/html","accept_language":"fr-FR","sec_fetch_mode":"navigate","sec_fetch_dest":"document","header_names":["host","user-agent","accept","accept-language","sec-fetch-mode"],"src_port":50000,"conn_id":"c1","ip_total_length":500,"syn_ack_ms":10.0}}"#),
        // A2: an asset, 500 ms later, with a referer, on the same connection.
        format!(r#"{{"time":"2024-05-01T12:00:00.500Z",{common},{tcp},"method":"GET","path":"/app.js","referer":"https://shop.example/","src_port":50000,"conn_id":"c1","ip_total_length":300,"syn_ack_ms":14.0}}"#),
        // A3: a login POST 10 s later on a new connection.
        format!(r#"{{"time":"2024-05-01T12:00:10.500Z",{common},{tcp},"method":"POST","path":"/login","content_type":"application/json","src_port":50001,"conn_id":"c2","ip_total_length":700,"syn_ack_ms":12.0}}"#),
        // A4: an injection attempt 50 s later, TCP side not matched (orphan).
        format!(r#"{{"time":"2024-05-01T12:01:00.500Z",{common},"correlated":false,"method":"GET","path":"/search","query":"q=1 UNION SELECT password","src_port":50002,"conn_id":"c3","ip_total_length":500}}"#),
        // B1, B2: plain HTTP on port 80 from another address, no JA4.
        r#"{"time":"2024-05-01T12:30:00Z","src_ip":"198.51.100.9","host":"shop.example","dst_port":80,"method":"HEAD","path":"/","user_agent":"curl/8.5.0","asn":16509}"#.to_string(),
        r#"{"time":"2024-05-01T12:30:02Z","src_ip":"198.51.100.9","host":"shop.example","dst_port":80,"method":"GET","path":"/","user_agent":"curl/8.5.0","asn":16509}"#.to_string(),
    ]
    .join("\n")
}

fn dict() -> Dictionaries {
    let mut d = Dictionaries::default();
    d.load_text(
        DictionaryFile::BrowserJa4,
        &format!("{CHROME_JA4},Chrome\n"),
    )
    .unwrap();
    d.load_text(
        DictionaryFile::BrowserH2,
        &format!("\"{CHROME_H2}\",Chrome\n"),
    )
    .unwrap();
    d.load_text(DictionaryFile::AsnReputation, "3215,isp\n16509,hosting\n")
        .unwrap();
    d
}

fn sessions() -> Vec<SessionFeatures> {
    let mut s = Sessionizer::new(HashKey::FIXED, 0);
    for (i, line) in log().lines().enumerate() {
        let r = JsonLines.parse_line(line.as_bytes(), &mut 0).unwrap();
        s.update(i as u64 + 1, &r);
    }
    s.finish(&dict(), &FinishOptions::default())
}

fn close(got: f32, want: f64, what: F) {
    let tol = 1e-5 * want.abs().max(1.0);
    assert!(
        (got as f64 - want).abs() <= tol,
        "{}: got {got}, want {want}",
        what.name()
    );
}

#[test]
fn browser_session_features_match_hand_computation() {
    let all = sessions();
    assert_eq!(all.len(), 2);
    // Sorted by key: 198.51.100.9 < 203.0.113.5.
    let a = &all[1];
    assert_eq!(a.key.host, "shop.example", "host normalised");
    assert_eq!(a.browser_family, "Chrome");
    assert_eq!(a.asn_label.as_str(), "isp");
    assert_eq!(a.tcp_fingerprint, "64240_2-1-3-1-1-4_1460_8");
    let expect: &[(F, f64)] = &[
        (F::Hits, 4.0),
        (F::PostRatio, 1.0 / 5.0),              // 1 POST / (4 + 1)
        (F::FuzzingIndex, 1.0 / 5.0),           // 1 query / (4 paths + 1)
        (F::HitVelocity, 4.0 / 61.0),           // 12:00:00 → 12:01:00: 60 s
        (F::PortExhaustionRatio, 3.0 / 5.0),    // ports 50000, 50001, 50002
        (F::OrphanRatio, 1.0 / 5.0),            // A4
        (F::MultiplexingEfficiency, 4.0 / 4.0), // 4 hits / (3 connections + 1)
        (F::AssetRatio, 1.0 / 5.0),             // /app.js
        (F::DirectAccessRatio, 3.0 / 5.0),      // only A2 has a referer
        (F::AnomalousPayloadRatio, 1.0 / 5.0),  // UNION SELECT
        (F::UrlDepthVariance, 0.0),             // every path has one '/'
        (F::RequestSizeVariance, 20_000.0),     // 500, 300, 700, 500: mean 500
        (F::TcpJitterVariance, 8.0 / 3.0),      // 10, 14, 12 ms: mean 12
        (F::SynTimingCv, (8.0f64 / 3.0).sqrt() / 12.0),
        (F::AvgTtl, 64.0),
        (F::TtlStd, 0.0),
        (F::IpDfVariance, 0.0),
        (F::TrueWindowSize, 64_240.0 * 256.0),
        (F::WindowMssRatio, 64_240.0 / 1460.0),
        (F::AlpnHttpMismatch, 0.0),
        (F::IsAlpnMissing, 0.0),
        (F::SniHostMismatch, 0.0),
        (F::IsFakeNavigation, 0.0),
        (F::SecFetchAbsenceRate, 3.0 / 5.0), // only A1 has Sec-Fetch-*
        (F::GenericAcceptRatio, 3.0 / 5.0),  // A2..A4 send no Accept
        (F::MissingAcceptEncRatio, 4.0 / 5.0),
        (F::LoginPostConcentration, 1.0), // 1 login POST / max(1 POST, 1)
        (F::UnusualContentTypeRatio, 0.0), // JSON is usual
        (F::NoWindowScaleRatio, 0.0),
        (F::Tls12Ratio, 0.0),
        (F::HeaderCount, 5.0),
        (F::HasAcceptLanguage, 1.0),
        (F::HasReferer, 1.0),
        (F::HasSecChUa, 1.0),
        (F::UaChMismatch, 0.0), // Chrome 124 with matching hints
        (F::SecChMobileMismatch, 0.0),
        (F::H2SettingsKnown, 1.0),
        (F::H2PseudoOrderMatch, 1.0), // Chrome sends m,a,s,p
        (F::H2Ja4Coherence, 1.0),
        (F::H2SettingsRare, 0.0),
        (F::FingerprintCoherenceScore, 1.0), // .25 + .20 + .15 + .10 + .15 + .15
        (F::DistinctJa4Count, 1.0),
        (F::IsRareJa4, 1.0),                 // 4 hits < 100
        (F::Ja4AsnConcentration, 4.0 / 5.0), // 4 / (4 + 1)
        (F::TcpSharedCount, 1.0),
        // p = 4 / (4 + 1): −p·log2(p + 1e-6)
        (F::TemporalEntropy, -(0.8f64) * math::log2(0.8 + 1e-6)),
        // Gaps 500, 10 000, 50 000 ms.
        (F::BurstRatio, 1.0 / 3.0),
        (F::PauseRatio, 1.0 / 3.0),
        (F::PathTransitionEntropy, 1.0), // 3 distinct transitions of 3
        // mean 20 166.67; population std 21 448.9
        (F::CadenceCv, {
            let g = [500.0f64, 10_000.0, 50_000.0];
            let m = g.iter().sum::<f64>() / 3.0;
            (g.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 3.0).sqrt() / m
        }),
        // first digits 5, 1, 5: TVD to Benford = (|1/3 − .301| + |2/3 − .079| + the other 7 expected) / 2
        (
            F::BenfordDeviation,
            ((1.0f64 / 3.0 - 0.301).abs()
                + (2.0f64 / 3.0 - 0.079).abs()
                + 0.176
                + 0.125
                + 0.097
                + 0.067
                + 0.058
                + 0.051
                + 0.046)
                / 2.0,
        ),
        (F::HostDiversity, 1.0),
        (F::CrossDomainPathSimilarity, 0.0),
        (F::Ja4DriftRatio, 0.0),
    ];
    for (f, want) in expect {
        close(a.get(*f), *want, *f);
    }
}

#[test]
fn plain_http_session_features_match_hand_computation() {
    let b = &sessions()[0];
    assert_eq!(b.key.ja4, None);
    assert_eq!(b.asn_label.as_str(), "hosting");
    for (f, want) in [
        (F::Hits, 2.0),
        (F::HeadRatio, 1.0 / 3.0),
        (F::HttpSchemeRatio, 2.0 / 3.0), // port 80, no TLS data
        (F::OrphanRatio, 2.0 / 3.0),
        (F::HitVelocity, 2.0 / 3.0),                        // 2 s apart
        (F::HasAcceptLanguage, -1.0),                       // no header information at all
        (F::UaChMismatch, -1.0),                            // hint presence unknown
        (F::FingerprintCoherenceScore, 0.15 + 0.10 + 0.15), // ALPN, SNI, UA-CH terms
        (F::IsAlpnMissing, 1.0),
        (
            F::TemporalEntropy,
            -(2.0f64 / 3.0) * math::log2(2.0 / 3.0 + 1e-6),
        ),
    ] {
        close(b.get(f), want, f);
    }
}
