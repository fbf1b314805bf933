//! shrike's packet source: pcap and pcapng captures to [`RequestRecord`]s.
//!
//! - [`capture`] streams packets from pcap/pcapng files; [`decode`] takes each through its
//!   link layer, tunnels, IP and TCP/UDP.
//! - TCP connections are reassembled per direction ([`stream`]) as long as something is read
//!   from them: the TLS ClientHello ([`tls`]; JA4 and ja4_r, SNI, ALPN) and ServerHello,
//!   plaintext HTTP/1 requests and responses ([`http1`]), and cleartext HTTP/2 ([`h2`]; the
//!   Akamai fingerprint and every request, HPACK-decoded). The client's SYN gives the TCP
//!   fields (TTL, window, scale, MSS, options order, IP id, DF).
//! - QUIC Initial packets are decrypted ([`quic`]) for the ClientHello: JA4 over QUIC.
//! - A connection becomes records when it ends (FIN both ways, RST, idle for
//!   [`Options::idle_timeout_s`], or the end of the capture): one per HTTP request seen,
//!   `correlated` with its connection's SYN and TLS; or one TLS-only record when the requests
//!   are encrypted.
//!
//! [`RequestRecord`]: shrike_types::RequestRecord

pub mod capture;
mod conn;
pub mod decode;
pub mod h2;
pub mod http1;
pub mod openvpn;
pub mod quic;
mod record;
pub mod stream;
pub mod tls;
pub mod write;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::IpAddr;

use shrike_fingerprint::Protocol;
use shrike_types::RequestRecord;

pub use capture::{is_capture, CaptureError, CaptureReader, Packet};
use conn::{TcpConn, TlsSide};
use decode::{flags, Decoded, Transport};

/// Connections tracked at once; beyond this the least recently active eighth is closed
/// and emitted (counted in [`Stats::evicted_connections`]).
pub const MAX_FLOWS: usize = 200_000;
/// Bytes all open connections may hold together, request heads and reassembly buffers
/// (segments waiting for a gap, bytes waiting for their parser); beyond this the
/// connections holding the most are closed and emitted until a quarter is freed (counted
/// in [`Stats::evicted_connections`]). Each connection holds at most 4 MiB of heads and
/// 512 KiB per direction of buffers; this bounds many of them at once.
pub const MAX_HELD_TOTAL: usize = 128 << 20;

/// How a capture is read.
#[derive(Debug, Clone)]
pub struct Options {
    /// A connection idle this long (capture time) is closed and its records emitted.
    pub idle_timeout_s: u32,
    /// A closed connection is remembered this long (like TCP's TIME_WAIT) so that late
    /// retransmissions are not read as a new connection.
    pub linger_s: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            idle_timeout_s: 300,
            linger_s: 60,
        }
    }
}

/// What a capture held, for the end-of-run report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets read.
    pub packets: u64,
    /// Captured bytes (packet data).
    pub bytes: u64,
    /// Packets not decoded to TCP/UDP, by reason.
    pub skipped: BTreeMap<&'static str, u64>,
    /// TCP connections tracked.
    pub tcp_connections: u64,
    /// QUIC connections whose Initial decrypted.
    pub quic_connections: u64,
    /// ClientHellos parsed over TCP.
    pub tls_hellos: u64,
    /// ClientHellos parsed over QUIC.
    pub quic_hellos: u64,
    /// ServerHellos parsed.
    pub server_hellos: u64,
    /// Handshake messages that were not a parseable ClientHello.
    pub bad_hellos: u64,
    /// HTTP/1 requests.
    pub http1_requests: u64,
    /// Cleartext HTTP/2 requests.
    pub h2_requests: u64,
    /// Connection directions shrike could not read (not TLS, HTTP or h2c; a broken h2 stream).
    pub opaque_streams: u64,
    /// Connections whose reading stopped at a bound on attacker-sized state: an HPACK
    /// table or decoded header list too large ([`h2::MAX_TABLE`], [`h2::MAX_HEADER_LIST`]),
    /// more than 10,000 requests, or more than 4 MiB of request heads kept on one
    /// connection. Their earlier requests are kept.
    pub bounded_connections: u64,
    /// Connections closed early because the table held [`MAX_FLOWS`] (a flood of
    /// connections, or a capture of a very busy link) or the open connections held
    /// [`MAX_HELD_TOTAL`] bytes of request heads: their records were emitted then.
    pub evicted_connections: u64,
    /// Gaps in TCP streams (segments missing from the capture).
    pub gaps: u64,
    /// Records emitted.
    pub records: u64,
    /// Why reading stopped before the end of the file (a truncated or corrupt capture):
    /// everything before that point was read and emitted.
    pub cut_short: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct FlowKey {
    a: (IpAddr, u16),
    b: (IpAddr, u16),
    udp: bool,
}

impl FlowKey {
    fn new(src: (IpAddr, u16), dst: (IpAddr, u16), udp: bool) -> Self {
        if src <= dst {
            FlowKey {
                a: src,
                b: dst,
                udp,
            }
        } else {
            FlowKey {
                a: dst,
                b: src,
                udp,
            }
        }
    }
}

struct QuicConn {
    client: (IpAddr, u16),
    server: (IpAddr, u16),
    dcid: Vec<u8>,
    first_ts: i64,
    last_ts: i64,
    client_crypto: Vec<(u64, Vec<u8>)>,
    server_crypto: Vec<(u64, Vec<u8>)>,
    tls: Option<TlsSide>,
    server_done: bool,
}

enum Flow {
    Tcp(Box<TcpConn>),
    Quic(Box<QuicConn>),
}

impl Flow {
    /// When it began: first packet's time, and for TCP the packet's index.
    fn first(&self) -> (i64, u64) {
        match self {
            Flow::Tcp(c) => (c.first_ts, c.first_packet),
            Flow::Quic(q) => (q.first_ts, 0),
        }
    }

    fn last_ts(&self) -> i64 {
        match self {
            Flow::Tcp(c) => c.last_ts,
            Flow::Quic(q) => q.last_ts,
        }
    }

    fn retired(&self) -> bool {
        matches!(self, Flow::Tcp(c) if c.emitted)
    }
}

/// Ports a client is unlikely to use: the server side when no SYN tells.
fn is_service_port(p: u16) -> bool {
    p < 1024 || matches!(p, 8000 | 8008 | 8080 | 8443 | 8888 | 3128 | 1080 | 9443)
}

/// Turns packets into request records.
pub struct Extractor {
    options: Options,
    flows: shrike_types::hashing::Map<FlowKey, Flow>,
    /// Bytes the open connections hold ([`MAX_HELD_TOTAL`] at most).
    held_total: usize,
    stats: Stats,
    next_sweep_us: i64,
    out: Vec<RequestRecord<'static>>,
}

const HANDSHAKE_LIMIT: usize = tls::MAX_HANDSHAKE;

impl Extractor {
    /// An extractor with these options.
    pub fn new(options: Options) -> Self {
        Extractor {
            options,
            flows: shrike_types::hashing::map(),
            held_total: 0,
            stats: Stats::default(),
            next_sweep_us: i64::MIN,
            out: Vec::new(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Handles one captured packet. Records of connections that ended are available from
    /// [`Extractor::drain`].
    pub fn packet(&mut self, p: &Packet<'_>) {
        self.stats.packets += 1;
        self.stats.bytes += p.data.len() as u64;
        match decode::decode(p.link_type, p.data) {
            Ok(d) => self.decoded(&d, p.ts_us),
            Err(s) => *self.stats.skipped.entry(s.as_str()).or_default() += 1,
        }
        if p.ts_us >= self.next_sweep_us {
            self.sweep(p.ts_us);
        }
    }

    /// Records ready so far (connections that ended).
    pub fn drain(&mut self) -> std::vec::Drain<'_, RequestRecord<'static>> {
        self.out.drain(..)
    }

    /// Ends the capture: every open connection is emitted. Returns the counters.
    pub fn finish(&mut self) -> Stats {
        let mut flows: Vec<(FlowKey, Flow)> = self.flows.drain().collect();
        flows.sort_by_key(|(k, f)| (f.first(), *k));
        for (_, f) in flows {
            self.emit(f);
        }
        self.stats.clone()
    }

    fn sweep(&mut self, now: i64) {
        let idle = self.options.idle_timeout_s as i64 * 1_000_000;
        let linger = self.options.linger_s as i64 * 1_000_000;
        self.next_sweep_us = now.saturating_add(idle.min(linger).max(4_000_000) / 4);
        let mut stale: Vec<(i64, u64, FlowKey)> = self
            .flows
            .iter()
            .filter(|(_, f)| now - f.last_ts() > if f.retired() { linger } else { idle })
            .map(|(k, f)| {
                let (ts, packet) = f.first();
                (ts, packet, *k)
            })
            .collect();
        // The map's order changes from run to run (its hash is seeded): records come out
        // in the order the connections began.
        stale.sort_unstable();
        for (_, _, k) in stale {
            if let Some(f) = self.flows.remove(&k) {
                self.emit(f);
            }
        }
    }

    /// Closes the connections holding the most bytes, emitted in the order they
    /// began, until the total is three quarters of [`MAX_HELD_TOTAL`].
    fn shed(&mut self) {
        let mut by_held: Vec<(usize, FlowKey)> = self
            .flows
            .iter()
            .filter_map(|(k, f)| match f {
                Flow::Tcp(c) if !c.emitted && c.held() > 0 => Some((c.held(), *k)),
                _ => None,
            })
            .collect();
        by_held.sort_unstable_by(|a, b| b.cmp(a));
        let mut freed = 0usize;
        let need = self.held_total.saturating_sub(MAX_HELD_TOTAL / 4 * 3);
        let mut shed: Vec<((i64, u64), FlowKey)> = Vec::new();
        for (held, k) in by_held {
            if freed >= need {
                break;
            }
            freed += held;
            if let Some(f) = self.flows.get(&k) {
                shed.push((f.first(), k));
            }
        }
        shed.sort_unstable();
        for (_, k) in shed {
            if let Some(f) = self.flows.remove(&k) {
                self.stats.evicted_connections += 1;
                self.emit(f);
            }
        }
    }

    /// Closes the least recently active eighth of the table, emitted in the order those
    /// connections began. O(n) once per n/8 new connections.
    fn evict(&mut self) {
        let mut by_activity: Vec<(i64, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.last_ts(), *k)).collect();
        let n = (by_activity.len() / 8).max(1);
        by_activity.select_nth_unstable(n - 1);
        let mut old: Vec<((i64, u64), FlowKey)> = by_activity[..n]
            .iter()
            .filter_map(|(_, k)| self.flows.get(k).map(|f| (f.first(), *k)))
            .collect();
        old.sort_unstable();
        for (_, k) in old {
            if let Some(f) = self.flows.remove(&k) {
                // A closed connection lingering for late retransmissions is no loss.
                self.stats.evicted_connections += u64::from(!f.retired());
                self.emit(f);
            }
        }
    }

    fn emit(&mut self, f: Flow) {
        if let Flow::Tcp(c) = &f {
            self.held_total -= c.held();
        }
        let before = self.out.len();
        match f {
            Flow::Tcp(c) if c.emitted => {}
            Flow::Tcp(c) => record::tcp_records(&c, &mut self.out),
            Flow::Quic(q) => {
                if let Some(t) = &q.tls {
                    let mut r = RequestRecord {
                        time: shrike_types::Timestamp::from_millis(t.ts_us.div_euclid(1000)),
                        src_ip: Some(q.client.0),
                        src_port: Some(q.client.1),
                        dst_port: Some(q.server.1),
                        ip_total_length: Some(t.ip_total_len),
                        conn_id: Some(
                            format!(
                                "quic:{}:{}>{}:{}@{}",
                                q.client.0, q.client.1, q.server.0, q.server.1, q.first_ts
                            )
                            .into(),
                        ),
                        correlated: Some(true),
                        ..RequestRecord::default()
                    };
                    record::tls_fields(&mut r, t);
                    r.host = r.tls_sni.clone();
                    self.out.push(r);
                }
            }
        }
        self.stats.records += (self.out.len() - before) as u64;
    }

    fn decoded(&mut self, d: &Decoded<'_>, ts: i64) {
        match d.transport {
            Transport::Tcp(t) => {
                let src = (d.ip.src, t.sport);
                let dst = (d.ip.dst, t.dport);
                let key = FlowKey::new(src, dst, false);
                let syn_only = t.flags & (flags::SYN | flags::ACK) == flags::SYN;
                if syn_only {
                    let reused = matches!(self.flows.get(&key), Some(Flow::Tcp(c)) if c.reused_by_syn(t.seq));
                    if reused {
                        if let Some(old) = self.flows.remove(&key) {
                            self.emit(old);
                        }
                    }
                }
                if self.flows.len() >= MAX_FLOWS && !self.flows.contains_key(&key) {
                    self.evict();
                }
                let stats = &mut self.stats;
                let flow = self.flows.entry(key).or_insert_with(|| {
                    stats.tcp_connections += 1;
                    let synack = t.flags & (flags::SYN | flags::ACK) == (flags::SYN | flags::ACK);
                    let src_is_client = if syn_only {
                        true
                    } else if synack {
                        false
                    } else if tls::starts_client_hello(t.payload)
                        || http1::looks_like_request(t.payload)
                    {
                        true
                    } else {
                        is_service_port(t.dport) && !is_service_port(t.sport)
                            || (is_service_port(t.dport) == is_service_port(t.sport)
                                && t.dport < t.sport)
                    };
                    let (client, server) = if src_is_client {
                        (src, dst)
                    } else {
                        (dst, src)
                    };
                    Flow::Tcp(Box::new(TcpConn::new(client, server, ts, stats.packets)))
                });
                let Flow::Tcp(c) = flow else { return };
                let from_client = c.client == src;
                let held = c.held();
                c.segment(&d.ip, &t, from_client, ts, &mut self.stats);
                self.held_total = self.held_total + c.held() - held;
                if c.finished() && !c.emitted {
                    let before = self.out.len();
                    self.held_total -= c.held();
                    record::tcp_records(c, &mut self.out);
                    self.stats.records += (self.out.len() - before) as u64;
                    c.retire();
                }
                if self.held_total > MAX_HELD_TOTAL {
                    self.shed();
                }
            }
            Transport::Udp {
                sport,
                dport,
                payload,
            } => self.udp(d, (d.ip.src, sport), (d.ip.dst, dport), payload, ts),
        }
    }

    fn udp(
        &mut self,
        d: &Decoded<'_>,
        src: (IpAddr, u16),
        dst: (IpAddr, u16),
        payload: &[u8],
        ts: i64,
    ) {
        let key = FlowKey::new(src, dst, true);
        match self.flows.get_mut(&key) {
            Some(Flow::Quic(q)) => {
                q.last_ts = ts;
                if q.client == src && q.tls.is_none() {
                    if q.client_initials(payload) {
                        quic_hello(q, ts, d.ip.total_len, &mut self.stats);
                    }
                } else if q.client != src
                    && !q.server_done
                    && quic::decrypt_initials(
                        payload,
                        &q.dcid,
                        quic::Side::Server,
                        &mut q.server_crypto,
                    )
                {
                    let msg = quic::assemble(&mut q.server_crypto, HANDSHAKE_LIMIT);
                    if let Some((2, body)) = tls::message(&msg) {
                        q.server_done = true;
                        self.stats.server_hellos += 1;
                        if let (Some(t), Some(sh)) = (q.tls.as_mut(), tls::server_hello(body)) {
                            t.server = Some(sh);
                        }
                    }
                }
            }
            Some(Flow::Tcp(_)) => {}
            None => {
                let Some(h) = quic::initial_header(payload) else {
                    return;
                };
                let mut crypto = Vec::new();
                if !quic::decrypt_initials(payload, &h.dcid, quic::Side::Client, &mut crypto) {
                    return;
                }
                if self.flows.len() >= MAX_FLOWS {
                    self.evict();
                }
                self.stats.quic_connections += 1;
                let mut q = Box::new(QuicConn {
                    client: src,
                    server: dst,
                    dcid: h.dcid,
                    first_ts: ts,
                    last_ts: ts,
                    client_crypto: crypto,
                    server_crypto: Vec::new(),
                    tls: None,
                    server_done: false,
                });
                quic_hello(&mut q, ts, d.ip.total_len, &mut self.stats);
                self.flows.insert(key, Flow::Quic(q));
            }
        }
    }
}

impl QuicConn {
    /// Reads the client's Initials in `payload`; returns whether any decrypted. After a
    /// Retry the client's Initials are sent to, and protected with keys from, the
    /// connection ID the server chose: that one is kept from then on.
    fn client_initials(&mut self, payload: &[u8]) -> bool {
        let client = quic::Side::Client;
        if quic::decrypt_initials(payload, &self.dcid, client, &mut self.client_crypto) {
            return true;
        }
        let Some(h) = quic::initial_header(payload).filter(|h| h.dcid != self.dcid) else {
            return false;
        };
        let read = quic::decrypt_initials(payload, &h.dcid, client, &mut self.client_crypto);
        if read {
            self.dcid = h.dcid;
        }
        read
    }
}

fn quic_hello(q: &mut QuicConn, ts: i64, ip_len: u32, stats: &mut Stats) {
    let msg = quic::assemble(&mut q.client_crypto, HANDSHAKE_LIMIT);
    let Some(len) = tls::message_len(&msg) else {
        return;
    };
    if msg.len() < len {
        return;
    }
    match tls::message(&msg)
        .filter(|(ty, _)| *ty == 1)
        .and_then(|(_, b)| tls::client_hello(b, Protocol::Quic))
    {
        Some(h) => {
            stats.quic_hellos += 1;
            q.tls = Some(TlsSide::from_hello(&h, ts, ip_len));
        }
        None => stats.bad_hellos += 1,
    }
    q.client_crypto = Vec::new();
}

/// Reads a whole capture, handing each record to `emit` as its connection ends. Fails only
/// when the file is not a capture; a capture cut short is read up to the cut and reported in
/// [`Stats::cut_short`].
pub fn read_capture<R: Read>(
    r: R,
    options: Options,
    mut emit: impl FnMut(RequestRecord<'static>),
) -> Result<Stats, CaptureError> {
    let mut reader = CaptureReader::new(r)?;
    let mut x = Extractor::new(options);
    let mut failed = None;
    loop {
        match reader.next_packet() {
            Ok(Some(p)) => x.packet(&p),
            Ok(None) => break,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
        for rec in x.drain() {
            emit(rec);
        }
    }
    // A capture cut short still gives the records of what it held.
    x.finish();
    for rec in x.drain() {
        emit(rec);
    }
    let mut stats = x.stats.clone();
    stats.cut_short = failed.map(|e| e.to_string());
    Ok(stats)
}
