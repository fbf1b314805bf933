//! TLS handshake parsing: the ClientHello fields JA4 needs (with SNI and ALPN), and the
//! ServerHello's chosen version, cipher and ALPN. Input is a complete handshake message
//! (type, 3-byte length, body), taken from TLS records over TCP or from QUIC CRYPTO frames.

use shrike_fingerprint::{ClientHello, Protocol};

/// What shrike keeps of a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The fields JA4 is computed from.
    pub hello: ClientHello,
    /// Server name indication (`None` when absent or not valid UTF-8).
    pub sni: Option<String>,
}

/// What shrike keeps of a ServerHello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerHello {
    /// Negotiated version (`supported_versions` when present, else the legacy field).
    pub version: u16,
    /// Chosen cipher suite.
    pub cipher: u16,
    /// ALPN chosen, when the ServerHello carries it (TLS 1.2; TLS 1.3 hides it).
    pub alpn: Option<shrike_types::Alpn>,
}

/// Largest handshake message considered (a ClientHello with post-quantum key shares and
/// many extensions stays far below).
pub const MAX_HANDSHAKE: usize = 64 * 1024;

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()? as usize;
        self.take(n)
    }
}

fn u16_list(b: &[u8]) -> Vec<u16> {
    b.chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect()
}

/// Splits a handshake message into (type, body) when it is complete.
pub fn message(b: &[u8]) -> Option<(u8, &[u8])> {
    let len = u32::from_be_bytes([0, *b.get(1)?, *b.get(2)?, *b.get(3)?]) as usize;
    Some((b[0], b.get(4..4 + len)?))
}

/// The total length of the handshake message starting `b`, once its header is there.
pub fn message_len(b: &[u8]) -> Option<usize> {
    Some(4 + u32::from_be_bytes([0, *b.get(1)?, *b.get(2)?, *b.get(3)?]) as usize)
}

/// Parses a ClientHello body.
pub fn client_hello(body: &[u8], protocol: Protocol) -> Option<Hello> {
    let mut c = Cursor(body);
    let legacy_version = c.u16()?;
    c.take(32)?;
    c.vec8()?;
    let ciphers = u16_list(c.vec16()?);
    c.vec8()?;
    let mut hello = ClientHello {
        protocol,
        legacy_version,
        supported_versions: Vec::new(),
        ciphers,
        extensions: Vec::new(),
        alpn: Vec::new(),
        signature_algorithms: Vec::new(),
    };
    let mut sni = None;
    // A hello without extensions is valid (old clients); an extension block that does not
    // fit the message is not (a hello cut short or interleaved with another protocol's
    // framing would give a wrong fingerprint).
    let mut ext = Cursor(if c.0.is_empty() { &[] } else { c.vec16()? });
    while !ext.0.is_empty() {
        let ty = ext.u16()?;
        let data = ext.vec16()?;
        hello.extensions.push(ty);
        let mut d = Cursor(data);
        match ty {
            0x0000 => {
                let mut list = Cursor(d.vec16().unwrap_or(&[]));
                while let Some(kind) = list.u8() {
                    let Some(name) = list.vec16() else { break };
                    if kind == 0 && sni.is_none() {
                        sni = std::str::from_utf8(name).ok().map(str::to_owned);
                    }
                }
            }
            0x0010 => {
                let mut list = Cursor(d.vec16().unwrap_or(&[]));
                while let Some(p) = list.vec8() {
                    hello.alpn.push(p.to_vec());
                }
            }
            0x000d => hello.signature_algorithms = u16_list(d.vec16().unwrap_or(&[])),
            0x002b => hello.supported_versions = u16_list(d.vec8().unwrap_or(&[])),
            _ => {}
        }
    }
    Some(Hello { hello, sni })
}

/// Parses a ServerHello body.
pub fn server_hello(body: &[u8]) -> Option<ServerHello> {
    let mut c = Cursor(body);
    let mut version = c.u16()?;
    c.take(32)?;
    c.vec8()?;
    let cipher = c.u16()?;
    c.u8()?;
    let mut alpn = None;
    let mut ext = Cursor(c.vec16().unwrap_or(&[]));
    while !ext.0.is_empty() {
        let ty = ext.u16()?;
        let mut d = Cursor(ext.vec16()?);
        match ty {
            0x002b => version = d.u16().unwrap_or(version),
            0x0010 => {
                let mut list = Cursor(d.vec16().unwrap_or(&[]));
                alpn = list
                    .vec8()
                    .and_then(|p| std::str::from_utf8(p).ok())
                    .and_then(|p| shrike_types::Alpn::from_id(p).ok().flatten());
            }
            _ => {}
        }
    }
    Some(ServerHello {
        version,
        cipher,
        alpn,
    })
}

/// Collects handshake bytes from a stream of TLS records (TCP). Records of other content
/// types end the collection (encrypted data follows the hellos).
#[derive(Debug, Default)]
pub struct RecordReader {
    handshake: Vec<u8>,
}

/// What feeding records produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Records {
    /// More bytes are needed.
    More,
    /// The first handshake message is complete.
    Message(Vec<u8>),
    /// Not TLS, or not a handshake first: give up on this direction.
    NotHandshake,
}

impl RecordReader {
    /// Consumes complete records from the front of `buf` (removing them), returning the first
    /// handshake message once it is whole.
    pub fn feed(&mut self, buf: &mut Vec<u8>) -> Records {
        let mut used = 0;
        let out = loop {
            let rest = &buf[used..];
            if rest.len() < 5 {
                break Records::More;
            }
            let (ty, major, len) = (rest[0], rest[1], u16::from_be_bytes([rest[3], rest[4]]));
            if major != 3 || len as usize > 16384 + 2048 {
                break Records::NotHandshake;
            }
            if ty != 22 {
                break Records::NotHandshake;
            }
            let Some(body) = rest.get(5..5 + len as usize) else {
                break Records::More;
            };
            self.handshake.extend_from_slice(body);
            used += 5 + len as usize;
            match message_len(&self.handshake) {
                Some(n) if n > MAX_HANDSHAKE => break Records::NotHandshake,
                Some(n) if self.handshake.len() >= n => {
                    self.handshake.truncate(n);
                    break Records::Message(std::mem::take(&mut self.handshake));
                }
                _ => {}
            }
        };
        buf.drain(..used);
        out
    }
}

/// What the start of a direction says of an SSL 2.0-format ClientHello, the compatible
/// hello old clients and scanners send before any TLS record.
#[derive(Debug, PartialEq, Eq)]
pub enum Sslv2 {
    /// Not one.
    No,
    /// Its header is there; more bytes are needed.
    More,
    /// A complete one: the hello, and the bytes it took.
    Hello(Box<Hello>, usize),
}

/// Reads an SSL 2.0-format ClientHello at the start of `b`: a 2-byte record header with the
/// high bit set, message type 1, the highest version the client offers (SSL 2.0 to
/// TLS 1.3), then 3-byte cipher specs, a session id and a 16 to 32-byte challenge. Its JA4
/// is what the reference tools give it: that version, with neither ciphers, extensions nor
/// ALPN (the hello has no extensions, and its cipher specs are not TLS cipher suites).
pub fn sslv2_client_hello(b: &[u8]) -> Sslv2 {
    if b.len() < 11 || b[0] & 0x80 == 0 || b[2] != 1 {
        return Sslv2::No;
    }
    let len = usize::from(u16::from_be_bytes([b[0] & 0x7f, b[1]]));
    let version = u16::from_be_bytes([b[3], b[4]]);
    let field = |at: usize| usize::from(u16::from_be_bytes([b[at], b[at + 1]]));
    let (specs, session, challenge) = (field(5), field(7), field(9));
    let valid = matches!(version, 0x0002 | 0x0300..=0x0304)
        && specs > 0
        && specs % 3 == 0
        && matches!(session, 0 | 16)
        && (16..=32).contains(&challenge)
        && len == 9 + specs + session + challenge;
    if !valid {
        return Sslv2::No;
    }
    if b.len() < 2 + len {
        return Sslv2::More;
    }
    let hello = ClientHello {
        protocol: Protocol::Tcp,
        legacy_version: version,
        supported_versions: Vec::new(),
        ciphers: Vec::new(),
        extensions: Vec::new(),
        alpn: Vec::new(),
        signature_algorithms: Vec::new(),
    };
    Sslv2::Hello(Box::new(Hello { hello, sni: None }), 2 + len)
}

/// Whether the bytes start a TLS handshake record holding a ClientHello.
pub fn starts_client_hello(b: &[u8]) -> bool {
    starts_handshake(b, 1)
}

/// Whether the bytes start a TLS handshake record whose first message has type `ty`
/// (1 ClientHello, 2 ServerHello).
pub fn starts_handshake(b: &[u8], ty: u8) -> bool {
    b.len() >= 6 && b[0] == 22 && b[1] == 3 && b[2] <= 4 && b[5] == ty
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SSL 2.0-format hello of Arkime's `https2-301-get.pcap` (an OpenSSL 0.9.8
    /// client), cut to its first two cipher specs: FoxIO's reference prints
    /// `t10i000000_000000000000_000000000000` for it.
    #[test]
    fn an_sslv2_format_hello_gets_the_reference_ja4() {
        let mut b = vec![0x80, 0, 1, 0x03, 0x01, 0, 6, 0, 0, 0, 32];
        b.extend_from_slice(&[0x00, 0x00, 0x39, 0x00, 0x00, 0x38]);
        b.extend_from_slice(&[0x5a; 32]);
        b[1] = (b.len() - 2) as u8;
        assert_eq!(sslv2_client_hello(&b[..20]), Sslv2::More);
        let Sslv2::Hello(h, used) = sslv2_client_hello(&b) else {
            panic!("not read")
        };
        assert_eq!(used, b.len());
        let ja4 = h.hello.ja4();
        assert_eq!(ja4.ja4, "t10i000000_000000000000_000000000000");
        assert_eq!(ja4.ja4_r, "t10i000000__");
        // A TLS record, and bytes whose lengths disagree, are not one.
        assert_eq!(
            sslv2_client_hello(&crate::write::client_hello_record("a.example", 0)),
            Sslv2::No
        );
        b[10] = 8;
        assert_eq!(sslv2_client_hello(&b), Sslv2::No);
    }

    #[test]
    fn parses_a_hello_split_over_two_feeds() {
        let rec = crate::write::client_hello_record("example.com", 0);
        assert!(starts_client_hello(&rec));
        let mut r = RecordReader::default();
        let mut buf = rec[..20].to_vec();
        assert_eq!(r.feed(&mut buf), Records::More);
        buf.extend_from_slice(&rec[20..]);
        let Records::Message(m) = r.feed(&mut buf) else {
            panic!("no message")
        };
        let (ty, body) = message(&m).unwrap();
        assert_eq!(ty, 1);
        let h = client_hello(body, Protocol::Tcp).unwrap();
        assert_eq!(h.sni.as_deref(), Some("example.com"));
        assert_eq!(h.hello.ciphers, vec![0x3a3a, 0x1301, 0x1302]);
        assert_eq!(h.hello.ja4().ja4[..10], *"t13d0205h2");
    }

    #[test]
    fn application_data_first_is_not_a_handshake() {
        let mut buf = vec![23, 3, 3, 0, 1, 0];
        assert_eq!(
            RecordReader::default().feed(&mut buf),
            Records::NotHandshake
        );
    }
}
