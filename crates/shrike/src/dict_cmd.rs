//! `shrike dict import <kind> <file>`: a public list into the dictionary directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use shrike_dict::import::{merge_named_rows, parse_ip_ranges};
use shrike_dict::{Dictionaries, DictionaryFile};

/// `shrike dict` subcommands.
#[derive(Subcommand)]
pub enum DictCommand {
    /// Import a public list into the dictionary directory (docs/DICTIONARIES.md).
    Import(ImportArgs),
}

/// What a file holds.
#[derive(Clone, Copy, ValueEnum)]
pub enum ImportKind {
    /// Crawler IP ranges → bot_ip.csv: Google's JSON layout (googlebot.json, bingbot.json,
    /// gptbot.json...) or a plain CIDR list, one per line.
    BotIp,
}

/// `shrike dict import`.
#[derive(Args)]
pub struct ImportArgs {
    /// What the file holds.
    kind: ImportKind,
    /// The file.
    file: PathBuf,
    /// The bot's name [default: the file name without extension]. An earlier import under
    /// this name is replaced.
    #[arg(long)]
    name: Option<String>,
    /// Dictionary directory.
    #[arg(long, env = "SHRIKE_DICT_DIR", default_value = "shrike-data/dict")]
    dict_dir: PathBuf,
}

/// Writes `text` to `path` through a temporary file and a rename, so that a process
/// reloading the directory never reads half a file.
fn replace_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("csv.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))
}

/// Runs a `shrike dict` subcommand.
pub fn run(cmd: DictCommand) -> anyhow::Result<ExitCode> {
    let DictCommand::Import(a) = cmd;
    let source = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let name = match a.name {
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
    let ImportKind::BotIp = a.kind;
    let kind = DictionaryFile::BotIp;
    let ranges = parse_ip_ranges(&source).with_context(|| format!("{}", a.file.display()))?;
    std::fs::create_dir_all(&a.dict_dir)
        .with_context(|| format!("cannot create {}", a.dict_dir.display()))?;
    let target = a.dict_dir.join(kind.file_name());
    let existing = match std::fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", target.display())),
    };
    let (text, replaced) = merge_named_rows(&existing, "cidr,bot_name", &name, &ranges)
        .with_context(|| format!("{}", target.display()))?;
    // What is written must load: check before replacing the file in service.
    Dictionaries::default()
        .load_text(kind, &text)
        .with_context(|| format!("the merged {} would not load", target.display()))?;
    replace_file(&target, &text)?;
    println!(
        "{}: {} ranges for {name} (replacing {replaced}) from {}",
        target.display(),
        ranges.len(),
        a.file.display()
    );
    Ok(ExitCode::SUCCESS)
}
