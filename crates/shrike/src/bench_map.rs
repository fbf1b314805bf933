//! `shrike bench map`: the dashboard's cluster map end to end (scaling, z-scores,
//! k-means++ with n_init 3 and max_iter 80, PCA to 2-D, hulls, names, aggregates, edges) on
//! synthetic (IP, JA4) rows: traffic profiles with per-row jitter, as many distinct rows as
//! asked (real maps are mostly distinct human rows).

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use shrike_server::map::{compute, MapParams, MapRow, MAP_FEATURES};
use shrike_types::Rng;

/// Arguments of `shrike bench map`.
#[derive(Args)]
pub struct BenchMapArgs {
    /// (IP, JA4) rows.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Base k.
    #[arg(long, default_value_t = 14)]
    pub k: usize,
    /// Sensitivity (k × sensitivity clusters, clamped to 4..=50).
    #[arg(long, default_value_t = 2.0)]
    pub sensitivity: f64,
    /// Traffic profiles planted.
    #[arg(long, default_value_t = 40)]
    pub profiles: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

fn rows(a: &BenchMapArgs) -> Vec<MapRow> {
    let mut rng = Rng::seed_from_u64(11);
    let dims = MAP_FEATURES.len();
    let profiles: Vec<Vec<f64>> = (0..a.profiles)
        .map(|_| (0..dims).map(|_| rng.f64()).collect())
        .collect();
    (0..a.rows)
        .map(|i| {
            let p = &profiles[rng.below(a.profiles as u64) as usize];
            let mut values = [0.0; MAP_FEATURES.len()];
            for (v, c) in values.iter_mut().zip(p) {
                *v = (c + 0.05 * rng.normal()).clamp(0.0, 1.0);
            }
            MapRow {
                ip: format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
                ja4: format!("t13d{:04}", i % 977),
                user_agent: String::new(),
                hits: 1 + rng.below(100),
                score: values[0],
                threat: shrike_types::ThreatLevel::Normal,
                country: "FR".into(),
                asn_org: String::new(),
                tcp: [64.0, 64240.0, 7.0, 1460.0],
                values,
            }
        })
        .collect()
}

/// `shrike bench map`.
pub fn run(a: BenchMapArgs) -> anyhow::Result<ExitCode> {
    let params = MapParams {
        k: a.k,
        hours: 24,
        sensitivity: a.sensitivity,
    };
    println!(
        "cluster map: {} rows x {} features, k = {} ({} x {}), n_init 3, max_iter 80, {} run(s)",
        a.rows,
        MAP_FEATURES.len(),
        params.k_actual(),
        a.k,
        a.sensitivity,
        a.runs
    );
    let data = rows(&a);
    let mut times = Vec::new();
    for run in 0..a.runs.max(1) {
        let input = data.clone();
        let started = Instant::now();
        let m = compute(input, params, 42, a.threads).map_err(anyhow::Error::msg)?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "  run {}: {secs:.2} s ({} clusters, {} k-means iterations, {} edges)",
            run + 1,
            m.stats.total_clusters,
            m.stats.iterations,
            m.edges.len()
        );
        times.push(secs);
    }
    times.sort_by(f64::total_cmp);
    println!("median {:.2} s (goal < 5 s)", times[times.len() / 2]);
    Ok(ExitCode::SUCCESS)
}
