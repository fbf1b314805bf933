//! Importers from the public formats dictionaries are published in, into shrike's CSV files
//! (`docs/DICTIONARIES.md`).
//!
//! - [`parse_ip_ranges`]: crawler and cloud IP ranges, either Google's JSON layout
//!   (`{"prefixes": [{"ipv4Prefix": …} | {"ipv6Prefix": …}]}`, also used by Bing, OpenAI and
//!   others) or a plain list (one CIDR or address per line, `#` comments);
//! - [`merge_named_rows`]: a dictionary file's text with one name's rows replaced, so that
//!   importing a newer list of a bot replaces its old one instead of piling up.

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
    let mut out = if existing.trim().is_empty() {
        format!("{header}\n")
    } else {
        String::new()
    };
    let mut removed = 0;
    for (i, line) in existing.lines().enumerate() {
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            let f = split_line(line, i + 1).map_err(|e| ImportError {
                line: e.line,
                why: format!("in the existing file: {}", e.why),
            })?;
            if f.get(1).is_some_and(|n| n == name) {
                removed += 1;
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    for k in keys {
        out.push_str(&format!("{},{}\n", field(k), field(name)));
    }
    Ok((out, removed))
}

#[cfg(test)]
mod tests {
    use super::*;

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
