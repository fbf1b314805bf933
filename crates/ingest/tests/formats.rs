//! Producer formats, on fixtures written from each producer's documentation: nginx's JSON
//! `log_format` (docs/FORMATS.md) and Cloudflare Logpush `http_requests`.

use std::path::Path;

use shrike_ingest::{detect_format, Format, IngestOptions, Input, RecordSink, RejectReason};
use shrike_types::{HttpVersion, Method, RequestRecord, TlsVersion};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn parse_all(format: Format, text: &str) -> Vec<Result<RequestRecord<'_>, RejectReason>> {
    let source = format.source().unwrap();
    text.lines()
        .map(|l| {
            source
                .parse_line(l.as_bytes(), &mut 0)
                .map_err(|r| r.reason)
        })
        .collect()
}

#[test]
fn nginx_json_with_ja4_module_and_phuslu_variables() {
    let text = fixture("nginx.jsonl");
    assert_eq!(detect_format(text.as_bytes()), Some(Format::NginxJson));
    let recs = parse_all(Format::NginxJson, &text);
    let a = recs[0].as_ref().unwrap();
    assert_eq!(a.time.millis(), 1_795_169_702_123);
    assert_eq!(a.src_ip, Some("203.0.113.9".parse().unwrap()));
    assert_eq!((a.src_port, a.dst_port), (Some(51234), Some(443)));
    assert_eq!(a.method, Some(Method::Get));
    assert_eq!(
        (a.path.as_deref(), a.query.as_deref()),
        (Some("/cart"), Some("item=42"))
    );
    assert_eq!(a.http_version, Some(HttpVersion::Http2));
    assert_eq!((a.status, a.bytes), (Some(200), Some(5120)));
    assert_eq!(a.keepalive_index, Some(2), "connection_requests is 1-based");
    assert_eq!(
        (a.has_cookie, a.has_xff),
        (Some(true), None),
        "an empty X-Forwarded-For is absent"
    );
    assert_eq!(a.tls_version, Some(TlsVersion::Tls13));
    assert_eq!(
        a.ja4.as_ref().unwrap().as_str(),
        "t13d1516h2_8daaf6152771_02713d6af862"
    );
    assert_eq!(a.ja4t.as_deref(), Some("64240_2-1-3-1-1-4_1460_8"));
    assert_eq!(
        a.h2_fingerprint.as_deref(),
        Some("1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p")
    );
    assert_eq!(a.syn_ack_ms, Some(24.1));
    assert_eq!(a.sec_fetch_user.as_deref(), Some("?1"));

    // Plain HTTP over IPv6: empty and `-` variables are missing values, not errors.
    let b = recs[1].as_ref().unwrap();
    assert_eq!(b.method, Some(Method::Head));
    assert!(b.ja4.is_none() && b.tls_version.is_none() && b.syn_ack_ms.is_none());
    assert_eq!(b.has_cookie, None);

    // `$time_local` and `$request` when the finer variables are not logged.
    let c = recs[2].as_ref().unwrap();
    assert_eq!(c.method, Some(Method::Post));
    assert_eq!(c.path.as_deref(), Some("/wp-login.php"));
    assert_eq!(c.http_version, Some(HttpVersion::Http11));
    assert_eq!(c.time.millis(), 1_795_169_704_000);
    assert!(c.ja4_r.is_some());

    assert_eq!(recs[3].as_ref().unwrap_err(), &RejectReason::InvalidIp);
}

#[test]
fn cloudflare_logpush_http_requests() {
    let text = fixture("cloudflare.jsonl");
    assert_eq!(detect_format(text.as_bytes()), Some(Format::Cloudflare));
    let recs = parse_all(Format::Cloudflare, &text);
    let mut unknown = 0;
    Format::Cloudflare
        .source()
        .unwrap()
        .parse_line(text.lines().next().unwrap().as_bytes(), &mut unknown)
        .unwrap();
    assert_eq!(
        unknown, 0,
        "documented fields are known, even those shrike does not use"
    );
    let a = recs[0].as_ref().unwrap();
    assert_eq!(a.time.millis(), 1_795_169_702_000);
    assert_eq!(
        (a.asn, a.country.map(|c| c.as_str().to_string())),
        (Some(16509), Some("US".into()))
    );
    assert_eq!(
        (a.path.as_deref(), a.query.as_deref()),
        (Some("/v1/login"), Some("next=%2F"))
    );
    assert_eq!(a.status, Some(403));
    assert_eq!(
        a.accept_language.as_deref(),
        Some("en-US"),
        "from RequestHeaders"
    );
    assert_eq!(a.has_xff, Some(true));
    assert_eq!(a.syn_ack_ms, Some(31.0));
    assert_eq!(
        a.ja4.as_ref().unwrap().as_str(),
        "t13d1812h1_85036bcba153_b26ce05bbdd6"
    );

    // Epoch nanoseconds; `XX` (unknown country) is a missing value.
    let b = recs[1].as_ref().unwrap();
    assert_eq!(b.time.millis(), 1_795_169_702_123);
    assert_eq!(b.country, None);
    assert_eq!(b.http_version, Some(HttpVersion::Http2));

    // Epoch seconds; `none` TLS is plaintext, an empty JA4 is missing.
    let c = recs[2].as_ref().unwrap();
    assert_eq!(c.time.millis(), 1_795_169_703_000);
    assert!(c.tls_version.is_none() && c.tls_cipher.is_none() && c.ja4.is_none());
}

struct Count(u64);
impl RecordSink for Count {
    fn accept(&mut self, _: u64, _: &RequestRecord<'_>) {
        self.0 += 1;
    }
}

#[test]
fn quality_findings_are_counted_per_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cf.jsonl");
    std::fs::write(&path, fixture("cloudflare.jsonl")).unwrap();
    let source = Format::Cloudflare.source().unwrap();
    let (report, _) = shrike_ingest::run(
        &Input::File(path),
        source.as_ref(),
        &IngestOptions::default(),
        shrike_ingest::DeadLetterWriter::discard(),
        || Count(0),
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.records, 3);
    // The second line negotiated TLS 1.3 with a JA4 that offered at most 1.2.
    let findings: Vec<_> = report.quality.iter().collect();
    assert_eq!(findings, [("impossible:tls_version_above_ja4", 1)]);
}
