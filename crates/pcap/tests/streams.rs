//! Captures written to order: reordered and retransmitted segments, a ClientHello split over
//! two segments, HTTP/1 keep-alive with chunked and sized bodies, cleartext HTTP/2.

use std::net::Ipv4Addr;

use shrike_pcap::write::{client_hello_record, PcapWriter, TcpWriter};
use shrike_pcap::{read_capture, Options};
use shrike_types::{HttpVersion, Method, RequestRecord};

const T0: i64 = 1_763_000_000_000_000;
const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(203, 0, 113, 7), 51234);
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 1), 80);

fn records(w: &PcapWriter) -> Vec<RequestRecord<'static>> {
    let mut out = Vec::new();
    let stats = read_capture(w.bytes(), Options::default(), |r| out.push(r)).unwrap();
    assert_eq!(stats.cut_short, None);
    out
}

#[test]
fn http1_keep_alive_with_reordering_and_retransmission() {
    let mut w = PcapWriter::new();
    let mut c = TcpWriter::open(&mut w, T0, CLIENT, SERVER);
    let post = b"POST /login?next=%2F HTTP/1.1\r\nHost: shop.example:80\r\nUser-Agent: python-requests/2.31.0\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\nCookie: a=b\r\n\r\nuser=bob&pass=hunter";
    let get = b"GET /static/app.js HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: python-requests/2.31.0\r\nAccept: */*\r\n\r\n";
    // The POST's body arrives before its head (reordered), then the head is retransmitted.
    let (head, body) = post.split_at(post.len() - 20);
    let seq = c.cseq;
    w.tcp(
        T0 + 50_000,
        CLIENT,
        SERVER,
        0x18,
        seq + head.len() as u32,
        c.sseq,
        &[],
        body,
    );
    w.tcp(T0 + 51_000, CLIENT, SERVER, 0x18, seq, c.sseq, &[], head);
    w.tcp(T0 + 52_000, CLIENT, SERVER, 0x18, seq, c.sseq, &[], head);
    c.cseq = seq + post.len() as u32;
    c.server(
        &mut w,
        T0 + 60_000,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    );
    c.server(&mut w, T0 + 61_000, b"6\r\n world\r\n0\r\n\r\n");
    c.client(&mut w, T0 + 70_000, get);
    c.server(
        &mut w,
        T0 + 80_000,
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found",
    );
    c.close(&mut w, T0 + 90_000);

    let recs = records(&w);
    assert_eq!(recs.len(), 2, "{recs:#?}");
    let (a, b) = (&recs[0], &recs[1]);
    assert_eq!(a.method, Some(Method::Post));
    assert_eq!(a.path.as_deref(), Some("/login"));
    assert_eq!(a.query.as_deref(), Some("next=%2F"));
    assert_eq!(a.host.as_deref(), Some("shop.example"));
    assert_eq!(a.status, Some(200));
    assert_eq!(a.has_cookie, Some(true));
    assert_eq!(a.keepalive_index, Some(0));
    assert_eq!(a.http_version, Some(HttpVersion::Http11));
    let names: Vec<&str> = a
        .header_names
        .as_ref()
        .unwrap()
        .iter()
        .map(|h| h.as_ref())
        .collect();
    assert_eq!(
        names,
        [
            "Host",
            "User-Agent",
            "Content-Type",
            "Content-Length",
            "Cookie"
        ]
    );
    assert_eq!(b.method, Some(Method::Get));
    assert_eq!(b.path.as_deref(), Some("/static/app.js"));
    assert_eq!(b.status, Some(404));
    assert_eq!(b.bytes, Some(9));
    assert_eq!(b.keepalive_index, Some(1));
    assert_eq!(b.has_cookie, Some(false));
    assert_eq!(b.accept.as_deref(), Some("*/*"));
    // The SYN's fields, on every request of the connection.
    for r in &recs {
        assert_eq!(r.src_ip, Some(CLIENT.0.into()));
        assert_eq!(
            (r.tcp_ttl, r.tcp_window, r.tcp_mss, r.tcp_window_scale),
            (Some(64), Some(64240), Some(1460), Some(7))
        );
        assert_eq!(r.tcp_options.as_deref(), Some("2-4-8-1-3"));
        assert_eq!(r.ip_df, Some(true));
        assert_eq!(r.syn_ack_ms, Some(40.0));
        assert_eq!(r.correlated, Some(true));
        assert!(r.ja4.is_none());
    }
}

fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[ty, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

#[test]
fn cleartext_http2_gives_the_akamai_fingerprint_and_each_request() {
    let mut enc = loona_hpack::Encoder::new();
    let mut client = shrike_pcap::h2::PREFACE.to_vec();
    let settings: Vec<u8> = [(1u16, 65536u32), (2, 0), (4, 6_291_456), (6, 262_144)]
        .iter()
        .flat_map(|(k, v)| k.to_be_bytes().into_iter().chain(v.to_be_bytes()))
        .collect();
    client.extend(frame(4, 0, 0, &settings));
    client.extend(frame(8, 0, 0, &15_663_105u32.to_be_bytes()));
    for (stream, path) in [(1u32, &b"/"[..]), (3, b"/api/items?page=2")] {
        let block = enc.encode([
            (&b":method"[..], &b"GET"[..]),
            (b":authority", b"api.example"),
            (b":scheme", b"http"),
            (b":path", path),
            (
                b"user-agent",
                b"Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0.0.0",
            ),
            (b"accept-language", b"en-US,en;q=0.9"),
        ]);
        client.extend(frame(1, 0x05, stream, &block));
    }
    let mut senc = loona_hpack::Encoder::new();
    let mut server = frame(4, 0, 0, &[]);
    server.extend(frame(
        1,
        0x04,
        1,
        &senc.encode([(&b":status"[..], &b"200"[..])]),
    ));
    server.extend(frame(0, 0x01, 1, &[b'x'; 300]));
    server.extend(frame(
        1,
        0x05,
        3,
        &senc.encode([(&b":status"[..], &b"403"[..])]),
    ));

    let mut w = PcapWriter::new();
    let mut c = TcpWriter::open(&mut w, T0, CLIENT, (SERVER.0, 8080));
    // The client's bytes in two segments, the second captured first.
    let (x, y) = client.split_at(40);
    let seq = c.cseq;
    w.tcp(
        T0 + 50_000,
        CLIENT,
        (SERVER.0, 8080),
        0x18,
        seq + 40,
        c.sseq,
        &[],
        y,
    );
    w.tcp(
        T0 + 50_001,
        CLIENT,
        (SERVER.0, 8080),
        0x18,
        seq,
        c.sseq,
        &[],
        x,
    );
    c.cseq = seq + client.len() as u32;
    c.server(&mut w, T0 + 70_000, &server);
    c.close(&mut w, T0 + 90_000);

    let recs = records(&w);
    assert_eq!(recs.len(), 2, "{recs:#?}");
    for r in &recs {
        assert_eq!(r.http_version, Some(HttpVersion::Http2));
        assert_eq!(
            r.h2_fingerprint.as_deref(),
            Some("1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p")
        );
        assert_eq!(r.h2_pseudo_order.as_deref(), Some("m,a,s,p"));
        assert_eq!(r.host.as_deref(), Some("api.example"));
        assert_eq!(r.accept_language.as_deref(), Some("en-US,en;q=0.9"));
    }
    assert_eq!((recs[0].status, recs[1].status), (Some(200), Some(403)));
    assert_eq!(recs[1].path.as_deref(), Some("/api/items"));
    assert_eq!(recs[1].query.as_deref(), Some("page=2"));
}

#[test]
fn a_client_hello_split_over_reordered_segments_is_read_once() {
    let hello = client_hello_record("login.example", 2000);
    let mut w = PcapWriter::new();
    let server = (SERVER.0, 443);
    let mut c = TcpWriter::open(&mut w, T0, CLIENT, server);
    let seq = c.cseq;
    let (x, y) = hello.split_at(1448);
    w.tcp(
        T0 + 50_000,
        CLIENT,
        server,
        0x18,
        seq + 1448,
        c.sseq,
        &[],
        y,
    );
    w.tcp(T0 + 50_100, CLIENT, server, 0x10, seq, c.sseq, &[], x);
    c.cseq = seq + hello.len() as u32;
    c.client(&mut w, T0 + 60_000, &[23, 3, 3, 0, 4, 1, 2, 3, 4]);
    c.close(&mut w, T0 + 90_000);
    let recs = records(&w);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    // Two ciphers and five extensions once GREASE is dropped; SNI and ALPN h2.
    let ja4 = r.ja4.as_ref().unwrap().as_str();
    assert!(ja4.starts_with("t13d0205h2_"), "{ja4}");
    assert_eq!(r.tls_sni.as_deref(), Some("login.example"));
    assert_eq!(r.host.as_deref(), Some("login.example"));
    assert_eq!(
        r.ja4_r.as_deref().unwrap().split('_').nth(1),
        Some("1301,1302")
    );
    assert!(r.method.is_none(), "a TLS-only record has no request");
    assert_eq!(r.time.millis(), (T0 + 50_100) / 1000);
}

#[test]
fn a_capture_cut_short_keeps_what_came_before() {
    let mut w = PcapWriter::new();
    let mut c = TcpWriter::open(&mut w, T0, CLIENT, SERVER);
    c.client(
        &mut w,
        T0 + 50_000,
        b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n",
    );
    c.server(&mut w, T0 + 60_000, b"HTTP/1.1 204 No Content\r\n\r\n");
    let bytes = w.into_bytes();
    let cut = &bytes[..bytes.len() - 10];
    let mut out = Vec::new();
    let stats = read_capture(cut, Options::default(), |r| out.push(r)).unwrap();
    assert!(
        stats
            .cut_short
            .as_deref()
            .is_some_and(|w| w.contains("truncated")),
        "{stats:?}"
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, None, "the response was in the lost packet");
}
