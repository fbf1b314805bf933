//! QUIC Initial packets (RFC 9000/9001, QUIC v2 RFC 9369, IETF drafts 23–34, Facebook's
//! mvfst drafts, Google's TLS-based T050 and T051, and the versions that force version
//! negotiation): header protection
//! removal and AEAD decryption with the keys every observer can derive from the client's
//! first Destination Connection ID, then CRYPTO frame reassembly into the TLS handshake.

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes128;
use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes128Gcm, Nonce, Tag};
use hkdf::Hkdf;
use sha2::Sha256;

const V1: u32 = 0x0000_0001;
const V2: u32 = 0x6b33_43cf;
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
const SALT_DRAFT22: [u8; 20] = [
    0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd,
    0x7a, 0x02, 0x64, 0x4a,
];
const SALT_DRAFT23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];
const SALT_T050: [u8; 20] = [
    0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c,
    0x60, 0x48, 0x83, 0x10,
];
const SALT_T051: [u8; 20] = [
    0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc,
    0xda, 0x6e, 0x03, 0x3d,
];
const SALT_DRAFT29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];

/// The parts of a QUIC version that matter to Initial packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    salt: &'static [u8; 20],
    initial_type: u8,
    v2_labels: bool,
}

/// A version whose Initials are laid out and labelled as v1's, with its own salt.
const fn v1_like(salt: &'static [u8; 20]) -> Option<Version> {
    Some(Version {
        salt,
        initial_type: 0,
        v2_labels: false,
    })
}

/// The versions reserved to make the server answer with version negotiation (0x?a?a?a?a).
fn forces_negotiation(v: u32) -> bool {
    v & 0x0f0f_0f0f == 0x0a0a_0a0a
}

fn version(v: u32) -> Option<Version> {
    match v {
        // Drafts 33 and 34 are v1.
        V1 | 0xff00_0021 | 0xff00_0022 => v1_like(&SALT_V1),
        V2 => Some(Version {
            salt: &SALT_V2,
            initial_type: 1,
            v2_labels: true,
        }),
        0xff00_001d..=0xff00_0020 => v1_like(&SALT_DRAFT29),
        // The versions reserved to force version negotiation (0x?a?a?a?a): their Initials
        // are protected as draft 29's, or as v1's (tried next).
        _ if forces_negotiation(v) => v1_like(&SALT_DRAFT29),
        // Facebook's mvfst draft-22 version.
        0xface_b001 => v1_like(&SALT_DRAFT22),
        // IETF drafts 23 to 28, and mvfst's draft-27 based versions.
        0xff00_0017..=0xff00_001c | 0xface_b002 | 0xface_b00e => v1_like(&SALT_DRAFT23),
        // Google QUIC with the TLS handshake ("T050", "T051").
        0x5430_3530 => v1_like(&SALT_T050),
        0x5430_3531 => v1_like(&SALT_T051),
        _ => None,
    }
}

/// Which side's Initial keys to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Packets sent by the client.
    Client,
    /// Packets sent by the server.
    Server,
}

/// Initial packet protection keys for one side of one connection.
#[derive(Clone)]
pub struct Keys {
    aead: Aes128Gcm,
    iv: [u8; 12],
    hp: Aes128,
}

fn expand_label(secret: &[u8], label: &str, len: usize) -> Vec<u8> {
    let full = format!("tls13 {label}");
    let mut info = Vec::with_capacity(4 + full.len());
    info.extend_from_slice(&(len as u16).to_be_bytes());
    info.push(full.len() as u8);
    info.extend_from_slice(full.as_bytes());
    info.push(0);
    let mut out = vec![0u8; len];
    // Lengths here are at most 32 bytes: far below HKDF's limit.
    let hk = Hkdf::<Sha256>::from_prk(secret).expect("a 32-byte pseudo-random key");
    hk.expand(&info, &mut out).expect("a short HKDF output");
    out
}

impl Keys {
    /// The AEAD nonce of packet number `pn`: the IV with the number XORed into its end.
    fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut nonce = self.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            nonce[4 + i] ^= b;
        }
        nonce
    }

    fn derive(ver: Version, dcid: &[u8], side: Side) -> Keys {
        let (prk, _) = Hkdf::<Sha256>::extract(Some(ver.salt), dcid);
        let secret = expand_label(
            &prk,
            match side {
                Side::Client => "client in",
                Side::Server => "server in",
            },
            32,
        );
        let (k, i, h) = if ver.v2_labels {
            ("quicv2 key", "quicv2 iv", "quicv2 hp")
        } else {
            ("quic key", "quic iv", "quic hp")
        };
        let key = expand_label(&secret, k, 16);
        let iv = expand_label(&secret, i, 12);
        let hp = expand_label(&secret, h, 16);
        let mut ivb = [0u8; 12];
        ivb.copy_from_slice(&iv);
        Keys {
            aead: Aes128Gcm::new_from_slice(&key).expect("a 16-byte key"),
            iv: ivb,
            hp: Aes128::new_from_slice(&hp).expect("a 16-byte key"),
        }
    }
}

fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let first = *b.get(*at)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(*at..*at + len)?;
    let mut v = (first & 0x3f) as u64;
    for x in &bytes[1..] {
        v = (v << 8) | *x as u64;
    }
    *at += len;
    Some(v)
}

/// The unprotected header facts of a long-header Initial packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialHeader {
    /// QUIC version.
    pub version: u32,
    /// Destination connection ID.
    pub dcid: Vec<u8>,
}

/// Reads the Initial header at the start of `datagram`, if it is one of a known version.
pub fn initial_header(datagram: &[u8]) -> Option<InitialHeader> {
    let b0 = *datagram.first()?;
    if b0 & 0xc0 != 0xc0 {
        return None;
    }
    let v = u32::from_be_bytes(datagram.get(1..5)?.try_into().ok()?);
    let ver = version(v)?;
    if (b0 >> 4) & 3 != ver.initial_type {
        return None;
    }
    let dl = *datagram.get(5)? as usize;
    if dl > 20 {
        return None;
    }
    Some(InitialHeader {
        version: v,
        dcid: datagram.get(6..6 + dl)?.to_vec(),
    })
}

/// Decrypts every Initial packet coalesced in `datagram` with the keys of `side` derived from
/// `original_dcid`, appending their CRYPTO frames as `(offset, data)`. Returns whether at
/// least one packet decrypted (a wrong key or a non-Initial packet decrypts nothing).
pub fn decrypt_initials(
    datagram: &[u8],
    original_dcid: &[u8],
    side: Side,
    crypto: &mut Vec<(u64, Vec<u8>)>,
) -> bool {
    let mut rest = datagram;
    let mut any = false;
    let mut keys: Option<(u32, Keys)> = None;
    while rest.len() > 7 && rest[0] & 0xc0 == 0xc0 {
        let Some(len) = one_packet(rest, original_dcid, side, &mut keys, crypto, &mut any) else {
            break;
        };
        rest = &rest[len..];
    }
    any
}

/// Handles one long-header packet; returns its length (to reach the next coalesced one).
fn one_packet(
    p: &[u8],
    original_dcid: &[u8],
    side: Side,
    keys: &mut Option<(u32, Keys)>,
    crypto: &mut Vec<(u64, Vec<u8>)>,
    any: &mut bool,
) -> Option<usize> {
    let v = u32::from_be_bytes(p.get(1..5)?.try_into().ok()?);
    let ver = version(v)?;
    let mut at = 5;
    let dl = *p.get(at)? as usize;
    at += 1 + dl;
    let sl = *p.get(at)? as usize;
    at += 1 + sl;
    let is_initial = (p[0] >> 4) & 3 == ver.initial_type;
    if is_initial {
        let token = varint(p, &mut at)? as usize;
        at += token;
    } else if (p[0] >> 4) & 3 == 3 {
        return None; // Retry: no length field, ends the datagram
    }
    let length = varint(p, &mut at)? as usize;
    let pn_offset = at;
    let end = pn_offset.checked_add(length)?;
    if end > p.len() || length < 20 {
        return None;
    }
    if !is_initial {
        return Some(end); // Handshake or 0-RTT: keys unknown to an observer
    }
    if keys.as_ref().is_none_or(|(kv, _)| *kv != v) {
        *keys = Some((v, Keys::derive(ver, original_dcid, side)));
    }
    let mut plain = unprotect(p, pn_offset, end, &keys.as_ref()?.1);
    if plain.is_none() && forces_negotiation(v) {
        // A version forcing negotiation: clients protect it as draft 29 (the usual) or v1.
        let v1 = version(V1)?;
        plain = unprotect(p, pn_offset, end, &Keys::derive(v1, original_dcid, side));
    }
    let Some(plain) = plain else {
        return Some(end);
    };
    *any = true;
    // Google's T05x number the CRYPTO frame 0x08 (IETF's STREAM).
    crypto_frames(&plain, crypto, v >> 8 == 0x54_3035);
    Some(end)
}

/// Builds a protected Initial packet of `version` (as an endpoint of `side` would send it):
/// the long header with `dcid` and `scid`, a 4-byte packet number, `frames` followed by
/// PADDING to `pad_to` bytes of payload, sealed with the Initial keys derived from
/// `key_dcid` and header protection applied. For captures written by tests.
#[allow(clippy::too_many_arguments)]
pub fn protect_initial(
    version: u32,
    key_dcid: &[u8],
    dcid: &[u8],
    scid: &[u8],
    pn: u32,
    frames: &[u8],
    pad_to: usize,
    side: Side,
) -> Option<Vec<u8>> {
    let ver = self::version(version)?;
    let keys = Keys::derive(ver, key_dcid, side);
    let mut plain = frames.to_vec();
    plain.resize(plain.len().max(pad_to), 0);
    let length = 4 + plain.len() + 16;
    if length >= 1 << 14 || dcid.len() > 20 || scid.len() > 20 {
        return None;
    }
    let mut header = vec![0xc0 | (ver.initial_type << 4) | 0x03];
    header.extend_from_slice(&version.to_be_bytes());
    header.push(dcid.len() as u8);
    header.extend_from_slice(dcid);
    header.push(scid.len() as u8);
    header.extend_from_slice(scid);
    header.push(0); // no token
    header.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    let pn_offset = header.len();
    header.extend_from_slice(&pn.to_be_bytes());
    let nonce = keys.nonce(u64::from(pn));
    let tag = keys
        .aead
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &header, &mut plain)
        .ok()?;
    let mut packet = header;
    packet.extend_from_slice(&plain);
    packet.extend_from_slice(&tag);
    let mut sample = aes::Block::clone_from_slice(&packet[pn_offset + 4..pn_offset + 20]);
    keys.hp.encrypt_block(&mut sample);
    packet[0] ^= sample[0] & 0x0f;
    for i in 0..4 {
        packet[pn_offset + i] ^= sample[1 + i];
    }
    Some(packet)
}

/// A CRYPTO frame carrying `data` at `offset` of the handshake stream.
pub fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    for v in [offset, data.len() as u64] {
        f.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes());
    }
    f.extend_from_slice(data);
    f
}

/// Removes header protection from the packet `p[..end]` (its packet number at `pn_offset`)
/// and decrypts its payload with `k`; `None` when the keys are not the packet's.
fn unprotect(p: &[u8], pn_offset: usize, end: usize, k: &Keys) -> Option<Vec<u8>> {
    let mut sample = aes::Block::clone_from_slice(p.get(pn_offset + 4..pn_offset + 20)?);
    k.hp.encrypt_block(&mut sample);
    let mask = sample;
    let b0 = p[0] ^ (mask[0] & 0x0f);
    let pn_len = (b0 & 3) as usize + 1;
    let mut header = p[..pn_offset + pn_len].to_vec();
    header[0] = b0;
    let mut pn: u64 = 0;
    for i in 0..pn_len {
        header[pn_offset + i] ^= mask[1 + i];
        pn = (pn << 8) | header[pn_offset + i] as u64;
    }
    let body = p.get(pn_offset + pn_len..end)?;
    if body.len() < 16 {
        return None;
    }
    let (ct, tag) = body.split_at(body.len() - 16);
    let nonce = k.nonce(pn);
    let mut plain = ct.to_vec();
    k.aead
        .decrypt_in_place_detached(
            Nonce::from_slice(&nonce),
            &header,
            &mut plain,
            Tag::from_slice(tag),
        )
        .ok()?;
    Some(plain)
}

/// CRYPTO pieces one direction of a connection keeps: a ClientHello spans a few Initials,
/// so more pieces, bytes, or an offset beyond these are a sender's, not a handshake's.
pub const MAX_CRYPTO_PIECES: usize = 256;
/// Bytes of CRYPTO pieces kept per direction.
pub const MAX_CRYPTO_BYTES: usize = 256 * 1024;
/// Largest CRYPTO offset kept.
pub const MAX_CRYPTO_OFFSET: u64 = 64 * 1024;

/// Keeps a CRYPTO piece unless it repeats one already held or goes beyond the bounds.
fn keep_piece(crypto: &mut Vec<(u64, Vec<u8>)>, off: u64, data: &[u8]) {
    let held: usize = crypto.iter().map(|(_, d)| d.len()).sum();
    if crypto.len() >= MAX_CRYPTO_PIECES
        || off >= MAX_CRYPTO_OFFSET
        || held + data.len() > MAX_CRYPTO_BYTES
        || crypto
            .iter()
            .any(|(o, d)| *o == off && d.len() >= data.len())
    {
        return;
    }
    crypto.push((off, data.to_vec()));
}

/// Collects CRYPTO frames from a decrypted Initial payload (PADDING, PING, ACK and
/// CONNECTION_CLOSE are skipped; anything else ends the walk). `google`: the frame is
/// numbered 0x08, as Google's TLS-based versions do.
fn crypto_frames(b: &[u8], crypto: &mut Vec<(u64, Vec<u8>)>, google: bool) {
    let crypto_type = if google { 0x08 } else { 0x06 };
    let mut at = 0;
    while at < b.len() {
        let Some(ty) = varint(b, &mut at) else { return };
        let ok = match ty {
            0x00 | 0x01 => Some(()),
            0x02 | 0x03 => (|| {
                varint(b, &mut at)?;
                varint(b, &mut at)?;
                let ranges = varint(b, &mut at)?;
                varint(b, &mut at)?;
                for _ in 0..ranges.min(1024) {
                    varint(b, &mut at)?;
                    varint(b, &mut at)?;
                }
                if ty == 0x03 {
                    for _ in 0..3 {
                        varint(b, &mut at)?;
                    }
                }
                Some(())
            })(),
            t if t == crypto_type => (|| {
                let off = varint(b, &mut at)?;
                let len = varint(b, &mut at)? as usize;
                let data = b.get(at..at.checked_add(len)?)?;
                at += len;
                keep_piece(crypto, off, data);
                Some(())
            })(),
            0x1c | 0x1d => (|| {
                varint(b, &mut at)?;
                if ty == 0x1c {
                    varint(b, &mut at)?;
                }
                let n = varint(b, &mut at)? as usize;
                at = at.checked_add(n)?;
                Some(())
            })(),
            _ => None,
        };
        if ok.is_none() {
            return;
        }
    }
}

/// Assembles CRYPTO pieces into the contiguous bytes from offset 0 (overlaps resolved in
/// favour of the first copy); stops at the first gap.
pub fn assemble(pieces: &mut [(u64, Vec<u8>)], limit: usize) -> Vec<u8> {
    pieces.sort_by_key(|(o, _)| *o);
    let mut out: Vec<u8> = Vec::new();
    for (off, data) in pieces.iter() {
        let off = *off as usize;
        if off > out.len() || out.len() >= limit {
            break;
        }
        let skip = out.len() - off;
        if skip < data.len() {
            out.extend_from_slice(&data[skip..]);
        }
    }
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crypto_pieces_are_bounded_and_repeats_cost_nothing() {
        let mut c = Vec::new();
        for _ in 0..10_000 {
            keep_piece(&mut c, 0, b"hello");
        }
        assert_eq!(c.len(), 1);
        for off in 0..10_000u64 {
            keep_piece(&mut c, off * 5 + 5, b"world");
        }
        assert_eq!(c.len(), MAX_CRYPTO_PIECES);
        keep_piece(&mut c, MAX_CRYPTO_OFFSET, b"x");
        assert_eq!(c.len(), MAX_CRYPTO_PIECES);
        assert_eq!(&assemble(&mut c, 10)[..], b"helloworld");
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9001 Appendix A.1: keys for DCID 0x8394c8f03e515708.
    #[test]
    fn rfc9001_client_keys() {
        let dcid = hex("8394c8f03e515708");
        let (prk, _) = Hkdf::<Sha256>::extract(Some(&SALT_V1), &dcid);
        assert_eq!(
            prk.to_vec(),
            hex("7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44")
        );
        let client = expand_label(&prk, "client in", 32);
        assert_eq!(
            client,
            hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea")
        );
        assert_eq!(
            expand_label(&client, "quic key", 16),
            hex("1f369613dd76d5467730efcbe3b1a22d")
        );
        assert_eq!(
            expand_label(&client, "quic iv", 12),
            hex("fa044b2f42a3fd3b46fb255c")
        );
        assert_eq!(
            expand_label(&client, "quic hp", 16),
            hex("9f50449e04a0e810283a1e9933adedd2")
        );
    }

    #[test]
    fn assembles_out_of_order_pieces() {
        let mut p = vec![
            (4, b"efgh".to_vec()),
            (0, b"abcd".to_vec()),
            (2, b"cdef".to_vec()),
        ];
        assert_eq!(assemble(&mut p, 100), b"abcdefgh");
        let mut gap = vec![(5, b"x".to_vec()), (0, b"ab".to_vec())];
        assert_eq!(assemble(&mut gap, 100), b"ab");
    }
}
