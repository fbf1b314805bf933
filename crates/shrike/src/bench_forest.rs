//! `shrike bench forest`: ROC-AUC of the Extended Isolation Forest on the ADBench datasets
//! (mean over seeds, ndim 1 and 3), and training/scoring speed on a synthetic 60-feature
//! set. `bench/forest_reference.py` prints the same table for isotree and scikit-learn.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use shrike_forest::dataset::{roc_auc, Dataset};
use shrike_forest::{ForestParams, IsolationForest};
use shrike_types::Rng;

use crate::bench::BenchForestArgs;

/// The synthetic speed set, same recipe as `bench/forest_reference.py`: 60 features driven
/// by 5 latent factors plus noise; 1% of rows shifted by 4 on 3 random features.
pub fn synthetic(rows: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
    const COLS: usize = 60;
    let mut rng = Rng::seed_from_u64(seed);
    let loadings: Vec<f64> = (0..COLS * 5).map(|_| rng.normal()).collect();
    let mut x = Vec::with_capacity(rows * COLS);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let z: Vec<f64> = (0..5).map(|_| rng.normal()).collect();
        let start = x.len();
        for c in 0..COLS {
            let v: f64 = (0..5).map(|k| loadings[c * 5 + k] * z[k]).sum::<f64>();
            x.push(v + 0.5 * rng.normal());
        }
        let anomaly = rng.chance(0.01);
        if anomaly {
            for _ in 0..3 {
                let c = rng.below(COLS as u64) as usize;
                x[start + c] += if rng.chance(0.5) { 4.0 } else { -4.0 };
            }
        }
        y.push(anomaly);
    }
    (x, y)
}

/// Mean and standard error over seeds of the per-seed means, per ndim.
fn seed_stats(per_seed: &[[f64; 2]]) -> ([f64; 2], [f64; 2]) {
    let n = per_seed.len().max(1) as f64;
    let mut mean = [0.0; 2];
    let mut se = [0.0; 2];
    for k in 0..2 {
        mean[k] = per_seed.iter().map(|s| s[k]).sum::<f64>() / n;
        let var = per_seed
            .iter()
            .map(|s| (s[k] - mean[k]).powi(2))
            .sum::<f64>()
            / (n - 1.0).max(1.0);
        se[k] = (var / n).sqrt();
    }
    (mean, se)
}

pub fn run(a: BenchForestArgs) -> anyhow::Result<ExitCode> {
    if !a.speed_only {
        let dir = a.data.clone().unwrap_or_else(|| {
            std::env::var_os("SHRIKE_SHARED_DATA")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("../shared/data"))
                .join("adbench-classical")
        });
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "npz"))
            .collect();
        files.sort();
        println!("dataset\trows\tcols\tshrike_ndim1\tshrike_ndim3\tseconds");
        // Mean over datasets of each seed's ROC-AUC, per ndim: their spread across seeds is
        // the noise floor of a comparison between implementations.
        let mut per_seed = vec![[0.0f64; 2]; a.seeds as usize];
        let n = files.len().max(1) as f64;
        for f in &files {
            let ds = Dataset::load_npz(f)?;
            let t = Instant::now();
            let mut mean = [0.0; 2];
            for (k, ndim) in [1usize, 3].into_iter().enumerate() {
                for seed in 0..a.seeds {
                    let p = ForestParams {
                        trees: a.trees,
                        ndim,
                        seed,
                        ..ForestParams::default()
                    };
                    let forest = IsolationForest::fit(&ds.x, ds.cols, &p)?;
                    let auc = roc_auc(&forest.score(&ds.x)?, &ds.y).unwrap_or(f64::NAN);
                    mean[k] += auc / a.seeds as f64;
                    per_seed[seed as usize][k] += auc / n;
                }
            }
            println!(
                "{}\t{}\t{}\t{:.4}\t{:.4}\t{:.1}",
                ds.name,
                ds.rows(),
                ds.cols,
                mean[0],
                mean[1],
                t.elapsed().as_secs_f64()
            );
        }
        let (mean, se) = seed_stats(&per_seed);
        println!("MEAN\t\t\t{:.4}\t{:.4}", mean[0], mean[1]);
        println!("STDERR\t\t\t{:.4}\t{:.4}", se[0], se[1]);
    }
    if !a.quality_only {
        let (train, _) = synthetic(a.train_rows, 1);
        let (test, labels) = synthetic(a.score_rows, 2);
        let p = ForestParams {
            trees: a.trees,
            ndim: 3,
            ..ForestParams::default()
        };
        let (mut fit_s, mut score_s) = (Vec::new(), Vec::new());
        let mut auc = 0.0;
        for run in 0..a.runs.max(1) {
            let t = Instant::now();
            let forest = IsolationForest::fit(&train, 60, &p)?;
            let fit = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let scores = forest.score(&test)?;
            let score = t.elapsed().as_secs_f64();
            auc = roc_auc(&scores, &labels).unwrap_or(f64::NAN);
            println!(
                "run {}: train {} × 60 in {fit:.3} s; score {} rows in {score:.3} s ({:.0} rows/s); ROC-AUC {auc:.4}",
                run + 1,
                a.train_rows,
                a.score_rows,
                a.score_rows as f64 / score
            );
            fit_s.push(fit);
            score_s.push(score);
        }
        println!(
            "median: train {:.3} s, score {:.3} s, ROC-AUC {auc:.4} ({} trees, ndim 3, sample 256)",
            shrike_forest::median(fit_s),
            shrike_forest::median(score_s),
            a.trees
        );
    }
    Ok(ExitCode::SUCCESS)
}
