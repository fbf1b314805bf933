//! `shrike ingest` of packet captures and Zeek logs: detected from their first bytes, read into
//! sessions; a capture cut short keeps what it held and says so; Zeek's http.log is joined
//! to the ssl.log and conn.log beside it.

mod support;

use support::{shared_data, shrike, text};

#[test]
fn captures_are_detected_and_ingested() {
    let Some(data) = shared_data("foxio-ja4/pcap") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pcap = data.join("foxio-ja4/pcap");
    let store = dir.path().join("s.db");
    let store = store.to_str().unwrap();
    let tls = pcap.join("tls-handshake.pcapng");
    let o = shrike(
        &["ingest", "--store", store, tls.to_str().unwrap()],
        dir.path(),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("59 TCP connections (59 TLS hellos"), "{out}");
    assert!(out.contains("20 QUIC connections (20 hellos)"), "{out}");
    assert!(out.contains("79 records"), "{out}");

    // A cleartext capture, cut in the middle of a packet: what came before is kept.
    let bytes = std::fs::read(pcap.join("http1.pcapng")).unwrap();
    let cut = dir.path().join("cut.pcapng");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let o = shrike(
        &["ingest", "--store", store, cut.to_str().unwrap()],
        dir.path(),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("the capture ends early"), "{out}");
    assert!(out.contains("rejected truncated_input: 1"), "{out}");
    let requests: u64 = out
        .split(" HTTP/1 and")
        .next()
        .and_then(|s| s.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {out}"));
    assert!(
        (10..56).contains(&requests),
        "{requests} of the 56 requests before the cut: {out}"
    );

    // The dead-letter file names the cut.
    let dead = std::fs::read_to_string(dir.path().join("rejected.jsonl")).unwrap();
    assert!(dead.contains("truncated"), "{dead}");
}

#[test]
fn zeek_http_log_is_detected_and_joined_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures/zeek/tsv");
    for log in ["http.log", "ssl.log", "conn.log"] {
        std::fs::copy(fixtures.join(log), dir.path().join(log)).unwrap();
    }
    let store = dir.path().join("s.db");
    let o = shrike(
        &[
            "ingest",
            "--store",
            store.to_str().unwrap(),
            "--max-reject-ratio",
            "0.5",
            "http.log",
        ],
        dir.path(),
    );
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains("3 HTTP requests (1 joined to ssl.log, 3 to conn.log), 2 TLS connections (1 without a request"),
        "{out}"
    );
    assert!(out.contains("4 records"), "{out}");
    assert!(out.contains("rejected invalid_ip: 1"), "{out}");
    // A grown log cannot be continued: its join needs the whole files.
    let mut http = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("http.log"))
        .unwrap();
    std::io::Write::write_all(&mut http, b"#close\t2024-05-01-14-00-00\n").unwrap();
    let o = shrike(
        &["ingest", "--store", store.to_str().unwrap(), "http.log"],
        dir.path(),
    );
    let out = text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(out.contains("Zeek logs are joined whole"), "{out}");
}
