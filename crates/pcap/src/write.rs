//! Writing classic pcap files of Ethernet/IPv4/TCP packets: for tests that need a capture
//! shaped a particular way (segments out of order, a hello split in two) and for the
//! `shrike bench pcap` workload.

use std::net::Ipv4Addr;

/// A TCP endpoint.
pub type Endpoint = (Ipv4Addr, u16);

/// Builds a classic pcap (microsecond, little-endian, Ethernet) in memory.
#[derive(Debug, Clone)]
pub struct PcapWriter {
    bytes: Vec<u8>,
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
    /// An empty capture (file header only).
    pub fn new() -> Self {
        let mut bytes = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&262_144u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        PcapWriter { bytes }
    }

    /// The file bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the writer.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// Appends one Ethernet/IPv4/TCP packet.
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
        let total = 20 + tcp_len + payload.len();
        let frame = 14 + total;
        let ts = ts_us.max(0) as u64;
        self.bytes
            .extend_from_slice(&((ts / 1_000_000) as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(frame as u32).to_le_bytes());
        self.bytes.extend_from_slice(&(frame as u32).to_le_bytes());
        self.bytes
            .extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let id = (seq as u16) ^ 0x5a5a;
        self.bytes.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            (id >> 8) as u8,
            id as u8,
            0x40,
            0,
            64,
            6,
            0,
            0,
        ]);
        self.bytes.extend_from_slice(&src.0.octets());
        self.bytes.extend_from_slice(&dst.0.octets());
        self.bytes.extend_from_slice(&src.1.to_be_bytes());
        self.bytes.extend_from_slice(&dst.1.to_be_bytes());
        self.bytes.extend_from_slice(&seq.to_be_bytes());
        self.bytes.extend_from_slice(&ack.to_be_bytes());
        self.bytes.push(((tcp_len / 4) as u8) << 4);
        self.bytes.push(flags);
        self.bytes.extend_from_slice(&64240u16.to_be_bytes());
        self.bytes.extend_from_slice(&[0, 0, 0, 0]);
        self.bytes.extend_from_slice(options);
        self.bytes
            .extend(std::iter::repeat_n(1u8, opt_len - options.len()));
        self.bytes.extend_from_slice(payload);
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
