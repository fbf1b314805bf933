//! Importers from the public formats dictionaries are published in, into shrike's CSV files
//! (`docs/DICTIONARIES.md`).
//!
//! - [`parse_ip_ranges`]: crawler and cloud IP ranges, either Google's JSON layout
//!   (`{"prefixes": [{"ipv4Prefix": …} | {"ipv6Prefix": …}]}`, also used by Bing, OpenAI and
//!   others) or a plain list (one CIDR or address per line, `#` comments);
//! - [`parse_browser_ja4`]: browser JA4s from FoxIO's `ja4plus-mapping.csv` or a ja4db JSON
//!   dump, each application name reduced to the browser family shrike knows (Chrome, Edge,
//!   Firefox, Safari). Tools, libraries, malware and devices are reported, never imported:
//!   `bot_ja4.csv` names *known good* bots, which triage spares and exports never block, and
//!   these lists put Sliver and Cobalt Strike beside the Go and Python libraries they share
//!   a JA4 with;
//! - [`parse_iptoasn`]: iptoasn.com's `ip2asn-v4.tsv` / `ip2asn-v6.tsv` / `ip2asn-combined.tsv`
//!   (`start end asn country description`, tab-separated) as `ip_asn.csv` rows;
//! - [`parse_mmdb`]: a MaxMind-format `.mmdb` ASN database (GeoLite2-ASN and alike) as
//!   `ip_asn.csv` rows;
//! - [`parse_asn_list`]: a list of AS numbers (hosting and datacenter networks, VPNs):
//!   a CSV with an `ASN` column (brianhama/bad-asn-list's `bad-asn-list.csv`, `ASN,Entity`)
//!   or one number per line (`AS` prefix, text after it and `#` comments allowed), as
//!   `asn_reputation.csv` rows;
//! - [`merge_named_rows`]: a dictionary file's text with one name's rows replaced, so that
//!   importing a newer list of a bot replaces its old one instead of piling up;
//! - [`merge_keyed_rows`]: a dictionary file's text with the rows of the given keys
//!   replaced or added.

use crate::cidr::parse_cidr;
use crate::csv::split_line;

/// A source that cannot be imported: the line (1-based, 0 for the whole file) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct ImportError {
    /// Line of the source (0 when the file as a whole is wrong).
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

/// The IP ranges of a range file, canonical (`addr/len`, the address as given), in file
/// order, duplicates removed. Every entry must parse: a list with a bad line is refused
/// whole, since a half-imported allow-list is worse than none.
pub fn parse_ip_ranges(text: &str) -> Result<Vec<String>, ImportError> {
    let trimmed = text.trim_start();
    let raw: Vec<(usize, String)> = if trimmed.starts_with('{') {
        google_json(trimmed)?
    } else {
        text.lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim().to_string()))
            .filter(|(_, l)| !l.is_empty())
            .collect()
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (line, entry) in raw {
        let (ip, len) = parse_cidr(&entry).map_err(|_| ImportError {
            line,
            why: format!("{entry:?} is not an IP address or CIDR"),
        })?;
        let cidr = format!("{ip}/{len}");
        if seen.insert(cidr.clone()) {
            out.push(cidr);
        }
    }
    if out.is_empty() {
        return Err(ImportError {
            line: 0,
            why: "no IP range in the file".into(),
        });
    }
    Ok(out)
}

/// Google's layout: the prefixes, numbered by their position in the list.
fn google_json(text: &str) -> Result<Vec<(usize, String)>, ImportError> {
    let whole = |why: String| ImportError { line: 0, why };
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| whole(format!("not JSON: {e}")))?;
    let prefixes = v["prefixes"]
        .as_array()
        .ok_or_else(|| whole("JSON without a \"prefixes\" array (Google's range layout)".into()))?;
    prefixes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            p["ipv4Prefix"]
                .as_str()
                .or_else(|| p["ipv6Prefix"].as_str())
                .map(|s| (i + 1, s.to_string()))
                .ok_or_else(|| ImportError {
                    line: i + 1,
                    why: format!(
                        "prefix #{} has neither ipv4Prefix nor ipv6Prefix: {p}",
                        i + 1
                    ),
                })
        })
        .collect()
}

/// The AS numbers of a list, in file order, duplicates removed: a CSV whose header has an
/// `ASN` column, or one number per line (`16509`, `AS16509`, `AS16509 Amazon`, `#`
/// comments). A line that names no AS number refuses the list: a half-read list of
/// networks to distrust would leave some of them in the human baseline.
pub fn parse_asn_list(text: &str) -> Result<Vec<u32>, ImportError> {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split('#').next().unwrap_or("").trim()))
        .filter(|(_, l)| !l.is_empty())
        .peekable();
    // A CSV header: its ASN column; a plain list: the first word of the line.
    let column = match lines.peek() {
        Some((line, head)) if head.contains(',') && !head.as_bytes()[0].is_ascii_digit() => {
            let cells = split_line(head, *line).map_err(|e| ImportError {
                line: e.line,
                why: e.why,
            })?;
            let col = cells
                .iter()
                .position(|c| c.trim().eq_ignore_ascii_case("asn"))
                .ok_or_else(|| ImportError {
                    line: *line,
                    why: format!("a CSV header without an ASN column: {head:?}"),
                })?;
            lines.next();
            Some(col)
        }
        _ => None,
    };
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for (line, l) in lines {
        let field = match column {
            Some(col) => split_line(l, line)
                .map_err(|e| ImportError {
                    line: e.line,
                    why: e.why,
                })?
                .get(col)
                .map(|c| c.trim().to_string())
                .unwrap_or_default(),
            None => l.split_whitespace().next().unwrap_or("").to_string(),
        };
        let digits = field
            .strip_prefix("AS")
            .or_else(|| field.strip_prefix("as"))
            .unwrap_or(&field);
        let asn: u32 = digits.parse().map_err(|_| ImportError {
            line,
            why: format!("{field:?} is not an AS number"),
        })?;
        if asn == 0 {
            return Err(ImportError {
                line,
                why: "AS 0 is reserved, never a network's number".into(),
            });
        }
        if seen.insert(asn) {
            out.push(asn);
        }
    }
    if out.is_empty() {
        return Err(ImportError {
            line: 0,
            why: "no AS number in the file".into(),
        });
    }
    Ok(out)
}

/// The browser family shrike knows for an application name (`Chrome 120.0`, `Mozilla
/// Firefox`, `Chromium Browser`, `Samsung Internet 23`...), or `None` for anything that is
/// not a browser. Chromium-based browsers other than Edge send Chrome's ClientHello, so they
/// are Chrome here.
pub fn browser_family(application: &str) -> Option<&'static str> {
    let a = application.to_ascii_lowercase();
    if a.contains("edge") {
        Some("Edge")
    } else if a.contains("firefox") {
        Some("Firefox")
    } else if a.contains("safari") {
        Some("Safari")
    } else if [
        "chrome",
        "chromium",
        "samsung internet",
        "opera",
        "brave",
        "vivaldi",
    ]
    .iter()
    .any(|b| a.contains(b))
    {
        Some("Chrome")
    } else {
        None
    }
}

/// A JA4 in its usual layout: `[tqd]` + version + `[di]` + counts + ALPN, then two
/// 12-digit hex hashes.
fn looks_like_ja4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('_').collect();
    let hex12 = |p: &str| p.len() == 12 && p.bytes().all(|b| b.is_ascii_hexdigit());
    parts.len() == 3
        && parts[0].len() == 10
        && parts[0].is_ascii()
        && matches!(parts[0].as_bytes()[0], b't' | b'q' | b'd')
        && hex12(parts[1])
        && hex12(parts[2])
}

/// What [`parse_browser_ja4`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserJa4Import {
    /// JA4 → family, sorted by JA4. A JA4 seen with several families takes the one most of
    /// its records name (ties: the first in name order).
    pub rows: Vec<(String, String)>,
    /// Records of something other than a browser (JA4 and label), not imported.
    pub not_browsers: Vec<(String, String)>,
    /// JA4s seen with more than one browser family.
    pub ambiguous: usize,
}

/// Browser JA4s from FoxIO's mapping CSV (`Application,Library,Device,OS,ja4,…`) or a
/// ja4db JSON dump (`[{"application": …, "ja4_fingerprint": …}, …]`).
pub fn parse_browser_ja4(text: &str) -> Result<BrowserJa4Import, ImportError> {
    // (position: line or record number, ja4, application, label for a non-browser)
    let mut records: Vec<(usize, String, String, String)> = Vec::new();
    if text.trim_start().starts_with('[') {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| ImportError {
            line: 0,
            why: format!("not JSON: {e}"),
        })?;
        let list = v.as_array().ok_or(ImportError {
            line: 0,
            why: "a ja4db dump is a JSON array of records".into(),
        })?;
        for (i, r) in list.iter().enumerate() {
            let Some(ja4) = r["ja4_fingerprint"].as_str() else {
                continue;
            };
            let field = |k: &str| r[k].as_str().unwrap_or("").trim().to_string();
            let label = ["application", "library", "device", "os"]
                .iter()
                .map(|k| field(k))
                .find(|v| !v.is_empty())
                .unwrap_or_default();
            records.push((i + 1, ja4.to_string(), field("application"), label));
        }
    } else {
        let mut lines = text.lines().enumerate();
        let (_, head) = lines.next().ok_or(ImportError {
            line: 0,
            why: "empty file".into(),
        })?;
        let head = split_line(head, 1).map_err(|e| ImportError {
            line: 1,
            why: e.why,
        })?;
        let col = |name: &str| {
            head.iter()
                .position(|h| h.trim().eq_ignore_ascii_case(name))
        };
        let (Some(ja4_col), Some(app_col)) = (col("ja4"), col("application")) else {
            return Err(ImportError {
                line: 1,
                why: "no ja4 and Application columns: not FoxIO's ja4plus-mapping.csv".into(),
            });
        };
        for (i, line) in lines {
            let f = split_line(line, i + 1).map_err(|e| ImportError {
                line: e.line,
                why: e.why,
            })?;
            let ja4 = f.get(ja4_col).map_or("", |s| s.trim());
            if ja4.is_empty() {
                continue;
            }
            let label = f.iter().take(4).map(|v| v.trim()).find(|v| !v.is_empty());
            records.push((
                i + 1,
                ja4.to_string(),
                f.get(app_col).map_or("", |s| s.trim()).to_string(),
                label.unwrap_or("").to_string(),
            ));
        }
    }
    let mut out = BrowserJa4Import::default();
    let mut votes: std::collections::BTreeMap<String, std::collections::BTreeMap<&str, usize>> =
        Default::default();
    for (at, ja4, app, label) in &records {
        if !looks_like_ja4(ja4) {
            return Err(ImportError {
                line: *at,
                why: format!("{ja4:?} is not a JA4 (e.g. t13d1516h2_8daaf6152771_02713d6af862)"),
            });
        }
        match browser_family(app) {
            Some(f) => {
                *votes
                    .entry(ja4.to_ascii_lowercase())
                    .or_default()
                    .entry(f)
                    .or_default() += 1
            }
            None => out.not_browsers.push((ja4.clone(), label.clone())),
        }
    }
    for (ja4, families) in votes {
        out.ambiguous += usize::from(families.len() > 1);
        // Most records first; among equals, name order (the map's) decides.
        let best = families
            .iter()
            .fold(None::<(&str, usize)>, |best, (f, n)| match best {
                Some((_, m)) if m >= *n => best,
                _ => Some((f, *n)),
            });
        if let Some((family, _)) = best {
            out.rows.push((ja4, family.to_string()));
        }
    }
    if out.rows.is_empty() && out.not_browsers.is_empty() {
        return Err(ImportError {
            line: 0,
            why: "no JA4 in the file".into(),
        });
    }
    Ok(out)
}

/// `existing` (a dictionary file's text, `key,value` rows) with the rows whose key is one of
/// `rows`' replaced by `rows`' values, and the other keys added; comments, the header and
/// other rows are kept. Keys compare case-insensitively. Returns the text and how many
/// existing rows were replaced.
pub fn merge_keyed_rows(
    existing: &str,
    header: &str,
    rows: &[(String, String)],
) -> Result<(String, usize), ImportError> {
    let keys: std::collections::HashSet<String> =
        rows.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
    replace_rows(existing, header, rows, |f| {
        f.first()
            .is_some_and(|k| keys.contains(&k.trim().to_ascii_lowercase()))
    })
}

/// `existing` without the rows `drop` selects, then `rows` appended; comments, blank lines
/// and the other rows are kept as they were, and an empty file starts with `header`.
/// Returns the text and how many rows were dropped.
fn replace_rows(
    existing: &str,
    header: &str,
    rows: &[(String, String)],
    drop: impl Fn(&[String]) -> bool,
) -> Result<(String, usize), ImportError> {
    let mut out = if existing.trim().is_empty() {
        format!("{header}\n")
    } else {
        String::new()
    };
    let mut dropped = 0;
    for (i, line) in existing.lines().enumerate() {
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            let f = split_line(line, i + 1).map_err(|e| ImportError {
                line: e.line,
                why: format!("in the existing file: {}", e.why),
            })?;
            if drop(&f) {
                dropped += 1;
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    for (k, v) in rows {
        out.push_str(&format!("{},{}\n", field(k), field(v)));
    }
    Ok((out, dropped))
}

/// What [`parse_iptoasn`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAsnImport {
    /// `ip_asn.csv` text (header included).
    pub csv: String,
    /// Ranges kept.
    pub ranges: usize,
    /// Ranges iptoasn marks as not routed (AS 0), left out: unknown is what a lookup miss
    /// already says.
    pub not_routed: usize,
}

/// iptoasn's TSV (`range_start range_end AS_number country_code AS_description`) as
/// `ip_asn.csv`. A malformed line is refused with its number.
pub fn parse_iptoasn(text: &str) -> Result<IpAsnImport, ImportError> {
    let mut out = IpAsnImport {
        csv: "start_ip,end_ip,asn,country,org\n".into(),
        ..Default::default()
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: String| ImportError { line: i + 1, why };
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 3 {
            return Err(bad(format!(
                "{} tab-separated fields, expected start, end, AS number, country, description",
                f.len()
            )));
        }
        let start: std::net::IpAddr = f[0]
            .trim()
            .parse()
            .map_err(|_| bad(format!("invalid start address {:?}", f[0])))?;
        let end: std::net::IpAddr = f[1]
            .trim()
            .parse()
            .map_err(|_| bad(format!("invalid end address {:?}", f[1])))?;
        if start.is_ipv4() != end.is_ipv4() {
            return Err(bad("start and end of different families".into()));
        }
        let asn: u32 = f[2]
            .trim()
            .trim_start_matches(['A', 'S', 'a', 's'])
            .parse()
            .map_err(|_| bad(format!("invalid AS number {:?}", f[2])))?;
        if asn == 0 {
            out.not_routed += 1;
            continue;
        }
        let country = f.get(3).map_or("", |c| c.trim());
        let country = if country == "None" { "" } else { country };
        let org = f.get(4).map_or("", |o| o.trim());
        out.csv.push_str(&format!(
            "{start},{end},{asn},{},{}\n",
            field(country),
            field(org)
        ));
        out.ranges += 1;
    }
    Ok(out)
}

/// The fields of a network record shrike reads: MaxMind's ASN schema (GeoLite2-ASN,
/// GeoIP2-ISP), MaxMind's country (`country.iso_code`), and the `asn`/`as_name`/
/// `country_code` layout of ipinfo's and similar free ASN databases.
#[derive(Debug, serde::Deserialize)]
struct MmdbRecord {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
    country: Option<MmdbCountry>,
    asn: Option<MmdbAsn>,
    as_name: Option<String>,
    country_code: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
struct MmdbCountry {
    iso_code: Option<String>,
}

/// `asn` as a number or as `"AS15169"`.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum MmdbAsn {
    Number(u32),
    Text(String),
}

/// A MaxMind-format database (`.mmdb`) with AS numbers, as `ip_asn.csv` rows: every
/// network of the database with an AS number, its first and last address, organisation
/// and country when the database has them. IPv4 networks of an IPv6 database (`::/96`)
/// come out as IPv4 ranges.
pub fn parse_mmdb(bytes: Vec<u8>) -> Result<IpAsnImport, ImportError> {
    let bad = |why: String| ImportError { line: 0, why };
    let reader = maxminddb::Reader::from_source(bytes)
        .map_err(|e| bad(format!("not a MaxMind database: {e}")))?;
    let mut out = IpAsnImport {
        csv: "start_ip,end_ip,asn,country,org\n".into(),
        ranges: 0,
        not_routed: 0,
    };
    let networks = reader
        .networks(Default::default())
        .map_err(|e| bad(e.to_string()))?;
    for item in networks {
        let item = item.map_err(|e| bad(e.to_string()))?;
        let net = item.network().map_err(|e| bad(e.to_string()))?;
        let Some(rec) = item
            .decode::<MmdbRecord>()
            .map_err(|e| bad(format!("network {net}: {e}")))?
        else {
            continue;
        };
        let asn = match (&rec.autonomous_system_number, &rec.asn) {
            (Some(n), _) => Some(*n),
            (None, Some(MmdbAsn::Number(n))) => Some(*n),
            (None, Some(MmdbAsn::Text(t))) => t
                .trim()
                .trim_start_matches("AS")
                .trim_start_matches("as")
                .parse()
                .ok(),
            (None, None) => None,
        };
        let Some(asn) = asn.filter(|a| *a != 0) else {
            out.not_routed += 1;
            continue;
        };
        let (start, end) = net_range(net.network(), net.prefix());
        let country = rec
            .country
            .and_then(|c| c.iso_code)
            .or(rec.country_code)
            .unwrap_or_default();
        let org = rec
            .autonomous_system_organization
            .or(rec.as_name)
            .unwrap_or_default();
        out.csv.push_str(&format!(
            "{start},{end},{asn},{},{}\n",
            field(&country),
            field(&org)
        ));
        out.ranges += 1;
    }
    Ok(out)
}

/// First and last address of a network; IPv4 inside `::/96` becomes IPv4.
fn net_range(addr: std::net::IpAddr, prefix: u8) -> (std::net::IpAddr, std::net::IpAddr) {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix)
            };
            (
                IpAddr::V4(Ipv4Addr::from(bits & mask)),
                IpAddr::V4(Ipv4Addr::from(bits | !mask)),
            )
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            if prefix >= 96 && bits >> 32 == 0 {
                return net_range(IpAddr::V4(Ipv4Addr::from(bits as u32)), prefix - 96);
            }
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            (
                IpAddr::V6(Ipv6Addr::from(bits & mask)),
                IpAddr::V6(Ipv6Addr::from(bits | !mask)),
            )
        }
    }
}

/// Quotes a CSV field when it needs it.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '#']) || s.trim() != s {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// `existing` (a dictionary file's text, `key,name` rows) with every row whose second field
/// is `name` removed and `keys` added under `name`; comments, the header and other names'
/// rows are kept as they were. Returns the text and how many rows were replaced.
pub fn merge_named_rows(
    existing: &str,
    header: &str,
    name: &str,
    keys: &[String],
) -> Result<(String, usize), ImportError> {
    let rows: Vec<(String, String)> = keys.iter().map(|k| (k.clone(), name.to_string())).collect();
    replace_rows(existing, header, &rows, |f| {
        f.get(1).is_some_and(|n| n == name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_lists_read_as_csv_with_an_asn_column_or_one_number_a_line() {
        // brianhama/bad-asn-list's layout: quoted entities with commas inside.
        let csv = "ASN,Entity\n174,\"COGENT-174 - Cogent Communications, US\"\n9290,GoHosting\n\
                   15497,\"COLOCALL Internet Data Center \"\"ColoCALL\"\", UA\"\n174,again\n";
        assert_eq!(parse_asn_list(csv).unwrap(), vec![174, 9290, 15497]);
        let plain = "# datacenters\nAS16509 Amazon\n14061\n\nas24940 # Hetzner\n";
        assert_eq!(parse_asn_list(plain).unwrap(), vec![16509, 14061, 24940]);
        let e = parse_asn_list("ASN,Entity\n174,x\nAmazon,y\n").unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        assert!(parse_asn_list("Name,Entity\nx,y\n").is_err());
        assert!(parse_asn_list("AS0\n").is_err());
        assert!(parse_asn_list("# nothing\n").is_err());
    }

    #[test]
    fn both_layouts_parse_and_a_bad_entry_is_named() {
        let json = r#"{"creationTime": "x", "prefixes": [{"ipv6Prefix": "2001:db8::/32"},
            {"ipv4Prefix": "192.0.2.0/24"}, {"ipv4Prefix": "192.0.2.0/24"}]}"#;
        assert_eq!(
            parse_ip_ranges(json).unwrap(),
            ["2001:db8::/32", "192.0.2.0/24"]
        );
        let plain = "# list\n198.51.100.7\n\n203.0.113.0/25  # office\n";
        assert_eq!(
            parse_ip_ranges(plain).unwrap(),
            ["198.51.100.7/32", "203.0.113.0/25"]
        );
        let e = parse_ip_ranges("10.0.0.0/8\n10.0.0.0/33\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = parse_ip_ranges(r#"{"prefixes": [{"service": "x"}]}"#).unwrap_err();
        assert!(e.why.contains("neither"), "{e}");
        assert_eq!(parse_ip_ranges("# nothing\n").unwrap_err().line, 0);
    }

    #[test]
    fn browser_names_reduce_to_families_and_tools_are_kept_out() {
        for (app, fam) in [
            ("Chrome 120.0", Some("Chrome")),
            ("Chromium Browser", Some("Chrome")),
            ("Samsung Internet 23", Some("Chrome")),
            ("Microsoft Edge", Some("Edge")),
            ("Mozilla Firefox", Some("Firefox")),
            ("Safari 17.1", Some("Safari")),
            ("Sliver Agent", None),
            ("", None),
        ] {
            assert_eq!(browser_family(app), fam, "{app}");
        }
        let csv = "Application,Library,Device,OS,ja4,ja4s\n\
            Chromium Browser,,,,t13d1516h2_8daaf6152771_02713d6af862,\n\
            ,GoLang,,,t13d190900_9dc949149365_97f8aa674fd9,\n\
            Sliver Agent,GoLang,,,t13d190900_9dc949149365_97f8aa674fd9,\n\
            Edge,,,,t13d1516h2_8daaf6152771_02713d6af862,\n\
            Chrome,,,,t13d1516h2_8daaf6152771_02713d6af862,\n\
            Nothing,,,,,x\n";
        let got = parse_browser_ja4(csv).unwrap();
        assert_eq!(
            got.rows,
            [(
                "t13d1516h2_8daaf6152771_02713d6af862".to_string(),
                "Chrome".to_string()
            )]
        );
        assert_eq!(got.ambiguous, 1);
        assert_eq!(got.not_browsers.len(), 2);
        let e = parse_browser_ja4("Application,ja4\nChrome,t13d_bad\n").unwrap_err();
        assert_eq!(e.line, 2);
        let json = r#"[{"application": "Firefox 120", "ja4_fingerprint": "t13d1715h2_5b57614c22b0_7121afd63204"}, {"os": "x"}]"#;
        assert_eq!(parse_browser_ja4(json).unwrap().rows[0].1, "Firefox");
    }

    #[test]
    fn iptoasn_rows_become_ip_asn_rows() {
        // The layout iptoasn.com documents for ip2asn-combined.tsv.
        let tsv = "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n\
                   1.0.1.0\t1.0.3.255\t0\tNone\tNot routed\n\
                   2001:200::\t2001:200:ffff:ffff:ffff:ffff:ffff:ffff\t2500\tJP\tWIDE-BB WIDE Project, JP\n";
        let got = parse_iptoasn(tsv).unwrap();
        assert_eq!((got.ranges, got.not_routed), (2, 1));
        assert_eq!(
            got.csv,
            "start_ip,end_ip,asn,country,org\n1.0.0.0,1.0.0.255,13335,US,CLOUDFLARENET\n\
             2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,2500,JP,\"WIDE-BB WIDE Project, JP\"\n"
        );
        let e = parse_iptoasn("1.0.0.0\t1.0.0.255\tAS-x\tUS\tX\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(parse_iptoasn("1.0.0.0\t::1\t5\n").is_err());
    }

    #[test]
    fn keyed_rows_replace_their_key_only() {
        let (text, replaced) = merge_keyed_rows(
            "ja4,browser_family\nT13D_A,Edge\nt13d_b,Safari\n",
            "ja4,browser_family",
            &[("t13d_a".into(), "Chrome".into())],
        )
        .unwrap();
        assert_eq!(replaced, 1);
        assert_eq!(text, "ja4,browser_family\nt13d_b,Safari\nt13d_a,Chrome\n");
    }

    #[test]
    fn a_name_is_replaced_and_the_rest_kept() {
        let existing = "cidr,bot_name\n# keep me\n10.0.0.0/8,Old\n192.0.2.0/24,Googlebot\n";
        let (text, removed) = merge_named_rows(
            existing,
            "cidr,bot_name",
            "Googlebot",
            &["66.249.64.0/19".into()],
        )
        .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(
            text,
            "cidr,bot_name\n# keep me\n10.0.0.0/8,Old\n66.249.64.0/19,Googlebot\n"
        );
        let (text, _) =
            merge_named_rows("", "cidr,bot_name", "A, Inc", &["::1/128".into()]).unwrap();
        assert_eq!(text, "cidr,bot_name\n::1/128,\"A, Inc\"\n");
    }
}
