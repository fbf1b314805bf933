//! A ClientHello is found wherever a capture carries one: under every link type and tunnel
//! shrike decodes, and after the STARTTLS exchange of every protocol that upgrades in the
//! stream. Each capture is one the pcap writer makes; the expected JA4 is what FoxIO's
//! reference tool (`ja4.py`, on tshark 4.0) prints for the same captures. Set
//! `SHRIKE_WRITE_CAPTURES=<dir>` to write them out and run the reference on them.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use shrike_pcap::write::{client_hello_record, openvpn_packet, Framing, PcapWriter, TcpWriter};
use shrike_pcap::{read_capture, Options, Stats};
use shrike_types::RequestRecord;

const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(192, 0, 2, 10), 50_000);
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 7), 443);
const T0: i64 = 1_714_564_800_000_000;
/// The reference's JA4 for [`client_hello_record`] (`ja4.py` on the written captures).
const EXPECTED: &str = "t13d0205h2_62ed6f6ca7ad_e0b9a5db47b5";

fn read(w: &PcapWriter) -> (Vec<RequestRecord<'static>>, Stats) {
    let mut out = Vec::new();
    let stats = read_capture(w.bytes(), Options::default(), |r| out.push(r)).unwrap();
    (out, stats)
}

fn keep(name: &str, w: &PcapWriter) {
    if let Some(dir) = std::env::var_os("SHRIKE_WRITE_CAPTURES") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.pcap")), w.bytes()).unwrap();
    }
}

/// A TLS connection: handshake, the ClientHello in two segments, a server answer, FIN.
fn tls_connection(w: &mut PcapWriter, client: (Ipv4Addr, u16), server: (Ipv4Addr, u16)) {
    let mut c = TcpWriter::open(w, T0, client, server);
    let hello = client_hello_record("shop.example", 1500);
    c.client(w, T0 + 60_000, &hello[..1000]);
    c.client(w, T0 + 60_001, &hello[1000..]);
    c.server(w, T0 + 80_000, &[0x15, 3, 3, 0, 2, 2, 40]);
    c.close(w, T0 + 90_000);
}

#[test]
fn every_link_type_and_tunnel_gives_the_inner_client_and_its_ja4() {
    let mut seen = BTreeMap::new();
    for framing in Framing::ALL {
        let mut w = PcapWriter::with_framing(framing);
        tls_connection(&mut w, CLIENT, SERVER);
        keep(&format!("framing-{framing:?}"), &w);
        let (records, stats) = read(&w);
        assert!(stats.skipped.is_empty(), "{framing:?}: {stats:?}");
        assert_eq!(records.len(), 1, "{framing:?}: {stats:?}");
        let r = &records[0];
        assert_eq!(r.src_ip, Some(IpAddr::V4(CLIENT.0)), "{framing:?}");
        assert_eq!((r.src_port, r.dst_port), (Some(CLIENT.1), Some(443)));
        assert_eq!(r.tcp_ttl, Some(64), "{framing:?}: the inner SYN's fields");
        seen.insert(format!("{framing:?}"), r.ja4.as_ref().unwrap().to_string());
    }
    for (framing, ja4) in &seen {
        assert_eq!(ja4, EXPECTED, "{framing}");
    }
}

/// The client's and server's lines before the ClientHello, for each protocol that
/// upgrades to TLS in the stream.
fn starttls(protocol: &str) -> (u16, Vec<(bool, Vec<u8>)>) {
    let s = |b: &[u8]| (false, b.to_vec());
    let c = |b: &[u8]| (true, b.to_vec());
    match protocol {
        "smtp" => (
            25,
            vec![
                s(b"220 mx.example ESMTP\r\n"),
                c(b"EHLO client.example\r\n"),
                s(b"250-mx.example\r\n250-SIZE 35882577\r\n250 STARTTLS\r\n"),
                c(b"STARTTLS\r\n"),
                s(b"220 2.0.0 Ready to start TLS\r\n"),
            ],
        ),
        "imap" => (
            143,
            vec![
                s(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"),
                c(b"a001 CAPABILITY\r\n"),
                s(b"* CAPABILITY IMAP4rev1 STARTTLS\r\na001 OK done\r\n"),
                c(b"a002 STARTTLS\r\n"),
                s(b"a002 OK Begin TLS negotiation now\r\n"),
            ],
        ),
        "pop3" => (
            110,
            vec![
                s(b"+OK POP3 ready\r\n"),
                c(b"CAPA\r\n"),
                s(b"+OK\r\nSTLS\r\n.\r\n"),
                c(b"STLS\r\n"),
                s(b"+OK Begin TLS\r\n"),
            ],
        ),
        "ftp" => (
            21,
            vec![
                s(b"220 FTP server ready\r\n"),
                c(b"AUTH TLS\r\n"),
                s(b"234 AUTH TLS successful\r\n"),
            ],
        ),
        "xmpp" => (
            5222,
            vec![
                c(b"<?xml version='1.0'?><stream:stream to='chat.example' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"),
                s(b"<?xml version='1.0'?><stream:stream from='chat.example' id='1' version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"),
                c(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
                s(b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"),
            ],
        ),
        "ldap" => {
            // ExtendedRequest for StartTLS (OID 1.3.6.1.4.1.1466.20037), and its success.
            let oid = b"1.3.6.1.4.1.1466.20037";
            let mut req = vec![0x30, (oid.len() + 7) as u8, 0x02, 0x01, 0x01, 0x77];
            req.push((oid.len() + 2) as u8);
            req.push(0x80);
            req.push(oid.len() as u8);
            req.extend_from_slice(oid);
            let resp = [
                0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
            ];
            (389, vec![c(&req), s(&resp)])
        }
        "postgres" => (
            5432,
            vec![c(&[0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]), s(b"S")],
        ),
        other => panic!("{other}"),
    }
}

#[test]
fn a_client_hello_after_starttls_is_read_for_every_protocol() {
    for protocol in ["smtp", "imap", "pop3", "ftp", "xmpp", "ldap", "postgres"] {
        let (port, lines) = starttls(protocol);
        let server = (SERVER.0, port);
        let mut w = PcapWriter::new();
        let mut c = TcpWriter::open(&mut w, T0, CLIENT, server);
        let mut ts = T0 + 50_000;
        for (from_client, line) in &lines {
            ts += 1000;
            if *from_client {
                c.client(&mut w, ts, line);
            } else {
                c.server(&mut w, ts, line);
            }
        }
        c.client(&mut w, ts + 1000, &client_hello_record("mail.example", 0));
        c.close(&mut w, ts + 5000);
        keep(&format!("starttls-{protocol}"), &w);
        let (records, stats) = read(&w);
        assert_eq!(stats.tls_hellos, 1, "{protocol}: {stats:?}");
        assert_eq!(records.len(), 1, "{protocol}: one TLS-only record");
        let r = &records[0];
        assert_eq!(r.dst_port, Some(port));
        assert_eq!(r.tls_sni.as_deref(), Some("mail.example"), "{protocol}");
        assert_eq!(
            r.ja4.as_ref().map(|j| j.to_string()).as_deref(),
            Some(EXPECTED),
            "{protocol}"
        );
    }
}

/// OpenVPN over TCP with `tls-auth` (SHA-1): the hard resets, then the ClientHello cut
/// into 100-byte control packets, a retransmission among them.
#[test]
fn a_client_hello_in_openvpn_control_packets_is_read() {
    let auth = [0xa5u8; 28];
    let packet =
        |op, acks: &[u32], id, payload: &[u8]| openvpn_packet(op, &auth, acks, id, payload);
    let mut w = PcapWriter::new();
    let server = (SERVER.0, 1194);
    let mut c = TcpWriter::open(&mut w, T0, CLIENT, server);
    c.client(&mut w, T0 + 50_000, &packet(7, &[], 0, &[]));
    c.server(&mut w, T0 + 60_000, &packet(8, &[0], 0, &[]));
    let hello = client_hello_record("vpn.example", 0);
    let mut flight = Vec::new();
    for (i, piece) in hello.chunks(100).enumerate() {
        let acks: &[u32] = if i == 0 { &[0] } else { &[] };
        flight.extend(packet(4, acks, 1 + i as u32, piece));
        if i == 1 {
            flight.extend(packet(4, &[], 2, piece));
        }
    }
    c.client(&mut w, T0 + 70_000, &flight);
    c.close(&mut w, T0 + 90_000);
    keep("openvpn-tcp", &w);
    let (records, stats) = read(&w);
    assert_eq!(stats.tls_hellos, 1, "{stats:?}");
    assert_eq!(
        records[0].ja4.as_ref().map(|j| j.to_string()).as_deref(),
        Some(EXPECTED)
    );
}

/// An HTTP request line is what decides HTTP/1 now: a request still makes the connection
/// HTTP (other protocols' first lines are the STARTTLS test's).
#[test]
fn only_an_http_request_line_makes_a_connection_http() {
    let mut w = PcapWriter::new();
    let mut c = TcpWriter::open(&mut w, T0, CLIENT, (SERVER.0, 8080));
    c.client(
        &mut w,
        T0 + 50_000,
        b"GET /a HTTP/1.1\r\nHost: shop.example\r\n\r\n",
    );
    c.close(&mut w, T0 + 60_000);
    let (records, _) = read(&w);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].path.as_deref(), Some("/a"));
    assert!(records[0].ja4.is_none());
}

mod quic {
    use super::*;
    use shrike_pcap::quic::{crypto_frame, protect_initial, Side};

    const V1: u32 = 1;
    const V2: u32 = 0x6b33_43cf;
    const UDP_SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 7), 443);

    /// The ClientHello as QUIC carries it: the handshake message, no record header.
    fn hello() -> Vec<u8> {
        client_hello_record("video.example", 1500)[5..].to_vec()
    }

    fn initial(version: u32, key_dcid: &[u8], dcid: &[u8], pn: u32, frames: &[u8]) -> Vec<u8> {
        protect_initial(version, key_dcid, dcid, b"cli", pn, frames, 0, Side::Client).unwrap()
    }

    fn ja4s(w: &PcapWriter) -> Vec<String> {
        let (records, _) = read(w);
        records
            .iter()
            .filter_map(|r| r.ja4.as_ref().map(|j| j.to_string()))
            .collect()
    }

    /// Three CRYPTO pieces in two datagrams, the later ones first: a datagram of two
    /// coalesced Initials (the third piece with a PING, then the first), then one with the
    /// second piece.
    fn split_hello(w: &mut PcapWriter, version: u32, dcid: &[u8], client: (Ipv4Addr, u16)) {
        let h = hello();
        let (a, b) = (600, 1200);
        let mut third = crypto_frame(b as u64, &h[b..]);
        third.push(0x01);
        let mut datagram = initial(version, dcid, dcid, 0, &third);
        datagram.extend(initial(version, dcid, dcid, 1, &crypto_frame(0, &h[..a])));
        w.udp(T0, client, UDP_SERVER, &datagram);
        let second = initial(version, dcid, dcid, 2, &crypto_frame(a as u64, &h[a..b]));
        w.udp(T0 + 100, client, UDP_SERVER, &second);
    }

    #[test]
    fn split_coalesced_and_out_of_order_initials_of_v1_and_v2() {
        for (name, version) in [("v1", V1), ("v2", V2)] {
            let mut w = PcapWriter::new();
            split_hello(
                &mut w,
                version,
                &[0x83, 0x94, 0xc8, 0xf0, 1, 2, 3, 4],
                CLIENT,
            );
            keep(&format!("quic-{name}-split"), &w);
            assert_eq!(ja4s(&w), [QUIC_EXPECTED], "{name}");
        }
    }

    #[test]
    fn after_a_retry_the_new_connection_id_gives_the_keys() {
        let mut w = PcapWriter::new();
        let h = hello();
        let first = [9u8, 9, 9, 9, 9, 9, 9, 9];
        // The first flight's first datagram only (the second was lost), then a Retry with
        // the server's connection ID, then the whole hello again under the new one.
        w.udp(
            T0,
            CLIENT,
            UDP_SERVER,
            &initial(V1, &first, &first, 0, &crypto_frame(0, &h[..600])),
        );
        let new = [0x5e, 0x4f, 0x3d, 0x2c, 0x1b, 0x0a, 0x99, 0x88];
        let mut retry = vec![0xf0, 0, 0, 0, 1, 3];
        retry.extend_from_slice(b"cli");
        retry.push(new.len() as u8);
        retry.extend_from_slice(&new);
        retry.extend_from_slice(b"token-from-the-server");
        retry.extend_from_slice(&[0x42; 16]); // integrity tag
        w.udp(T0 + 20_000, UDP_SERVER, CLIENT, &retry);
        let frames = crypto_frame(0, &h);
        w.udp(
            T0 + 40_000,
            CLIENT,
            UDP_SERVER,
            &initial(V1, &new, &new, 1, &frames),
        );
        keep("quic-retry", &w);
        assert_eq!(ja4s(&w), [QUIC_EXPECTED]);
    }

    #[test]
    fn after_version_negotiation_the_supported_version_is_read() {
        let mut w = PcapWriter::new();
        let dcid = [7u8; 8];
        // A reserved version forcing negotiation, whose bytes decrypt under neither key
        // that version's Initials use: not a connection yet.
        let mut unknown = vec![0xc3, 0x1a, 0x2a, 0x3a, 0x4a, 8];
        unknown.extend_from_slice(&dcid);
        unknown.extend_from_slice(&[3, b'c', b'l', b'i', 0, 0x44, 0xd0]);
        unknown.extend(std::iter::repeat_n(0x5a, 1232));
        w.udp(T0, CLIENT, UDP_SERVER, &unknown);
        let mut vn = vec![0x80, 0, 0, 0, 0, 3];
        vn.extend_from_slice(b"cli");
        vn.push(8);
        vn.extend_from_slice(&dcid);
        vn.extend_from_slice(&V1.to_be_bytes());
        vn.extend_from_slice(&V2.to_be_bytes());
        w.udp(T0 + 20_000, UDP_SERVER, CLIENT, &vn);
        let frames = crypto_frame(0, &hello());
        w.udp(
            T0 + 40_000,
            CLIENT,
            UDP_SERVER,
            &initial(V1, &dcid, &dcid, 0, &frames),
        );
        keep("quic-version-negotiation", &w);
        assert_eq!(ja4s(&w), [QUIC_EXPECTED]);
    }

    /// Versions from before RFC 9000 still seen in captures: IETF draft 27, Facebook's mvfst
    /// (draft-27 based) and Google's T051, whose CRYPTO frame is numbered 0x08.
    #[test]
    fn drafts_and_google_tls_versions_are_read() {
        for version in [0xff00_001b, 0xface_b002, 0x5430_3531] {
            let dcid = [3u8; 8];
            let mut frames = crypto_frame(0, &hello());
            if version == 0x5430_3531 {
                frames[0] = 0x08;
            }
            let mut w = PcapWriter::new();
            w.udp(
                T0,
                CLIENT,
                UDP_SERVER,
                &initial(version, &dcid, &dcid, 0, &frames),
            );
            assert_eq!(ja4s(&w), [QUIC_EXPECTED], "{version:08x}");
        }
    }

    /// The reference's JA4 for the QUIC captures above.
    const QUIC_EXPECTED: &str = "q13d0205h2_62ed6f6ca7ad_e0b9a5db47b5";
}
