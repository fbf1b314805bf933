//! Weighted undirected graphs and Louvain community detection (Blondel et al. 2008).
//!
//! [`Graph`] is built from weighted edges (parallel edges add up) and stored as compressed
//! adjacency lists. [`louvain`] maximises modularity with the classic two phases: local
//! moving of single nodes to the neighbouring community with the best gain, then
//! aggregation of each community into one node, until nothing moves. Node order in the
//! local-moving phase is a seeded shuffle and ties go to the lowest community id, so the
//! same graph and seed always give the same communities, whatever the machine.

mod louvain;

pub use louvain::{louvain, modularity, Communities, LouvainOptions};

/// A weighted undirected graph in compressed adjacency form. Self-loops are allowed (the
/// aggregated graphs of Louvain have them); a self-loop of weight `w` adds `2w` to its
/// node's degree, as in the modularity literature.
#[derive(Debug, Clone)]
pub struct Graph {
    /// `offsets[i]..offsets[i + 1]` indexes node `i`'s neighbours in `targets`/`weights`.
    offsets: Vec<usize>,
    targets: Vec<u32>,
    weights: Vec<f64>,
    /// Weighted degree of each node.
    degree: Vec<f64>,
    /// Sum of edge weights, each undirected edge once.
    total: f64,
}

impl Graph {
    /// Builds a graph of `nodes` nodes from `(a, b, weight)` edges. Parallel edges are summed;
    /// edges with a non-positive or non-finite weight are ignored.
    ///
    /// # Panics
    /// When an endpoint is `>= nodes` (a caller bug).
    pub fn from_edges(nodes: usize, edges: impl IntoIterator<Item = (u32, u32, f64)>) -> Graph {
        let mut list: Vec<(u32, u32, f64)> = Vec::new();
        for (a, b, w) in edges {
            assert!(
                (a as usize) < nodes && (b as usize) < nodes,
                "edge ({a}, {b}) outside a graph of {nodes} nodes"
            );
            if !(w.is_finite() && w > 0.0) {
                continue;
            }
            list.push((a, b, w));
            if a != b {
                list.push((b, a, w));
            }
        }
        list.sort_unstable_by_key(|e| (e.0, e.1));
        let mut offsets = vec![0usize; nodes + 1];
        let mut targets = Vec::with_capacity(list.len());
        let mut weights: Vec<f64> = Vec::with_capacity(list.len());
        let mut last: Option<(u32, u32)> = None;
        for (a, b, w) in list {
            if last == Some((a, b)) {
                if let Some(x) = weights.last_mut() {
                    *x += w;
                }
                continue;
            }
            last = Some((a, b));
            targets.push(b);
            weights.push(w);
            offsets[a as usize + 1] += 1;
        }
        for i in 0..nodes {
            offsets[i + 1] += offsets[i];
        }
        let mut degree = vec![0.0; nodes];
        let mut twice_total = 0.0;
        for (i, d) in degree.iter_mut().enumerate() {
            for k in offsets[i]..offsets[i + 1] {
                let w = weights[k];
                let w = if targets[k] as usize == i { 2.0 * w } else { w };
                *d += w;
            }
            twice_total += *d;
        }
        Graph {
            offsets,
            targets,
            weights,
            degree,
            total: twice_total / 2.0,
        }
    }

    /// Number of nodes.
    pub fn nodes(&self) -> usize {
        self.degree.len()
    }

    /// Number of distinct undirected edges (self-loops included).
    pub fn edges(&self) -> usize {
        let loops = (0..self.nodes())
            .filter(|i| self.neighbours(*i).any(|(j, _)| j as usize == *i))
            .count();
        (self.targets.len() - loops) / 2 + loops
    }

    /// Sum of edge weights (each undirected edge once).
    pub fn total_weight(&self) -> f64 {
        self.total
    }

    /// Weighted degree of a node (a self-loop counts twice).
    pub fn degree(&self, node: usize) -> f64 {
        self.degree[node]
    }

    /// Neighbours of a node with the edge weights (a self-loop lists the node itself).
    pub fn neighbours(&self, node: usize) -> impl Iterator<Item = (u32, f64)> + '_ {
        let r = self.offsets[node]..self.offsets[node + 1];
        self.targets[r.clone()]
            .iter()
            .copied()
            .zip(self.weights[r].iter().copied())
    }
}
