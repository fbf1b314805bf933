//! Louvain modularity optimisation.

use shrike_types::Rng;

use crate::Graph;

/// Louvain settings.
#[derive(Debug, Clone, Copy)]
pub struct LouvainOptions {
    /// Resolution γ: above 1 favours smaller communities, below 1 larger ones.
    pub resolution: f64,
    /// Seed of the node order.
    pub seed: u64,
    /// A local-moving pass that raises modularity by less than this ends the phase.
    pub min_gain: f64,
    /// Bound on aggregation levels (each level at least halves nothing-moved graphs).
    pub max_levels: usize,
}

impl Default for LouvainOptions {
    fn default() -> Self {
        LouvainOptions {
            resolution: 1.0,
            seed: 42,
            min_gain: 1e-7,
            max_levels: 32,
        }
    }
}

/// The communities found.
#[derive(Debug, Clone, PartialEq)]
pub struct Communities {
    /// Community of each node, numbered 0.. in order of each community's lowest node.
    pub of: Vec<u32>,
    /// Number of communities.
    pub count: usize,
    /// Modularity of the partition (at the options' resolution).
    pub modularity: f64,
    /// Aggregation levels run.
    pub levels: usize,
}

/// Modularity of a partition: Σ_c [in_c / m − γ (tot_c / 2m)²], where `in_c` is the weight
/// of edges inside `c` and `tot_c` the degree sum of its nodes.
pub fn modularity(g: &Graph, of: &[u32], resolution: f64) -> f64 {
    let m = g.total_weight();
    if m <= 0.0 {
        return 0.0;
    }
    let k = of.iter().map(|c| *c as usize + 1).max().unwrap_or(0);
    let mut inner = vec![0.0; k];
    let mut tot = vec![0.0; k];
    for i in 0..g.nodes() {
        let c = of[i] as usize;
        tot[c] += g.degree(i);
        for (j, w) in g.neighbours(i) {
            if of[j as usize] as usize == c {
                // Each inner edge is seen from both ends; a self-loop once but weighs 2w.
                inner[c] += if j as usize == i { 2.0 * w } else { w };
            }
        }
    }
    inner
        .iter()
        .zip(&tot)
        .map(|(i, t)| i / (2.0 * m) - resolution * (t / (2.0 * m)).powi(2))
        .sum()
}

/// Finds communities with the Louvain method. Deterministic for a graph and a seed.
pub fn louvain(g: &Graph, opts: &LouvainOptions) -> Communities {
    let n = g.nodes();
    let mut rng = Rng::seed_from_u64(opts.seed);
    // membership[i]: community of original node i, as a node of the current level's graph.
    let mut membership: Vec<u32> = (0..n as u32).collect();
    let mut level_graph = g.clone();
    let mut levels = 0;
    while levels < opts.max_levels {
        let (local, moved) = local_moving(&level_graph, opts, &mut rng);
        if !moved {
            break;
        }
        let (renumbered, count) = renumber(&local);
        for m in membership.iter_mut() {
            *m = renumbered[*m as usize];
        }
        levels += 1;
        if count == level_graph.nodes() {
            break;
        }
        level_graph = aggregate(&level_graph, &renumbered, count);
    }
    let (of, count) = renumber(&membership);
    let modularity = modularity(g, &of, opts.resolution);
    Communities {
        of,
        count,
        modularity,
        levels,
    }
}

/// One local-moving phase; returns each node's community and whether any node moved.
fn local_moving(g: &Graph, opts: &LouvainOptions, rng: &mut Rng) -> (Vec<u32>, bool) {
    let n = g.nodes();
    let m2 = 2.0 * g.total_weight();
    let mut community: Vec<u32> = (0..n as u32).collect();
    if m2 <= 0.0 {
        return (community, false);
    }
    let mut tot: Vec<f64> = (0..n).map(|i| g.degree(i)).collect();
    let mut order: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut to_community = vec![0.0f64; n];
    let mut touched: Vec<u32> = Vec::new();
    let mut moved_any = false;
    loop {
        let mut gain_sum = 0.0;
        let mut moved = 0usize;
        for &node in &order {
            let i = node as usize;
            let ki = g.degree(i);
            let own = community[i];
            touched.clear();
            for (j, w) in g.neighbours(i) {
                if j as usize == i {
                    continue; // the same whichever community the node joins
                }
                let c = community[j as usize];
                if to_community[c as usize] == 0.0 {
                    touched.push(c);
                }
                to_community[c as usize] += w;
            }
            // Take the node out of its community.
            tot[own as usize] -= ki;
            let gain = |links: f64, tot_c: f64| links - opts.resolution * tot_c * ki / m2;
            let stay = gain(to_community[own as usize], tot[own as usize]);
            // Move only for a strict gain over staying; among equal gains, the lowest id.
            let (mut best, mut best_gain) = (own, stay);
            for &c in &touched {
                if c == own {
                    continue;
                }
                let gc = gain(to_community[c as usize], tot[c as usize]);
                let better = gc > best_gain + 1e-12;
                let tie = (gc - best_gain).abs() <= 1e-12 && best != own && c < best;
                if better || tie {
                    best = c;
                    best_gain = gc;
                }
            }
            tot[best as usize] += ki;
            if best != own {
                community[i] = best;
                moved += 1;
                gain_sum += (best_gain - stay) / m2 * 2.0;
            }
            for &c in &touched {
                to_community[c as usize] = 0.0;
            }
        }
        if moved > 0 {
            moved_any = true;
        }
        if moved == 0 || gain_sum < opts.min_gain {
            break;
        }
    }
    (community, moved_any)
}

/// Renumbers labels 0.. in order of first appearance; returns them and their count.
fn renumber(labels: &[u32]) -> (Vec<u32>, usize) {
    let mut map = vec![u32::MAX; labels.iter().map(|l| *l as usize + 1).max().unwrap_or(0)];
    let mut next = 0u32;
    let out = labels
        .iter()
        .map(|l| {
            let slot = &mut map[*l as usize];
            if *slot == u32::MAX {
                *slot = next;
                next += 1;
            }
            *slot
        })
        .collect();
    (out, next as usize)
}

/// The graph whose nodes are the communities: inner edges become self-loops.
fn aggregate(g: &Graph, community: &[u32], count: usize) -> Graph {
    let mut edges = Vec::with_capacity(g.targets.len());
    for i in 0..g.nodes() {
        let ci = community[i];
        for (j, w) in g.neighbours(i) {
            let cj = community[j as usize];
            if (j as usize) == i {
                edges.push((ci, ci, w));
            } else if (i as u32) < j {
                // Each undirected edge once; an inner edge becomes (part of) a self-loop.
                edges.push((ci, cj, w));
            }
        }
    }
    Graph::from_edges(count, edges)
}
