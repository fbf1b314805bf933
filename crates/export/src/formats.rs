//! The export formats, each written from its consumer's documentation.

use std::fmt::Write;

use serde_json::json;
use shrike_types::Timestamp;

use crate::{is_clean_ja4, Entry, EntryKind, Plan};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The plan as a JSON document (entries, JA4s, held-back addresses).
    Json,
    /// One row per entry (RFC 4180, with spreadsheet formula characters neutralised).
    Csv,
    /// nginx `deny` directives (include in `http`, `server` or `location`).
    Nginx,
    /// nginx `geo` and `map` blocks setting `$shrike_block` and `$shrike_block_ja4`
    /// (include in `http`).
    NginxMap,
    /// HAProxy ACL pattern file (`acl shrike_block src -f <file>`).
    Haproxy,
    /// `ipset restore` input: `hash:net` sets `<name>4` and `<name>6`.
    Ipset,
    /// CrowdSec `cscli decisions import -i <file>.json` input.
    Crowdsec,
    /// Anubis policy rules (a list to `import:` from `botPolicies.yaml`).
    Anubis,
}

impl Format {
    /// Every format with its name.
    pub const ALL: [(Format, &'static str); 8] = [
        (Format::Json, "json"),
        (Format::Csv, "csv"),
        (Format::Nginx, "nginx"),
        (Format::NginxMap, "nginx-map"),
        (Format::Haproxy, "haproxy"),
        (Format::Ipset, "ipset"),
        (Format::Crowdsec, "crowdsec"),
        (Format::Anubis, "anubis"),
    ];

    /// Parses a format name.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(f, _)| *f)
    }

    /// Name.
    pub fn name(self) -> &'static str {
        Format::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map_or("", |(_, n)| n)
    }
}

/// Settings of [`render`].
#[derive(Debug, Clone, PartialEq)]
pub struct RenderOptions {
    /// Clock of the exported cycle.
    pub cycle_clock: Timestamp,
    /// Cycle id.
    pub cycle: i64,
    /// ipset set name prefix (`[A-Za-z0-9_-]`, at most 24 characters).
    pub set_name: String,
    /// CrowdSec decision duration (`4h`, `30m`...).
    pub duration: String,
    /// Request header carrying the JA4 in front of Anubis.
    pub ja4_header: String,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            cycle_clock: Timestamp::from_millis(0),
            cycle: 0,
            set_name: "shrike".into(),
            duration: "24h".into(),
            ja4_header: "X-JA4".into(),
        }
    }
}

/// One line of printable ASCII, for comments: control characters, line breaks and
/// non-ASCII become `?`, and long text is cut.
fn comment(text: &str) -> String {
    let mut out: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect();
    if text.chars().count() > 200 {
        out.push_str("...");
    }
    out
}

fn header(out: &mut String, plan: &Plan, o: &RenderOptions, mark: &str) {
    let _ = writeln!(
        out,
        "{mark} shrike block list: cycle {} ({}), {} addresses/prefixes, {} JA4s, {} held back",
        o.cycle,
        o.cycle_clock,
        plan.addresses.len(),
        plan.ja4s.len(),
        plan.held_back.len()
    );
    let _ = writeln!(
        out,
        "{mark} Known good bots and legitimate browsers are never listed. Regenerate, do not edit."
    );
}

fn why(e: &Entry) -> String {
    let mut s = format!(
        "{} score {:.3}, {} session(s)",
        e.level, e.score, e.sessions
    );
    if e.kind != EntryKind::Ip {
        let _ = write!(s, ", {} address(es)", e.addresses);
    }
    if !e.campaigns.is_empty() {
        let ids: Vec<String> = e.campaigns.iter().map(|c| format!("#{c}")).collect();
        let _ = write!(s, ", campaign {}", ids.join(" "));
    }
    if !e.fleets.is_empty() {
        let ids: Vec<String> = e.fleets.iter().map(|c| format!("#{c}")).collect();
        let _ = write!(s, ", fleet {}", ids.join(" "));
    }
    s
}

/// CIDR form of an address entry (`/32` or `/128` for one address).
fn cidr(e: &Entry) -> String {
    match e.kind {
        EntryKind::Ip if e.value.contains(':') => format!("{}/128", e.value),
        EntryKind::Ip => format!("{}/32", e.value),
        _ => e.value.clone(),
    }
}

pub(crate) fn csv_cell(text: &str) -> String {
    // A cell a spreadsheet would run as a formula is prefixed with a quote.
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Writes a plan in a format.
pub fn render(plan: &Plan, format: Format, o: &RenderOptions) -> String {
    let mut out = String::new();
    match format {
        Format::Json => {
            let doc = json!({
                "generator": "shrike",
                "cycle": o.cycle,
                "cycle_clock": o.cycle_clock.to_string(),
                "candidates": plan.candidates,
                "addresses": plan.addresses,
                "ja4s": plan.ja4s,
                "held_back": plan.held_back,
            });
            out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
        }
        Format::Csv => {
            out.push_str("kind,value,level,score,sessions,addresses,campaigns,fleets,ja4s,first_seen,last_seen,reason\n");
            for e in plan.addresses.iter().chain(&plan.ja4s) {
                let join = |v: &[i64]| {
                    v.iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                };
                let cells = [
                    match e.kind {
                        EntryKind::Ip => "ip".to_string(),
                        EntryKind::Prefix => "prefix".to_string(),
                        EntryKind::Ja4 => "ja4".to_string(),
                    },
                    e.value.clone(),
                    e.level.to_string(),
                    format!("{:.4}", e.score),
                    e.sessions.to_string(),
                    e.addresses.to_string(),
                    join(&e.campaigns),
                    join(&e.fleets),
                    e.ja4s.join(" "),
                    e.first_seen.to_string(),
                    e.last_seen.to_string(),
                    comment(&e.reason),
                ];
                let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                out.push_str(&line.join(","));
                out.push('\n');
            }
        }
        Format::Nginx => {
            header(&mut out, plan, o, "#");
            for e in &plan.addresses {
                let _ = writeln!(out, "deny {}; # {}", e.value, comment(&why(e)));
            }
        }
        Format::NginxMap => {
            header(&mut out, plan, o, "#");
            out.push_str("# Use: if ($shrike_block) { return 403; } and, with the JA4 module,\n");
            out.push_str("# if ($shrike_block_ja4) { return 403; }\n");
            out.push_str("geo $shrike_block {\n    default 0;\n");
            for e in &plan.addresses {
                let _ = writeln!(out, "    {} 1; # {}", e.value, comment(&why(e)));
            }
            out.push_str("}\n");
            out.push_str("map $http_ssl_ja4 $shrike_block_ja4 {\n    default 0;\n");
            for e in plan.ja4s.iter().filter(|e| is_clean_ja4(&e.value)) {
                let _ = writeln!(out, "    \"{}\" 1; # {}", e.value, comment(&why(e)));
            }
            out.push_str("}\n");
        }
        Format::Haproxy => {
            header(&mut out, plan, o, "#");
            for e in &plan.addresses {
                let _ = writeln!(out, "{}", e.value);
            }
        }
        Format::Ipset => {
            let name = &o.set_name;
            let v4: Vec<&Entry> = plan
                .addresses
                .iter()
                .filter(|e| !e.value.contains(':'))
                .collect();
            let v6: Vec<&Entry> = plan
                .addresses
                .iter()
                .filter(|e| e.value.contains(':'))
                .collect();
            for (suffix, family, entries) in [("4", "inet", v4), ("6", "inet6", v6)] {
                let max = (entries.len() * 2).max(65_536);
                let _ = writeln!(
                    out,
                    "create {name}{suffix} hash:net family {family} hashsize 1024 maxelem {max} -exist"
                );
                for e in entries {
                    let _ = writeln!(out, "add {name}{suffix} {} -exist", e.value);
                }
            }
        }
        Format::Crowdsec => {
            let decisions: Vec<serde_json::Value> = plan
                .addresses
                .iter()
                .map(|e| {
                    json!({
                        "duration": o.duration,
                        "reason": format!("shrike: {}", comment(&why(e))),
                        "scope": if e.kind == EntryKind::Prefix { "range" } else { "ip" },
                        "type": if e.level.severity() >= 3 { "ban" } else { "captcha" },
                        "value": e.value,
                    })
                })
                .collect();
            out = serde_json::to_string_pretty(&decisions).unwrap_or_default();
            out.push('\n');
        }
        Format::Anubis => {
            header(&mut out, plan, o, "#");
            out.push_str("# Import from botPolicies.yaml: bots: [ { import: /path/to/this/file.yaml }, ... ]\n");
            let deny: Vec<&Entry> = plan
                .addresses
                .iter()
                .filter(|e| e.level.severity() >= 3)
                .collect();
            let challenge: Vec<&Entry> = plan
                .addresses
                .iter()
                .filter(|e| e.level.severity() < 3)
                .collect();
            let mut rules = 0;
            for (name, action, entries) in [
                ("shrike-deny-addresses", "DENY", deny),
                ("shrike-challenge-addresses", "CHALLENGE", challenge),
            ] {
                if entries.is_empty() {
                    continue;
                }
                rules += 1;
                let _ = writeln!(
                    out,
                    "- name: {name}\n  action: {action}\n  remote_addresses:"
                );
                for e in entries {
                    let _ = writeln!(out, "    - \"{}\" # {}", cidr(e), comment(&why(e)));
                }
            }
            let header_name: String = o
                .ja4_header
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            for e in plan.ja4s.iter().filter(|e| is_clean_ja4(&e.value)) {
                rules += 1;
                let action = if e.level.severity() >= 3 {
                    "DENY"
                } else {
                    "CHALLENGE"
                };
                let _ = writeln!(
                    out,
                    "- name: shrike-ja4-{}\n  action: {action}\n  headers_regex:\n    {header_name}: \"^{}$\" # {}",
                    e.value,
                    e.value,
                    comment(&why(e))
                );
            }
            if rules == 0 {
                out.push_str("[]\n");
            }
        }
    }
    out
}
