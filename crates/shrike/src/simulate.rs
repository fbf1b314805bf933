//! `shrike simulate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use shrike_sim::{simulate, SimConfig};
use shrike_types::Timestamp;

/// Arguments of `shrike simulate`.
#[derive(Args, Clone)]
pub struct SimulateArgs {
    /// Output directory (traffic.jsonl, labels.csv, session_labels.csv, dict/).
    #[arg(long, default_value = "shrike-data/sim")]
    pub out: PathBuf,
    /// Random seed: the same seed gives the same files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Hours of traffic.
    #[arg(long, default_value_t = 6)]
    pub hours: u32,
    /// Number of sites.
    #[arg(long, default_value_t = 3)]
    pub hosts: usize,
    /// Human visits per hour.
    #[arg(long, default_value_t = 400)]
    pub humans_per_hour: u32,
    /// Actors per bad-bot family per hour.
    #[arg(long, default_value_t = 3)]
    pub bots_per_family: u32,
    /// First hour (RFC 3339).
    #[arg(long, default_value = "2024-05-01T00:00:00Z")]
    pub start: String,
    /// Real browser profiles (rama embed_profiles.json) [default: ../shared/data if present].
    #[arg(long, env = "SHRIKE_PROFILES")]
    pub profiles: Option<PathBuf>,
}

/// Real browser profiles, when the shared data is next to the repository.
pub fn default_profiles() -> Option<PathBuf> {
    let base = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("../shared/data"));
    let p = base.join("rama-ua-profiles/embed_profiles.json");
    p.is_file().then_some(p)
}

impl SimulateArgs {
    /// The simulator configuration.
    pub fn config(&self) -> anyhow::Result<SimConfig> {
        let start = Timestamp::parse_rfc3339(&self.start)
            .map_err(|e| anyhow::anyhow!("--start {:?}: {e}", self.start))?;
        Ok(SimConfig {
            seed: self.seed,
            start,
            hours: self.hours,
            hosts: self.hosts,
            humans_per_hour: self.humans_per_hour,
            bots_per_family_per_hour: self.bots_per_family,
            profiles: self.profiles.clone().or_else(default_profiles),
        })
    }
}

/// `shrike simulate`.
pub fn run(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let cfg = args.config()?;
    let s = simulate(&cfg, &args.out)?;
    println!(
        "wrote {} records to {} ({} real browser profiles{})",
        s.records,
        args.out.join("traffic.jsonl").display(),
        s.real_profiles,
        if s.real_profiles == 0 {
            ", built-in table"
        } else {
            ""
        }
    );
    for (class, n) in &s.records_per_class {
        println!("  {:<9} {n} records", class.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
