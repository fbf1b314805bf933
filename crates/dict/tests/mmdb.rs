//! MaxMind-format ASN databases → `ip_asn.csv`. MaxMind's files need a licence key, so the
//! test writes a database itself, following the MaxMind DB format specification (search
//! tree, data section, metadata), with an IPv4 network in the IPv6 tree and both record
//! layouts shrike reads.

use std::net::IpAddr;

use shrike_dict::import::parse_mmdb;
use shrike_dict::{Dictionaries, DictionaryFile};

/// A value of the MaxMind DB data section.
enum V {
    Str(&'static str),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'static str, V)>),
    Array(Vec<V>),
}

fn int_bytes(v: u64) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take_while(|x| **x == 0).count();
    b[skip..].to_vec()
}

fn encode(v: &V, out: &mut Vec<u8>) {
    // Type in the top 3 bits (or 0 and an extended type byte), size in the low 5 bits;
    // sizes from 29 take one more byte.
    let ctrl = |out: &mut Vec<u8>, t: u8, size: usize| {
        assert!(size < 29 + 256);
        let low = size.min(29) as u8;
        if t <= 7 {
            out.push((t << 5) | low);
        } else {
            out.push(low);
            out.push(t - 7);
        }
        if size >= 29 {
            out.push((size - 29) as u8);
        }
    };
    match v {
        V::Str(s) => {
            ctrl(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        V::U16(n) => {
            let b = int_bytes(u64::from(*n));
            ctrl(out, 5, b.len());
            out.extend(b);
        }
        V::U32(n) => {
            let b = int_bytes(u64::from(*n));
            ctrl(out, 6, b.len());
            out.extend(b);
        }
        V::U64(n) => {
            let b = int_bytes(*n);
            ctrl(out, 9, b.len());
            out.extend(b);
        }
        V::Map(m) => {
            ctrl(out, 7, m.len());
            for (k, v) in m {
                encode(&V::Str(k), out);
                encode(v, out);
            }
        }
        V::Array(a) => {
            ctrl(out, 11, a.len());
            for v in a {
                encode(v, out);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(u32),
    Data(u32),
}

/// An IPv6 database (record size 24) holding `(network, prefix, record)`.
fn database(entries: Vec<(IpAddr, u8, V)>) -> Vec<u8> {
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty; 2]];
    let mut data = Vec::new();
    for (ip, prefix, value) in entries {
        let (bits, prefix) = match ip {
            IpAddr::V4(a) => (u128::from(u32::from(a)), prefix + 96),
            IpAddr::V6(a) => (u128::from(a), prefix),
        };
        let off = data.len() as u32;
        encode(&value, &mut data);
        let mut node = 0usize;
        for i in 0..prefix {
            let bit = ((bits >> (127 - i)) & 1) as usize;
            if i + 1 == prefix {
                nodes[node][bit] = Rec::Data(off);
            } else {
                node = match nodes[node][bit] {
                    Rec::Node(n) => n as usize,
                    _ => {
                        nodes.push([Rec::Empty; 2]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n as u32);
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len() as u32;
    let mut out = Vec::new();
    for n in &nodes {
        for r in n {
            let v = match r {
                Rec::Empty => count,
                Rec::Node(i) => *i,
                Rec::Data(off) => count + 16 + off,
            };
            out.extend_from_slice(&v.to_be_bytes()[1..]);
        }
    }
    out.extend([0u8; 16]);
    out.extend(data);
    out.extend_from_slice(b"\xab\xcd\xefMaxMind.com");
    encode(
        &V::Map(vec![
            ("binary_format_major_version", V::U16(2)),
            ("binary_format_minor_version", V::U16(0)),
            ("build_epoch", V::U64(1_763_700_000)),
            ("database_type", V::Str("GeoLite2-ASN")),
            ("description", V::Map(vec![("en", V::Str("shrike test"))])),
            ("ip_version", V::U16(6)),
            ("languages", V::Array(vec![V::Str("en")])),
            ("node_count", V::U32(count)),
            ("record_size", V::U16(24)),
        ]),
        &mut out,
    );
    out
}

fn maxmind(asn: u32, org: &'static str) -> V {
    V::Map(vec![
        ("autonomous_system_number", V::U32(asn)),
        ("autonomous_system_organization", V::Str(org)),
    ])
}

#[test]
fn an_asn_database_becomes_the_address_table() {
    let db = database(vec![
        ("8.8.8.0".parse().unwrap(), 24, maxmind(15169, "GOOGLE")),
        ("192.0.2.0".parse().unwrap(), 24, maxmind(0, "not routed")),
        (
            "2a01:e00::".parse().unwrap(),
            26,
            maxmind(12322, "Free SAS, Paris"),
        ),
        (
            "203.0.113.0".parse().unwrap(),
            25,
            V::Map(vec![
                ("asn", V::Str("AS64500")),
                ("as_name", V::Str("Example Hosting")),
                ("country_code", V::Str("FR")),
            ]),
        ),
    ]);
    let found = parse_mmdb(db).unwrap();
    assert_eq!((found.ranges, found.not_routed), (3, 1), "{}", found.csv);
    assert!(
        found.csv.contains("8.8.8.0,8.8.8.255,15169,,GOOGLE\n"),
        "{}",
        found.csv
    );
    assert!(
        found.csv.contains(
            "2a01:e00::,2a01:e3f:ffff:ffff:ffff:ffff:ffff:ffff,12322,,\"Free SAS, Paris\"\n"
        ),
        "{}",
        found.csv
    );
    assert!(found
        .csv
        .contains("203.0.113.0,203.0.113.127,64500,FR,Example Hosting\n"));

    // The rows load and answer lookups.
    let mut d = Dictionaries::default();
    d.load_text(DictionaryFile::IpAsn, &found.csv).unwrap();
    let info = d.ip_asn.get("8.8.8.8".parse().unwrap()).unwrap();
    assert_eq!((info.asn, info.org.as_str()), (15169, "GOOGLE"));
    assert_eq!(
        d.ip_asn.get("2a01:e0a::1".parse().unwrap()).unwrap().asn,
        12322
    );
    assert!(d.ip_asn.get("203.0.113.200".parse().unwrap()).is_none());
    assert!(d.ip_asn.get("192.0.2.1".parse().unwrap()).is_none());

    assert!(parse_mmdb(b"not a database".to_vec()).is_err());
}
