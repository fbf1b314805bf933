//! Writing classic pcap files of IPv4/TCP packets: for tests that need a capture shaped a
//! particular way (segments out of order, a hello split in two, a link type, a tunnel) and
//! for the `shrike bench pcap` workload.

use std::net::Ipv4Addr;

/// A TCP endpoint.
pub type Endpoint = (Ipv4Addr, u16);

/// How each IPv4 packet is framed: the capture's link type and, over Ethernet, a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Ethernet (link type 1).
    Ethernet,
    /// Ethernet with two 802.1Q tags (QinQ).
    Vlan,
    /// Raw IP (link type 101).
    RawIp,
    /// BSD loopback (link type 0, the address family in host order).
    Loopback,
    /// PPP with HDLC address and control bytes (link type 9).
    Ppp,
    /// Linux cooked capture v1 (link type 113).
    LinuxSll,
    /// Linux cooked capture v2 (link type 276).
    LinuxSll2,
    /// Linux NFLOG (link type 239): the packet in a payload attribute, after a prefix one.
    Nflog,
    /// IEEE 802.11 data frame (QoS, to the access point) behind radiotap (link type 127).
    Radiotap,
    /// Ethernet, outer IPv4, GRE (EtherType IPv4).
    Gre,
    /// Ethernet, outer IPv4, PPTP's enhanced GRE (version 1, with sequence and
    /// acknowledgment numbers), then PPP.
    PptpGre,
    /// Ethernet, outer IPv4, IPv4 (IP-in-IP).
    IpInIp,
    /// Ethernet, outer IPv4, UDP 4789, VXLAN, inner Ethernet.
    Vxlan,
    /// Ethernet, outer IPv4, UDP 6081, Geneve with an option, inner Ethernet.
    Geneve,
    /// Ethernet, outer IPv4, UDP 5247, CAPWAP data (16-byte header), an 802.11 frame whose
    /// frame control is byte-swapped.
    Capwap,
    /// Ethernet, outer IPv4, UDP 2152, GTP-U with a sequence number and a PDU session
    /// container extension header.
    GtpU,
}

impl Framing {
    /// Every framing.
    pub const ALL: [Framing; 16] = [
        Framing::Ethernet,
        Framing::Vlan,
        Framing::RawIp,
        Framing::Loopback,
        Framing::Ppp,
        Framing::LinuxSll,
        Framing::LinuxSll2,
        Framing::Nflog,
        Framing::Radiotap,
        Framing::Gre,
        Framing::PptpGre,
        Framing::IpInIp,
        Framing::Vxlan,
        Framing::Geneve,
        Framing::Capwap,
        Framing::GtpU,
    ];

    fn link_type(self) -> u32 {
        match self {
            Framing::RawIp => 101,
            Framing::Loopback => 0,
            Framing::Ppp => 9,
            Framing::LinuxSll => 113,
            Framing::LinuxSll2 => 276,
            Framing::Nflog => 239,
            Framing::Radiotap => 127,
            _ => 1,
        }
    }

    /// The frame carrying the IPv4 packet `ip`.
    fn frame(self, ip: &[u8]) -> Vec<u8> {
        const ETH: [u8; 12] = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
        let eth = |ty: u16, payload: &[u8]| {
            let mut f = ETH.to_vec();
            f.extend_from_slice(&ty.to_be_bytes());
            f.extend_from_slice(payload);
            f
        };
        let udp = |port: u16, payload: &[u8]| udp_datagram(40000, port, payload);
        let outer = |proto: u8, payload: &[u8]| {
            eth(
                0x0800,
                &ipv4(proto, [10, 255, 0, 1], [10, 255, 0, 2], 0, payload),
            )
        };
        let llc_ip = |header: &[u8]| {
            let mut f = header.to_vec();
            f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
            f.extend_from_slice(ip);
            f
        };
        // A QoS data frame to the access point: frame control (byte-swapped over CAPWAP, as
        // Cisco's access points send it), duration, three addresses, sequence control, QoS
        // control.
        let dot11 = |swapped: bool| {
            let mut h = if swapped {
                vec![0x01, 0x88, 0, 0]
            } else {
                vec![0x88, 0x01, 0, 0]
            };
            h.extend_from_slice(&[0x02, 0, 0, 0, 0, 9]);
            h.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
            h.extend_from_slice(&[0x02, 0, 0, 0, 0, 2]);
            h.extend_from_slice(&[0x10, 0, 0, 0]);
            llc_ip(&h)
        };
        match self {
            Framing::Ethernet => eth(0x0800, ip),
            Framing::Vlan => {
                let mut p = vec![0x00, 0x64, 0x81, 0x00, 0x00, 0x05, 0x08, 0x00];
                p.extend_from_slice(ip);
                eth(0x88a8, &p)
            }
            Framing::RawIp => ip.to_vec(),
            Framing::Loopback => {
                let mut f = 2u32.to_le_bytes().to_vec();
                f.extend_from_slice(ip);
                f
            }
            Framing::Ppp => {
                let mut f = vec![0xff, 0x03, 0x00, 0x21];
                f.extend_from_slice(ip);
                f
            }
            Framing::LinuxSll => {
                let mut f = vec![0, 0, 0, 1, 0, 6, 0x02, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00];
                f.extend_from_slice(ip);
                f
            }
            Framing::LinuxSll2 => {
                let mut f = vec![0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6];
                f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1, 0, 0]);
                f.extend_from_slice(ip);
                f
            }
            Framing::Nflog => {
                let mut f = vec![2, 0, 0, 5];
                // A prefix attribute (type 10, "shrike\0", padded), then the payload (9).
                f.extend_from_slice(&11u16.to_le_bytes());
                f.extend_from_slice(&10u16.to_le_bytes());
                f.extend_from_slice(b"shrike\0\0");
                f.extend_from_slice(&((4 + ip.len()) as u16).to_le_bytes());
                f.extend_from_slice(&9u16.to_le_bytes());
                f.extend_from_slice(ip);
                f.extend(std::iter::repeat_n(0u8, (4 - ip.len() % 4) % 4));
                f
            }
            Framing::Radiotap => {
                let mut f = vec![0, 0, 8, 0, 0, 0, 0, 0];
                f.extend_from_slice(&dot11(false));
                f
            }
            Framing::Gre => {
                let mut g = vec![0, 0, 0x08, 0x00];
                g.extend_from_slice(ip);
                outer(47, &g)
            }
            Framing::PptpGre => {
                // Key present (payload length, call id), sequence and acknowledgment numbers.
                let mut g = vec![0x30, 0x81, 0x88, 0x0b];
                g.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
                g.extend_from_slice(&[0x40, 0x00, 0, 0, 0, 7, 0, 0, 0, 6]);
                g.extend_from_slice(&[0x00, 0x21]);
                g.extend_from_slice(ip);
                outer(47, &g)
            }
            Framing::IpInIp => outer(4, ip),
            Framing::Vxlan => {
                let mut v = vec![0x08, 0, 0, 0, 0, 0, 0x2a, 0];
                v.extend_from_slice(&eth(0x0800, ip));
                outer(17, &udp(4789, &v))
            }
            Framing::Geneve => {
                // One 4-byte option (length 1 word).
                let mut g = vec![0x01, 0, 0x65, 0x58, 0, 0, 0x2a, 0];
                g.extend_from_slice(&[0x01, 0x02, 0x03, 0x00]);
                g.extend_from_slice(&eth(0x0800, ip));
                outer(17, &udp(6081, &g))
            }
            Framing::Capwap => {
                // HLEN 4 words, wireless binding 1 (802.11), T set: native frames.
                let mut c = vec![0x00, 0x20, 0x03, 0x00];
                c.extend_from_slice(&[0; 12]);
                c.extend_from_slice(&dot11(true));
                outer(17, &udp(5247, &c))
            }
            Framing::GtpU => {
                // Version 1, PT, E and S flags; G-PDU; length; TEID; sequence; N-PDU; next
                // extension 0x85 (PDU session container, 1 word), then none.
                let mut g = vec![0x36, 0xff];
                g.extend_from_slice(&((ip.len() + 8) as u16).to_be_bytes());
                g.extend_from_slice(&[0, 0, 0, 1, 0, 1, 0, 0x85]);
                g.extend_from_slice(&[1, 0x00, 0x09, 0x00]);
                g.extend_from_slice(ip);
                outer(17, &udp(2152, &g))
            }
        }
    }
}

/// A UDP header (no checksum) and its payload.
fn udp_datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// An IPv4 header (no options) and its payload.
fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], id: u16, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut b = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        (id >> 8) as u8,
        id as u8,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ];
    b.extend_from_slice(&src);
    b.extend_from_slice(&dst);
    b.extend_from_slice(payload);
    b
}

/// Builds a classic pcap (microsecond, little-endian) in memory, Ethernet unless made
/// [`PcapWriter::with_framing`].
#[derive(Debug, Clone)]
pub struct PcapWriter {
    bytes: Vec<u8>,
    framing: Framing,
}

impl Default for PcapWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// TCP options of a Linux SYN: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
pub const LINUX_SYN_OPTIONS: [u8; 20] = [
    2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];

impl PcapWriter {
    /// An empty Ethernet capture (file header only).
    pub fn new() -> Self {
        Self::with_framing(Framing::Ethernet)
    }

    /// An empty capture whose packets are framed so.
    pub fn with_framing(framing: Framing) -> Self {
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&framing.link_type().to_le_bytes());
        PcapWriter { bytes, framing }
    }

    /// The file bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the writer.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends one IPv4/UDP packet, framed like the others.
    pub fn udp(&mut self, ts_us: i64, src: Endpoint, dst: Endpoint, payload: &[u8]) {
        let udp = udp_datagram(src.1, dst.1, payload);
        let ip = ipv4(17, src.0.octets(), dst.0.octets(), 0, &udp);
        self.record(ts_us, &self.framing.frame(&ip));
    }

    fn record(&mut self, ts_us: i64, frame: &[u8]) {
        let ts = ts_us.max(0) as u64;
        self.bytes
            .extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&(frame.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(frame);
    }

    /// Appends one IPv4/TCP packet.
    #[allow(clippy::too_many_arguments)]
    pub fn tcp(
        &mut self,
        ts_us: i64,
        src: Endpoint,
        dst: Endpoint,
        flags: u8,
        seq: u32,
        ack: u32,
        options: &[u8],
        payload: &[u8],
    ) {
        let opt_len = options.len().div_ceil(4) * 4;
        let tcp_len = 20 + opt_len;
        let mut tcp = Vec::with_capacity(tcp_len + payload.len());
        tcp.extend_from_slice(&src.1.to_be_bytes());
        tcp.extend_from_slice(&dst.1.to_be_bytes());
        tcp.extend_from_slice(&seq.to_be_bytes());
        tcp.extend_from_slice(&ack.to_be_bytes());
        tcp.push(((tcp_len / 4) as u8) << 4);
        tcp.push(flags);
        tcp.extend_from_slice(&64240u16.to_be_bytes());
        tcp.extend_from_slice(&[0, 0, 0, 0]);
        tcp.extend_from_slice(options);
        tcp.extend(std::iter::repeat_n(1u8, opt_len - options.len()));
        tcp.extend_from_slice(payload);
        let ip = ipv4(
            6,
            src.0.octets(),
            dst.0.octets(),
            (seq as u16) ^ 0x5a5a,
            &tcp,
        );
        self.record(ts_us, &self.framing.frame(&ip));
    }
}

/// A TCP connection being written: tracks both sequence numbers.
#[derive(Debug, Clone)]
pub struct TcpWriter {
    /// Client endpoint.
    pub client: Endpoint,
    /// Server endpoint.
    pub server: Endpoint,
    /// Next client sequence number.
    pub cseq: u32,
    /// Next server sequence number.
    pub sseq: u32,
}

impl TcpWriter {
    /// Writes the three-way handshake (client SYN with Linux options) at `ts_us`.
    pub fn open(w: &mut PcapWriter, ts_us: i64, client: Endpoint, server: Endpoint) -> Self {
        let (cisn, sisn) = (0x1000_0000u32 ^ client.1 as u32, 0x7000_0000u32);
        w.tcp(
            ts_us,
            client,
            server,
            0x02,
            cisn,
            0,
            &LINUX_SYN_OPTIONS,
            &[],
        );
        w.tcp(
            ts_us + 20_000,
            server,
            client,
            0x12,
            sisn,
            cisn + 1,
            &[2, 4, 5, 0xb4],
            &[],
        );
        w.tcp(
            ts_us + 40_000,
            client,
            server,
            0x10,
            cisn + 1,
            sisn + 1,
            &[],
            &[],
        );
        TcpWriter {
            client,
            server,
            cseq: cisn + 1,
            sseq: sisn + 1,
        }
    }

    /// Client data (PSH+ACK).
    pub fn client(&mut self, w: &mut PcapWriter, ts_us: i64, data: &[u8]) {
        w.tcp(
            ts_us,
            self.client,
            self.server,
            0x18,
            self.cseq,
            self.sseq,
            &[],
            data,
        );
        self.cseq = self.cseq.wrapping_add(data.len() as u32);
    }

    /// Server data (PSH+ACK).
    pub fn server(&mut self, w: &mut PcapWriter, ts_us: i64, data: &[u8]) {
        w.tcp(
            ts_us,
            self.server,
            self.client,
            0x18,
            self.sseq,
            self.cseq,
            &[],
            data,
        );
        self.sseq = self.sseq.wrapping_add(data.len() as u32);
    }

    /// FIN from both sides.
    pub fn close(&mut self, w: &mut PcapWriter, ts_us: i64) {
        w.tcp(
            ts_us,
            self.client,
            self.server,
            0x11,
            self.cseq,
            self.sseq,
            &[],
            &[],
        );
        w.tcp(
            ts_us + 1,
            self.server,
            self.client,
            0x11,
            self.sseq,
            self.cseq + 1,
            &[],
            &[],
        );
    }
}

/// An OpenVPN packet over TCP: its length, the opcode (key id 0), a session id, `auth` (the
/// `tls-auth` HMAC, packet id and time, or nothing), the acknowledged packet ids (with the
/// remote session id when there are any), the message packet id and the payload.
pub fn openvpn_packet(op: u8, auth: &[u8], acks: &[u32], id: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![op << 3];
    p.extend_from_slice(&[0x50, 0x7a, 0x28, 0xa7, 0x82, 0x75, 0x78, 0x8d]);
    p.extend_from_slice(auth);
    p.push(acks.len() as u8);
    for a in acks {
        p.extend_from_slice(&a.to_be_bytes());
    }
    if !acks.is_empty() {
        p.extend_from_slice(&[0x9a, 0xd7, 0x7f, 0x2b, 0x6c, 0x11, 0x0e, 0x1b]);
    }
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(payload);
    let mut out = (p.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(&p);
    out
}

/// A TLS 1.3 ClientHello record (GREASE, two ciphers, SNI, ALPN `h2,http/1.1`, signature
/// algorithms, supported versions) with a padding extension of `padding` bytes: 2000 makes
/// it span two segments, as post-quantum key shares make Chrome's.
pub fn client_hello_record(sni: &str, padding: usize) -> Vec<u8> {
    let mut ext = Vec::new();
    let name = sni.as_bytes();
    ext.extend_from_slice(&[0, 0]);
    ext.extend_from_slice(&((name.len() + 5) as u16).to_be_bytes());
    ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    ext.push(0);
    ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    ext.extend_from_slice(name);
    ext.extend_from_slice(&[0x00, 0x10, 0, 14, 0, 12, 2, b'h', b'2', 8]);
    ext.extend_from_slice(b"http/1.1");
    ext.extend_from_slice(&[0x00, 0x0d, 0, 6, 0, 4, 0x04, 0x03, 0x08, 0x04]);
    ext.extend_from_slice(&[0x00, 0x2b, 0, 5, 4, 0x3a, 0x3a, 0x03, 0x04]);
    ext.extend_from_slice(&[0x00, 0x15]);
    ext.extend_from_slice(&(padding as u16).to_be_bytes());
    ext.extend(std::iter::repeat_n(0u8, padding));
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7; 32]);
    body.push(0);
    body.extend_from_slice(&[0, 6, 0x3a, 0x3a, 0x13, 0x01, 0x13, 0x02]);
    body.extend_from_slice(&[1, 0]);
    body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
    body.extend_from_slice(&ext);
    let mut msg = vec![1, 0];
    msg.extend_from_slice(&(body.len() as u16).to_be_bytes());
    msg.extend_from_slice(&body);
    let mut rec = vec![22, 3, 1];
    rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    rec.extend_from_slice(&msg);
    rec
}
