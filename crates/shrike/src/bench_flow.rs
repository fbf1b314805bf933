//! `shrike bench flow`: training time of the normalizing flow (30 epochs on 50k × 60 by
//! default, the predecessor's architecture) and its scoring throughput, on the same
//! session-shaped synthetic rows as `shrike bench trees`.

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use shrike_flow::FlowParams;

/// Arguments of `shrike bench flow`.
#[derive(Args)]
pub struct BenchFlowArgs {
    /// Training rows.
    #[arg(long, default_value_t = 50_000)]
    pub rows: usize,
    /// Features.
    #[arg(long, default_value_t = 60)]
    pub dims: usize,
    /// Epochs.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Rows scored after training (the training rows, repeated).
    #[arg(long, default_value_t = 1_000_000)]
    pub score_rows: usize,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

/// `shrike bench flow`.
pub fn run(a: BenchFlowArgs) -> anyhow::Result<ExitCode> {
    let (x, y) = crate::bench_trees::data(&crate::bench_trees::BenchTreesArgs {
        rows: a.rows,
        dims: a.dims,
        trees: 0,
        depth: 0,
        threads: 0,
        runs: 0,
        write: None,
    });
    let params = FlowParams {
        epochs: a.epochs,
        threads: a.threads,
        ..FlowParams::default()
    };
    println!(
        "normalizing flow: {} x {}, {} blocks x {} hidden, batch {}, {} epochs, {} run(s)",
        a.rows, a.dims, params.blocks, params.hidden, params.batch, a.epochs, a.runs
    );
    let score_x: Vec<f32> = x
        .iter()
        .copied()
        .cycle()
        .take(a.score_rows * a.dims)
        .collect();
    let (mut fits, mut scores) = (Vec::new(), Vec::new());
    for run in 0..a.runs.max(1) {
        let started = Instant::now();
        let flow = params.fit(&x, a.dims)?;
        let fit = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let s = flow.score(&score_x, a.threads)?;
        let score = started.elapsed().as_secs_f64();
        let mean = s.iter().map(|v| f64::from(*v)).sum::<f64>() / s.len().max(1) as f64;
        println!(
            "  run {}: fit {fit:.2} s (loss {:.3} -> {:.3}), score {} rows {score:.2} s (mean -log p {mean:.3})",
            run + 1,
            flow.history.first().copied().unwrap_or(f64::NAN),
            flow.history.last().copied().unwrap_or(f64::NAN),
            s.len()
        );
        fits.push(fit);
        scores.push(score);
    }
    // The three scorers of the cycle on the same rows: forest (300 trees of 256 rows),
    // flow, boosted trees (200 of depth 6).
    let flow = params.fit(&x, a.dims)?;
    let x64: Vec<f64> = score_x.iter().map(|v| f64::from(*v)).collect();
    let forest = shrike_forest::IsolationForest::fit(
        &x64[..a.rows * a.dims],
        a.dims,
        &shrike_forest::ForestParams::default(),
    )?;
    let trees = shrike_gbdt::GbdtParams::default().fit(&x, a.dims, &y)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut all = Vec::new();
    for _ in 0..a.runs.max(1) {
        let started = Instant::now();
        let f = forest.score(&x64)?;
        let t_forest = started.elapsed().as_secs_f64();
        let s = flow.score(&score_x, a.threads)?;
        let t_flow = started.elapsed().as_secs_f64() - t_forest;
        let p = trees.probabilities(&score_x, threads);
        let total = started.elapsed().as_secs_f64();
        println!(
            "  all three scorers on {} rows: {total:.2} s (forest {t_forest:.2} s, flow {t_flow:.2} s, trees {:.2} s; {} {} {} scores)",
            a.score_rows,
            total - t_forest - t_flow,
            f.len(),
            s.len(),
            p.len()
        );
        all.push(total);
    }
    all.sort_by(f64::total_cmp);
    println!("median all-scorer scoring {:.2} s", all[all.len() / 2]);
    fits.sort_by(f64::total_cmp);
    scores.sort_by(f64::total_cmp);
    println!(
        "median fit {:.2} s, median scoring {:.2} s ({:.0} rows/s)",
        fits[fits.len() / 2],
        scores[scores.len() / 2],
        a.score_rows as f64 / scores[scores.len() / 2]
    );
    Ok(ExitCode::SUCCESS)
}
