//! `shrike bench trees`: gradient-boosted trees (200 × depth 6 by default) on synthetic
//! labelled rows shaped like session features (ratios, counts, flags, interactions and
//! label noise): training time and held-out ROC-AUC. `--write` saves the data as CSV for
//! the xgboost reference (bench/README.md).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use shrike_gbdt::GbdtParams;
use shrike_types::{math, Rng};

/// Arguments of `shrike bench trees`.
#[derive(Args)]
pub struct BenchTreesArgs {
    /// Rows (80% train, 20% held out).
    #[arg(long, default_value_t = 50_000)]
    pub rows: usize,
    /// Features.
    #[arg(long, default_value_t = 60)]
    pub dims: usize,
    /// Trees.
    #[arg(long, default_value_t = 200)]
    pub trees: usize,
    /// Depth.
    #[arg(long, default_value_t = 6)]
    pub depth: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Write the rows as CSV (label last, train rows first) and stop.
    #[arg(long)]
    pub write: Option<PathBuf>,
}

pub(crate) fn data(a: &BenchTreesArgs) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::seed_from_u64(5);
    let mut x = Vec::with_capacity(a.rows * a.dims);
    let mut y = Vec::with_capacity(a.rows);
    for _ in 0..a.rows {
        let row: Vec<f32> = (0..a.dims)
            .map(|j| match j % 3 {
                0 => rng.f64() as f32,                     // ratio
                1 => rng.exponential(20.0).floor() as f32, // count
                _ => rng.below(2) as f32,                  // flag
            })
            .collect();
        // Interactions and thresholds, as automation signals combine.
        let logit = 3.0 * (row[0] as f64 - 0.5)
            + 2.0 * (row[2] as f64) * (row[3] as f64 - 0.5)
            + if row[1] > 30.0 { 1.5 } else { -0.5 }
            + 1.5 * math::sin(row[4] as f64 * 8.0)
            + if row[5] == 1.0 && row[6] > 0.7 {
                2.0
            } else {
                0.0
            }
            - 1.0;
        let p = 1.0 / (1.0 + math::exp(-logit));
        y.push(rng.chance(p) as u8 as f32);
        x.extend(row);
    }
    (x, y)
}

/// `shrike bench trees`.
pub fn run(a: BenchTreesArgs) -> anyhow::Result<ExitCode> {
    let (x, y) = data(&a);
    let split = a.rows * 4 / 5;
    if let Some(path) = &a.write {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (row, label) in x.chunks_exact(a.dims).zip(&y) {
            let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
            writeln!(out, "{},{label}", cells.join(","))?;
        }
        println!(
            "wrote {} ({} rows; the first {split} train)",
            path.display(),
            a.rows
        );
        return Ok(ExitCode::SUCCESS);
    }
    let params = GbdtParams {
        n_trees: a.trees,
        max_depth: a.depth,
        threads: a.threads,
        ..GbdtParams::default()
    };
    println!(
        "boosted trees: {} x {} ({split} train), {} trees of depth {}, learning rate {}, {} run(s)",
        a.rows, a.dims, a.trees, a.depth, params.learning_rate, a.runs
    );
    let mut times = Vec::new();
    let mut auc = 0.0;
    let mut fitted = None;
    for run in 0..a.runs.max(1) {
        let started = Instant::now();
        let model = params.fit(&x[..split * a.dims], a.dims, &y[..split])?;
        let secs = started.elapsed().as_secs_f64();
        let p = model.probabilities(&x[split * a.dims..], a.threads.max(1));
        let labels: Vec<bool> = y[split..].iter().map(|v| *v == 1.0).collect();
        auc = shrike_forest::dataset::roc_auc(&p, &labels).unwrap_or(f64::NAN);
        println!(
            "  run {}: fit {secs:.2} s, held-out ROC-AUC {auc:.4}",
            run + 1
        );
        times.push(secs);
        fitted = Some(model);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "median fit {:.2} s, ROC-AUC {auc:.4}",
        times[times.len() / 2]
    );
    if let Some(model) = fitted {
        shap(&model, &x[split * a.dims..], &a);
    }
    Ok(ExitCode::SUCCESS)
}

/// TreeSHAP of the held-out rows, row by row (the exact recursion) and all at once (leaves
/// tabulated, rows in parallel): the median times of each, and how far apart they are.
fn shap(model: &shrike_gbdt::Gbdt, rows: &[f32], a: &BenchTreesArgs) {
    let n = rows.len() / a.dims;
    let (mut one_s, mut many_s) = (Vec::new(), Vec::new());
    let (mut one, mut many) = (Vec::new(), Vec::new());
    for _ in 0..a.runs.max(1) {
        let started = Instant::now();
        one = rows
            .chunks_exact(a.dims)
            .flat_map(|r| model.contributions(r).0)
            .collect::<Vec<f64>>();
        one_s.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        many = model.contributions_many(rows, a.threads).0;
        many_s.push(started.elapsed().as_secs_f64());
    }
    let diff = one
        .iter()
        .zip(&many)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max);
    let (_, bias) = model.contributions_many(&rows[..a.dims], 1);
    let local = rows
        .chunks_exact(a.dims)
        .zip(many.chunks_exact(a.dims))
        .map(|(r, phi)| (bias + phi.iter().sum::<f64>() - model.margin(r)).abs())
        .fold(0.0, f64::max);
    let (o, m) = (shrike_forest::median(one_s), shrike_forest::median(many_s));
    println!(
        "TreeSHAP of {n} rows: row by row {o:.3} s, all at once {m:.3} s ({:.1}x); largest difference {diff:.1e}, largest |bias + sum - margin| {local:.1e}",
        o / m
    );
}
