//! Capture files: classic pcap (both byte orders, micro- and nanosecond timestamps) and
//! pcapng (sections of either byte order, several interfaces with their own link types and
//! timestamp resolutions; enhanced, simple and obsolete packet blocks).
//!
//! The reader streams: one packet's bytes are held at a time, in a buffer reused from packet
//! to packet, so a capture of any size is read in bounded memory.

use std::io::{self, Read};

/// Why a capture cannot be read further.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The first bytes are neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng capture (first bytes {0:02x?})")]
    NotACapture(Vec<u8>),
    /// The file ends inside a header or a packet (a capture cut short, e.g. by a full disk).
    #[error("capture truncated at byte {offset}")]
    Truncated {
        /// Offset of the block or record that is cut short.
        offset: u64,
    },
    /// A block or record header that cannot be right.
    #[error("malformed capture at byte {offset}: {why}")]
    Malformed {
        /// Offset of the block or record.
        offset: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// Reading failed.
    #[error("cannot read the capture: {0}")]
    Io(#[from] io::Error),
}

/// Largest packet or block accepted (256 MiB, far above any snap length).
const MAX_BLOCK: usize = 256 << 20;

/// One captured packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// Capture time, microseconds since the epoch.
    pub ts_us: i64,
    /// The interface's link type (LINKTYPE_* value).
    pub link_type: u32,
    /// Captured bytes (possibly fewer than were on the wire).
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    link_type: u32,
    /// Timestamp units per second.
    units: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_s: i64,
}

enum Kind {
    Pcap {
        big_endian: bool,
        nanos: bool,
        link_type: u32,
    },
    PcapNg {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Streams the packets of a pcap or pcapng capture.
pub struct CaptureReader<R> {
    r: R,
    kind: Kind,
    buf: Vec<u8>,
    offset: u64,
}

fn u16_at(b: &[u8], be: bool) -> u16 {
    let a = [b[0], b[1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

fn u32_at(b: &[u8], be: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

/// Reads exactly `buf.len()` bytes; `Ok(false)` at a clean end of file (nothing read).
fn fill(r: &mut impl Read, buf: &mut [u8], offset: u64) -> Result<bool, CaptureError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) if n == 0 => return Ok(false),
            Ok(0) => return Err(CaptureError::Truncated { offset }),
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Whether these first bytes start a capture file.
pub fn is_capture(first: &[u8]) -> bool {
    matches!(
        first.get(..4),
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
                | [0x0a, 0x0d, 0x0d, 0x0a]
        )
    )
}

impl<R: Read> CaptureReader<R> {
    /// Reads the file header.
    pub fn new(mut r: R) -> Result<Self, CaptureError> {
        let mut magic = [0u8; 4];
        if !fill(&mut r, &mut magic, 0)? {
            return Err(CaptureError::NotACapture(Vec::new()));
        }
        let pcap = |big_endian, nanos| (big_endian, nanos);
        let kind = match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => Some(pcap(false, false)),
            [0xa1, 0xb2, 0xc3, 0xd4] => Some(pcap(true, false)),
            [0x4d, 0x3c, 0xb2, 0xa1] => Some(pcap(false, true)),
            [0xa1, 0xb2, 0x3c, 0x4d] => Some(pcap(true, true)),
            [0x0a, 0x0d, 0x0d, 0x0a] => None,
            other => return Err(CaptureError::NotACapture(other.to_vec())),
        };
        let mut reader = CaptureReader {
            r,
            kind: Kind::PcapNg {
                big_endian: false,
                interfaces: Vec::new(),
            },
            buf: Vec::with_capacity(1 << 16),
            offset: 4,
        };
        match kind {
            Some((big_endian, nanos)) => {
                let mut h = [0u8; 20];
                if !fill(&mut reader.r, &mut h, 4)? {
                    return Err(CaptureError::Truncated { offset: 4 });
                }
                reader.offset = 24;
                reader.kind = Kind::Pcap {
                    big_endian,
                    nanos,
                    // The upper bits carry FCS information (LINKTYPE_FCS...).
                    link_type: u32_at(&h[16..20], big_endian) & 0x0fff_ffff,
                };
            }
            None => {
                let mut len = [0u8; 4];
                if !fill(&mut reader.r, &mut len, 0)? {
                    return Err(CaptureError::Truncated { offset: 0 });
                }
                reader.section_header(0, len)?;
            }
        }
        Ok(reader)
    }

    /// Reads a pcapng section header block at `at` whose type and length fields (the
    /// latter in a byte order still unknown) were just consumed.
    fn section_header(&mut self, at: u64, len: [u8; 4]) -> Result<(), CaptureError> {
        let mut bom = [0u8; 4];
        if !fill(&mut self.r, &mut bom, at)? {
            return Err(CaptureError::Truncated { offset: at });
        }
        let big_endian = match bom {
            [0x1a, 0x2b, 0x3c, 0x4d] => true,
            [0x4d, 0x3c, 0x2b, 0x1a] => false,
            _ => {
                return Err(CaptureError::Malformed {
                    offset: at,
                    why: "section header with an unknown byte-order magic",
                })
            }
        };
        let total = u32_at(&len, big_endian) as usize;
        if !(28..=MAX_BLOCK).contains(&total) || !total.is_multiple_of(4) {
            return Err(CaptureError::Malformed {
                offset: at,
                why: "section header length",
            });
        }
        self.buf.resize(total - 12, 0);
        if !fill(&mut self.r, &mut self.buf, at)? {
            return Err(CaptureError::Truncated { offset: at });
        }
        self.offset = at + total as u64;
        self.kind = Kind::PcapNg {
            big_endian,
            interfaces: Vec::new(),
        };
        Ok(())
    }

    /// The next packet, `None` at the end of the capture.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        match self.kind {
            Kind::Pcap {
                big_endian,
                nanos,
                link_type,
            } => self.next_pcap(big_endian, nanos, link_type),
            Kind::PcapNg { .. } => self.next_pcapng(),
        }
    }

    fn next_pcap(
        &mut self,
        be: bool,
        nanos: bool,
        link_type: u32,
    ) -> Result<Option<Packet<'_>>, CaptureError> {
        let at = self.offset;
        let mut h = [0u8; 16];
        if !fill(&mut self.r, &mut h, at)? {
            return Ok(None);
        }
        let secs = u32_at(&h[0..4], be) as i64;
        let frac = u32_at(&h[4..8], be) as i64;
        let incl = u32_at(&h[8..12], be) as usize;
        let orig_len = u32_at(&h[12..16], be);
        if incl > MAX_BLOCK {
            return Err(CaptureError::Malformed {
                offset: at,
                why: "packet record longer than 256 MiB",
            });
        }
        self.buf.resize(incl, 0);
        if incl > 0 && !fill(&mut self.r, &mut self.buf, at)? {
            return Err(CaptureError::Truncated { offset: at });
        }
        self.offset = at + 16 + incl as u64;
        let ts_us = secs * 1_000_000 + if nanos { frac / 1000 } else { frac };
        Ok(Some(Packet {
            ts_us,
            link_type,
            data: &self.buf,
            orig_len,
        }))
    }

    fn next_pcapng(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        loop {
            let at = self.offset;
            let mut h = [0u8; 8];
            if !fill(&mut self.r, &mut h, at)? {
                return Ok(None);
            }
            if h[..4] == [0x0a, 0x0d, 0x0d, 0x0a] {
                // A new section: it may change the byte order and resets the interfaces.
                self.section_header(at, [h[4], h[5], h[6], h[7]])?;
                continue;
            }
            let Kind::PcapNg {
                big_endian: be,
                ref mut interfaces,
            } = self.kind
            else {
                unreachable!("pcapng reader in pcap mode")
            };
            let block_type = u32_at(&h[..4], be);
            let total = u32_at(&h[4..8], be) as usize;
            if !(12..=MAX_BLOCK).contains(&total) || !total.is_multiple_of(4) {
                return Err(CaptureError::Malformed {
                    offset: at,
                    why: "block length is not a multiple of 4 between 12 bytes and 256 MiB",
                });
            }
            self.buf.resize(total - 8, 0);
            if !fill(&mut self.r, &mut self.buf, at)? {
                return Err(CaptureError::Truncated { offset: at });
            }
            self.offset = at + total as u64;
            let body = &self.buf[..total - 12];
            match block_type {
                1 => interfaces.push(interface(body, be)),
                6 | 2 => {
                    // Enhanced (6) or obsolete (2) packet block.
                    if body.len() < 20 {
                        return Err(CaptureError::Malformed {
                            offset: at,
                            why: "packet block shorter than its header",
                        });
                    }
                    let iface = if block_type == 6 {
                        u32_at(&body[0..4], be) as usize
                    } else {
                        u16_at(&body[0..2], be) as usize
                    };
                    let ts =
                        ((u32_at(&body[4..8], be) as u64) << 32) | u32_at(&body[8..12], be) as u64;
                    let cap = u32_at(&body[12..16], be) as usize;
                    let orig_len = u32_at(&body[16..20], be);
                    let Some(ifc) = interfaces.get(iface).copied() else {
                        return Err(CaptureError::Malformed {
                            offset: at,
                            why: "packet on an interface that was never described",
                        });
                    };
                    if cap > body.len().saturating_sub(20) {
                        return Err(CaptureError::Malformed {
                            offset: at,
                            why: "captured length beyond the block",
                        });
                    }
                    // A hostile if_tsoffset or resolution saturates instead of overflowing.
                    let ts_us = i64::try_from((ts as u128 * 1_000_000) / ifc.units as u128)
                        .unwrap_or(i64::MAX)
                        .saturating_add(ifc.offset_s.saturating_mul(1_000_000));
                    return Ok(Some(Packet {
                        ts_us,
                        link_type: ifc.link_type,
                        data: &self.buf[20..20 + cap],
                        orig_len,
                    }));
                }
                3 => {
                    // Simple packet block: interface 0, no timestamp.
                    let Some(ifc) = interfaces.first().copied() else {
                        return Err(CaptureError::Malformed {
                            offset: at,
                            why: "simple packet block before any interface",
                        });
                    };
                    if body.len() < 4 {
                        return Err(CaptureError::Malformed {
                            offset: at,
                            why: "simple packet block shorter than its header",
                        });
                    }
                    let orig_len = u32_at(&body[0..4], be);
                    let cap = (orig_len as usize).min(body.len() - 4);
                    return Ok(Some(Packet {
                        ts_us: 0,
                        link_type: ifc.link_type,
                        data: &self.buf[4..4 + cap],
                        orig_len,
                    }));
                }
                _ => {} // statistics, name resolution, custom, decryption secrets...
            }
        }
    }
}

/// Parses an interface description block body: link type, `if_tsresol`, `if_tsoffset`.
fn interface(body: &[u8], be: bool) -> Interface {
    let mut ifc = Interface {
        link_type: body.get(..2).map_or(0, |b| u16_at(b, be) as u32),
        units: 1_000_000,
        offset_s: 0,
    };
    let mut opts = body.get(8..).unwrap_or(&[]);
    while opts.len() >= 4 {
        let code = u16_at(&opts[0..2], be);
        let len = u16_at(&opts[2..4], be) as usize;
        let Some(value) = opts.get(4..4 + len) else {
            break;
        };
        match code {
            0 => break,
            9 if len >= 1 => {
                let r = value[0];
                let exp = (r & 0x7f) as u32;
                ifc.units = if r & 0x80 == 0 {
                    10u64.checked_pow(exp).unwrap_or(1_000_000)
                } else {
                    1u64.checked_shl(exp).unwrap_or(1_000_000)
                }
                .max(1);
            }
            14 if len >= 8 => {
                ifc.offset_s = if be {
                    i64::from_be_bytes(value[..8].try_into().unwrap_or([0; 8]))
                } else {
                    i64::from_le_bytes(value[..8].try_into().unwrap_or([0; 8]))
                };
            }
            _ => {}
        }
        opts = opts.get(4 + len.div_ceil(4) * 4..).unwrap_or(&[]);
    }
    ifc
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_le(packets: &[(&[u8], u32, u32)]) -> Vec<u8> {
        let mut f = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65535u32.to_le_bytes());
        f.extend_from_slice(&1u32.to_le_bytes());
        for (data, s, us) in packets {
            f.extend_from_slice(&s.to_le_bytes());
            f.extend_from_slice(&us.to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(&(data.len() as u32).to_le_bytes());
            f.extend_from_slice(data);
        }
        f
    }

    #[test]
    fn reads_classic_pcap_and_reports_truncation() {
        let f = pcap_le(&[(b"abc", 10, 5), (b"defg", 11, 0)]);
        let mut r = CaptureReader::new(&f[..]).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.ts_us, p.data, p.link_type), (10_000_005, &b"abc"[..], 1));
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(p.data, b"defg");
        assert!(r.next_packet().unwrap().is_none());
        let cut = &f[..f.len() - 2];
        let mut r = CaptureReader::new(cut).unwrap();
        r.next_packet().unwrap();
        assert!(matches!(
            r.next_packet(),
            Err(CaptureError::Truncated { offset: 43 })
        ));
    }

    /// A little-endian pcapng block.
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = (12 + body.len().div_ceil(4) * 4) as u32;
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.resize(len as usize - 4, 0);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }

    #[test]
    fn hostile_pcapng_values_saturate_or_are_refused_without_a_panic() {
        let mut shb = 0x1a2b_3c4du32.to_le_bytes().to_vec();
        shb.extend_from_slice(&[1, 0, 0, 0]);
        shb.extend_from_slice(&(-1i64).to_le_bytes());
        // An interface whose time offset is i64::MAX seconds and resolution 10^-127.
        let mut idb = vec![1, 0, 0, 0];
        idb.extend_from_slice(&65535u32.to_le_bytes());
        idb.extend_from_slice(&[9, 0, 1, 0, 127, 0, 0, 0]);
        idb.extend_from_slice(&[14, 0, 8, 0]);
        idb.extend_from_slice(&i64::MAX.to_le_bytes());
        idb.extend_from_slice(&[0, 0, 0, 0]);
        let epb = |ts: u64, cap: u32, data: &[u8]| {
            let mut b = 0u32.to_le_bytes().to_vec();
            b.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
            b.extend_from_slice(&(ts as u32).to_le_bytes());
            b.extend_from_slice(&cap.to_le_bytes());
            b.extend_from_slice(&(data.len() as u32).to_le_bytes());
            b.extend_from_slice(data);
            block(6, &b)
        };
        let mut f = block(0x0a0d_0d0a, &shb);
        f.extend(block(1, &idb));
        f.extend(epb(u64::MAX, 3, b"abc"));
        let mut r = CaptureReader::new(&f[..]).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.data, p.ts_us), (&b"abc"[..], i64::MAX));
        // A captured length near u32::MAX is refused, not added to.
        let mut f = block(0x0a0d_0d0a, &shb);
        f.extend(block(1, &idb));
        f.extend(epb(0, u32::MAX, b"abc"));
        let mut r = CaptureReader::new(&f[..]).unwrap();
        assert!(matches!(
            r.next_packet(),
            Err(CaptureError::Malformed { .. })
        ));
    }

    #[test]
    fn refuses_other_files() {
        assert!(matches!(
            CaptureReader::new(&b"{\"time\":1}"[..]),
            Err(CaptureError::NotACapture(_))
        ));
        assert!(!is_capture(b"GET / HTTP/1.1"));
    }
}
