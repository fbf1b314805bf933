//! The `shrike` command line: thin glue over the library crates.
//!
//! Exit codes: 0 success; 1 error (message on stderr); 2 usage error; 3 the input's rejected
//! fraction exceeded `--max-reject-ratio` (everything valid was still stored); 4 `dict update`:
//! a source failed (the others were updated; its files stay as they were).

mod bench;
mod bench_cluster;
mod bench_cycle;
mod bench_flow;
mod bench_forest;
mod bench_graph;
mod bench_map;
mod bench_pcap;
mod bench_trees;
mod campaigns;
mod ch;
mod config;
mod demo;
mod detect;
mod dict_cmd;
mod dict_update;
mod eval;
mod export;
mod feedback;
mod ingest;
mod ingest_ch;
mod run;
mod serve;
mod sessions_cmd;
mod simulate;
mod stores;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// shrike: tells humans, good bots and automated threats apart, from JA4 TLS fingerprints,
/// TCP, HTTP/2 and behaviour, and explains every verdict.
#[derive(Parser)]
#[command(name = "shrike", version, propagate_version = true)]
struct Cli {
    /// TOML configuration file (see shrike.example.toml).
    #[arg(long, global = true, env = "SHRIKE_CONFIG")]
    config: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct CommonOpts {
    /// Store: a SQLite file [default: shrike-data/shrike.db], or a ClickHouse database
    /// `clickhouse://[user[:password]@]host[:port]/db` (every command but demo and serve).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Dictionary directory (bot_ip.csv, browser_ja4.csv, ...).
    #[arg(long)]
    dict_dir: Option<PathBuf>,
    /// Cohort horizon in hours [default: 24].
    #[arg(long)]
    horizon_hours: Option<u32>,
}

#[derive(Subcommand)]
enum Command {
    /// Simulate labelled traffic, ingest it, detect, and score the verdicts per population.
    Demo(demo::DemoArgs),
    /// Detection quality on labelled data, per scorer and for the ensemble.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Read request logs, build sessions and their features, store them.
    Ingest(ingest::IngestArgs),
    /// Write simulated, labelled traffic (log, labels and matching dictionaries).
    Simulate(simulate::SimulateArgs),
    /// Run a detection cycle over the store's horizon (or one every `--every` interval).
    Detect(detect::DetectArgs),
    /// Write the latest verdicts as a block list (or, with --shadow, report what it would block).
    Export(export::ExportArgs),
    /// Add, list or remove analysts' bot/human labels.
    Feedback(feedback::FeedbackArgs),
    /// The service: follow log files, detect on a schedule, rewrite exports, serve the
    /// dashboard; SIGHUP reloads, SIGTERM stops.
    Run(run::RunArgs),
    /// Serve the API and the SOC dashboard over the store.
    Serve(serve::ServeArgs),
    /// List the campaigns found by the cycles, or show one with its members.
    Campaigns(campaigns::CampaignsArgs),
    /// Measure performance.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The ClickHouse store: schema migrations and dictionary sync.
    #[command(subcommand)]
    Ch(ch::ChCommand),
    /// Sessions out: their features and verdicts as CSV or JSON Lines.
    #[command(subcommand)]
    Sessions(sessions_cmd::SessionsCommand),
    /// Dictionaries: import public lists (crawler IP ranges...).
    #[command(subcommand)]
    Dict(dict_cmd::DictCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("SHRIKE_LOG").unwrap_or_else(|_| "info".into());
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        fmt.json().init();
    } else {
        fmt.without_time().with_target(false).init();
    }
    let config = match cli
        .config
        .as_deref()
        .map(config::Config::from_file)
        .transpose()
    {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => {
            eprintln!("error: {}", render_error(&e));
            return ExitCode::from(1);
        }
    };
    let result = match cli.command {
        Command::Demo(a) => demo::run(config, a),
        Command::Eval(a) => eval::run(config, a),
        Command::Ingest(a) => ingest::run(config, a),
        Command::Simulate(a) => simulate::run(a),
        Command::Detect(a) => detect::run(config, a),
        Command::Campaigns(a) => campaigns::run(config, a),
        Command::Serve(a) => serve::run(config, a),
        Command::Run(a) => run::run(config, cli.config.clone(), a),
        Command::Feedback(a) => feedback::run(config, a),
        Command::Export(a) => export::run(config, a),
        Command::Bench(b) => bench::run(config, b),
        Command::Ch(c) => ch::run(c),
        Command::Dict(c) => dict_cmd::run(config, c),
        Command::Sessions(c) => sessions_cmd::run(config, c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", render_error(&e));
            ExitCode::from(1)
        }
    }
}

/// An error and its causes on one line, each cause once: many errors quote their cause in
/// their own message, and printing the chain again would repeat it.
pub(crate) fn render_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
