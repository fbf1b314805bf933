//! Loading every dictionary from one directory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use crate::asn::{AsnInfo, AsnLabel, IpAsnTable};
use crate::cidr::CidrMap;
use crate::csv::{rows, CsvError};
use crate::policy::Policy;
use crate::stack::{engine, Basis, FamilyMatch, H2Word, StackIndex};
use crate::ua::UaBots;

/// The dictionary files shrike reads, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DictionaryFile {
    /// `bot_ip.csv`: `cidr,bot_name`.
    BotIp,
    /// `bot_ja4.csv`: `ja4,bot_name`.
    BotJa4,
    /// `browser_ja4.csv`: `ja4,browser_family`.
    BrowserJa4,
    /// `browser_h2.csv`: `h2_fingerprint,browser_family`.
    BrowserH2,
    /// `asn_reputation.csv`: `asn,label`.
    AsnReputation,
    /// `ip_asn.csv`: `start_ip,end_ip,asn,country,org`.
    IpAsn,
}

impl DictionaryFile {
    /// Every kind.
    pub const ALL: [DictionaryFile; 6] = [
        DictionaryFile::BotIp,
        DictionaryFile::BotJa4,
        DictionaryFile::BrowserJa4,
        DictionaryFile::BrowserH2,
        DictionaryFile::AsnReputation,
        DictionaryFile::IpAsn,
    ];

    /// File name inside the dictionary directory.
    pub const fn file_name(self) -> &'static str {
        match self {
            DictionaryFile::BotIp => "bot_ip.csv",
            DictionaryFile::BotJa4 => "bot_ja4.csv",
            DictionaryFile::BrowserJa4 => "browser_ja4.csv",
            DictionaryFile::BrowserH2 => "browser_h2.csv",
            DictionaryFile::AsnReputation => "asn_reputation.csv",
            DictionaryFile::IpAsn => "ip_asn.csv",
        }
    }

    const fn header(self) -> &'static str {
        match self {
            DictionaryFile::BotIp => "cidr",
            DictionaryFile::BotJa4 | DictionaryFile::BrowserJa4 => "ja4",
            DictionaryFile::BrowserH2 => "h2_fingerprint",
            DictionaryFile::AsnReputation => "asn",
            DictionaryFile::IpAsn => "start_ip",
        }
    }
}

/// A dictionary file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DictError {
    /// The file exists but cannot be read.
    #[error("cannot read dictionary {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is malformed.
    #[error("dictionary {path}, {source}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Line and reason.
        source: CsvError,
    },
}

/// Every enrichment dictionary, immutable once loaded (share it behind an `Arc`).
#[derive(Debug, Clone, Default)]
pub struct Dictionaries {
    /// Known-bot address ranges.
    pub bot_ip: CidrMap<String>,
    /// Known-bot JA4s.
    pub bot_ja4: HashMap<String, String>,
    /// Browser JA4s → family.
    pub browser_ja4: HashMap<String, String>,
    /// Akamai HTTP/2 fingerprints → family.
    pub browser_h2: HashMap<String, String>,
    /// Family → pseudo-header orders its real profiles send (from `browser_h2`).
    pub family_pseudo_orders: HashMap<String, HashSet<String>>,
    /// ASN → reputation label.
    pub asn_reputation: HashMap<u32, AsnLabel>,
    /// IP ranges → ASN, country, organisation.
    pub ip_asn: IpAsnTable,
    /// Anubis bot policy (`anubis_policy.json`).
    pub policy: Policy,
    /// User-agent bot patterns (`ua_bots.json`).
    pub ua_bots: UaBots,
    /// What `browser_ja4` says of each engine's ClientHello structure, learned on the first
    /// lookup of a JA4 the table lacks, and again after `load_text` adds browser JA4s (a
    /// caller editing the public map directly must do so before looking up).
    stacks: OnceLock<StackIndex>,
}

/// `anubis_policy.json`: the flattened Anubis policy `shrike dict import anubis` writes.
pub const POLICY_FILE: &str = "anubis_policy.json";
/// `ua_bots.json`: the user-agent patterns `shrike dict import ua-bots` writes.
pub const UA_BOTS_FILE: &str = "ua_bots.json";

fn bad(line: usize, why: impl Into<String>) -> CsvError {
    CsvError {
        line,
        why: why.into(),
    }
}

impl Dictionaries {
    /// Loads every file present in `dir`; absent files give empty dictionaries.
    pub fn load_dir(dir: &Path) -> Result<Self, DictError> {
        let mut d = Dictionaries::default();
        for kind in DictionaryFile::ALL {
            let path = dir.join(kind.file_name());
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::debug!(file = %path.display(), "dictionary absent, empty");
                    continue;
                }
                Err(source) => return Err(DictError::Io { path, source }),
            };
            d.load_text(kind, &text)
                .map_err(|source| DictError::Syntax {
                    path: path.clone(),
                    source,
                })?;
            tracing::debug!(file = %path.display(), "dictionary loaded");
        }
        if let Some(v) = read_json(&dir.join(POLICY_FILE))? {
            d.policy = Policy::from_json(&v).map_err(|why| syntax(dir, POLICY_FILE, why))?;
        }
        if let Some(v) = read_json(&dir.join(UA_BOTS_FILE))? {
            d.ua_bots = UaBots::from_json(&v).map_err(|why| syntax(dir, UA_BOTS_FILE, why))?;
        }
        Ok(d)
    }

    /// Adds the rows of one file's text.
    pub fn load_text(&mut self, kind: DictionaryFile, text: &str) -> Result<(), CsvError> {
        let min = if kind == DictionaryFile::IpAsn { 3 } else { 2 };
        let mut ranges = Vec::new();
        for row in rows(text, kind.header(), min) {
            let (n, f) = row?;
            match kind {
                DictionaryFile::BotIp => self
                    .bot_ip
                    .insert_cidr(&f[0], f[1].clone())
                    .map_err(|e| bad(n, e.to_string()))?,
                DictionaryFile::BotJa4 => {
                    self.bot_ja4
                        .entry(f[0].to_ascii_lowercase())
                        .or_insert_with(|| f[1].clone());
                }
                DictionaryFile::BrowserJa4 => {
                    self.browser_ja4
                        .entry(f[0].to_ascii_lowercase())
                        .or_insert_with(|| f[1].clone());
                    // What is learned from the table is learned again from the new rows.
                    self.stacks = OnceLock::new();
                }
                DictionaryFile::BrowserH2 => {
                    let order = f[0].rsplit('|').next().unwrap_or("").to_string();
                    if f[0].split('|').count() != 4 {
                        return Err(bad(n, "HTTP/2 fingerprint must have 4 `|`-separated parts"));
                    }
                    self.family_pseudo_orders
                        .entry(f[1].clone())
                        .or_default()
                        .insert(order);
                    self.browser_h2
                        .entry(f[0].clone())
                        .or_insert_with(|| f[1].clone());
                }
                DictionaryFile::AsnReputation => {
                    let asn = parse_asn(&f[0])
                        .ok_or_else(|| bad(n, format!("invalid ASN `{}`", f[0])))?;
                    let label = AsnLabel::parse(&f[1]).ok_or_else(|| {
                        bad(n, format!(
                            "invalid label `{}` (allowed: isp, hosting, vpn, education, government, unknown)",
                            f[1]
                        ))
                    })?;
                    self.asn_reputation.insert(asn, label);
                }
                DictionaryFile::IpAsn => {
                    let s: IpAddr = f[0]
                        .parse()
                        .map_err(|_| bad(n, format!("invalid start_ip `{}`", f[0])))?;
                    let e: IpAddr = f[1]
                        .parse()
                        .map_err(|_| bad(n, format!("invalid end_ip `{}`", f[1])))?;
                    if s.is_ipv4() != e.is_ipv4() {
                        return Err(bad(n, "start_ip and end_ip of different families"));
                    }
                    let asn = parse_asn(&f[2])
                        .ok_or_else(|| bad(n, format!("invalid ASN `{}`", f[2])))?;
                    let country = f.get(3).map(|c| c.to_ascii_uppercase()).unwrap_or_default();
                    let org = f.get(4).cloned().unwrap_or_default();
                    ranges.push((s, e, AsnInfo { asn, country, org }));
                }
            }
        }
        if !ranges.is_empty() {
            // One ip_asn file per directory: its text replaces the table.
            self.ip_asn = IpAsnTable::from_ranges(ranges);
        }
        Ok(())
    }

    /// The known-bot name of a client: its address range first, then its JA4.
    pub fn bot_name(&self, ip: IpAddr, ja4: &str) -> Option<&str> {
        self.bot_for_ip(ip)
            .or_else(|| self.bot_ja4.get(ja4).map(String::as_str))
    }

    /// The bot name for an address, if it is in a known-bot range.
    pub fn bot_for_ip(&self, ip: IpAddr) -> Option<&str> {
        self.bot_ip.get(ip).map(String::as_str)
    }

    /// Reputation of an ASN (`Unknown` when absent).
    pub fn asn_label(&self, asn: u32) -> AsnLabel {
        self.asn_reputation.get(&asn).copied().unwrap_or_default()
    }

    /// Browser family of a JA4, or `""`: the dictionary's, else one its cipher or extension
    /// set names ([`Dictionaries::browser_match`]). A match by shape alone needs the HTTP/2
    /// layer ([`Dictionaries::browser_family_with_h2`]).
    pub fn browser_family(&self, ja4: &str) -> &str {
        self.browser_match(ja4)
            .filter(|m| H2Word::Silent.accepts(m.basis))
            .map_or("", |m| m.family)
    }

    /// The family of a JA4 and how it was found: exactly, else by structure ([`stack`]).
    ///
    /// [`stack`]: crate::stack
    pub fn browser_match(&self, ja4: &str) -> Option<FamilyMatch<'_>> {
        if let Some(family) = self.browser_ja4.get(ja4) {
            return Some(FamilyMatch {
                family,
                basis: Basis::Exact,
            });
        }
        self.stacks
            .get_or_init(|| {
                StackIndex::learn(
                    self.browser_ja4
                        .iter()
                        .map(|(j, f)| (j.as_str(), f.as_str())),
                )
            })
            .family(ja4)
    }

    /// [`Dictionaries::browser_match`] with the HTTP/2 layer's word on a match by
    /// structure: it stands when the session's HTTP/2 SETTINGS are the family's engine's or
    /// its pseudo-header order is one the family sends; a match by cipher or extension set
    /// also stands without HTTP/2 (an HTTP/1.1 session), a match by shape does not. An exact
    /// match always stands: what disagrees with it is a finding, not a doubt.
    pub fn browser_family_with_h2(
        &self,
        ja4: &str,
        h2_fp: &str,
        order: &str,
    ) -> Option<FamilyMatch<'_>> {
        let m = self.browser_match(ja4)?;
        let h2 = self.h2_family(h2_fp);
        let agrees = (!h2.is_empty() && engine(h2) == engine(m.family))
            || (!order.is_empty() && self.pseudo_order_expected(m.family, order));
        let silent = h2_fp.is_empty() && order.is_empty();
        H2Word::from_layers(agrees, silent)
            .accepts(m.basis)
            .then_some(m)
    }

    /// Browser family of an HTTP/2 fingerprint, or `""`.
    pub fn h2_family(&self, fp: &str) -> &str {
        self.browser_h2.get(fp).map_or("", String::as_str)
    }

    /// Whether `order` is a pseudo-header order real browsers of `family` send.
    ///
    /// Browsers of one engine share its HTTP/2 stack (Edge sends what Chrome sends), so an
    /// order any family of the engine sends is expected of all of them.
    pub fn pseudo_order_expected(&self, family: &str, order: &str) -> bool {
        if self
            .family_pseudo_orders
            .get(family)
            .is_some_and(|s| s.contains(order))
        {
            return true;
        }
        let Some(e) = engine(family) else {
            return false;
        };
        self.family_pseudo_orders
            .iter()
            .any(|(f, orders)| engine(f) == Some(e) && orders.contains(order))
    }
}

fn syntax(dir: &Path, file: &str, why: String) -> DictError {
    DictError::Syntax {
        path: dir.join(file),
        source: CsvError { line: 0, why },
    }
}

/// A JSON dictionary file, `None` when absent.
fn read_json(path: &Path) -> Result<Option<serde_json::Value>, DictError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(DictError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| DictError::Syntax {
            path: path.to_path_buf(),
            source: CsvError {
                line: e.line(),
                why: e.to_string(),
            },
        })
}

fn parse_asn(s: &str) -> Option<u32> {
    let t = s.trim();
    let t = t
        .strip_prefix("AS")
        .or_else(|| t.strip_prefix("as"))
        .unwrap_or(t);
    t.parse().ok()
}
