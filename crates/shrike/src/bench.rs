//! `shrike bench ingest`: end-to-end ingest throughput (parse + validate + sessionize +
//! cohort features) and memory per session, on simulated JSON Lines.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use shrike_features::{FinishOptions, HashKey, Sessionizer};
use shrike_ingest::{DeadLetterWriter, Format, IngestOptions, Input};

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput and memory per session.
    Ingest(BenchIngestArgs),
    /// Isolation-forest quality on ADBench and training/scoring speed.
    Forest(BenchForestArgs),
    /// A full detection cycle on the sessions of a store.
    Cycle(crate::bench_cycle::BenchCycleArgs),
    /// Louvain communities on a large planted-partition graph.
    Graph(crate::bench_graph::BenchGraphArgs),
    /// DBSCAN (and HDBSCAN) campaign clustering on anomaly-like rows.
    Cluster(crate::bench_cluster::BenchClusterArgs),
    /// The dashboard's cluster map (k-means++, PCA, hulls) on (IP, JA4) rows.
    Map(crate::bench_map::BenchMapArgs),
    /// Gradient-boosted trees: training time and held-out ROC-AUC.
    Trees(crate::bench_trees::BenchTreesArgs),
    /// Normalizing flow: training time (30 epochs) and scoring throughput.
    Flow(crate::bench_flow::BenchFlowArgs),
    /// Packet captures to request records: GB/s of capture.
    Pcap(crate::bench_pcap::BenchPcapArgs),
}

/// Arguments of `shrike bench forest`.
#[derive(Args)]
pub struct BenchForestArgs {
    /// Directory of ADBench `.npz` files [default: ../shared/data/adbench-classical].
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Seeds per dataset (the mean ROC-AUC is reported).
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Trees per forest.
    #[arg(long, default_value_t = 300)]
    pub trees: usize,
    /// Skip the quality table and only run the speed benchmark.
    #[arg(long)]
    pub speed_only: bool,
    /// Skip the speed benchmark.
    #[arg(long)]
    pub quality_only: bool,
    /// Rows to train on in the speed benchmark.
    #[arg(long, default_value_t = 100_000)]
    pub train_rows: usize,
    /// Rows to score in the speed benchmark.
    #[arg(long, default_value_t = 1_000_000)]
    pub score_rows: usize,
    /// Repetitions of the speed benchmark (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// Arguments of `shrike bench ingest`.
#[derive(Args)]
pub struct BenchIngestArgs {
    /// An existing log file (any line format, or a Zeek http.log with the logs beside it);
    /// default: simulate JSON Lines of about
    /// `--records` lines.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Format of `--input` [default: detected from its first line].
    #[arg(long, value_parser = ["jsonl", "combined", "nginx-json", "cloudflare", "zeek"])]
    pub format: Option<String>,
    /// Approximate size of the simulated input.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Where to write the simulated input.
    #[arg(long, default_value = "shrike-data/bench")]
    pub out: PathBuf,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Parsing threads [default: one per core].
    #[arg(long)]
    pub workers: Option<usize>,
    /// Stop after this stage, to see where the time goes.
    #[arg(long, value_enum, default_value_t = Stage::Features)]
    pub stage: Stage,
}

/// How far `shrike bench ingest` goes.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Stage {
    /// Read, parse and validate records, then drop them.
    Parse,
    /// Also fold them into sessions.
    Sessionize,
    /// Also compute every feature, cohort features included (the end-to-end figure).
    Features,
}

/// A sink that sessionizes, or only counts when benchmarking the parser.
struct BenchSink(Option<Sessionizer>);

impl shrike_ingest::RecordSink for BenchSink {
    fn accept(&mut self, line: u64, record: &shrike_types::RequestRecord<'_>) {
        if let Some(s) = &mut self.0 {
            s.update(line, record);
        }
    }
}

fn peak_rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// `shrike bench ...`.
pub fn run(config: crate::config::Config, cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        BenchCommand::Cycle(a) => crate::bench_cycle::run(config, a),
        BenchCommand::Ingest(a) => ingest(a),
        BenchCommand::Forest(a) => crate::bench_forest::run(a),
        BenchCommand::Graph(a) => crate::bench_graph::run(a),
        BenchCommand::Cluster(a) => crate::bench_cluster::run(a),
        BenchCommand::Map(a) => crate::bench_map::run(a),
        BenchCommand::Trees(a) => crate::bench_trees::run(a),
        BenchCommand::Flow(a) => crate::bench_flow::run(a),
        BenchCommand::Pcap(a) => crate::bench_pcap::run(a),
    }
}

fn ingest(a: BenchIngestArgs) -> anyhow::Result<ExitCode> {
    let input = match &a.input {
        Some(p) => p.clone(),
        None => {
            let path = a.out.join("traffic.jsonl");
            let humans = (a.records / (24 * 19)).max(10) as u32;
            let cfg = shrike_sim::SimConfig {
                hours: 24,
                hosts: 5,
                humans_per_hour: humans,
                bots_per_family_per_hour: (humans / 60).max(2),
                profiles: crate::simulate::default_profiles(),
                ..shrike_sim::SimConfig::default()
            };
            if !path.is_file() {
                let s = shrike_sim::simulate(&cfg, &a.out)?;
                println!("simulated {} records into {}", s.records, path.display());
            }
            path
        }
    };
    let bytes = std::fs::metadata(&input)?.len();
    let format = match a.format.as_deref().and_then(Format::parse) {
        Some(f) => f,
        None => crate::ingest::sniff_format(&Input::File(input.clone()))?,
    };
    if format == Format::Pcap {
        anyhow::bail!("captures are measured by `shrike bench pcap`");
    }
    let source = format.source();
    println!("format: {}", format.as_str());
    let rss_before = peak_rss_bytes().unwrap_or(0);
    let opts = IngestOptions {
        workers: a.workers.unwrap_or(IngestOptions::default().workers),
        ..IngestOptions::default()
    };
    let mut rates = Vec::new();
    let mut last = (0u64, 0usize);
    for run in 0..a.runs.max(1) {
        let t = Instant::now();
        let sink =
            || BenchSink((a.stage != Stage::Parse).then(|| Sessionizer::new(HashKey::FIXED, 1)));
        let (report, _) = match &source {
            Some(source) => shrike_ingest::run(
                &Input::File(input.clone()),
                source.as_ref(),
                &opts,
                DeadLetterWriter::discard(),
                sink,
                &|_| {},
            )?,
            // Zeek logs: the side logs are read first, then http.log on every worker.
            None => {
                let (report, dead, _) = shrike_ingest::run_zeek(
                    &Input::File(input.clone()),
                    &opts,
                    DeadLetterWriter::discard(),
                    sink,
                    &|_| {},
                )?;
                (report, dead)
            }
        };
        let records = report.records;
        let mut merged = Sessionizer::new(HashKey::FIXED, 1);
        for s in report.sinks.into_iter().filter_map(|s| s.0) {
            merged.merge(s);
        }
        let t_parse = t.elapsed();
        let features = if a.stage == Stage::Features {
            merged.finish(
                &shrike_dict::Dictionaries::default(),
                &FinishOptions::default(),
            )
        } else {
            Vec::new()
        };
        let total = t.elapsed();
        let rate = records as f64 / total.as_secs_f64();
        println!(
            "run {}: {records} records, {} sessions, {:.2} s (parse+sessionize {:.2} s, features {:.2} s): {:.0} records/s, {:.0} MB/s",
            run + 1,
            features.len(),
            total.as_secs_f64(),
            t_parse.as_secs_f64(),
            (total - t_parse).as_secs_f64(),
            rate,
            bytes as f64 / total.as_secs_f64() / 1e6
        );
        rates.push(rate);
        last = (records, merged.session_count());
    }
    let median = shrike_forest::median(rates.clone());
    let peak = peak_rss_bytes().unwrap_or(0);
    println!(
        "median: {median:.0} records/s over {} runs ({} workers)",
        rates.len(),
        opts.workers
    );
    println!(
        "peak RSS {:.1} MiB (before {:.1} MiB); {} records, {} sessions: {:.0} bytes of peak RSS per session, {:.1} per record",
        peak as f64 / 1048576.0,
        rss_before as f64 / 1048576.0,
        last.0,
        last.1,
        (peak - rss_before.min(peak)) as f64 / last.1.max(1) as f64,
        (peak - rss_before.min(peak)) as f64 / last.0.max(1) as f64,
    );
    Ok(ExitCode::SUCCESS)
}
