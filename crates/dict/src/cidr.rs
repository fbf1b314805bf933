//! Longest-prefix-match maps for IPv4 and IPv6 (binary tries over the address bits).

use std::net::IpAddr;

/// A CIDR that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR `{0}` (expected e.g. 66.249.64.0/19 or 2001:4860::/32)")]
pub struct ParseCidrError(pub String);

#[derive(Debug, Clone, Default)]
struct Trie {
    // nodes[i] = [child for bit 0, child for bit 1], 0 = none (node 0 is the root).
    nodes: Vec<[u32; 2]>,
    values: Vec<Option<u32>>,
}

impl Trie {
    fn insert(&mut self, bits: u128, width: u32, len: u32, value: u32) {
        if self.nodes.is_empty() {
            self.nodes.push([0, 0]);
            self.values.push(None);
        }
        let mut n = 0usize;
        for i in 0..len {
            let b = ((bits >> (width - 1 - i)) & 1) as usize;
            if self.nodes[n][b] == 0 {
                self.nodes.push([0, 0]);
                self.values.push(None);
                self.nodes[n][b] = (self.nodes.len() - 1) as u32;
            }
            n = self.nodes[n][b] as usize;
        }
        // First insertion wins for an exact duplicate prefix, like a dictionary's first row.
        self.values[n].get_or_insert(value);
    }

    fn lookup(&self, bits: u128, width: u32) -> Option<u32> {
        if self.nodes.is_empty() {
            return None;
        }
        let mut n = 0usize;
        let mut best = self.values[0];
        for i in 0..width {
            let b = ((bits >> (width - 1 - i)) & 1) as usize;
            match self.nodes[n][b] {
                0 => break,
                c => n = c as usize,
            }
            if let Some(v) = self.values[n] {
                best = Some(v);
            }
        }
        best
    }
}

/// Maps CIDR prefixes to values; lookups return the value of the longest matching prefix.
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are looked up as IPv4.
#[derive(Debug, Clone)]
pub struct CidrMap<T> {
    v4: Trie,
    v6: Trie,
    values: Vec<T>,
    /// The prefix of each value, as inserted (canonical address, length).
    prefixes: Vec<(IpAddr, u8)>,
}

impl<T> Default for CidrMap<T> {
    fn default() -> Self {
        CidrMap {
            v4: Trie::default(),
            v6: Trie::default(),
            values: Vec::new(),
            prefixes: Vec::new(),
        }
    }
}

/// Parses `addr/len` (or a bare address as a host route).
pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), ParseCidrError> {
    let err = || ParseCidrError(s.to_string());
    let (addr, len) = match s.trim().split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s.trim(), None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| err())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u8>().map_err(|_| err())?,
        None => max,
    };
    if len > max {
        return Err(err());
    }
    Ok((ip, len))
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

impl<T> CidrMap<T> {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a prefix. An exact duplicate prefix keeps its first value.
    pub fn insert(&mut self, ip: IpAddr, len: u8, value: T) {
        let idx = self.values.len() as u32;
        self.values.push(value);
        let ip = canonical(ip);
        match ip {
            IpAddr::V4(a) => {
                self.prefixes.push((ip, len.min(32)));
                self.v4
                    .insert(u32::from(a) as u128, 32, len.min(32) as u32, idx)
            }
            IpAddr::V6(a) => {
                self.prefixes.push((ip, len.min(128)));
                self.v6.insert(u128::from(a), 128, len.min(128) as u32, idx)
            }
        }
    }

    /// Every prefix with its value, in insertion order; a duplicate prefix appears once,
    /// with its first value (the one lookups return).
    pub fn entries(&self) -> Vec<(IpAddr, u8, &T)> {
        let mut seen = std::collections::HashSet::new();
        self.prefixes
            .iter()
            .zip(&self.values)
            .filter(|((ip, len), _)| seen.insert((*ip, *len)))
            .map(|((ip, len), v)| (*ip, *len, v))
            .collect()
    }

    /// Parses and adds a CIDR.
    pub fn insert_cidr(&mut self, cidr: &str, value: T) -> Result<(), ParseCidrError> {
        let (ip, len) = parse_cidr(cidr)?;
        self.insert(ip, len, value);
        Ok(())
    }

    /// The value of the longest prefix containing `ip`.
    pub fn get(&self, ip: IpAddr) -> Option<&T> {
        let idx = match canonical(ip) {
            IpAddr::V4(a) => self.v4.lookup(u32::from(a) as u128, 32),
            IpAddr::V6(a) => self.v6.lookup(u128::from(a), 128),
        }?;
        self.values.get(idx as usize)
    }

    /// Number of prefixes inserted.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins_for_both_families() {
        let mut m = CidrMap::new();
        m.insert_cidr("10.0.0.0/8", "wide").unwrap();
        m.insert_cidr("10.1.0.0/16", "narrow").unwrap();
        m.insert_cidr("2001:db8::/32", "v6").unwrap();
        m.insert_cidr("192.0.2.7", "host").unwrap();
        let get = |s: &str| m.get(s.parse().unwrap()).copied();
        assert_eq!(get("10.1.2.3"), Some("narrow"));
        assert_eq!(get("10.2.2.3"), Some("wide"));
        assert_eq!(get("11.0.0.1"), None);
        assert_eq!(get("2001:db8::1"), Some("v6"));
        assert_eq!(get("2001:db9::1"), None);
        assert_eq!(get("192.0.2.7"), Some("host"));
        assert_eq!(get("192.0.2.8"), None);
        assert_eq!(get("::ffff:10.1.0.1"), Some("narrow"));
        assert!(parse_cidr("10.0.0.0/33").is_err());
        assert!(parse_cidr("10.0.0/8").is_err());
    }

    #[test]
    fn default_route_matches_everything() {
        let mut m = CidrMap::new();
        m.insert_cidr("0.0.0.0/0", 1).unwrap();
        assert_eq!(m.get("203.0.113.9".parse().unwrap()), Some(&1));
    }
}
