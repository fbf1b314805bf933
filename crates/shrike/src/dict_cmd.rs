//! `shrike dict import <kind> <file>`: a public list into the dictionary directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use shrike_dict::import::{
    merge_keyed_rows, merge_named_rows, parse_asn_list, parse_browser_ja4, parse_ip_ranges,
    parse_iptoasn,
};
use shrike_dict::{AsnLabel, Dictionaries, DictionaryFile};

use crate::config::{Config, Overrides};

/// `shrike dict` subcommands.
#[derive(Subcommand)]
pub enum DictCommand {
    /// Import a public list into the dictionary directory (docs/DICTIONARIES.md).
    Import(ImportArgs),
    /// Fetch the public lists (`[[dictionaries.source]]`, or the built-in list of
    /// publishers' URLs) and import them; a source that fails keeps its previous files.
    Update(crate::dict_update::UpdateArgs),
}

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportKind {
    /// Crawler IP ranges → bot_ip.csv: Google's JSON layout (googlebot.json, bingbot.json,
    /// gptbot.json...) or a plain CIDR list, one per line.
    BotIp,
    /// Browser JA4s → browser_ja4.csv: FoxIO's ja4plus-mapping.csv or a ja4db JSON dump.
    /// Tools, libraries and malware in them are reported, not imported.
    BrowserJa4,
    /// HTTP/2 fingerprints of real browsers → browser_h2.csv (with each family's
    /// pseudo-header orders): rama's embed_profiles.json.
    BrowserH2,
    /// Real browser captures → browser_ja4.csv and browser_h2.csv: rama's
    /// embed_profiles.json or a curl-impersonate signature file (YAML, one document per
    /// browser build). What shrike learns each engine's ClientHello structure from.
    BrowserProfiles,
    /// IP ranges → AS number, country and organisation, for producers that send none →
    /// ip_asn.csv (replaced whole): iptoasn.com's ip2asn-*.tsv (plain or .gz) or a
    /// MaxMind-format .mmdb ASN database (GeoLite2-ASN and alike).
    IpAsn,
    /// An Anubis policy (botPolicies.yaml or any rule file) with everything it imports →
    /// anubis_policy.json (replaced whole). Rules shrike cannot evaluate are reported and
    /// left out.
    Anubis,
    /// AS numbers of hosting and datacenter networks → asn_reputation.csv rows labelled
    /// `hosting` (or `--label`): brianhama/bad-asn-list's bad-asn-list.csv (`ASN,Entity`)
    /// or a plain list, one AS number per line. Other rows of the file are kept; a listed
    /// ASN's earlier row is replaced.
    AsnHosting,
    /// User-agent bot patterns → ua_bots.json: crawler-user-agents.json or device-detector's
    /// regexes/bots.yml. Patterns of an earlier import from the other list are kept.
    UaBots,
}

/// `shrike dict import`.
#[derive(Args)]
pub struct ImportArgs {
    /// What the file holds.
    pub(crate) kind: ImportKind,
    /// The file.
    pub(crate) file: PathBuf,
    /// bot-ip: the bot's name [default: the file name without extension]. An earlier import
    /// under this name is replaced.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// Dictionary directory [default: SHRIKE_DICT_DIR, else `dictionaries.dir` of the
    /// config file, else shrike-data/dict].
    #[arg(long)]
    pub(crate) dict_dir: Option<PathBuf>,
    /// anubis: the Anubis data directory `(data)/` imports are read from [default: the
    /// policy file's directory].
    #[arg(long)]
    pub(crate) anubis_data: Option<PathBuf>,
    /// asn-hosting: the label the listed networks get (hosting, vpn, isp, education,
    /// government).
    #[arg(long, default_value = "hosting", value_parser = parse_asn_label)]
    pub(crate) label: AsnLabel,
}

pub(crate) fn parse_asn_label(text: &str) -> Result<AsnLabel, String> {
    AsnLabel::parse(text)
        .filter(|l| *l != AsnLabel::Unknown)
        .ok_or_else(|| format!("`{text}`: allowed hosting, vpn, isp, education, government"))
}

fn import_asn_list(a: &ImportArgs, dir: &Path, source: &str) -> anyhow::Result<()> {
    let kind = DictionaryFile::AsnReputation;
    let asns = parse_asn_list(source).with_context(|| format!("{}", a.file.display()))?;
    let (target, old) = existing(dir, kind)?;
    let rows: Vec<(String, String)> = asns
        .iter()
        .map(|n| (n.to_string(), a.label.as_str().to_string()))
        .collect();
    let (text, replaced) = merge_keyed_rows(&old, "asn,label", &rows)
        .with_context(|| format!("{}", target.display()))?;
    install(kind, &target, &text)?;
    println!(
        "{}: {} AS numbers labelled {} from {} ({replaced} earlier rows replaced)",
        target.display(),
        asns.len(),
        a.label,
        a.file.display()
    );
    Ok(())
}

/// Writes `text` to `path` through a temporary file and a rename, so that a process
/// reloading the directory never reads half a file.
fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// Reads the dictionary file `kind` of `dir` ("" when absent).
fn existing(dir: &Path, kind: DictionaryFile) -> anyhow::Result<(PathBuf, String)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let target = dir.join(kind.file_name());
    match std::fs::read_to_string(&target) {
        Ok(t) => Ok((target, t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((target, String::new())),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", target.display())),
    }
}

/// Checks that `text` loads as `kind`, then puts it in service.
fn install(kind: DictionaryFile, target: &Path, text: &str) -> anyhow::Result<()> {
    Dictionaries::default()
        .load_text(kind, text)
        .with_context(|| format!("the merged {} would not load", target.display()))?;
    replace_file(target, text)
}

fn import_bot_ip(a: &ImportArgs, dir: &Path, source: &str) -> anyhow::Result<()> {
    let name = match &a.name {
        Some(n) if !n.trim().is_empty() => n.trim().to_string(),
        Some(_) => anyhow::bail!("--name must not be empty"),
        None => a
            .file
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| !s.is_empty())
            .context("--name is needed: the file name gives none")?
            .to_string(),
    };
    let kind = DictionaryFile::BotIp;
    let ranges = parse_ip_ranges(source).with_context(|| format!("{}", a.file.display()))?;
    let (target, old) = existing(dir, kind)?;
    let (text, replaced) = merge_named_rows(&old, "cidr,bot_name", &name, &ranges)
        .with_context(|| format!("{}", target.display()))?;
    install(kind, &target, &text)?;
    println!(
        "{}: {} ranges for {name} (replacing {replaced}) from {}",
        target.display(),
        ranges.len(),
        a.file.display()
    );
    Ok(())
}

fn import_browser_ja4(a: &ImportArgs, dir: &Path, source: &str) -> anyhow::Result<()> {
    let kind = DictionaryFile::BrowserJa4;
    let found = parse_browser_ja4(source).with_context(|| format!("{}", a.file.display()))?;
    let (target, old) = existing(dir, kind)?;
    let (text, replaced) = merge_keyed_rows(&old, "ja4,browser_family", &found.rows)
        .with_context(|| format!("{}", target.display()))?;
    install(kind, &target, &text)?;
    let mut families = std::collections::BTreeMap::<&str, usize>::new();
    for (_, f) in &found.rows {
        *families.entry(f).or_default() += 1;
    }
    let families: Vec<String> = families.iter().map(|(f, n)| format!("{f} {n}")).collect();
    println!(
        "{}: {} browser JA4s ({}; replacing {replaced}, {} seen with several families) from {}",
        target.display(),
        found.rows.len(),
        families.join(", "),
        found.ambiguous,
        a.file.display()
    );
    if !found.not_browsers.is_empty() {
        let mut labels: Vec<&str> = found.not_browsers.iter().map(|(_, l)| l.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        println!(
            "  not imported: {} records of tools, libraries, malware or devices ({}): bot_ja4.csv lists known good bots, which are never blocked",
            found.not_browsers.len(),
            labels.join(", ")
        );
    }
    Ok(())
}

fn import_browser_h2(a: &ImportArgs, dir: &Path) -> anyhow::Result<()> {
    let kind = DictionaryFile::BrowserH2;
    let profiles = shrike_sim::profiles::load_rama(&a.file).with_context(|| {
        format!(
            "{}: no browser profile with a ClientHello and HTTP/2 settings (rama's embed_profiles.json layout)",
            a.file.display()
        )
    })?;
    // One row per (fingerprint, family): browsers that share a fingerprint (Chrome and Edge)
    // each keep their pseudo-header order.
    let pairs: std::collections::BTreeSet<(String, String)> = profiles
        .iter()
        .map(|p| (p.h2_fingerprint.clone(), p.family.clone()))
        .collect();
    let rows: Vec<(String, String)> = pairs.into_iter().collect();
    let (target, old) = existing(dir, kind)?;
    let (text, replaced) = merge_keyed_rows(&old, "h2_fingerprint,browser_family", &rows)
        .with_context(|| format!("{}", target.display()))?;
    install(kind, &target, &text)?;
    let mut families = std::collections::BTreeMap::<&str, usize>::new();
    for (_, f) in &rows {
        *families.entry(f).or_default() += 1;
    }
    let families: Vec<String> = families.iter().map(|(f, n)| format!("{f} {n}")).collect();
    println!(
        "{}: {} fingerprints ({}; replacing {replaced}) from {} profiles in {}",
        target.display(),
        rows.len(),
        families.join(", "),
        profiles.len(),
        a.file.display()
    );
    Ok(())
}

fn import_browser_profiles(a: &ImportArgs, dir: &Path) -> anyhow::Result<()> {
    use shrike_sim::captured;
    let text = read_text(&a.file)?;
    let captures = if text.trim_start().starts_with('[') {
        captured::rama(&text)
    } else {
        let stem = a.file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        captured::curl_impersonate(&text, stem)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("{}", a.file.display()))?
    };
    if captures.is_empty() {
        anyhow::bail!(
            "{}: no browser capture (rama's embed_profiles.json or a curl-impersonate signature file)",
            a.file.display()
        );
    }
    // Tor Browser is Firefox ESR underneath and says Firefox in its user agent.
    let family = |f: &str| {
        if f == "Tor" {
            "Firefox".to_string()
        } else {
            f.to_string()
        }
    };
    let set = |pick: &dyn Fn(&captured::CapturedProfile) -> &str| -> Vec<(String, String)> {
        let rows: std::collections::BTreeSet<(String, String)> = captures
            .iter()
            .filter(|c| !pick(c).is_empty())
            .map(|c| (pick(c).to_string(), family(&c.profile.family)))
            .collect();
        rows.into_iter().collect()
    };
    let mut report = Vec::new();
    for (kind, header, rows) in [
        (
            DictionaryFile::BrowserJa4,
            "ja4,browser_family",
            set(&|c| c.profile.ja4.as_str()),
        ),
        (
            DictionaryFile::BrowserH2,
            "h2_fingerprint,browser_family",
            set(&|c| c.profile.h2_fingerprint.as_str()),
        ),
    ] {
        let (target, old) = existing(dir, kind)?;
        let (text, replaced) = merge_keyed_rows(&old, header, &rows)
            .with_context(|| format!("{}", target.display()))?;
        install(kind, &target, &text)?;
        report.push(format!(
            "{}: {} rows (replacing {replaced})",
            target.display(),
            rows.len()
        ));
    }
    let mut versions: Vec<String> = captures.iter().map(|c| c.version()).collect();
    versions.sort();
    versions.dedup();
    println!(
        "{} captures ({}) from {}\n  {}",
        captures.len(),
        versions.join(", "),
        a.file.display(),
        report.join("\n  ")
    );
    Ok(())
}

fn import_ip_asn(a: &ImportArgs, dir: &Path) -> anyhow::Result<()> {
    let kind = DictionaryFile::IpAsn;
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    // A MaxMind database ends with its metadata, after this marker.
    let mmdb = memchr::memmem::rfind(&bytes, b"\xab\xcd\xefMaxMind.com").is_some();
    let found = if mmdb {
        shrike_dict::import::parse_mmdb(bytes)
    } else {
        parse_iptoasn(&read_text(&a.file)?)
    }
    .with_context(|| format!("{}", a.file.display()))?;
    if found.ranges == 0 {
        anyhow::bail!("{}: no routed range", a.file.display());
    }
    let (target, _) = existing(dir, kind)?;
    install(kind, &target, &found.csv)?;
    println!(
        "{}: {} ranges ({} not routed, left out) from {}",
        target.display(),
        found.ranges,
        found.not_routed,
        a.file.display()
    );
    Ok(())
}

/// Writes a JSON dictionary file through a temporary file and a rename, after checking
/// that the directory loads with it.
fn install_json(dir: &Path, file: &str, v: &serde_json::Value) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let target = dir.join(file);
    let tmp = target.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(v)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("cannot replace {}", target.display()))?;
    Dictionaries::load_dir(dir).with_context(|| format!("{} does not load", target.display()))?;
    Ok(target)
}

fn import_anubis(a: &ImportArgs, dir: &Path) -> anyhow::Result<()> {
    let found = shrike_dict::policy::import_anubis(&a.file, a.anubis_data.as_deref())?;
    if found.policy.is_empty() {
        anyhow::bail!("{}: no rule shrike can evaluate", a.file.display());
    }
    let target = install_json(dir, shrike_dict::POLICY_FILE, &found.policy.to_json())?;
    let mut actions = std::collections::BTreeMap::<&str, usize>::new();
    for r in &found.policy.rules {
        *actions.entry(r.action.as_str()).or_default() += 1;
    }
    let actions: Vec<String> = actions.iter().map(|(a, n)| format!("{a} {n}")).collect();
    println!(
        "{}: {} rules ({}) and {} thresholds from {} files, starting at {}",
        target.display(),
        found.policy.rules.len(),
        actions.join(", "),
        found.policy.thresholds.len(),
        found.files.len(),
        a.file.display()
    );
    for s in &found.skipped {
        println!("  left out {} ({}): {}", s.name, s.from, s.why);
    }
    Ok(())
}

fn import_ua_bots(a: &ImportArgs, dir: &Path, source: &str) -> anyhow::Result<()> {
    let (mut patterns, skipped) = shrike_dict::ua::parse_ua_patterns(source)
        .with_context(|| format!("{}", a.file.display()))?;
    let imported = patterns.len();
    // Keep the other list's patterns: crawler-user-agents and device-detector complement
    // each other.
    let old = Dictionaries::load_dir(dir)
        .map(|d| d.ua_bots)
        .unwrap_or_default();
    let ours: std::collections::HashSet<&str> =
        patterns.iter().map(|p| p.pattern.as_str()).collect();
    let kept: Vec<_> = old
        .patterns()
        .iter()
        .filter(|p| !ours.contains(p.pattern.as_str()))
        .cloned()
        .collect();
    let kept_n = kept.len();
    patterns.extend(kept);
    let bots = shrike_dict::UaBots::new(patterns).map_err(anyhow::Error::msg)?;
    let target = install_json(dir, shrike_dict::UA_BOTS_FILE, &bots.to_json())?;
    println!(
        "{}: {imported} patterns from {} ({kept_n} kept from earlier imports; {} in all)",
        target.display(),
        a.file.display(),
        bots.len()
    );
    for s in &skipped {
        let shown: String = s.pattern.chars().take(100).collect();
        let more = if shown.len() < s.pattern.len() {
            "…"
        } else {
            ""
        };
        println!("  left out `{shown}{more}`: {}", s.why);
    }
    Ok(())
}

/// The file's text, gunzipped when it is gzip.
fn read_text(path: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .with_context(|| {
                format!("{}: not a whole gzip stream of UTF-8 text", path.display())
            })?;
        Ok(text)
    } else {
        String::from_utf8(bytes).with_context(|| format!("{} is not UTF-8 text", path.display()))
    }
}

/// The dictionary directory the settings name (shrike-data/dict by default).
pub(crate) fn dict_dir(config: Config, flag: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(config
        .resolve(&Overrides {
            dict_dir: flag,
            ..Overrides::default()
        })?
        .dict_dir
        .unwrap_or_else(|| PathBuf::from("shrike-data/dict")))
}

/// Imports `a.file` into `dir` as `a.kind` says; the file in service changes only once the
/// merged file loads.
pub(crate) fn import(a: &ImportArgs, dir: &Path) -> anyhow::Result<()> {
    match a.kind {
        ImportKind::BotIp => import_bot_ip(a, dir, &read_text(&a.file)?),
        ImportKind::BrowserJa4 => import_browser_ja4(a, dir, &read_text(&a.file)?),
        // The profile reader takes the path.
        ImportKind::BrowserH2 => import_browser_h2(a, dir),
        ImportKind::BrowserProfiles => import_browser_profiles(a, dir),
        ImportKind::IpAsn => import_ip_asn(a, dir),
        // Imports are resolved from the path.
        ImportKind::Anubis => import_anubis(a, dir),
        ImportKind::UaBots => import_ua_bots(a, dir, &read_text(&a.file)?),
        ImportKind::AsnHosting => import_asn_list(a, dir, &read_text(&a.file)?),
    }
}

/// Runs a `shrike dict` subcommand.
pub fn run(config: Config, cmd: DictCommand) -> anyhow::Result<ExitCode> {
    let a = match cmd {
        DictCommand::Import(a) => a,
        DictCommand::Update(u) => return crate::dict_update::run(config, u),
    };
    if a.anubis_data.is_some() && !matches!(a.kind, ImportKind::Anubis) {
        anyhow::bail!("--anubis-data applies to anubis only");
    }
    if a.name.is_some() && !matches!(a.kind, ImportKind::BotIp) {
        anyhow::bail!("--name applies to bot-ip only: the other lists name each row themselves");
    }
    let dir = dict_dir(config, a.dict_dir.clone())?;
    import(&a, &dir)?;
    Ok(ExitCode::SUCCESS)
}
