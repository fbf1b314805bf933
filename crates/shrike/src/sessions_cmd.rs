//! `shrike sessions export`: the stored sessions with their features (named columns) and
//! the latest verdict, as CSV or JSON Lines, for pandas, DuckDB or a spreadsheet.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use shrike_export::sessions::{write_sessions, Prefix, SessionFilter, TableFormat};
use shrike_types::{ThreatLevel, Timestamp};

use crate::config::Config;
use crate::CommonOpts;

/// `shrike sessions` subcommands.
#[derive(Subcommand)]
pub enum SessionsCommand {
    /// Write the sessions of a window range, with their features and verdicts.
    Export(ExportArgs),
}

/// `shrike sessions export`.
#[derive(Args)]
pub struct ExportArgs {
    #[command(flatten)]
    common: CommonOpts,
    /// csv (a header, then one row per session), jsonl (one object per session) or parquet.
    #[arg(long, value_parser = ["csv", "jsonl", "parquet"])]
    format: String,
    /// Only windows starting at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only windows starting at or before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Only sessions whose latest verdict has this level (repeat for several): CRITICAL,
    /// HIGH, MEDIUM, LOW, NORMAL, LEGITIMATE_BROWSER, KNOWN_BOT, ANUBIS_DENY.
    #[arg(long = "level")]
    levels: Vec<ThreatLevel>,
    /// Only addresses in this prefix (`192.0.2.0/24`, `2001:db8::/32`, or one address).
    #[arg(long)]
    prefix: Option<String>,
    /// Write here (atomically) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn time(flag: &str, text: Option<&str>, default: i64) -> anyhow::Result<Timestamp> {
    match text {
        None => Ok(Timestamp::from_millis(default)),
        Some(t) => Timestamp::parse_rfc3339(t).map_err(|e| anyhow::anyhow!("{flag} {t:?}: {e}")),
    }
}

/// Runs a `shrike sessions` subcommand.
pub fn run(config: Config, cmd: SessionsCommand) -> anyhow::Result<ExitCode> {
    let SessionsCommand::Export(a) = cmd;
    let format = match a.format.as_str() {
        "csv" => TableFormat::Csv,
        "parquet" => TableFormat::Parquet,
        _ => TableFormat::Jsonl,
    };
    if format == TableFormat::Parquet && a.output.is_none() {
        anyhow::bail!("--format parquet needs --output FILE (a Parquet file is not a stream)");
    }
    let since = time("--since", a.since.as_deref(), i64::MIN / 2)?;
    let until = time("--until", a.until.as_deref(), i64::MAX / 2)?;
    let prefix = match &a.prefix {
        None => None,
        Some(p) => Some(Prefix::parse(p).ok_or_else(|| {
            anyhow::anyhow!("--prefix {p:?}: allowed an address or a prefix such as 192.0.2.0/24 or 2001:db8::/32")
        })?),
    };
    let settings = config.resolve(&crate::config::Overrides::common(&a.common))?;
    let sessions = crate::stores::cycle_store(&settings)?.sessions_between(since, until)?;
    let store = crate::stores::verdict_store(&settings)?;
    let verdicts = match store.latest_cycle()? {
        Some((cycle, _)) => store.cycle_scores(cycle)?,
        None => Vec::new(),
    };
    let filter = SessionFilter {
        levels: a.levels,
        prefix,
    };
    let written = match &a.output {
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match write_sessions(&mut out, &sessions, &verdicts, &filter, format)
                .and_then(|n| out.flush().map(|()| n))
            {
                // A reader that stops early (`| head`) is not an error.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    return Ok(ExitCode::SUCCESS)
                }
                other => other?,
            }
        }
        Some(path) => {
            let mut buf = Vec::new();
            let n = write_sessions(&mut buf, &sessions, &verdicts, &filter, format)?;
            crate::export::write_atomically(path, &buf)?;
            n
        }
    };
    eprintln!(
        "{written} of {} sessions written{}",
        sessions.len(),
        if verdicts.is_empty() {
            " (no cycle yet: no verdicts)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
