//! Fingerprint quality: producer quirks normalised, impossible combinations flagged.
//!
//! Every record of every source passes through [`check`]. A quirk with one right reading is
//! fixed in place and counted; a combination no real client can produce is kept as the
//! producer wrote it and counted as a warning, so that an analyst can see which source
//! (which sensor, which proxy build) writes fingerprints that cannot be trusted.

use std::borrow::Cow;
use std::collections::BTreeMap;

use shrike_types::{HttpVersion, Ja4, RequestRecord, TlsVersion};

/// SHA-256 of the empty string, first 12 hex digits: what some producers (Zeek's JA4
/// package among them) write for an empty cipher or extension list, where JA4 says
/// `000000000000`.
pub const EMPTY_SHA256_12: &str = "e3b0c44298fc";

/// One finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Finding {
    /// An IPv4-mapped IPv6 client address (`::ffff:a.b.c.d`, what a dual-stack socket
    /// reports for an IPv4 client) was rewritten as the IPv4 address it is.
    MappedAddressNormalised,
    /// An empty-list hash written as SHA-256("") was rewritten `000000000000`.
    EmptyHashNormalised,
    /// The connection negotiated a TLS version above the highest the JA4 says was offered.
    NegotiatedAboveOffered,
    /// A QUIC JA4 (`q…`) on an HTTP/1.x or HTTP/2 request (QUIC carries HTTP/3 only).
    QuicWithoutHttp3,
    /// HTTP/2 over TLS while the JA4 says no ALPN was offered (h2 over TLS needs ALPN).
    H2WithoutAlpn,
    /// The JA4 says no SNI (`i`) but the record carries a server name.
    SniFlagContradicted,
    /// `ja4_r` does not hash to the `ja4` given with it.
    RawDoesNotHashToJa4,
}

impl Finding {
    /// Counter key.
    pub const fn key(self) -> &'static str {
        match self {
            Finding::MappedAddressNormalised => "normalised:ipv4_mapped_address",
            Finding::EmptyHashNormalised => "normalised:empty_list_hash",
            Finding::NegotiatedAboveOffered => "impossible:tls_version_above_ja4",
            Finding::QuicWithoutHttp3 => "impossible:quic_ja4_without_http3",
            Finding::H2WithoutAlpn => "impossible:h2_without_alpn",
            Finding::SniFlagContradicted => "impossible:sni_flag_contradicted",
            Finding::RawDoesNotHashToJa4 => "impossible:ja4_r_does_not_hash_to_ja4",
        }
    }
}

/// Findings counted per input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QualityCounts(BTreeMap<Finding, u64>);

impl QualityCounts {
    /// Counts one finding.
    pub fn add(&mut self, f: Finding) {
        *self.0.entry(f).or_default() += 1;
    }

    /// Adds another worker's counts.
    pub fn merge(&mut self, o: &QualityCounts) {
        for (k, n) in &o.0 {
            *self.0.entry(*k).or_default() += n;
        }
    }

    /// `(key, count)` in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.0.iter().map(|(k, n)| (k.key(), *n))
    }

    /// Total findings.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

fn rank(v: &str) -> Option<u8> {
    match v {
        "13" => Some(4),
        "12" => Some(3),
        "11" => Some(2),
        "10" => Some(1),
        "s3" => Some(0),
        _ => None,
    }
}

fn tls_rank(v: TlsVersion) -> u8 {
    match v {
        TlsVersion::Tls13 => 4,
        TlsVersion::Tls12 => 3,
        TlsVersion::Tls11 => 2,
        TlsVersion::Tls10 => 1,
        TlsVersion::Ssl3 => 0,
    }
}

/// Normalises and checks one record, counting what it finds.
pub fn check(r: &mut RequestRecord<'_>, counts: &mut QualityCounts) {
    // One client, one address: an IPv4 client seen through a dual-stack socket is the
    // IPv4 address, for sessions, dictionaries and the /24 an export may block.
    if let Some(std::net::IpAddr::V6(v6)) = r.src_ip {
        if let Some(v4) = v6.to_ipv4_mapped() {
            r.src_ip = Some(std::net::IpAddr::V4(v4));
            counts.add(Finding::MappedAddressNormalised);
        }
    }
    let Some(ja4) = r.ja4.as_ref() else { return };
    let s = ja4.as_str();
    if s[11..23] == *EMPTY_SHA256_12 || s[24..36] == *EMPTY_SHA256_12 {
        let fixed = format!(
            "{}_{}_{}",
            &s[..10],
            if &s[11..23] == EMPTY_SHA256_12 {
                "000000000000"
            } else {
                &s[11..23]
            },
            if &s[24..36] == EMPTY_SHA256_12 {
                "000000000000"
            } else {
                &s[24..36]
            },
        );
        if let Ok(j) = Ja4::parse(Cow::Owned(fixed)) {
            r.ja4 = Some(j);
            counts.add(Finding::EmptyHashNormalised);
        }
    }
    let Some(ja4) = r.ja4.as_ref() else { return };
    let s = ja4.as_str();
    let quic = s.starts_with('q');
    if let (Some(offered), Some(v)) = (rank(ja4.version()), r.tls_version) {
        if tls_rank(v) > offered {
            counts.add(Finding::NegotiatedAboveOffered);
        }
    }
    if quic
        && matches!(
            r.http_version,
            Some(HttpVersion::Http10 | HttpVersion::Http11 | HttpVersion::Http2)
        )
    {
        counts.add(Finding::QuicWithoutHttp3);
    }
    if !quic && &s[8..10] == "00" && r.http_version == Some(HttpVersion::Http2) {
        counts.add(Finding::H2WithoutAlpn);
    }
    if s.as_bytes()[3] == b'i' && r.tls_sni.as_deref().is_some_and(|n| !n.is_empty()) {
        counts.add(Finding::SniFlagContradicted);
    }
    if let Some(raw) = r.ja4_r.as_deref() {
        if shrike_fingerprint::ja4_from_raw(raw).is_some_and(|h| h != s) {
            counts.add(Finding::RawDoesNotHashToJa4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ja4: &str) -> RequestRecord<'static> {
        RequestRecord {
            ja4: Some(Ja4::parse(Cow::Owned(ja4.to_string())).unwrap()),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn an_ipv4_mapped_client_is_its_ipv4_address() {
        let mut c = QualityCounts::default();
        let mut r = RequestRecord {
            src_ip: Some("::ffff:203.0.113.7".parse().unwrap()),
            ..RequestRecord::default()
        };
        check(&mut r, &mut c);
        assert_eq!(r.src_ip, Some("203.0.113.7".parse().unwrap()));
        // A real IPv6 client stays as it is.
        let mut r = RequestRecord {
            src_ip: Some("2001:db8::7".parse().unwrap()),
            ..RequestRecord::default()
        };
        check(&mut r, &mut c);
        assert_eq!(r.src_ip, Some("2001:db8::7".parse().unwrap()));
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [("normalised:ipv4_mapped_address", 1)]
        );
    }

    #[test]
    fn zeek_empty_hash_becomes_the_spec_zeros() {
        let mut r = rec("t13d000000_e3b0c44298fc_e3b0c44298fc");
        let mut c = QualityCounts::default();
        check(&mut r, &mut c);
        assert_eq!(
            r.ja4.unwrap().as_str(),
            "t13d000000_000000000000_000000000000"
        );
        assert_eq!(
            c.iter().collect::<Vec<_>>(),
            [("normalised:empty_list_hash", 1)]
        );
    }

    #[test]
    fn impossible_combinations_are_counted_and_kept() {
        let mut c = QualityCounts::default();
        // Offered at most TLS 1.2, negotiated 1.3.
        let mut r = rec("t12d1516h2_8daaf6152771_02713d6af862");
        r.tls_version = Some(TlsVersion::Tls13);
        check(&mut r, &mut c);
        // A browser offering 1.3 to a 1.2-only server is normal: not flagged.
        let mut ok = rec("t13d1516h2_8daaf6152771_02713d6af862");
        ok.tls_version = Some(TlsVersion::Tls12);
        check(&mut ok, &mut c);
        let mut q = rec("q13d0310h3_55b375c5d22e_cd85d2d88918");
        q.http_version = Some(HttpVersion::Http2);
        check(&mut q, &mut c);
        let mut h2 = rec("t13d151600_8daaf6152771_02713d6af862");
        h2.http_version = Some(HttpVersion::Http2);
        check(&mut h2, &mut c);
        let mut sni = rec("t13i151600_8daaf6152771_02713d6af862");
        sni.tls_sni = Some("example.org".into());
        check(&mut sni, &mut c);
        let mut raw = rec("t13d1516h2_8daaf6152771_02713d6af862");
        raw.ja4_r = Some("t13d1516h2_1301_0000".into());
        check(&mut raw, &mut c);
        let keys: Vec<_> = c.iter().collect();
        assert_eq!(c.total(), 5, "{keys:?}");
        assert_eq!(
            r.ja4.unwrap().as_str(),
            "t12d1516h2_8daaf6152771_02713d6af862"
        );
    }
}
