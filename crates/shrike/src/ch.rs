//! `shrike ch …`: the ClickHouse store's schema and dictionaries.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use shrike_clickhouse::{ChUrl, Client, Retention};

/// `shrike ch` subcommands.
#[derive(Subcommand)]
pub enum ChCommand {
    /// Create the database and apply the schema migrations not yet applied.
    Migrate(MigrateArgs),
    /// Copy the dictionary directory into the ClickHouse dictionaries' source tables.
    DictSync(DictSyncArgs),
}

/// Where the store is.
#[derive(Args)]
pub struct StoreArg {
    /// ClickHouse store: clickhouse://[user[:password]@]host[:port]/database.
    #[arg(long, env = "SHRIKE_CLICKHOUSE")]
    pub store: String,
}

/// `shrike ch migrate`.
#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Days raw requests are kept (http_logs TTL).
    #[arg(long, default_value_t = 30)]
    raw_ttl_days: u32,
    /// Days the hourly aggregates are kept.
    #[arg(long, default_value_t = 90)]
    aggregate_ttl_days: u32,
}

/// `shrike ch dict-sync`.
#[derive(Args)]
pub struct DictSyncArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Dictionary directory (bot_ip.csv, browser_ja4.csv, ...).
    #[arg(long, default_value = "shrike-data/dict")]
    dict_dir: PathBuf,
}

fn client(store: &StoreArg) -> anyhow::Result<Client> {
    Ok(Client::new(ChUrl::parse(&store.store)?))
}

/// Runs a `shrike ch` subcommand.
pub fn run(cmd: ChCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ChCommand::Migrate(a) => {
            if a.raw_ttl_days == 0 || a.aggregate_ttl_days == 0 {
                anyhow::bail!("--raw-ttl-days and --aggregate-ttl-days must be at least 1");
            }
            let c = client(&a.store)?;
            let report = shrike_clickhouse::migrate(
                &c,
                &Retention {
                    raw_days: a.raw_ttl_days,
                    aggregate_days: a.aggregate_ttl_days,
                },
            )
            .with_context(|| format!("migrating {}", c.url()))?;
            if report.applied.is_empty() {
                println!(
                    "{}: schema up to date (version {})",
                    c.url(),
                    report.version
                );
            } else {
                println!(
                    "{}: applied migrations {:?}, schema version {}",
                    c.url(),
                    report.applied,
                    report.version
                );
            }
        }
        ChCommand::DictSync(a) => {
            let c = client(&a.store)?;
            let dict = shrike_dict::Dictionaries::load_dir(&a.dict_dir)
                .with_context(|| format!("loading {}", a.dict_dir.display()))?;
            let report = shrike_clickhouse::sync_dictionaries(&c, &dict)
                .with_context(|| format!("syncing dictionaries into {}", c.url()))?;
            for (table, rows) in report.tables {
                println!("{table}: {rows} rows");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
