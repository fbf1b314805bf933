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
    /// Send the batches an ingest spooled while ClickHouse was unavailable.
    Replay(ReplayArgs),
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
    /// Days detection outputs are kept (scores, sessions, fleets, campaigns).
    #[arg(long, default_value_t = 90)]
    output_ttl_days: u32,
    /// Days the audit trail is kept (cycles, decisions, models).
    #[arg(long, default_value_t = 365)]
    audit_ttl_days: u32,
}

/// `shrike ch replay`.
#[derive(Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Spool directory [default: the one `shrike ingest` uses for this store].
    #[arg(long)]
    spool: Option<PathBuf>,
    /// Also send the batches the server refused (after fixing their cause).
    #[arg(long)]
    refused: bool,
    /// Seconds each batch is retried before giving up.
    #[arg(long = "retry-for", default_value_t = 60)]
    retry_for_secs: u64,
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
            if [
                a.raw_ttl_days,
                a.aggregate_ttl_days,
                a.output_ttl_days,
                a.audit_ttl_days,
            ]
            .contains(&0)
            {
                anyhow::bail!("every --*-ttl-days must be at least 1");
            }
            let c = client(&a.store)?;
            let report = shrike_clickhouse::migrate(
                &c,
                &Retention {
                    raw_days: a.raw_ttl_days,
                    aggregate_days: a.aggregate_ttl_days,
                    output_days: a.output_ttl_days,
                    audit_days: a.audit_ttl_days,
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
        ChCommand::Replay(a) => {
            let url = ChUrl::parse(&a.store.store)?;
            let spool = a
                .spool
                .unwrap_or_else(|| crate::ingest_ch::default_spool(&url));
            let (store, pusher, _) = crate::ingest_ch::open(
                &url,
                &spool,
                std::time::Duration::from_secs(a.retry_for_secs),
            )?;
            let before = pusher.spool_status()?;
            let result = pusher.replay(a.refused);
            let r = pusher.report();
            println!(
                "{}: {} batches ({} rows) sent from {}",
                url,
                r.replayed_batches,
                r.replayed_rows,
                spool.display()
            );
            let left = match result {
                Ok(st) => st,
                Err(e) => {
                    eprintln!("error: {e}");
                    pusher.spool_status()?
                }
            };
            if left.pending_batches > 0 || (a.refused && left.refused_batches > 0) {
                eprintln!(
                    "error: {} of {} batches still wait in {}",
                    left.pending_batches + left.refused_batches,
                    before.pending_batches + before.refused_batches,
                    spool.display()
                );
                return Ok(ExitCode::from(4));
            }
            if left.refused_batches > 0 {
                println!(
                    "{} refused batches ({} rows) kept under {}/refused: fix the cause, then `--refused`",
                    left.refused_batches,
                    left.refused_rows,
                    spool.display()
                );
            }
            println!("store {url}: {} requests in http_logs", store.raw_count()?);
        }
    }
    Ok(ExitCode::SUCCESS)
}
