//! Every parser of attacker bytes, reachable from one entry point per fuzz target.
//!
//! `fuzz/` (cargo-fuzz, nightly, outside the workspace) runs each [`Target`] under
//! libFuzzer; its `fuzz_targets/<name>.rs` are one line calling [`run`]. On stable, the
//! test `tests/replay.rs` runs every file of the committed corpora (`fuzz/corpus/<name>/`,
//! minimised) and of the regressions (`fuzz/regressions/<name>/`: inputs that once crashed,
//! hung or ran away) through the same [`run`]: CI replays them on every run.
//!
//! A target must never panic, hang or allocate without bound on any input; what it returns
//! is thrown away.

#![warn(missing_docs)]

use std::hint::black_box;

use shrike_fingerprint::Protocol;
use shrike_pcap::{h2, http1, quic, tls};

/// The fuzz targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A whole capture (pcap or pcapng): framing, link layers and tunnels, IP, TCP
    /// reassembly, TLS, HTTP/1, cleartext HTTP/2, QUIC, into records.
    Capture,
    /// One packet of any link type (the first two bytes pick it): decoding and tunnels.
    Packet,
    /// TCP reassembly: segments `(seq: u32, len: u8, bytes)` into one direction.
    Stream,
    /// A TLS handshake message as ClientHello (TCP and QUIC) and as ServerHello.
    TlsHello,
    /// A UDP datagram as QUIC Initials of either side, then CRYPTO reassembly.
    QuicInitial,
    /// HTTP/1 request and response heads, then bodies.
    Http1,
    /// An HTTP/2 client and server byte stream: frames and HPACK.
    H2,
    /// A log line in each line format: shrike JSON Lines, combined, nginx JSON,
    /// Cloudflare.
    LogLine,
    /// Zeek logs, TSV or JSON: the input up to a line `#--ssl--` is `http.log`, what
    /// follows `ssl.log`, joined as an ingest joins them (through files on disk).
    Zeek,
    /// YAML documents (Anubis policies), and each mapping as a policy rule with its CEL.
    Policy,
    /// A CEL expression.
    Cel,
    /// A user-agent pattern list (one regular expression per line).
    UaPatterns,
}

impl Target {
    /// Every target.
    pub const ALL: [Target; 12] = [
        Target::Capture,
        Target::Packet,
        Target::Stream,
        Target::TlsHello,
        Target::QuicInitial,
        Target::Http1,
        Target::H2,
        Target::LogLine,
        Target::Zeek,
        Target::Policy,
        Target::Cel,
        Target::UaPatterns,
    ];

    /// The name of its fuzz target and corpus directory.
    pub const fn name(self) -> &'static str {
        match self {
            Target::Capture => "capture",
            Target::Packet => "packet",
            Target::Stream => "stream",
            Target::TlsHello => "tls_hello",
            Target::QuicInitial => "quic_initial",
            Target::Http1 => "http1",
            Target::H2 => "h2",
            Target::LogLine => "log_line",
            Target::Zeek => "zeek",
            Target::Policy => "policy",
            Target::Cel => "cel",
            Target::UaPatterns => "ua_patterns",
        }
    }
}

/// Runs one input through a target.
pub fn run(target: Target, data: &[u8]) {
    match target {
        Target::Capture => {
            let mut records = 0usize;
            let _ = shrike_pcap::read_capture(data, shrike_pcap::Options::default(), |r| {
                records += 1;
                black_box(r);
            });
            black_box(records);
        }
        Target::Packet => {
            if data.len() >= 2 {
                let link = u32::from(u16::from_le_bytes([data[0], data[1]]));
                let _ = black_box(shrike_pcap::decode::decode(link, &data[2..]));
            }
        }
        Target::Stream => {
            let mut s = shrike_pcap::stream::Stream::default();
            let mut rest = data;
            while rest.len() >= 5 {
                let seq = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
                let len = usize::from(rest[4]).min(rest.len() - 5);
                s.push(seq, &rest[5..5 + len]);
                rest = &rest[5 + len..];
                if s.buf.len() > shrike_pcap::stream::MAX_BUFFERED {
                    s.buf.clear();
                }
            }
        }
        Target::TlsHello => {
            black_box(tls::message(data));
            black_box(tls::client_hello(data, Protocol::Tcp));
            black_box(tls::client_hello(data, Protocol::Quic));
            black_box(tls::server_hello(data));
            black_box(tls::sslv2_client_hello(data));
            black_box(shrike_pcap::openvpn::client_reset(data));
            black_box(shrike_pcap::openvpn::OpenVpn::new(0).feed(&mut data.to_vec()));
        }
        Target::QuicInitial => {
            let dcid = quic::initial_header(data)
                .map(|h| h.dcid)
                .unwrap_or_default();
            for side in [quic::Side::Client, quic::Side::Server] {
                let mut crypto = Vec::new();
                quic::decrypt_initials(data, &dcid, side, &mut crypto);
                black_box(quic::assemble(&mut crypto, tls::MAX_HANDSHAKE));
            }
        }
        Target::Http1 => {
            black_box(http1::looks_like_request(data));
            black_box(http1::request_line(data));
            if let http1::Head::Done(head, used) = http1::request_head(data) {
                let (mut body, mut left) = (head.body(), 0u64);
                black_box(http1::skip_body(&mut body, &mut left, &data[used..]));
            }
            if let http1::Head::Done(head, used) = http1::response_head(data) {
                let (mut body, mut left) = (head.body(None), 0u64);
                black_box(http1::skip_body(&mut body, &mut left, &data[used..]));
            }
        }
        Target::H2 => {
            for client in [true, false] {
                let mut d = h2::H2Direction::new(client);
                let mut out = Vec::new();
                let mut buf = if client {
                    let mut b = h2::PREFACE.to_vec();
                    b.extend_from_slice(data);
                    b
                } else {
                    data.to_vec()
                };
                d.feed(&mut buf, &mut out);
                black_box(out);
            }
        }
        Target::LogLine => {
            let mut unknown = 0u64;
            for format in shrike_ingest::Format::ALL {
                if let Some(source) = format.source() {
                    for line in data.split(|b| *b == b'\n') {
                        let _ = black_box(source.parse_line(line, &mut unknown));
                    }
                }
            }
        }
        Target::Zeek => zeek(data),
        Target::Policy => {
            if let Ok(text) = std::str::from_utf8(data) {
                if let Ok(docs) = shrike_dict::yaml::documents(text) {
                    for doc in &docs {
                        let rules: Vec<&serde_json::Value> = match doc {
                            serde_json::Value::Array(a) => a.iter().collect(),
                            serde_json::Value::Object(m) => match m.get("bots") {
                                Some(serde_json::Value::Array(a)) => a.iter().collect(),
                                _ => vec![doc],
                            },
                            _ => Vec::new(),
                        };
                        for r in rules {
                            let _ = black_box(shrike_dict::policy::Rule::compile(r, "fuzz"));
                        }
                    }
                }
            }
        }
        Target::Cel => {
            if let Ok(text) = std::str::from_utf8(data) {
                if let Ok(e) = shrike_dict::cel::Expr::parse(text) {
                    black_box(e.holds(&shrike_dict::cel::Fields::default()));
                }
            }
        }
        Target::UaPatterns => {
            if let Ok(text) = std::str::from_utf8(data) {
                let _ = black_box(shrike_dict::ua::parse_ua_patterns(text));
            }
        }
    }
}

/// Counts what a Zeek ingest produces.
struct Count(u64);

impl shrike_ingest::RecordSink for Count {
    fn accept(&mut self, _line: u64, record: &shrike_types::RequestRecord<'_>) {
        self.0 += 1;
        black_box(record);
    }
}

fn zeek(data: &[u8]) {
    let (http, ssl) = match data.windows(9).position(|w| w == b"#--ssl--\n") {
        Some(i) => (&data[..i], &data[i + 9..]),
        None => (data, &[][..]),
    };
    let Ok(dir) = tempfile::tempdir() else { return };
    let path = dir.path().join("http.log");
    if std::fs::write(&path, http).is_err()
        || std::fs::write(dir.path().join("ssl.log"), ssl).is_err()
    {
        return;
    }
    let options = shrike_ingest::IngestOptions {
        workers: 1,
        ..shrike_ingest::IngestOptions::default()
    };
    let _ = black_box(shrike_ingest::run_zeek(
        &shrike_ingest::Input::File(path),
        &options,
        shrike_ingest::DeadLetterWriter::discard(),
        || Count(0),
        &|_| {},
    ));
}
