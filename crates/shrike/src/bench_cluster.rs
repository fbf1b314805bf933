//! `shrike bench cluster`: DBSCAN and HDBSCAN on anomaly-like rows (campaigns of bots that
//! share a tool, with per-member jitter, some members identical, and scattered anomalies).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use shrike_cluster::{dbscan, hdbscan, standardize, DbscanParams, HdbscanParams};
use shrike_types::Rng;

/// Arguments of `shrike bench cluster`.
#[derive(Args)]
pub struct BenchClusterArgs {
    /// Rows (anomalies).
    #[arg(long, default_value_t = 20_000)]
    pub rows: usize,
    /// Features per row.
    #[arg(long, default_value_t = 60)]
    pub dims: usize,
    /// Planted campaigns.
    #[arg(long, default_value_t = 60)]
    pub campaigns: usize,
    /// Share of rows that belong to no campaign.
    #[arg(long, default_value_t = 0.2)]
    pub noise: f64,
    /// Radius as the root-mean-square difference per standardised feature (what
    /// `detect.campaign_eps` means).
    #[arg(long, default_value_t = 0.5)]
    pub eps: f64,
    /// Rows within the radius, the row included, for a core row.
    #[arg(long, default_value_t = 5)]
    pub min_samples: usize,
    /// Also time HDBSCAN (O(n²) spanning tree: slower).
    #[arg(long)]
    pub hdbscan: bool,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Write the standardised rows as CSV (for bench/cluster_reference.py).
    #[arg(long)]
    pub write: Option<PathBuf>,
}

/// A clustering run.
type Labelling<'a> = dyn Fn() -> anyhow::Result<Vec<Option<u32>>> + 'a;

/// Rows and the planted campaign of each (`None`: scattered).
fn planted(a: &BenchClusterArgs) -> (Vec<f64>, Vec<Option<usize>>) {
    let mut rng = Rng::seed_from_u64(7);
    let centres: Vec<Vec<f64>> = (0..a.campaigns)
        .map(|_| {
            (0..a.dims)
                .map(|j| {
                    // A third of the features are binary flags, as in the session features.
                    if j % 3 == 0 {
                        rng.below(2) as f64
                    } else {
                        rng.f64() * 10.0
                    }
                })
                .collect()
        })
        .collect();
    // Campaign sizes are skewed: a few big ones, many small.
    let weights: Vec<f64> = (0..a.campaigns).map(|c| 1.0 / (1.0 + c as f64)).collect();
    let mut x = Vec::with_capacity(a.rows * a.dims);
    let mut truth = Vec::with_capacity(a.rows);
    for _ in 0..a.rows {
        if a.campaigns == 0 || rng.chance(a.noise) {
            for j in 0..a.dims {
                x.push(if j % 3 == 0 {
                    rng.below(2) as f64
                } else {
                    rng.f64() * 10.0
                });
            }
            truth.push(None);
        } else {
            let c = rng.weighted(&weights);
            // A quarter of the members repeat the campaign's exact vector.
            let exact = rng.chance(0.25);
            for (j, v) in centres[c].iter().enumerate() {
                x.push(if j % 3 == 0 || exact {
                    *v
                } else {
                    v + 0.08 * rng.normal()
                });
            }
            truth.push(Some(c));
        }
    }
    (x, truth)
}

/// Share of pairs on which two labellings agree (Rand index), over a sample of pairs.
fn rand_index(a: &[Option<u32>], truth: &[Option<usize>]) -> f64 {
    let mut rng = Rng::seed_from_u64(3);
    let n = a.len() as u64;
    let mut agree = 0;
    let pairs = 200_000;
    for _ in 0..pairs {
        let (i, j) = (rng.below(n) as usize, rng.below(n) as usize);
        let sa = a[i].is_some() && a[i] == a[j];
        let st = truth[i].is_some() && truth[i] == truth[j];
        agree += (sa == st) as u32;
    }
    agree as f64 / pairs as f64
}

/// `shrike bench cluster`.
pub fn run(a: BenchClusterArgs) -> anyhow::Result<ExitCode> {
    if a.rows == 0 || a.dims == 0 || a.runs == 0 {
        anyhow::bail!("--rows, --dims and --runs must be at least 1");
    }
    let (raw, truth) = planted(&a);
    let t = Instant::now();
    let (z, kept) = standardize(&raw, a.dims)?;
    let d = kept.len();
    println!(
        "rows: {} × {} ({} planted campaigns, {:.0}% scattered); standardised in {:.3} s",
        a.rows,
        a.dims,
        a.campaigns,
        100.0 * a.noise,
        t.elapsed().as_secs_f64()
    );
    if let Some(path) = &a.write {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (row, t) in z.chunks_exact(d).zip(&truth) {
            let cells: Vec<String> = row.iter().map(|v| format!("{v:.17e}")).collect();
            writeln!(f, "{},{}", t.map_or(-1, |c| c as i64), cells.join(","))?;
        }
        println!("wrote {}", path.display());
    }
    let eps = a.eps * (d as f64).sqrt();
    let mut algos: Vec<(&str, Box<Labelling>)> = vec![(
        "dbscan",
        Box::new(|| {
            Ok(dbscan(
                &z,
                d,
                &DbscanParams {
                    eps,
                    min_samples: a.min_samples,
                    threads: 0,
                },
            )?)
        }),
    )];
    if a.hdbscan {
        algos.push((
            "hdbscan",
            Box::new(|| {
                Ok(hdbscan(
                    &z,
                    d,
                    &HdbscanParams {
                        min_cluster_size: a.min_samples,
                        min_samples: a.min_samples,
                        cluster_selection_epsilon: eps,
                        threads: 0,
                    },
                )?)
            }),
        ));
    }
    for (name, f) in algos {
        let mut times = Vec::new();
        let mut labels = Vec::new();
        for run in 0..a.runs {
            let t = Instant::now();
            labels = f()?;
            let secs = t.elapsed().as_secs_f64();
            times.push(secs);
            println!("{name} run {}: {secs:.3} s", run + 1);
        }
        let clusters = labels.iter().flatten().max().map_or(0, |m| m + 1);
        let noise = labels.iter().filter(|l| l.is_none()).count();
        println!(
            "{name}: median {:.3} s; {clusters} clusters, {noise} noise rows, Rand index vs planted {:.4}",
            shrike_forest::median(times),
            rand_index(&labels, &truth)
        );
    }
    Ok(ExitCode::SUCCESS)
}
