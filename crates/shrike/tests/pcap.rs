//! `shrike ingest` of packet captures: detected by their magic number, read into sessions;
//! a capture cut short keeps what it held and says so.

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
