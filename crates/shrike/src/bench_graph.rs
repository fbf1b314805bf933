//! `shrike bench graph`: Louvain on a large planted-partition graph.

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use shrike_graph::{louvain, Graph, LouvainOptions};
use shrike_types::Rng;

/// Arguments of `shrike bench graph`.
#[derive(Args)]
pub struct BenchGraphArgs {
    /// Nodes.
    #[arg(long, default_value_t = 50_000)]
    pub nodes: u32,
    /// Edges (distinct pairs are drawn until this many are made).
    #[arg(long, default_value_t = 500_000)]
    pub edges: usize,
    /// Planted communities (nodes are split evenly).
    #[arg(long, default_value_t = 500)]
    pub communities: u32,
    /// Share of edges drawn inside a community.
    #[arg(long, default_value_t = 0.8)]
    pub inside: f64,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// A planted-partition graph with power-law-ish node weights, as a JA4 × ASN × prefix graph
/// has (a few hub JA4s and ASNs, many small prefixes).
fn planted(a: &BenchGraphArgs) -> (Graph, Vec<u32>) {
    let mut rng = Rng::seed_from_u64(1);
    let size = (a.nodes / a.communities).max(2);
    let truth: Vec<u32> = (0..a.nodes)
        .map(|i| (i / size).min(a.communities - 1))
        .collect();
    let mut edges = Vec::with_capacity(a.edges);
    let mut seen = std::collections::HashSet::with_capacity(a.edges);
    // Skewed endpoint choice inside a block: low offsets are hubs.
    let skewed = |rng: &mut Rng, n: u32| ((rng.f64().powi(3)) * n as f64) as u32 % n.max(1);
    while edges.len() < a.edges {
        let x = rng.below(a.nodes as u64) as u32;
        let c = truth[x as usize];
        let y = if rng.chance(a.inside) {
            c * size + skewed(&mut rng, size)
        } else {
            rng.below(a.nodes as u64) as u32
        };
        let y = y.min(a.nodes - 1);
        let key = (x.min(y), x.max(y));
        if x == y || !seen.insert(key) {
            continue;
        }
        edges.push((key.0, key.1, 1.0 + rng.below(20) as f64));
    }
    (Graph::from_edges(a.nodes as usize, edges), truth)
}

/// `shrike bench graph`.
pub fn run(a: BenchGraphArgs) -> anyhow::Result<ExitCode> {
    if a.communities == 0 || a.nodes < 2 || a.runs == 0 {
        anyhow::bail!("--nodes must be at least 2, --communities and --runs at least 1");
    }
    let started = Instant::now();
    let (g, truth) = planted(&a);
    println!(
        "graph: {} nodes, {} edges, {} planted communities (built in {:.2} s)",
        g.nodes(),
        g.edges(),
        a.communities,
        started.elapsed().as_secs_f64()
    );
    let mut times = Vec::new();
    let mut last = None;
    for run in 0..a.runs {
        let t = Instant::now();
        let c = louvain(&g, &LouvainOptions::default());
        let secs = t.elapsed().as_secs_f64();
        println!(
            "run {}: {secs:.3} s, {} communities, modularity {:.4}, {} levels",
            run + 1,
            c.count,
            c.modularity,
            c.levels
        );
        times.push(secs);
        last = Some(c);
    }
    let truth_q = shrike_graph::modularity(&g, &truth, 1.0);
    if let Some(c) = last {
        println!(
            "median: {:.3} s; modularity {:.4} (planted partition: {truth_q:.4})",
            shrike_forest::median(times),
            c.modularity
        );
    }
    Ok(ExitCode::SUCCESS)
}
