//! Cleartext HTTP/2 (h2c, prior knowledge or after an `Upgrade: h2c`): the client's first
//! SETTINGS, connection WINDOW_UPDATE and PRIORITY frames and the pseudo-header order of its
//! first HEADERS (the Akamai fingerprint), and every request's headers (HPACK-decoded);
//! the server's HEADERS give each stream's status.

use shrike_fingerprint::H2Settings;

/// The connection preface a client sends first.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Largest header block accepted (HEADERS + CONTINUATION).
const MAX_BLOCK: usize = 256 * 1024;
/// Largest HPACK dynamic table a size update may ask for. A server advertises its own
/// (4 KiB by default, 64 KiB at most among common servers) and ends the connection of a
/// client that asks for more; the decoder here refuses the same way.
pub const MAX_TABLE: usize = 64 * 1024;
/// Largest decoded header list of one request (RFC 7541 sizes: name + value + 32 per field).
/// One-byte references to a large table entry make a small block decode into a huge list;
/// a list beyond this ends the connection's reading (its earlier requests are kept).
pub const MAX_HEADER_LIST: usize = 32 * 1024;

/// One request seen on a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2Request {
    /// Stream id.
    pub stream: u32,
    /// Decoded header fields in order, pseudo-headers included.
    pub headers: Vec<(String, String)>,
}

/// What one direction of an HTTP/2 connection produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A client request (HEADERS on a new stream).
    Request(H2Request),
    /// A server response head: stream and `:status`.
    Status(u32, u16),
}

/// One direction of an HTTP/2 connection.
pub struct H2Direction {
    client: bool,
    preface_left: usize,
    decoder: loona_hpack::Decoder<'static>,
    /// Fingerprint parts (client direction only).
    pub fingerprint: H2Settings,
    settings_seen: bool,
    window_seen: bool,
    headers_seen: bool,
    block: Option<(u32, Vec<u8>)>,
    skip: usize,
    /// The connection is broken (HPACK error, oversized block): stop reading it.
    pub failed: bool,
    /// It broke because a header list or the table went beyond the bounds
    /// ([`MAX_TABLE`], [`MAX_HEADER_LIST`]).
    pub oversized: bool,
}

impl H2Direction {
    /// A reader for the client (expects the preface) or the server side.
    pub fn new(client: bool) -> Self {
        H2Direction {
            client,
            preface_left: if client { PREFACE.len() } else { 0 },
            decoder: {
                let mut d = loona_hpack::Decoder::new();
                d.set_max_allowed_table_size(MAX_TABLE);
                d
            },
            fingerprint: H2Settings::default(),
            settings_seen: false,
            window_seen: false,
            headers_seen: false,
            block: None,
            skip: 0,
            failed: false,
            oversized: false,
        }
    }

    /// Whether the fingerprint is complete (first HEADERS seen).
    pub fn fingerprinted(&self) -> bool {
        self.headers_seen
    }

    /// Consumes whole frames from the front of `buf`, pushing what they mean to `out`.
    pub fn feed(&mut self, buf: &mut Vec<u8>, out: &mut Vec<Event>) {
        let mut at = 0;
        while !self.failed {
            let rest = &buf[at..];
            if self.preface_left > 0 {
                let done = PREFACE.len() - self.preface_left;
                let n = self.preface_left.min(rest.len());
                if rest[..n] != PREFACE[done..done + n] {
                    self.failed = true;
                    break;
                }
                self.preface_left -= n;
                at += n;
                if self.preface_left > 0 {
                    break;
                }
                continue;
            }
            if self.skip > 0 {
                let n = self.skip.min(rest.len());
                self.skip -= n;
                at += n;
                if self.skip > 0 {
                    break;
                }
                continue;
            }
            if rest.len() < 9 {
                break;
            }
            let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
            let (ty, flags) = (rest[3], rest[4]);
            let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
            if ty == 0 {
                // DATA: skipped as it streams by, whatever its size.
                at += 9;
                self.skip = len;
                continue;
            }
            if len > MAX_BLOCK {
                self.failed = true;
                break;
            }
            let Some(payload) = rest.get(9..9 + len) else {
                break;
            };
            let payload = payload.to_vec();
            at += 9 + len;
            self.frame(ty, flags, stream, &payload, out);
        }
        buf.drain(..at.min(buf.len()));
    }

    fn frame(&mut self, ty: u8, flags: u8, stream: u32, p: &[u8], out: &mut Vec<Event>) {
        match ty {
            // SETTINGS (not an ACK): the first one is the fingerprint's.
            4 if flags & 1 == 0 && self.client && !self.settings_seen => {
                self.settings_seen = true;
                self.fingerprint.settings = p
                    .chunks_exact(6)
                    .map(|c| {
                        (
                            u16::from_be_bytes([c[0], c[1]]),
                            u32::from_be_bytes([c[2], c[3], c[4], c[5]]),
                        )
                    })
                    .collect();
            }
            8 if stream == 0 && self.client && !self.window_seen && p.len() >= 4 => {
                self.window_seen = true;
                self.fingerprint.window_update =
                    u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff;
            }
            2 if self.client && !self.headers_seen && p.len() >= 5 => {
                let dep = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                self.fingerprint.priorities.push(format!(
                    "{stream}:{}:{}:{}",
                    dep >> 31,
                    dep & 0x7fff_ffff,
                    p[4] as u32 + 1
                ));
            }
            1 => {
                let mut frag = p;
                if flags & 0x08 != 0 {
                    let pad = *frag.first().unwrap_or(&0) as usize;
                    frag = frag.get(1..frag.len().saturating_sub(pad)).unwrap_or(&[]);
                }
                if flags & 0x20 != 0 {
                    frag = frag.get(5..).unwrap_or(&[]);
                }
                self.block = Some((stream, frag.to_vec()));
                if flags & 0x04 != 0 {
                    self.end_block(out);
                }
            }
            9 => {
                if let Some((s, b)) = self.block.as_mut() {
                    if *s == stream {
                        b.extend_from_slice(p);
                        if b.len() > MAX_BLOCK {
                            self.failed = true;
                            return;
                        }
                    }
                }
                if flags & 0x04 != 0 {
                    self.end_block(out);
                }
            }
            _ => {}
        }
    }

    fn end_block(&mut self, out: &mut Vec<Event>) {
        let Some((stream, block)) = self.block.take() else {
            return;
        };
        let mut headers = Vec::new();
        // Sizes are counted before anything is copied: references into the table are
        // borrowed, so a block of them costs a callback each once over the bounds.
        let mut list = 0usize;
        let mut over = false;
        let decoded = self.decoder.decode_with_cb(&block, |n, v| {
            list += n.len() + v.len() + 32;
            if over || list > MAX_HEADER_LIST {
                over = true;
                return;
            }
            headers.push((
                String::from_utf8_lossy(&n).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        });
        if let Err(e) = decoded {
            // The dynamic table is now unknown: nothing after this can be decoded.
            self.oversized = matches!(e, loona_hpack::decoder::DecoderError::InvalidMaxDynamicSize);
            self.failed = true;
            return;
        }
        if over {
            self.oversized = true;
            self.failed = true;
            return;
        }
        if self.client {
            if !self.headers_seen {
                self.headers_seen = true;
                self.fingerprint.pseudo_headers = headers
                    .iter()
                    .filter(|(n, _)| n.starts_with(':'))
                    .map(|(n, _)| n.clone())
                    .collect();
            }
            out.push(Event::Request(H2Request { stream, headers }));
        } else if let Some(s) = headers
            .iter()
            .find(|(n, _)| n == ":status")
            .and_then(|(_, v)| v.parse().ok())
        {
            out.push(Event::Status(stream, s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[ty, flags]);
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    /// A client's preface, SETTINGS and one ordinary request on stream 1.
    fn opening(enc: &mut loona_hpack::Encoder<'_>) -> Vec<u8> {
        let mut wire = PREFACE.to_vec();
        wire.extend(frame(4, 0, 0, &[]));
        let block = enc.encode([
            (&b":method"[..], &b"GET"[..]),
            (b":path", b"/"),
            (b":authority", b"example.org"),
            (b":scheme", b"http"),
        ]);
        wire.extend(frame(1, 0x05, 1, &block));
        wire
    }

    fn read(wire: &[u8]) -> (H2Direction, Vec<Event>) {
        let mut d = H2Direction::new(true);
        let mut out = Vec::new();
        let mut buf = wire.to_vec();
        d.feed(&mut buf, &mut out);
        (d, out)
    }

    /// A header block of `n` one-byte references to dynamic-table entry 62, after a
    /// literal of `value_len` bytes added to the table.
    fn bomb(value_len: usize, n: usize) -> Vec<u8> {
        // Literal with incremental indexing, new name: 0x40, name, value (no Huffman).
        let mut block = vec![0x40, 1, b'x'];
        // The value length as an HPACK integer with a 7-bit prefix.
        let mut len = value_len;
        if len < 127 {
            block.push(len as u8);
        } else {
            block.push(127);
            len -= 127;
            while len >= 128 {
                block.push((len % 128 + 128) as u8);
                len /= 128;
            }
            block.push(len as u8);
        }
        block.extend(std::iter::repeat_n(b'a', value_len));
        block.extend(std::iter::repeat_n(0x80 | 62, n));
        block
    }

    #[test]
    fn a_header_list_that_decodes_beyond_the_bound_ends_the_connection_not_the_process() {
        let mut enc = loona_hpack::Encoder::new();
        let mut wire = opening(&mut enc);
        // 4,000 bytes in the default 4 KiB table, then 200,000 one-byte references to it:
        // 800 MB decoded from a 200 KB block.
        let block = bomb(4000, 200_000);
        let mut first = true;
        for chunk in block.chunks(16_000) {
            let (ty, flags) = match (first, chunk.as_ptr_range().end == block.as_ptr_range().end) {
                (true, _) => (1, 0),
                (false, true) => (9, 0x04),
                (false, false) => (9, 0),
            };
            first = false;
            wire.extend(frame(ty, flags, 3, chunk));
        }
        let (d, out) = read(&wire);
        assert!(d.failed && d.oversized);
        // The request before the bomb is kept.
        assert_eq!(out.len(), 1, "{out:?}");
    }

    #[test]
    fn a_table_larger_than_any_server_allows_ends_the_connection() {
        let mut enc = loona_hpack::Encoder::new();
        let mut wire = opening(&mut enc);
        // A dynamic table size update to 2^20 (0x20 prefix, 5-bit integer), then a field.
        let mut block = vec![0x3f];
        let mut v = (1usize << 20) - 31;
        while v >= 128 {
            block.push((v % 128 + 128) as u8);
            v /= 128;
        }
        block.push(v as u8);
        block.push(0x82); // :method GET
        wire.extend(frame(1, 0x05, 3, &block));
        let (d, out) = read(&wire);
        assert!(d.failed && d.oversized);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn ordinary_requests_stay_below_every_bound() {
        let mut enc = loona_hpack::Encoder::new();
        let mut wire = opening(&mut enc);
        let ua = vec![b'u'; 2000];
        for stream in (3..2000).step_by(2) {
            let block = enc.encode([
                (&b":method"[..], &b"GET"[..]),
                (b":path", b"/a"),
                (b":authority", b"example.org"),
                (b":scheme", b"http"),
                (b"user-agent", &ua[..]),
            ]);
            wire.extend(frame(1, 0x05, stream, &block));
        }
        let (d, out) = read(&wire);
        assert!(!d.failed);
        assert_eq!(out.len(), 1000);
    }

    #[test]
    fn firefox_like_client_gives_its_akamai_fingerprint() {
        let mut enc = loona_hpack::Encoder::new();
        let block = enc.encode([
            (&b":method"[..], &b"GET"[..]),
            (b":path", b"/"),
            (b":authority", b"example.org"),
            (b":scheme", b"http"),
            (b"user-agent", b"Mozilla/5.0 Firefox/128.0"),
        ]);
        let mut wire = PREFACE.to_vec();
        let settings: Vec<u8> = [(1u16, 65536u32), (4, 131072), (5, 16384)]
            .iter()
            .flat_map(|(k, v)| k.to_be_bytes().into_iter().chain(v.to_be_bytes()))
            .collect();
        wire.extend(frame(4, 0, 0, &settings));
        wire.extend(frame(8, 0, 0, &12_517_377u32.to_be_bytes()));
        wire.extend(frame(2, 0, 3, &[0, 0, 0, 0, 200]));
        wire.extend(frame(1, 0x05, 1, &block));
        wire.extend(frame(0, 1, 1, &[0; 40]));
        let mut d = H2Direction::new(true);
        let mut out = Vec::new();
        // Fed in two halves: frames split anywhere must still parse.
        let mut buf = wire[..30].to_vec();
        d.feed(&mut buf, &mut out);
        buf.extend_from_slice(&wire[30..]);
        d.feed(&mut buf, &mut out);
        assert!(buf.is_empty());
        assert_eq!(
            shrike_fingerprint::akamai_fingerprint(&d.fingerprint),
            "1:65536;4:131072;5:16384|12517377|3:0:0:201|m,p,a,s"
        );
        let [Event::Request(r)] = &out[..] else {
            panic!("{out:?}")
        };
        assert_eq!(r.stream, 1);
        assert_eq!(r.headers[4].1, "Mozilla/5.0 Firefox/128.0");
    }
}
