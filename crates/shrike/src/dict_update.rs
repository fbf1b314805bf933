//! `shrike dict update`: fetches the public lists the dictionaries are built from and
//! imports them, all or nothing per source.
//!
//! The update works on a staging copy of the dictionary directory. Each source is
//! downloaded (HTTPS or HTTP, a size limit, a timeout, its SHA-256 checked when the
//! configuration gives one) and imported into the copy by the same importer as
//! `shrike dict import`. A source whose download or import fails leaves its files as they
//! were. The copy must then load whole. Only then is each changed file renamed over the one
//! in service, so a reader sees either the old file or the new one, never a mix or half a
//! file. The report says, per file, how many rows it had and has.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use shrike_dict::{AsnLabel, Dictionaries};

use crate::config::Config;
use crate::dict_cmd::{import, ImportArgs, ImportKind};

/// `[[dictionaries.source]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// What the list holds: bot-ip, browser-ja4, browser-h2, browser-profiles, ip-asn,
    /// anubis, asn-hosting or ua-bots (the kinds of `shrike dict import`).
    pub kind: String,
    /// Where to fetch it (https:// or http://).
    pub url: String,
    /// bot-ip: the bot's name [default: the URL's file name without extension].
    pub name: Option<String>,
    /// The SHA-256 the publisher gives for the file (hex), when it gives one.
    pub sha256: Option<String>,
    /// Largest download, MiB (1..=1024, default 64).
    pub max_mib: Option<u64>,
    /// asn-hosting: the label of the listed networks (default hosting).
    pub label: Option<String>,
}

/// One source, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub kind: ImportKind,
    pub url: String,
    pub name: Option<String>,
    pub sha256: Option<String>,
    pub max_bytes: u64,
    pub label: AsnLabel,
}

/// The publishers' lists fetched when the configuration names none (docs/DICTIONARIES.md
/// lists each with its licence). Anubis's policy is not among them: it imports a tree of
/// rule files a single download does not bring (`shrike dict import anubis` on a checkout).
pub const DEFAULT_SOURCES: &[(&str, &str)] = &[
    ("bot-ip", "https://developers.google.com/static/search/apis/ipranges/googlebot.json"),
    ("bot-ip", "https://developers.google.com/static/search/apis/ipranges/special-crawlers.json"),
    ("bot-ip", "https://www.bing.com/toolbox/bingbot.json"),
    ("bot-ip", "https://openai.com/gptbot.json"),
    ("bot-ip", "https://openai.com/searchbot.json"),
    ("bot-ip", "https://openai.com/chatgpt-user.json"),
    ("browser-ja4", "https://raw.githubusercontent.com/FoxIO-LLC/ja4/main/ja4plus-mapping.csv"),
    ("ua-bots", "https://raw.githubusercontent.com/monperrus/crawler-user-agents/master/crawler-user-agents.json"),
    ("asn-hosting", "https://raw.githubusercontent.com/brianhama/bad-asn-list/master/bad-asn-list.csv"),
    ("ip-asn", "https://iptoasn.com/data/ip2asn-combined.tsv.gz"),
];

fn kind_of(name: &str) -> Option<ImportKind> {
    use clap::ValueEnum;
    ImportKind::value_variants()
        .iter()
        .find(|k| k.to_possible_value().is_some_and(|v| v.get_name() == name))
        .copied()
}

impl SourceConfig {
    /// Validates one source; `i` numbers it in errors.
    pub fn resolve(&self, i: usize) -> anyhow::Result<Source> {
        let key = |k: &str| format!("dictionaries.source[{i}].{k}");
        let kind = kind_of(&self.kind).ok_or_else(|| {
            anyhow::anyhow!(
                "{} = {:?} is invalid (allowed: bot-ip, browser-ja4, browser-h2, browser-profiles, ip-asn, anubis, asn-hosting, ua-bots)",
                key("kind"),
                self.kind
            )
        })?;
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            bail!(
                "{} = {:?} is invalid (allowed: an https:// or http:// URL)",
                key("url"),
                self.url
            );
        }
        if kind == ImportKind::Anubis {
            bail!(
                "{} = \"anubis\" cannot be fetched: a policy imports a tree of rule files; run `shrike dict import anubis` on a checkout of Anubis",
                key("kind")
            );
        }
        let sha256 = match &self.sha256 {
            None => None,
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(h.to_ascii_lowercase())
            }
            Some(h) => bail!(
                "{} = {h:?} is invalid (allowed: 64 hex digits)",
                key("sha256")
            ),
        };
        let mib = self.max_mib.unwrap_or(64);
        if !(1..=1024).contains(&mib) {
            bail!("{} = {mib} is invalid (allowed: 1 to 1024)", key("max_mib"));
        }
        let label = match &self.label {
            None => AsnLabel::Hosting,
            Some(l) => crate::dict_cmd::parse_asn_label(l)
                .map_err(|e| anyhow::anyhow!("{} = {l:?} is invalid: {e}", key("label")))?,
        };
        Ok(Source {
            kind,
            url: self.url.clone(),
            name: self.name.clone(),
            sha256,
            max_bytes: mib * 1024 * 1024,
            label,
        })
    }
}

/// The configured sources, or the built-in list.
pub fn sources(config: Option<&[SourceConfig]>) -> anyhow::Result<Vec<Source>> {
    match config {
        Some(list) => list.iter().enumerate().map(|(i, s)| s.resolve(i)).collect(),
        None => DEFAULT_SOURCES
            .iter()
            .map(|(kind, url)| {
                SourceConfig {
                    kind: kind.to_string(),
                    url: url.to_string(),
                    name: None,
                    sha256: None,
                    max_mib: None,
                    label: None,
                }
                .resolve(0)
            })
            .collect(),
    }
}

/// The HTTP client of one update: one download may take `timeout`; connections to one
/// publisher are reused across its lists.
fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(5)
        .user_agent(concat!(
            "shrike/",
            env!("CARGO_PKG_VERSION"),
            " (dictionary update)"
        ))
        .build()
        .into()
}

/// Downloads `s` (at most its size limit); checks its SHA-256.
fn fetch(agent: &ureq::Agent, s: &Source) -> anyhow::Result<Vec<u8>> {
    let mut response = agent
        .get(&s.url)
        .call()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let announced = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > s.max_bytes) {
        bail!(
            "the file is {} bytes, more than the {} MiB limit (max_mib)",
            announced.unwrap_or(0),
            s.max_bytes / (1024 * 1024)
        );
    }
    let bytes = response
        .body_mut()
        .with_config()
        .limit(s.max_bytes)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => anyhow::anyhow!(
                "the file is larger than the {} MiB limit (max_mib)",
                s.max_bytes / (1024 * 1024)
            ),
            other => anyhow::anyhow!("the download broke off: {other}"),
        })?;
    if let Some(n) = announced {
        if bytes.len() as u64 != n {
            bail!("the download broke off: {} of {n} bytes", bytes.len());
        }
    }
    if let Some(want) = &s.sha256 {
        let got = Sha256::digest(&bytes);
        let got: String = got.iter().map(|b| format!("{b:02x}")).collect();
        if &got != want {
            bail!("SHA-256 {got} differs from the configured {want}");
        }
    }
    Ok(bytes)
}

/// The file name a URL's last segment gives (what the importers name rows by).
fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let last = path
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("download");
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean.starts_with('.') || clean.is_empty() {
        format!("download{clean}")
    } else {
        clean
    }
}

/// What an update did.
#[derive(Debug, Default)]
pub struct Report {
    /// Sources fetched and imported: URL and bytes.
    pub imported: Vec<(String, usize)>,
    /// Sources that failed: URL and why. Their files stay as they were.
    pub failed: Vec<(String, String)>,
    /// Files that changed: name, rows before, rows after.
    pub changed: Vec<(String, usize, usize)>,
}

fn rows(path: &Path) -> usize {
    std::fs::read(path).map_or(0, |b| b.iter().filter(|c| **c == b'\n').count())
}

/// Updates `dir` from `sources` (see the module docs).
pub fn update(dir: &Path, sources: &[Source], timeout: Duration) -> anyhow::Result<Report> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Beside the directory (so that a rename is atomic), one per process.
    let stage = dir.with_file_name(format!(
        ".{}.update-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("dict"),
        std::process::id()
    ));
    if stage.exists() {
        std::fs::remove_dir_all(&stage)
            .with_context(|| format!("cannot remove the old staging copy {}", stage.display()))?;
    }
    std::fs::create_dir_all(&stage)
        .with_context(|| format!("cannot create {}", stage.display()))?;
    let result = (|| {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), stage.join(entry.file_name()))?;
            }
        }
        let downloads = stage.join(".downloads");
        std::fs::create_dir_all(&downloads)?;
        let mut report = Report::default();
        let agent = agent(timeout);
        for s in sources {
            let outcome = fetch(&agent, s).and_then(|bytes| {
                let file = downloads.join(file_name(&s.url));
                std::fs::write(&file, &bytes)?;
                let a = ImportArgs {
                    kind: s.kind,
                    file,
                    name: s.name.clone(),
                    dict_dir: None,
                    anubis_data: None,
                    label: s.label,
                };
                import(&a, &stage).map(|()| bytes.len())
            });
            match outcome {
                Ok(n) => report.imported.push((s.url.clone(), n)),
                Err(e) => {
                    report.failed.push((s.url.clone(), crate::render_error(&e)));
                }
            }
        }
        std::fs::remove_dir_all(&downloads)?;
        Dictionaries::load_dir(&stage).with_context(|| {
            "the updated dictionaries do not load together: nothing was changed".to_string()
        })?;
        let mut changed: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(&stage)? {
            let path = entry?.path();
            let name = path.file_name().expect("an entry has a name").to_owned();
            let live = dir.join(&name);
            if std::fs::read(&path).ok() != std::fs::read(&live).ok() {
                report.changed.push((
                    name.to_string_lossy().into_owned(),
                    rows(&live),
                    rows(&path),
                ));
                changed.push(path);
            }
        }
        for path in changed {
            let live = dir.join(path.file_name().expect("an entry has a name"));
            std::fs::rename(&path, &live)
                .with_context(|| format!("cannot move {} to {}", path.display(), live.display()))?;
        }
        report.changed.sort();
        anyhow::Ok(report)
    })();
    let _ = std::fs::remove_dir_all(&stage);
    result
}

/// `shrike dict update`.
#[derive(Args)]
pub struct UpdateArgs {
    /// Dictionary directory [default: SHRIKE_DICT_DIR, else `dictionaries.dir` of the
    /// config file, else shrike-data/dict].
    #[arg(long)]
    dict_dir: Option<PathBuf>,
    /// Seconds one download may take.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// Prints a report; exit code 4 when a source failed.
pub fn print_report(r: &Report) -> ExitCode {
    for (url, n) in &r.imported {
        println!("fetched {url} ({n} bytes)");
    }
    for (file, before, after) in &r.changed {
        println!("  {file}: {before} → {after} rows");
    }
    if r.changed.is_empty() {
        println!("  no dictionary file changed");
    }
    for (url, why) in &r.failed {
        eprintln!("failed {url}: {why} (its files stay as they were)");
    }
    if r.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(4)
    }
}

/// `shrike dict update`.
pub fn run(mut config: Config, a: UpdateArgs) -> anyhow::Result<ExitCode> {
    let configured = config.dictionaries.as_mut().and_then(|d| d.source.take());
    let list = sources(configured.as_deref())?;
    let dir = crate::dict_cmd::dict_dir(config, a.dict_dir)?;
    let report = update(&dir, &list, Duration::from_secs(a.timeout_secs.max(1)))?;
    Ok(print_report(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_sources_resolve_and_bad_ones_name_their_key() {
        let list = sources(None).unwrap();
        assert_eq!(list.len(), DEFAULT_SOURCES.len());
        assert!(list.iter().all(|s| s.url.starts_with("https://")));
        let bad = |toml: &str, key: &str| {
            let c: SourceConfig = toml::from_str(toml).unwrap();
            let e = c.resolve(2).unwrap_err().to_string();
            assert!(e.contains(key), "{toml}: {e}");
        };
        bad(
            "kind = \"bots\"\nurl = \"https://x/y\"",
            "dictionaries.source[2].kind",
        );
        bad(
            "kind = \"bot-ip\"\nurl = \"ftp://x/y\"",
            "dictionaries.source[2].url",
        );
        bad(
            "kind = \"bot-ip\"\nurl = \"https://x/y\"\nsha256 = \"abc\"",
            "sha256",
        );
        bad(
            "kind = \"bot-ip\"\nurl = \"https://x/y\"\nmax_mib = 0",
            "max_mib",
        );
        bad(
            "kind = \"anubis\"\nurl = \"https://x/y\"",
            "dict import anubis",
        );
    }

    #[test]
    fn downloads_are_named_by_the_urls_last_segment() {
        assert_eq!(file_name("https://openai.com/gptbot.json"), "gptbot.json");
        assert_eq!(
            file_name("https://a/b/ip2asn-combined.tsv.gz?x=1"),
            "ip2asn-combined.tsv.gz"
        );
        assert_eq!(file_name("https://a/api/read/"), "read");
        assert_eq!(file_name("https://a/../.."), "download..");
    }
}
