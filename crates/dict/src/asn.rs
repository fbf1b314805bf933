//! Autonomous systems: reputation labels and IP-range → ASN tables.

use std::fmt;
use std::net::IpAddr;

/// What kind of network an ASN is (SPEC §3). Drives the human baseline: only `isp`
/// traffic is trusted to be mostly human.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum AsnLabel {
    /// Residential and mobile access networks.
    Isp,
    /// Cloud, VPS, colocation.
    Hosting,
    /// Commercial VPN and proxy services.
    Vpn,
    /// Universities and research networks.
    Education,
    /// Government networks.
    Government,
    /// Not in the dictionary.
    #[default]
    Unknown,
}

impl AsnLabel {
    /// Every label, in the order above.
    pub const ALL: [AsnLabel; 6] = [
        AsnLabel::Isp,
        AsnLabel::Hosting,
        AsnLabel::Vpn,
        AsnLabel::Education,
        AsnLabel::Government,
        AsnLabel::Unknown,
    ];

    /// The lower-case name used in files and outputs.
    pub const fn as_str(self) -> &'static str {
        match self {
            AsnLabel::Isp => "isp",
            AsnLabel::Hosting => "hosting",
            AsnLabel::Vpn => "vpn",
            AsnLabel::Education => "education",
            AsnLabel::Government => "government",
            AsnLabel::Unknown => "unknown",
        }
    }

    /// Parses a label name (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl fmt::Display for AsnLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an IP→ASN table knows of an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsnInfo {
    /// AS number.
    pub asn: u32,
    /// ISO country code, upper case, or empty.
    pub country: String,
    /// AS organisation name, or empty.
    pub org: String,
}

/// Non-overlapping IP ranges → [`AsnInfo`], searched by binary search (iptoasn layout).
#[derive(Debug, Clone, Default)]
pub struct IpAsnTable {
    ranges: Vec<(u128, u128, u32)>,
    infos: Vec<AsnInfo>,
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        // IPv4 lives in the IPv4-mapped IPv6 space so one sorted table serves both.
        IpAddr::V4(a) => u128::from(a.to_ipv6_mapped()),
        IpAddr::V6(a) => a
            .to_ipv4_mapped()
            .map_or(u128::from(a), |v4| u128::from(v4.to_ipv6_mapped())),
    }
}

impl IpAsnTable {
    /// Builds a table; ranges may come in any order. Overlaps resolve to the range that
    /// starts last (the more specific one in iptoasn-style data).
    pub fn from_ranges(mut rows: Vec<(IpAddr, IpAddr, AsnInfo)>) -> Self {
        rows.sort_by_key(|(s, e, _)| (key(*s), key(*e)));
        let mut t = IpAsnTable::default();
        for (s, e, info) in rows {
            t.ranges.push((key(s), key(e), t.infos.len() as u32));
            t.infos.push(info);
        }
        t
    }

    /// The range containing `ip`, if any.
    pub fn get(&self, ip: IpAddr) -> Option<&AsnInfo> {
        let k = key(ip);
        let i = self.ranges.partition_point(|(s, _, _)| *s <= k);
        self.ranges[..i]
            .iter()
            .rev()
            .take(8)
            .find(|(_, e, _)| k <= *e)
            .map(|(_, _, idx)| &self.infos[*idx as usize])
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_for_v4_and_v6() {
        let info = |asn| AsnInfo {
            asn,
            country: "FR".into(),
            org: format!("AS{asn}"),
        };
        let t = IpAsnTable::from_ranges(vec![
            (
                "2001:db8::".parse().unwrap(),
                "2001:db8::ffff".parse().unwrap(),
                info(3),
            ),
            (
                "10.0.0.0".parse().unwrap(),
                "10.0.255.255".parse().unwrap(),
                info(1),
            ),
            (
                "10.1.0.0".parse().unwrap(),
                "10.1.0.255".parse().unwrap(),
                info(2),
            ),
        ]);
        let get = |s: &str| t.get(s.parse().unwrap()).map(|i| i.asn);
        assert_eq!(get("10.0.3.4"), Some(1));
        assert_eq!(get("10.1.0.9"), Some(2));
        assert_eq!(get("10.1.1.9"), None);
        assert_eq!(get("2001:db8::42"), Some(3));
        assert_eq!(get("9.9.9.9"), None);
        assert_eq!(AsnLabel::parse("Hosting"), Some(AsnLabel::Hosting));
    }
}
