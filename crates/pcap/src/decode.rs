//! Packet decoding: link layer → IP → TCP/UDP, through the tunnels seen in front of web
//! servers (802.1Q/QinQ, MPLS, PPPoE, IP-in-IP, GRE with PPTP's PPP, ERSPAN, VXLAN,
//! Geneve, CAPWAP, GTP-U).
//!
//! Link types: Ethernet, BSD and OpenBSD loopback, raw IP (and its IPv4 and IPv6
//! variants), Linux cooked v1 and v2, PPP (with or without HDLC framing), PPPoE, Cisco
//! HDLC, Linux NFLOG, and IEEE 802.11 data frames (bare or behind radiotap).
//!
//! Decoding borrows from the packet; nothing is copied. The innermost IP packet is the one
//! reported (the client's, inside any tunnel).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP-layer facts about the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpInfo {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6).
    pub ttl: u8,
    /// IPv4 identification (`None` for IPv6).
    pub id: Option<u16>,
    /// IPv4 don't-fragment flag (`None` for IPv6).
    pub df: Option<bool>,
    /// IPv4 total length, or IPv6 payload length + 40.
    pub total_len: u32,
}

/// A TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Sequence number.
    pub seq: u32,
    /// Flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    pub flags: u8,
    /// Advertised window (unscaled).
    pub window: u16,
    /// Raw options.
    pub options: &'a [u8],
    /// Payload (as captured: may be shorter than sent when the snap length cut it).
    pub payload: &'a [u8],
}

/// TCP flag bits.
pub mod flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// ACK.
    pub const ACK: u8 = 0x10;
}

/// The transport part of a decoded packet.
#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    /// TCP.
    Tcp(TcpSegment<'a>),
    /// UDP.
    Udp {
        /// Source port.
        sport: u16,
        /// Destination port.
        dport: u16,
        /// Payload.
        payload: &'a [u8],
    },
}

/// A decoded packet.
#[derive(Debug, Clone, Copy)]
pub struct Decoded<'a> {
    /// IP layer.
    pub ip: IpInfo,
    /// Transport layer.
    pub transport: Transport<'a>,
}

/// Why a packet was not decoded to TCP or UDP (counted per capture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// A link type shrike does not read.
    LinkType,
    /// Not IP (ARP, LLDP, STP...).
    NotIp,
    /// IP but neither TCP nor UDP (ICMP, ESP, OSPF...), or a tunnel shrike does not open.
    OtherProtocol,
    /// A non-first IP fragment (its transport header is elsewhere).
    Fragment,
    /// Cut short by the snap length or malformed.
    Truncated,
}

impl Skip {
    /// Short name for reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            Skip::LinkType => "unsupported link type",
            Skip::NotIp => "not IP",
            Skip::OtherProtocol => "neither TCP nor UDP",
            Skip::Fragment => "non-first IP fragment",
            Skip::Truncated => "truncated or malformed",
        }
    }
}

const MAX_DEPTH: u8 = 4;
/// VXLAN: the IANA port, and Linux's historical default.
const VXLAN_PORTS: [u16; 2] = [4789, 8472];
const VXLAN_GPE_PORT: u16 = 4790;
const GENEVE_PORT: u16 = 6081;
/// CAPWAP's data channel (RFC 5415), from wireless LAN controllers' access points.
const CAPWAP_DATA_PORT: u16 = 5247;
/// GTP-U (3GPP TS 29.281), mobile networks' user plane.
const GTP_U_PORT: u16 = 2152;

/// The big-endian 16-bit value at `at`, if the bytes hold it.
pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// The big-endian 32-bit value at `at`, if the bytes hold it.
pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Decodes one captured frame of the given link type.
pub fn decode(link_type: u32, data: &[u8]) -> Result<Decoded<'_>, Skip> {
    match link_type {
        1 => ethernet(data, 0),
        // BSD loopback: address family in host byte order.
        0 => {
            let fam = data.get(..4).ok_or(Skip::Truncated)?;
            let v = u32::from_le_bytes(fam.try_into().map_err(|_| Skip::Truncated)?);
            let v = if v > 0xffff { v.swap_bytes() } else { v };
            match v {
                2 => ipv4(&data[4..], 0),
                24 | 28 | 30 => ipv6(&data[4..], 0),
                _ => Err(Skip::NotIp),
            }
        }
        108 => match be32(data, 0).ok_or(Skip::Truncated)? {
            2 => ipv4(&data[4..], 0),
            24 | 28 | 30 => ipv6(&data[4..], 0),
            _ => Err(Skip::NotIp),
        },
        101 | 12 | 14 => raw_ip(data, 0),
        228 => ipv4(data, 0),
        229 => ipv6(data, 0),
        // Linux cooked capture v1 (16-byte header) and v2 (20-byte header).
        113 => ether_payload(be16(data, 14).ok_or(Skip::Truncated)?, &data[16..], 0),
        276 => ether_payload(
            be16(data, 0).ok_or(Skip::Truncated)?,
            data.get(20..).ok_or(Skip::Truncated)?,
            0,
        ),
        // PPP, and PPP in HDLC-like framing.
        9 | 50 => ppp(data, 0),
        // PPPoE without Ethernet: the 6-byte session header, then PPP.
        51 => ppp(data.get(6..).ok_or(Skip::Truncated)?, 0),
        // Cisco HDLC: address, control, then an EtherType.
        104 => ether_payload(
            be16(data, 2).ok_or(Skip::Truncated)?,
            data.get(4..).ok_or(Skip::Truncated)?,
            0,
        ),
        105 => ieee80211(data, 0),
        // Radiotap: its own length (little-endian) at offset 2, then the 802.11 frame.
        127 => {
            let len = data.get(2..4).ok_or(Skip::Truncated)?;
            let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
            ieee80211(data.get(len..).ok_or(Skip::Truncated)?, 0)
        }
        239 => nflog(data),
        _ => Err(Skip::LinkType),
    }
}

/// A PPP frame: the optional HDLC address and control bytes (`ff 03`), then the protocol
/// (one byte when compressed: an odd first byte).
fn ppp(b: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    let b = b.strip_prefix(&[0xff, 0x03]).unwrap_or(b);
    let (proto, rest) = match b.first() {
        Some(p) if p & 1 == 1 => (u16::from(*p), &b[1..]),
        Some(_) => (be16(b, 0).ok_or(Skip::Truncated)?, &b[2..]),
        None => return Err(Skip::Truncated),
    };
    match proto {
        0x0021 => ipv4(rest, depth),
        0x0057 => ipv6(rest, depth),
        _ => Err(Skip::NotIp),
    }
}

/// Linux NFLOG: a 4-byte header (address family, version, group), then type-length-value
/// attributes in host byte order, 4-byte aligned; the packet is the payload attribute (9).
fn nflog(b: &[u8]) -> Result<Decoded<'_>, Skip> {
    let mut at = 4;
    while let Some(tl) = b.get(at..at + 4) {
        let len = usize::from(u16::from_le_bytes([tl[0], tl[1]]));
        let ty = u16::from_le_bytes([tl[2], tl[3]]);
        if len < 4 {
            return Err(Skip::Truncated);
        }
        let value = b.get(at + 4..at + len).ok_or(Skip::Truncated)?;
        if ty == 9 {
            return raw_ip(value, 0);
        }
        at += len.div_ceil(4) * 4;
    }
    Err(Skip::NotIp)
}

/// An IEEE 802.11 data frame: its header (24 bytes, 30 with four addresses, plus QoS and
/// HT control), then LLC/SNAP and an EtherType. Protected frames and frames without data
/// are not IP to shrike.
fn ieee80211(b: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    let (fc0, fc1) = match b {
        // The protocol version (low bits of the first byte) is 0: some access points send
        // the frame control field byte-swapped over CAPWAP.
        [a, c, ..] if a & 3 != 0 && c & 3 == 0 => (*c, *a),
        [a, c, ..] => (*a, *c),
        _ => return Err(Skip::Truncated),
    };
    let (ty, subtype) = ((fc0 >> 2) & 3, fc0 >> 4);
    if ty != 2 || subtype & 0x04 != 0 || fc1 & 0x40 != 0 {
        return Err(Skip::NotIp);
    }
    let mut off = if fc1 & 0x03 == 0x03 { 30 } else { 24 };
    if subtype & 0x08 != 0 {
        off += 2;
        if fc1 & 0x80 != 0 {
            off += 4;
        }
    }
    let llc = b.get(off..off + 8).ok_or(Skip::Truncated)?;
    if llc[..6] != [0xaa, 0xaa, 0x03, 0, 0, 0] {
        return Err(Skip::NotIp);
    }
    ether_payload(be16(llc, 6).unwrap_or(0), &b[off + 8..], depth)
}

/// A CAPWAP data packet (RFC 5415): a header of HLEN 4-byte words, then an IEEE 802.11
/// frame (T set, wireless binding 1) or an Ethernet frame. Fragments are not reassembled.
fn capwap(b: &[u8], depth: u8) -> Option<Result<Decoded<'_>, Skip>> {
    let word = be32(b, 0)?;
    if word >> 24 != 0 {
        return None; // a DTLS-protected packet, or not CAPWAP
    }
    let hlen = ((word >> 19) & 0x1f) as usize * 4;
    let (wbid, native, fragment) = ((word >> 9) & 0x1f, word >> 8 & 1 == 1, word >> 7 & 1 == 1);
    if hlen < 8 || fragment {
        return None;
    }
    let inner = b.get(hlen..)?;
    Some(match (native, wbid) {
        (true, 1) => ieee80211(inner, depth),
        (true, _) => Err(Skip::NotIp),
        (false, _) => ethernet(inner, depth),
    })
}

/// The user's packet in a GTP-U G-PDU: version 1, message type 255, an 8-byte header, 4
/// more bytes when a sequence number, N-PDU number or extension header is flagged, then
/// the chain of extension headers (a length in 4-byte units, the last byte naming the
/// next).
fn gtp_u(b: &[u8]) -> Option<&[u8]> {
    let flags = *b.first()?;
    if flags >> 5 != 1 || flags & 0x10 == 0 || *b.get(1)? != 0xff {
        return None;
    }
    let mut off = 8;
    if flags & 0x07 != 0 {
        let mut next = *b.get(11)?;
        off = 12;
        while next != 0 {
            let units = usize::from(*b.get(off)?);
            if units == 0 {
                return None;
            }
            off += units * 4;
            next = *b.get(off - 1)?;
        }
    }
    b.get(off..)
}

fn raw_ip(data: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    match data.first().map(|b| b >> 4) {
        Some(4) => ipv4(data, depth),
        Some(6) => ipv6(data, depth),
        Some(_) => Err(Skip::NotIp),
        None => Err(Skip::Truncated),
    }
}

fn ethernet(data: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    let ty = be16(data, 12).ok_or(Skip::Truncated)?;
    ether_payload(ty, &data[14..], depth)
}

fn ether_payload(mut ty: u16, mut rest: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    if depth > MAX_DEPTH {
        return Err(Skip::OtherProtocol);
    }
    loop {
        match ty {
            0x0800 => return ipv4(rest, depth),
            0x86dd => return ipv6(rest, depth),
            0x8100 | 0x88a8 | 0x9100 => {
                ty = be16(rest, 2).ok_or(Skip::Truncated)?;
                rest = &rest[4..];
            }
            0x8847 | 0x8848 => {
                // MPLS: labels until the bottom-of-stack bit, then guess IP by version.
                loop {
                    let label = rest.get(..4).ok_or(Skip::Truncated)?;
                    rest = &rest[4..];
                    if label[2] & 1 == 1 {
                        break;
                    }
                }
                return raw_ip(rest, depth);
            }
            0x8864 => {
                // PPPoE session: 6-byte header then the PPP protocol.
                let proto = be16(rest, 6).ok_or(Skip::Truncated)?;
                rest = &rest[8..];
                return match proto {
                    0x0021 => ipv4(rest, depth),
                    0x0057 => ipv6(rest, depth),
                    _ => Err(Skip::NotIp),
                };
            }
            _ => return Err(Skip::NotIp),
        }
    }
}

fn ipv4(b: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    if b.len() < 20 || b[0] >> 4 != 4 {
        return Err(Skip::Truncated);
    }
    let ihl = (b[0] & 0x0f) as usize * 4;
    let total = be16(b, 2).unwrap_or(0) as usize;
    if ihl < 20 || b.len() < ihl {
        return Err(Skip::Truncated);
    }
    let frag = be16(b, 6).unwrap_or(0);
    if frag & 0x1fff != 0 {
        return Err(Skip::Fragment);
    }
    // Trailing Ethernet padding is not payload; a snap-length cut keeps what was captured.
    let end = if total >= ihl {
        total.min(b.len())
    } else {
        b.len()
    };
    let ip = IpInfo {
        src: IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15])),
        dst: IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19])),
        ttl: b[8],
        id: Some(be16(b, 4).unwrap_or(0)),
        df: Some(frag & 0x4000 != 0),
        total_len: total as u32,
    };
    transport(ip, b[9], &b[ihl..end], depth)
}

fn ipv6(b: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return Err(Skip::Truncated);
    }
    let plen = be16(b, 4).unwrap_or(0) as usize;
    let addr = |at: usize| {
        let mut a = [0u8; 16];
        a.copy_from_slice(&b[at..at + 16]);
        IpAddr::V6(Ipv6Addr::from(a))
    };
    let ip = IpInfo {
        src: addr(8),
        dst: addr(24),
        ttl: b[7],
        id: None,
        df: None,
        total_len: plen as u32 + 40,
    };
    let end = if plen == 0 {
        b.len() // jumbogram or unknown: take what was captured
    } else {
        (40 + plen).min(b.len())
    };
    let mut next = b[6];
    let mut rest = &b[40..end];
    // Extension headers.
    for _ in 0..8 {
        match next {
            0 | 43 | 60 => {
                let len = (*rest.get(1).ok_or(Skip::Truncated)? as usize + 1) * 8;
                next = rest[0];
                rest = rest.get(len..).ok_or(Skip::Truncated)?;
            }
            44 => {
                let off = be16(rest, 2).ok_or(Skip::Truncated)?;
                if off & 0xfff8 != 0 {
                    return Err(Skip::Fragment);
                }
                next = rest[0];
                rest = rest.get(8..).ok_or(Skip::Truncated)?;
            }
            51 => {
                let len = (*rest.get(1).ok_or(Skip::Truncated)? as usize + 2) * 4;
                next = rest[0];
                rest = rest.get(len..).ok_or(Skip::Truncated)?;
            }
            _ => break,
        }
    }
    transport(ip, next, rest, depth)
}

fn transport(ip: IpInfo, proto: u8, b: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    match proto {
        6 => {
            if b.len() < 20 {
                return Err(Skip::Truncated);
            }
            let off = (b[12] >> 4) as usize * 4;
            if off < 20 || b.len() < off {
                return Err(Skip::Truncated);
            }
            Ok(Decoded {
                ip,
                transport: Transport::Tcp(TcpSegment {
                    sport: be16(b, 0).unwrap_or(0),
                    dport: be16(b, 2).unwrap_or(0),
                    seq: be32(b, 4).unwrap_or(0),
                    flags: b[13],
                    window: be16(b, 14).unwrap_or(0),
                    options: &b[20..off],
                    payload: &b[off..],
                }),
            })
        }
        17 => {
            if b.len() < 8 {
                return Err(Skip::Truncated);
            }
            let sport = be16(b, 0).unwrap_or(0);
            let dport = be16(b, 2).unwrap_or(0);
            let ulen = be16(b, 4).unwrap_or(0) as usize;
            let end = if ulen >= 8 {
                ulen.min(b.len())
            } else {
                b.len()
            };
            let payload = &b[8..end];
            if depth < MAX_DEPTH {
                if VXLAN_PORTS.contains(&dport) && payload.len() >= 8 && payload[0] & 0x08 != 0 {
                    return ethernet(&payload[8..], depth + 1);
                }
                // VXLAN-GPE: a next-protocol byte when the P flag is set.
                if dport == VXLAN_GPE_PORT && payload.len() >= 8 {
                    let inner = &payload[8..];
                    return match (payload[0] & 0x04 != 0, payload[3]) {
                        (true, 1) => ipv4(inner, depth + 1),
                        (true, 2) => ipv6(inner, depth + 1),
                        (true, 3) | (false, _) => ethernet(inner, depth + 1),
                        _ => Err(Skip::OtherProtocol),
                    };
                }
                if dport == GTP_U_PORT || sport == GTP_U_PORT {
                    if let Some(inner) = gtp_u(payload) {
                        return raw_ip(inner, depth + 1);
                    }
                }
                if dport == CAPWAP_DATA_PORT || sport == CAPWAP_DATA_PORT {
                    if let Some(inner) = capwap(payload, depth + 1) {
                        return inner;
                    }
                }
                if dport == GENEVE_PORT && payload.len() >= 8 {
                    let opt = (payload[0] & 0x3f) as usize * 4;
                    let ty = be16(payload, 2).unwrap_or(0);
                    let inner = payload.get(8 + opt..).ok_or(Skip::Truncated)?;
                    return if ty == 0x6558 {
                        ethernet(inner, depth + 1)
                    } else {
                        ether_payload(ty, inner, depth + 1)
                    };
                }
            }
            Ok(Decoded {
                ip,
                transport: Transport::Udp {
                    sport,
                    dport,
                    payload,
                },
            })
        }
        4 if depth < MAX_DEPTH => ipv4(b, depth + 1),
        41 if depth < MAX_DEPTH => ipv6(b, depth + 1),
        47 if depth < MAX_DEPTH => gre(b, depth + 1),
        _ => Err(Skip::OtherProtocol),
    }
}

fn gre(b: &[u8], depth: u8) -> Result<Decoded<'_>, Skip> {
    let fl = be16(b, 0).ok_or(Skip::Truncated)?;
    let ty = be16(b, 2).ok_or(Skip::Truncated)?;
    let mut off = 4;
    if fl & 0x8000 != 0 {
        off += 4; // checksum + reserved
    }
    if fl & 0x2000 != 0 {
        off += 4; // key
    }
    let seq = fl & 0x1000 != 0;
    if seq {
        off += 4;
    }
    if fl & 0x0007 == 1 && fl & 0x0080 != 0 {
        off += 4; // PPTP's enhanced GRE (version 1): an acknowledgment number
    }
    let rest = b.get(off..).ok_or(Skip::Truncated)?;
    match ty {
        0x880b => ppp(rest, depth),
        0x6558 => ethernet(rest, depth),
        // ERSPAN type II (8-byte header; type I has no sequence number and no header).
        0x88be if seq => ethernet(rest.get(8..).ok_or(Skip::Truncated)?, depth),
        0x88be => ethernet(rest, depth),
        // ERSPAN type III: 12-byte header, plus 8 when the optional subheader flag is set.
        0x22eb => {
            let o = rest.get(11).ok_or(Skip::Truncated)? & 1 != 0;
            ethernet(
                rest.get(if o { 20 } else { 12 }..).ok_or(Skip::Truncated)?,
                depth,
            )
        }
        other => ether_payload(other, rest, depth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth_ipv4_tcp(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x08, 0x00]);
        let total = 20 + 20 + payload.len();
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0x12,
            0x34,
            0x40,
            0,
            57,
            6,
            0,
            0,
        ]);
        f.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        f.extend_from_slice(&[
            0xc3, 0x50, 0x01, 0xbb, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
        ]);
        f.extend_from_slice(payload);
        f.extend_from_slice(&[0; 6]); // Ethernet padding
        f
    }

    #[test]
    fn ethernet_ipv4_tcp_without_padding() {
        let f = eth_ipv4_tcp(b"GET / HTTP/1.1\r\n");
        let d = decode(1, &f).unwrap();
        assert_eq!(d.ip.ttl, 57);
        assert_eq!(d.ip.id, Some(0x1234));
        assert_eq!(d.ip.df, Some(true));
        let Transport::Tcp(t) = d.transport else {
            panic!("not TCP")
        };
        assert_eq!((t.sport, t.dport, t.seq), (50000, 443, 1));
        assert_eq!(t.payload, b"GET / HTTP/1.1\r\n");
    }

    #[test]
    fn vlan_and_vxlan_are_opened() {
        let inner = eth_ipv4_tcp(b"x");
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x05, 0x08, 0x00]);
        let udp_len = 8 + 8 + inner.len();
        let total = 20 + udp_len;
        f.extend_from_slice(&[
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0,
            0,
            64,
            17,
            0,
            0,
        ]);
        f.extend_from_slice(&[192, 168, 0, 1, 192, 168, 0, 2]);
        f.extend_from_slice(&[
            0x30,
            0x39,
            0x12,
            0xb5,
            (udp_len >> 8) as u8,
            udp_len as u8,
            0,
            0,
        ]);
        f.extend_from_slice(&[0x08, 0, 0, 0, 0, 0, 1, 0]);
        f.extend_from_slice(&inner);
        let d = decode(1, &f).unwrap();
        assert_eq!(d.ip.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(matches!(d.transport, Transport::Tcp(t) if t.payload == b"x"));
    }

    #[test]
    fn non_ip_and_fragments_are_skipped() {
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0, 0]);
        assert_eq!(decode(1, &arp).unwrap_err(), Skip::NotIp);
        let mut f = eth_ipv4_tcp(b"x");
        f[14 + 6] = 0x00;
        f[14 + 7] = 0x10; // fragment offset 16
        assert_eq!(decode(1, &f).unwrap_err(), Skip::Fragment);
        assert_eq!(decode(147, &f).unwrap_err(), Skip::LinkType);
    }
}
