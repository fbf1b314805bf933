//! One TCP connection: SYN fields, the two reassembled directions and what is read from
//! them (TLS hellos, HTTP/1 requests and responses, cleartext HTTP/2), up to the requests
//! handed to the record builder.

use std::net::IpAddr;

use shrike_fingerprint::{akamai_fingerprint, Protocol};

use crate::decode::{flags, IpInfo, TcpSegment};
use crate::h2::{self, Event, H2Direction};
use crate::http1::{self, Body, Head};
use crate::openvpn::{self, OpenVpn};
use crate::stream::{Stream, MAX_BUFFERED};
use crate::tls::{self, RecordReader, Records, ServerHello};
use crate::Stats;

/// How far into a direction shrike looks for a TLS hello behind an unknown prelude: a
/// STARTTLS exchange (SMTP, IMAP, POP3, FTP, XMPP, LDAP, PostgreSQL), SOCKS, a PROXY
/// protocol header. The search is incremental: each byte is looked at once.
const PRELUDE_SEARCH: usize = 64 * 1024;
/// Requests one connection keeps (HTTP/1 or HTTP/2); beyond this the client direction is
/// no longer read and the connection is counted in [`Stats::bounded_connections`].
pub const MAX_REQUESTS: usize = 10_000;
/// Bytes of request heads one connection keeps (targets, header names, the values records
/// read); beyond this likewise. HPACK makes a few bytes on the wire decode into kilobytes,
/// so this, not the capture's size, bounds what a connection holds.
pub const MAX_HELD: usize = 4 << 20;
/// Header names kept per request, and bytes kept of each name and of each value read.
const MAX_NAMES: usize = 64;
const MAX_NAME: usize = 64;
const MAX_VALUE: usize = 1024;

/// `s` cut to at most `max` bytes on a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
    }
    s
}

/// What a connection keeps of a request's headers: at most [`MAX_NAMES`] names, each cut
/// to [`MAX_NAME`] bytes, with the values records read ([`record::value_read`]) cut to
/// [`MAX_VALUE`] and the others emptied (a cookie's value is never needed, only that it
/// was sent).
fn slim(headers: Vec<(String, String)>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .take(MAX_NAMES)
        .map(|(n, v)| {
            let v = if crate::record::value_read(&n) {
                cut(v, MAX_VALUE)
            } else {
                String::new()
            };
            (cut(n, MAX_NAME), v)
        })
        .collect()
}

/// Bytes a kept request holds.
fn held(r: &Request) -> usize {
    r.target.len()
        + r.method.len()
        + r.authority.as_ref().map_or(0, String::len)
        + r.headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

/// The client's SYN, as the record's `tcp_*` and `ip_*` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syn {
    /// IP TTL / hop limit.
    pub ttl: u8,
    /// Window (unscaled).
    pub window: u16,
    /// Window scale option.
    pub wscale: Option<u8>,
    /// MSS option.
    pub mss: Option<u16>,
    /// Option kinds in wire order, `-` joined (`2-4-8-1-3`).
    pub options: String,
    /// IPv4 identification.
    pub ip_id: Option<u16>,
    /// IPv4 don't-fragment.
    pub df: Option<bool>,
}

impl Syn {
    fn new(ip: &IpInfo, t: &TcpSegment<'_>) -> Syn {
        let mut syn = Syn {
            ttl: ip.ttl,
            window: t.window,
            wscale: None,
            mss: None,
            options: String::new(),
            ip_id: ip.id,
            df: ip.df,
        };
        let o = t.options;
        let mut i = 0;
        let mut kinds: Vec<String> = Vec::new();
        while i < o.len() {
            let kind = o[i];
            kinds.push(kind.to_string());
            if kind <= 1 {
                i += 1;
                continue;
            }
            let Some(&len) = o.get(i + 1) else { break };
            let len = len as usize;
            if len < 2 || i + len > o.len() {
                break;
            }
            match (kind, len) {
                (2, 4) => syn.mss = Some(u16::from_be_bytes([o[i + 2], o[i + 3]])),
                (3, 3) => syn.wscale = Some(o[i + 2]),
                _ => {}
            }
            i += len;
        }
        syn.options = kinds.join("-");
        syn
    }
}

/// The TLS side of a connection, as the record's `ja4`/`tls_*` fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSide {
    /// JA4.
    pub ja4: String,
    /// JA4 raw form.
    pub ja4_r: String,
    /// SNI.
    pub sni: Option<String>,
    /// First ALPN offered.
    pub alpn_offered: Option<String>,
    /// Highest version offered.
    pub version_offered: u16,
    /// When the hello completed (µs).
    pub ts_us: i64,
    /// IP total length of the packet that completed the hello.
    pub ip_total_len: u32,
    /// The server's answer, when seen.
    pub server: Option<ServerHello>,
}

impl TlsSide {
    /// From a parsed hello.
    pub fn from_hello(h: &tls::Hello, ts_us: i64, ip_total_len: u32) -> TlsSide {
        let parts = h.hello.ja4();
        TlsSide {
            ja4: parts.ja4,
            ja4_r: parts.ja4_r,
            sni: h.sni.clone(),
            alpn_offered: h
                .hello
                .alpn
                .first()
                .map(|a| String::from_utf8_lossy(a).into_owned()),
            version_offered: h
                .hello
                .supported_versions
                .iter()
                .copied()
                .filter(|v| !shrike_fingerprint::is_grease(*v))
                .max()
                .unwrap_or(h.hello.legacy_version),
            ts_us,
            ip_total_len,
            server: None,
        }
    }
}

/// An HTTP request seen on the connection (HTTP/1 or cleartext HTTP/2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// When its head completed (µs).
    pub ts_us: i64,
    /// IP total length of the packet that completed the head.
    pub ip_total_len: u32,
    /// Method.
    pub method: String,
    /// Target (path and query) or `:path`.
    pub target: String,
    /// `HTTP/1.0`, `HTTP/1.1` or `2`.
    pub version: String,
    /// Host header or `:authority`.
    pub authority: Option<String>,
    /// Regular headers in wire order.
    pub headers: Vec<(String, String)>,
    /// HTTP/2 stream id.
    pub stream: Option<u32>,
    /// Response status.
    pub status: Option<u16>,
    /// Response body bytes seen.
    pub bytes: Option<u64>,
}

enum ClientApp {
    /// Not known yet: `scanned` bytes of the direction were searched for a hello already,
    /// and its first line was found not to be an HTTP request line (`not_http`).
    Detect {
        scanned: usize,
        not_http: bool,
    },
    Tls(RecordReader),
    /// OpenVPN over TCP: the TLS bytes of its control channel.
    OpenVpn(Box<OpenVpn>),
    Http1 {
        body: Body,
        chunk_left: u64,
    },
    H2(Box<H2Direction>),
    Done,
}

impl ClientApp {
    /// A direction whose protocol is not known yet.
    fn detect() -> Self {
        ClientApp::Detect {
            scanned: 0,
            not_http: false,
        }
    }
}

enum ServerApp {
    /// Waiting for the client side to tell what this connection speaks.
    Wait,
    Tls(RecordReader),
    Http1 {
        body: Body,
        chunk_left: u64,
        current: Option<usize>,
    },
    H2(Box<H2Direction>),
    Done,
}

/// One TCP connection.
pub struct TcpConn {
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Server address and port.
    pub server: (IpAddr, u16),
    /// First packet's time (µs).
    pub first_ts: i64,
    /// Last packet's time (µs).
    pub last_ts: i64,
    /// The client's SYN.
    pub syn: Option<Syn>,
    syn_ts: Option<i64>,
    syn_seq: Option<u32>,
    synack_seen: bool,
    /// SYN to the client's handshake-completing ACK, in milliseconds.
    pub handshake_ms: Option<f64>,
    c2s: Stream,
    s2c: Stream,
    capp: ClientApp,
    sapp: ServerApp,
    /// Bytes of the server direction searched for a ServerHello behind a prelude.
    server_scanned: usize,
    /// TLS hello and answer.
    pub tls: Option<TlsSide>,
    /// Requests in order.
    pub requests: Vec<Request>,
    /// Bytes the requests hold ([`MAX_HELD`] at most).
    held: usize,
    /// Next request an HTTP/1 response answers.
    next_response: usize,
    /// Akamai fingerprint and pseudo-header order (cleartext HTTP/2).
    pub h2: Option<(String, String)>,
    fin_client: bool,
    fin_server: bool,
    /// A RST was seen.
    pub reset: bool,
    /// Index of the first packet (for reports).
    pub first_packet: u64,
    /// Records were emitted: the connection only absorbs late retransmissions until it is
    /// forgotten.
    pub emitted: bool,
}

impl TcpConn {
    /// A connection whose client is `client`.
    pub fn new(client: (IpAddr, u16), server: (IpAddr, u16), ts: i64, packet: u64) -> Self {
        TcpConn {
            client,
            server,
            first_ts: ts,
            last_ts: ts,
            syn: None,
            syn_ts: None,
            syn_seq: None,
            synack_seen: false,
            handshake_ms: None,
            c2s: Stream::default(),
            s2c: Stream::default(),
            capp: ClientApp::detect(),
            sapp: ServerApp::Wait,
            server_scanned: 0,
            tls: None,
            requests: Vec::new(),
            held: 0,
            next_response: 0,
            h2: None,
            fin_client: false,
            fin_server: false,
            reset: false,
            first_packet: packet,
            emitted: false,
        }
    }

    /// Marks the records emitted and frees what the connection no longer needs.
    pub fn retire(&mut self) {
        self.emitted = true;
        self.c2s.close();
        self.s2c.close();
        self.requests = Vec::new();
        self.held = 0;
        self.tls = None;
        self.capp = ClientApp::Done;
        self.sapp = ServerApp::Done;
    }

    /// Keeps a request, slimmed, unless the connection is at a bound ([`MAX_REQUESTS`],
    /// [`MAX_HELD`]); returns whether it was kept.
    fn keep(&mut self, mut r: Request) -> bool {
        r.headers = slim(std::mem::take(&mut r.headers));
        r.target = cut(std::mem::take(&mut r.target), MAX_VALUE * 8);
        let size = held(&r);
        if self.requests.len() >= MAX_REQUESTS || self.held + size > MAX_HELD {
            return false;
        }
        self.held += size;
        self.requests.push(r);
        true
    }

    /// Bytes it holds: its kept requests and both directions' reassembly buffers.
    pub fn held(&self) -> usize {
        self.held + self.c2s.held() + self.s2c.held()
    }

    /// Both sides closed, or reset.
    pub fn finished(&self) -> bool {
        self.reset || (self.fin_client && self.fin_server)
    }

    /// Whether a client SYN with this sequence number starts a new connection on the same
    /// 4-tuple (this one is over, or began with another initial sequence number).
    pub fn reused_by_syn(&self, seq: u32) -> bool {
        self.finished() || self.syn_seq.is_some_and(|s| s != seq)
    }

    /// Handles one segment; `from_client` tells its direction.
    pub fn segment(
        &mut self,
        ip: &IpInfo,
        t: &TcpSegment<'_>,
        from_client: bool,
        ts: i64,
        stats: &mut Stats,
    ) {
        self.last_ts = ts;
        if self.emitted {
            return;
        }
        let f = t.flags;
        if f & flags::RST != 0 {
            self.reset = true;
        }
        if from_client {
            if f & flags::SYN != 0 && f & flags::ACK == 0 {
                if self.syn.is_none() {
                    self.syn = Some(Syn::new(ip, t));
                    self.syn_ts = Some(ts);
                    self.syn_seq = Some(t.seq);
                }
                self.c2s.syn(t.seq);
            } else if f & flags::ACK != 0 && self.synack_seen && self.handshake_ms.is_none() {
                if let Some(s) = self.syn_ts {
                    self.handshake_ms = Some((ts - s).max(0) as f64 / 1000.0);
                }
            }
            if f & flags::FIN != 0 {
                self.fin_client = true;
            }
            if self.c2s.push(t.seq, t.payload) {
                self.client_bytes(ts, ip.total_len, stats);
            }
        } else {
            if f & flags::SYN != 0 {
                self.synack_seen = true;
                self.s2c.syn(t.seq);
            }
            if f & flags::FIN != 0 {
                self.fin_server = true;
            }
            if self.s2c.push(t.seq, t.payload) {
                self.server_bytes(stats);
            }
        }
        if self.c2s.gap || self.s2c.gap {
            stats.gaps += u64::from(self.c2s.gap) + u64::from(self.s2c.gap);
            self.c2s.gap = false;
            self.s2c.gap = false;
        }
    }

    fn client_bytes(&mut self, ts: i64, ip_len: u32, stats: &mut Stats) {
        loop {
            let buf = &mut self.c2s.buf;
            match &mut self.capp {
                ClientApp::Detect { scanned, not_http } => {
                    if buf.len() < 6 {
                        return; // too few bytes to tell any protocol
                    }
                    let from = *scanned;
                    *scanned = buf.len().saturating_sub(5);
                    if tls::starts_client_hello(buf) {
                        self.capp = ClientApp::Tls(RecordReader::default());
                        if matches!(self.sapp, ServerApp::Wait) {
                            self.sapp = ServerApp::Tls(RecordReader::default());
                        }
                    } else if let v2 @ (tls::Sslv2::More | tls::Sslv2::Hello(..)) =
                        tls::sslv2_client_hello(buf)
                    {
                        // Old clients' and scanners' SSL 2.0-format hello; the server's
                        // answer is read as TLS records.
                        let tls::Sslv2::Hello(h, used) = v2 else {
                            return;
                        };
                        buf.drain(..used);
                        if matches!(self.sapp, ServerApp::Wait) {
                            self.sapp = ServerApp::Tls(RecordReader::default());
                        }
                        self.keep_hello(Some(&h), ts, ip_len, stats);
                    } else if buf.starts_with(h2::PREFACE) {
                        self.capp = ClientApp::H2(Box::new(H2Direction::new(true)));
                        self.sapp = ServerApp::H2(Box::new(H2Direction::new(false)));
                    } else if h2::PREFACE.starts_with(buf) {
                        return;
                    } else if buf.starts_with(b"SSH-") {
                        // Never TLS: not worth holding.
                        stats.opaque_streams += 1;
                        self.capp = ClientApp::Done;
                    } else if !*not_http && {
                        let line = http1::request_line(buf);
                        *not_http = line == Some(false);
                        line == Some(true)
                    } {
                        self.capp = ClientApp::Http1 {
                            body: Body::None,
                            chunk_left: 0,
                        };
                        if matches!(self.sapp, ServerApp::Wait) {
                            self.sapp = ServerApp::Http1 {
                                body: Body::None,
                                chunk_left: 0,
                                current: None,
                            };
                        }
                    } else if let Some(auth) = openvpn::client_reset(buf) {
                        self.capp = ClientApp::OpenVpn(Box::new(OpenVpn::new(auth)));
                        self.sapp = ServerApp::Done;
                    } else if let Some(at) = after_prelude(buf, 1, from) {
                        // A STARTTLS exchange, SOCKS, a PROXY protocol header or another
                        // prelude before TLS.
                        buf.drain(..at);
                        self.capp = ClientApp::Tls(RecordReader::default());
                        self.sapp = ServerApp::Tls(RecordReader::default());
                        self.server_scanned = 0;
                    } else if buf.len() >= PRELUDE_SEARCH {
                        stats.opaque_streams += 1;
                        self.capp = ClientApp::Done;
                    } else {
                        return;
                    }
                }
                ClientApp::Tls(r) => {
                    let fed = r.feed(buf);
                    if !self.client_hello(fed, ts, ip_len, stats) {
                        return;
                    }
                }
                ClientApp::OpenVpn(r) => {
                    let fed = r.feed(buf);
                    if !self.client_hello(fed, ts, ip_len, stats) {
                        return;
                    }
                }
                ClientApp::Http1 { body, chunk_left } => {
                    if *body != Body::None {
                        match http1::skip_body(body, chunk_left, buf) {
                            Some((n, done)) => {
                                buf.drain(..n);
                                if !done {
                                    return;
                                }
                                *body = Body::None;
                            }
                            None => self.capp = ClientApp::Done,
                        }
                        continue;
                    }
                    if buf.is_empty() {
                        return;
                    }
                    if buf.starts_with(h2::PREFACE) || (h2::PREFACE.starts_with(buf)) {
                        if buf.len() < h2::PREFACE.len() {
                            return;
                        }
                        // Upgraded to h2c: the upgrade request is stream 1.
                        self.capp = ClientApp::H2(Box::new(H2Direction::new(true)));
                        continue;
                    }
                    match http1::request_head(buf) {
                        Head::More => return,
                        Head::Bad => {
                            stats.opaque_streams += 1;
                            self.capp = ClientApp::Done;
                        }
                        Head::Done(head, used) => {
                            buf.drain(..used);
                            let connect = head.method == "CONNECT";
                            *body = head.body();
                            let authority = head.header("host").map(str::to_owned);
                            let kept = self.keep(Request {
                                ts_us: ts,
                                ip_total_len: ip_len,
                                method: head.method,
                                target: head.target,
                                version: head.version,
                                authority,
                                headers: head.headers,
                                ..Request::default()
                            });
                            if !kept {
                                // The requests read so far stay; nothing more is read.
                                stats.bounded_connections += 1;
                                self.capp = ClientApp::Done;
                                continue;
                            }
                            stats.http1_requests += 1;
                            if connect {
                                // A tunnel: what follows is another protocol (usually TLS).
                                self.capp = ClientApp::detect();
                            }
                        }
                    }
                }
                ClientApp::H2(d) => {
                    let mut events = Vec::new();
                    d.feed(buf, &mut events);
                    if d.fingerprinted() && self.h2.is_none() {
                        self.h2 = Some((
                            akamai_fingerprint(&d.fingerprint),
                            shrike_fingerprint::h2::pseudo_order(&d.fingerprint.pseudo_headers),
                        ));
                    }
                    let (mut failed, mut bounded) = (d.failed, d.oversized);
                    for e in events {
                        if let Event::Request(r) = e {
                            if !self.keep(h2_request(r, ts, ip_len)) {
                                (failed, bounded) = (true, true);
                                break;
                            }
                            stats.h2_requests += 1;
                        }
                    }
                    if failed {
                        // The requests read so far stay; nothing more is read of it.
                        if bounded {
                            stats.bounded_connections += 1;
                        } else {
                            stats.opaque_streams += 1;
                        }
                        self.capp = ClientApp::Done;
                    }
                    return;
                }
                ClientApp::Done => {
                    self.c2s.close();
                    return;
                }
            }
            if self.c2s.buf.len() > MAX_BUFFERED {
                self.capp = ClientApp::Done;
            }
        }
    }

    /// Takes what a reader of the client's TLS bytes gave: the ClientHello, once whole, and
    /// the direction is done. Returns whether to go on reading (false: more bytes needed).
    fn client_hello(&mut self, fed: Records, ts: i64, ip_len: u32, stats: &mut Stats) -> bool {
        match fed {
            Records::More => return false,
            Records::Message(m) => {
                let hello = tls::message(&m)
                    .filter(|(ty, _)| *ty == 1)
                    .and_then(|(_, body)| tls::client_hello(body, Protocol::Tcp));
                self.keep_hello(hello.as_ref(), ts, ip_len, stats);
            }
            Records::NotHandshake => self.capp = ClientApp::Done,
        }
        true
    }

    /// Keeps the client's hello (`None`: it did not parse), with the server's answer if it
    /// came first; the client direction is done.
    fn keep_hello(&mut self, hello: Option<&tls::Hello>, ts: i64, ip_len: u32, stats: &mut Stats) {
        match hello {
            Some(h) => {
                stats.tls_hellos += 1;
                let server = self.tls.as_ref().and_then(|t| t.server);
                let mut side = TlsSide::from_hello(h, ts, ip_len);
                side.server = server;
                self.tls = Some(side);
            }
            None => stats.bad_hellos += 1,
        }
        self.capp = ClientApp::Done;
    }

    fn server_bytes(&mut self, stats: &mut Stats) {
        loop {
            let buf = &mut self.s2c.buf;
            match &mut self.sapp {
                ServerApp::Wait => {
                    if buf.len() > MAX_BUFFERED {
                        self.sapp = ServerApp::Done;
                        continue;
                    }
                    return;
                }
                ServerApp::Tls(r) => {
                    if buf.first().is_some_and(|b| *b != 22) {
                        // A proxy's answer (SOCKS, CONNECT) or the server's side of a
                        // STARTTLS exchange before the ServerHello.
                        let from = self.server_scanned;
                        self.server_scanned = buf.len().saturating_sub(5);
                        match after_prelude(buf, 2, from) {
                            Some(at) => {
                                buf.drain(..at);
                            }
                            None if buf.len() >= PRELUDE_SEARCH => {
                                self.sapp = ServerApp::Done;
                                continue;
                            }
                            None => return,
                        }
                    }
                    match r.feed(buf) {
                        Records::More => return,
                        Records::Message(m) => {
                            if let Some(sh) = tls::message(&m)
                                .filter(|(ty, _)| *ty == 2)
                                .and_then(|(_, body)| tls::server_hello(body))
                            {
                                stats.server_hellos += 1;
                                if let Some(t) = self.tls.as_mut() {
                                    t.server = Some(sh);
                                }
                            }
                            self.sapp = ServerApp::Done;
                        }
                        Records::NotHandshake => self.sapp = ServerApp::Done,
                    }
                }
                ServerApp::Http1 {
                    body,
                    chunk_left,
                    current,
                } => {
                    if *body != Body::None {
                        match http1::skip_body(body, chunk_left, buf) {
                            Some((n, done)) => {
                                if let Some(req) = current.and_then(|i| self.requests.get_mut(i)) {
                                    *req.bytes.get_or_insert(0) += n as u64;
                                }
                                buf.drain(..n);
                                if !done {
                                    return;
                                }
                                *body = Body::None;
                            }
                            None => self.sapp = ServerApp::Done,
                        }
                        continue;
                    }
                    if buf.is_empty() {
                        return;
                    }
                    match http1::response_head(buf) {
                        Head::More => return,
                        Head::Bad => self.sapp = ServerApp::Done,
                        Head::Done(head, used) => {
                            buf.drain(..used);
                            let idx = self.next_response;
                            let method = self.requests.get(idx).map(|r| r.method.clone());
                            if (100..200).contains(&head.status) && head.status != 101 {
                                continue; // interim response: the final one follows
                            }
                            if let Some(r) = self.requests.get_mut(idx) {
                                r.status = Some(head.status);
                                r.bytes = Some(0);
                            }
                            self.next_response += 1;
                            *body = head.body(method.as_deref());
                            *current = Some(idx);
                            if head.status == 101 {
                                self.sapp = ServerApp::H2(Box::new(H2Direction::new(false)));
                            } else if method.as_deref() == Some("CONNECT")
                                && (200..300).contains(&head.status)
                            {
                                self.sapp = ServerApp::Tls(RecordReader::default());
                            }
                        }
                    }
                }
                ServerApp::H2(d) => {
                    let mut events = Vec::new();
                    d.feed(buf, &mut events);
                    for e in events {
                        if let Event::Status(stream, status) = e {
                            if let Some(r) = self.requests.iter_mut().find(|r| {
                                r.stream == Some(stream)
                                    || (stream == 1
                                        && r.stream.is_none()
                                        && r.version.starts_with("HTTP/1"))
                            }) {
                                r.status = Some(status);
                            }
                        }
                    }
                    if d.failed {
                        self.sapp = ServerApp::Done;
                        continue;
                    }
                    return;
                }
                ServerApp::Done => {
                    self.s2c.close();
                    return;
                }
            }
            if self.s2c.buf.len() > MAX_BUFFERED {
                self.sapp = ServerApp::Done;
            }
        }
    }
}

/// Where a TLS handshake record of message type `ty` starts behind an unknown prelude
/// (a STARTTLS exchange, SOCKS, a PROXY protocol header, a CONNECT answer), within
/// [`PRELUDE_SEARCH`] bytes; the offsets before `from` were searched already.
fn after_prelude(buf: &[u8], ty: u8, from: usize) -> Option<usize> {
    (from.max(1)..buf.len().min(PRELUDE_SEARCH)).find(|i| tls::starts_handshake(&buf[*i..], ty))
}

fn h2_request(r: h2::H2Request, ts: i64, ip_len: u32) -> Request {
    let mut req = Request {
        ts_us: ts,
        ip_total_len: ip_len,
        version: "2".into(),
        stream: Some(r.stream),
        ..Request::default()
    };
    for (n, v) in r.headers {
        match n.as_str() {
            ":method" => req.method = v,
            ":path" => req.target = v,
            ":authority" => req.authority = Some(v),
            ":scheme" => {}
            _ if n.starts_with(':') => {}
            _ => {
                if n == "host" && req.authority.is_none() {
                    req.authority = Some(v.clone());
                }
                req.headers.push((n, v));
            }
        }
    }
    req
}
