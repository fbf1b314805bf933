//! Captures crafted to exhaust the reader: an HTTP/2 header-compression bomb (one-byte
//! references to a large table entry), a table size no server allows, and a TCP stream of
//! one-byte segments sent last first. Each is read whole with its attack bounded: the
//! connection stops at the bound and is counted, what came before it is kept, and the
//! process's peak memory stays far below what the attack asks for.
//!
//! One test per file run: the peak-memory figure (`VmHWM`) is the process's.

use std::net::Ipv4Addr;

use shrike_pcap::write::{PcapWriter, TcpWriter};
use shrike_pcap::{h2, read_capture, Options, Stats};
use shrike_types::RequestRecord;

const T0: i64 = 1_763_000_000_000_000;
const CLIENT: (Ipv4Addr, u16) = (Ipv4Addr::new(203, 0, 113, 7), 51234);
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 1), 80);

fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend_from_slice(&[ty, flags]);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// An HPACK integer with an `n`-bit prefix, the prefix's flag bits in `first`.
fn integer(first: u8, n: u32, mut v: usize, out: &mut Vec<u8>) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128 + 128) as u8);
        v /= 128;
    }
    out.push(v as u8);
}

/// The peak resident memory of this process, in MB (Linux; `None` elsewhere).
fn peak_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

fn read(w: &PcapWriter) -> (Vec<RequestRecord<'static>>, Stats) {
    let mut out = Vec::new();
    let stats = read_capture(w.bytes(), Options::default(), |r| out.push(r)).unwrap();
    (out, stats)
}

/// An h2c connection: preface, SETTINGS, an ordinary GET on stream 1; then `blocks`, each
/// sent as one HEADERS frame on its own stream.
fn h2c(blocks: impl IntoIterator<Item = Vec<u8>>) -> PcapWriter {
    let mut w = PcapWriter::new();
    let mut c = TcpWriter::open(&mut w, T0, CLIENT, SERVER);
    let mut wire = h2::PREFACE.to_vec();
    wire.extend(frame(4, 0, 0, &[]));
    // :method GET, :path /, :scheme http (static table), :authority literal.
    let mut first = vec![0x82, 0x84, 0x86, 0x41, 12];
    first.extend_from_slice(b"shop.example");
    wire.extend(frame(1, 0x05, 1, &first));
    let mut ts = T0 + 10_000;
    for chunk in wire.chunks(1400) {
        c.client(&mut w, ts, chunk);
        ts += 10;
    }
    for (n, block) in blocks.into_iter().enumerate() {
        let f = frame(1, 0x05, 3 + 2 * n as u32, &block);
        for chunk in f.chunks(1400) {
            c.client(&mut w, ts, chunk);
            ts += 10;
        }
    }
    c.close(&mut w, ts + 1000);
    w
}

#[test]
fn crafted_captures_are_read_with_their_attacks_bounded() {
    // 1. The HPACK bomb: a 4,000-byte value in the default 4 KiB table, then header blocks
    //    of 16,000 one-byte references to it, 200 of them: 3.2 MB on the wire that decode
    //    into 12.8 GB of headers.
    let mut literal = vec![0x40, 1, b'x'];
    integer(0, 7, 4000, &mut literal);
    literal.extend(std::iter::repeat_n(b'a', 4000));
    let refs = vec![0x80 | 62; 16_000];
    let bomb = h2c(std::iter::once(literal).chain(std::iter::repeat_n(refs, 200)));
    assert!(bomb.bytes().len() > 3_000_000);
    let (records, stats) = read(&bomb);
    assert_eq!(stats.bounded_connections, 1, "{stats:?}");
    // The ordinary request and the one that filled the table are kept.
    assert_eq!(stats.h2_requests, 2, "{stats:?}");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].host.as_deref(), Some("shop.example"));

    // 2. A dynamic table of 1 MiB asked for (a server allows 4 KiB by default, rarely more
    //    than 64 KiB), then a 200 KB value to fill it and references to it.
    let mut update = Vec::new();
    integer(0x20, 5, 1 << 20, &mut update);
    let mut big = update.clone();
    big.extend_from_slice(&[0x40, 1, b'x']);
    integer(0, 7, 200_000, &mut big);
    big.extend(std::iter::repeat_n(b'a', 200_000));
    let (records, stats) = read(&h2c([big, vec![0x80 | 62; 100_000]]));
    assert_eq!(stats.bounded_connections, 1, "{stats:?}");
    assert_eq!(records.len(), 1, "the request before the update is kept");

    // 3. 260,000 one-byte segments of an HTTP/1 request head, last first, each sent
    //    twice: reassembly waits for a bounded number of them, jumps the gap, and every
    //    segment costs a lookup (quadratic before: 24 s of CPU).
    let mut w = PcapWriter::new();
    let c = TcpWriter::open(&mut w, T0, CLIENT, SERVER);
    let mut head = b"GET / HTTP/1.1\r\nHost: shop.example\r\nX-Pad: ".to_vec();
    head.extend(std::iter::repeat_n(b'p', 260_000 - head.len() - 4));
    head.extend_from_slice(b"\r\n\r\n");
    for (i, b) in head.iter().enumerate().rev() {
        for _ in 0..2 {
            w.tcp(
                T0 + 10_000,
                c.client,
                c.server,
                0x18,
                c.cseq.wrapping_add(i as u32),
                c.sseq,
                &[],
                std::slice::from_ref(b),
            );
        }
    }
    let (_, stats) = read(&w);
    assert!(stats.gaps >= 1, "{stats:?}");
    assert_eq!(stats.packets, 3 + 2 * 260_000);

    // 4. A flood of 250,000 SYNs, each from its own port, never answered: the connection
    //    table stops at its bound and closes the least recently active.
    let mut w = PcapWriter::new();
    for i in 0..250_000u32 {
        let client = (
            Ipv4Addr::from(0xc633_6400 + i / 50_000),
            1024 + (i % 50_000) as u16,
        );
        w.tcp(
            T0 + i64::from(i),
            client,
            SERVER,
            0x02,
            i,
            0,
            &shrike_pcap::write::LINUX_SYN_OPTIONS,
            &[],
        );
    }
    let (_, stats) = read(&w);
    assert_eq!(stats.tcp_connections, 250_000);
    assert!(stats.evicted_connections >= 50_000, "{stats:?}");

    // 5. Many connections that each fill their own bound: 60 h2c connections, each with a
    //    64 KiB table holding a long path, user agent, referer and accept values, then
    //    requests of one-byte references to them (12 KB kept per request from 9 bytes).
    //    The open connections' total is capped: those holding the most are closed early.
    let mut w = PcapWriter::new();
    let mut ts = T0;
    for n in 0..60u16 {
        let client = (CLIENT.0, 20_000 + n);
        let mut c = TcpWriter::open(&mut w, ts, client, SERVER);
        let mut wire = h2::PREFACE.to_vec();
        wire.extend(frame(4, 0, 0, &[]));
        let mut fill = Vec::new();
        integer(0x20, 5, 64 * 1024, &mut fill);
        // Literals with incremental indexing, names from the static table: :path (4),
        // user-agent (58), referer (51), accept (19), accept-language (17).
        for (name, len) in [
            (4u8, 8000usize),
            (58, 1000),
            (51, 1000),
            (19, 1000),
            (17, 1000),
        ] {
            integer(0x40, 6, usize::from(name), &mut fill);
            integer(0, 7, len, &mut fill);
            fill.extend(std::iter::repeat_n(b'v', len));
        }
        fill.extend_from_slice(&[0x82, 0x86]);
        wire.extend(frame(1, 0x05, 1, &fill));
        // Entries 62..=66 are the five literals, newest first.
        for k in 0..400u32 {
            let refs = [
                0x82,
                0x86,
                0x80 | 62,
                0x80 | 63,
                0x80 | 64,
                0x80 | 65,
                0x80 | 66,
            ];
            wire.extend(frame(1, 0x05, 3 + 2 * k, &refs));
        }
        for chunk in wire.chunks(1400) {
            ts += 10;
            c.client(&mut w, ts, chunk);
        }
    }
    let (_, stats) = read(&w);
    assert!(stats.evicted_connections >= 1, "{stats:?}");
    assert!(stats.h2_requests > 10_000, "{stats:?}");

    // 6. Many connections that each keep their reassembly buffer full: the first byte of
    //    each is missing, and 250 KB after it wait for it (under the per-direction bound).
    //    The buffers count towards the same total: those holding the most are closed early.
    let mut w = PcapWriter::new();
    let mut ts = T0;
    let payload = [b'x'; 1400];
    for n in 0..600u16 {
        let client = (CLIENT.0, 30_000 + n);
        let c = TcpWriter::open(&mut w, ts, client, SERVER);
        for k in 0..180u32 {
            ts += 1;
            w.tcp(
                ts,
                c.client,
                c.server,
                0x18,
                c.cseq.wrapping_add(1 + k * 1400),
                c.sseq,
                &[],
                &payload,
            );
        }
    }
    let (_, stats) = read(&w);
    assert_eq!(stats.tcp_connections, 600);
    assert!(stats.evicted_connections >= 1, "{stats:?}");

    if let Some(mb) = peak_mb() {
        assert!(mb < 512, "peak resident memory {mb} MB");
    }
}
