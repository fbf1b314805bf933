//! JA4 TLS client fingerprint (FoxIO, BSD-3-Clause method).
//!
//! `JA4 = a_b_c` where `a` = protocol, TLS version, SNI flag, cipher count, extension count
//! and ALPN first/last characters; `b` = the first 12 hex digits of SHA-256 over the sorted
//! cipher suites; `c` = the same over the sorted extensions (without SNI and ALPN) followed
//! by `_` and the signature algorithms in wire order. GREASE values are ignored everywhere.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// Transport the hello travelled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// TLS over TCP (`t`).
    Tcp,
    /// QUIC (`q`).
    Quic,
    /// DTLS (`d`).
    Dtls,
}

/// What JA4 needs of a ClientHello, in wire order, GREASE included (it is filtered here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHello {
    /// Transport.
    pub protocol: Protocol,
    /// `legacy_version` of the hello (0x0303 for TLS 1.2 and 1.3 hellos).
    pub legacy_version: u16,
    /// The `supported_versions` extension, when present.
    pub supported_versions: Vec<u16>,
    /// Cipher suites.
    pub ciphers: Vec<u16>,
    /// Extension types.
    pub extensions: Vec<u16>,
    /// The ALPN protocol list (first entry matters).
    pub alpn: Vec<Vec<u8>>,
    /// The `signature_algorithms` extension's list.
    pub signature_algorithms: Vec<u16>,
}

/// A computed JA4 with its raw (`ja4_r`) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ja4Parts {
    /// Hashed fingerprint, e.g. `t13d1516h2_8daaf6152771_02713d6af862`.
    pub ja4: String,
    /// Raw fingerprint with the sorted lists in clear.
    pub ja4_r: String,
}

/// GREASE values (RFC 8701): `0x?a?a` with equal bytes.
pub fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

fn version_code(v: u16) -> &'static str {
    match v {
        0x0304 => "13",
        0x0303 => "12",
        0x0302 => "11",
        0x0301 => "10",
        0x0300 => "s3",
        0x0002 => "s2",
        0xfeff => "d1",
        0xfefd => "d2",
        0xfefc => "d3",
        _ => "00",
    }
}

fn alpn_code(alpn: &[Vec<u8>]) -> String {
    let Some(first) = alpn.first().filter(|a| !a.is_empty()) else {
        return "00".into();
    };
    let (f, l) = (first[0], first[first.len() - 1]);
    if f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() {
        format!("{}{}", f as char, l as char)
    } else {
        let hex: String = first.iter().map(|b| format!("{b:02x}")).collect();
        let h = hex.as_bytes();
        format!("{}{}", h[0] as char, h[h.len() - 1] as char)
    }
}

fn hex_list(values: &[u16]) -> String {
    let mut s = String::with_capacity(values.len() * 5);
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(s, "{v:04x}");
    }
    s
}

/// First 12 hex digits of SHA-256, or twelve zeros for an empty input.
pub fn hash12(s: &str) -> String {
    if s.is_empty() {
        return "000000000000".into();
    }
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

impl ClientHello {
    /// Computes JA4 and ja4_r.
    pub fn ja4(&self) -> Ja4Parts {
        let proto = match self.protocol {
            Protocol::Tcp => 't',
            Protocol::Quic => 'q',
            Protocol::Dtls => 'd',
        };
        let version = self
            .supported_versions
            .iter()
            .copied()
            .filter(|v| !is_grease(*v))
            .max()
            .unwrap_or(self.legacy_version);
        let mut ciphers: Vec<u16> = self
            .ciphers
            .iter()
            .copied()
            .filter(|c| !is_grease(*c))
            .collect();
        let exts: Vec<u16> = self
            .extensions
            .iter()
            .copied()
            .filter(|e| !is_grease(*e))
            .collect();
        let sni = if exts.contains(&0x0000) { 'd' } else { 'i' };
        let a = format!(
            "{proto}{}{sni}{:02}{:02}{}",
            version_code(version),
            ciphers.len().min(99),
            exts.len().min(99),
            alpn_code(&self.alpn)
        );
        ciphers.sort_unstable();
        let mut sorted_exts: Vec<u16> = exts
            .into_iter()
            .filter(|e| *e != 0x0000 && *e != 0x0010)
            .collect();
        sorted_exts.sort_unstable();
        let sigs: Vec<u16> = self
            .signature_algorithms
            .iter()
            .copied()
            .filter(|s| !is_grease(*s))
            .collect();
        let c_clear = hex_list(&ciphers);
        let mut e_clear = hex_list(&sorted_exts);
        if !sigs.is_empty() {
            e_clear.push('_');
            e_clear.push_str(&hex_list(&sigs));
        }
        Ja4Parts {
            ja4: format!("{a}_{}_{}", hash12(&c_clear), hash12(&e_clear)),
            ja4_r: format!("{a}_{c_clear}_{e_clear}"),
        }
    }
}

/// Hashes a raw `ja4_r` string (`a_ciphers_extensions[_sigalgs]`) to its JA4.
/// Returns `None` when it does not have at least the three parts.
pub fn ja4_from_raw(raw: &str) -> Option<String> {
    let mut parts = raw.splitn(3, '_');
    let a = parts.next()?;
    let ciphers = parts.next()?;
    let rest = parts.next()?;
    if a.len() != 10 {
        return None;
    }
    Some(format!("{a}_{}_{}", hash12(ciphers), hash12(rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values() {
        assert!(is_grease(0x0a0a) && is_grease(0xfafa) && is_grease(0x3a3a));
        assert!(!is_grease(0x0a1a) && !is_grease(0x1301));
    }

    #[test]
    fn chrome_like_hello() {
        // Chrome 1xx ciphers and extensions with GREASE, as in FoxIO's README example.
        let hello = ClientHello {
            protocol: Protocol::Tcp,
            legacy_version: 0x0303,
            supported_versions: vec![0x2a2a, 0x0304, 0x0303],
            ciphers: vec![
                0x1a1a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ],
            extensions: vec![
                0x0a0a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d,
                0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x4469, 0xfe0d, 0x4a4a,
            ],
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            signature_algorithms: vec![
                0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
            ],
        };
        let p = hello.ja4();
        assert_eq!(p.ja4, "t13d1516h2_8daaf6152771_02713d6af862");
        assert!(p.ja4_r.starts_with("t13d1516h2_002f,0035,009c"));
        assert_eq!(ja4_from_raw(&p.ja4_r).as_deref(), Some(p.ja4.as_str()));
    }

    #[test]
    fn non_alphanumeric_alpn_uses_hex() {
        assert_eq!(alpn_code(&[vec![0xab, 0x01]]), "a1");
        assert_eq!(alpn_code(&[]), "00");
    }
}
