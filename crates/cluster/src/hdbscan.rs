//! HDBSCAN (Campello, Moulavi, Sander 2013) with the conventions of the `hdbscan` Python
//! library and sklearn: excess-of-mass selection, no single root cluster, and an optional
//! `cluster_selection_epsilon`.

use crate::dbscan::{parallel, UnionFind};
use crate::space::{check, Space};
use crate::{relabel, threads, ClusterError};

/// HDBSCAN parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HdbscanParams {
    /// Smallest cluster.
    pub min_cluster_size: usize,
    /// Rows, the row itself included, that define a row's core distance.
    pub min_samples: usize,
    /// Clusters split below this distance are merged back (sklearn's
    /// `cluster_selection_epsilon`); 0 keeps the plain excess-of-mass selection.
    pub cluster_selection_epsilon: f64,
    /// Worker threads for the core distances; 0 = one per core.
    pub threads: usize,
}

impl Default for HdbscanParams {
    fn default() -> Self {
        HdbscanParams {
            min_cluster_size: 5,
            min_samples: 5,
            cluster_selection_epsilon: 0.0,
            threads: 0,
        }
    }
}

/// Distances are floored here so that identical rows merge at a finite density.
const MIN_DISTANCE: f64 = 1e-12;

/// Clusters rows with HDBSCAN: core distances (distance to the `min_samples`-th nearest
/// row, the row itself counted), the minimum spanning tree of the mutual-reachability
/// distances (Prim, O(n²) distance bounds with pruning), the single-linkage hierarchy,
/// its condensed tree at `min_cluster_size`, and the excess-of-mass selection of the
/// most stable clusters. Noise is `None`.
pub fn hdbscan(
    data: &[f64],
    dims: usize,
    params: &HdbscanParams,
) -> Result<Vec<Option<u32>>, ClusterError> {
    check(data, dims)?;
    if params.min_cluster_size < 2 {
        return Err(ClusterError::Parameter(
            "min_cluster_size must be at least 2",
        ));
    }
    if params.min_samples == 0 {
        return Err(ClusterError::Parameter("min_samples must be at least 1"));
    }
    let eps_sel = params.cluster_selection_epsilon;
    if !(eps_sel.is_finite() && eps_sel >= 0.0) {
        return Err(ClusterError::Parameter(
            "cluster_selection_epsilon must be a non-negative number",
        ));
    }
    let space = Space::new(data, dims);
    let m = space.len();
    if m == 0 {
        return Ok(Vec::new());
    }
    let workers = threads(params.threads).min(m);
    let core = parallel(m, workers, |i| core_distance(&space, i, params.min_samples));
    let edges = spanning_tree(&space, &core);
    let tree = Condensed::build(&space, &core, &edges, params.min_cluster_size);
    let selected = tree.select(eps_sel);
    let leaf_label = tree.label_leaves(&selected);
    let raw: Vec<Option<usize>> = space.of.iter().map(|k| leaf_label[*k]).collect();
    Ok(relabel(&raw))
}

/// Distance at which the weight around distinct row `i` (its own included) reaches `k`.
fn core_distance(space: &Space, i: usize, k: usize) -> f64 {
    let own = space.weight[i];
    if own >= k {
        return 0.0;
    }
    let need = k - own;
    // Nearest candidates so far, sorted by distance, holding just enough weight.
    let mut near: Vec<(f64, usize)> = Vec::new();
    let mut held = 0usize;
    let mut bound = f64::INFINITY;
    let (mut left, mut right) = (i, i + 1);
    let key = space.key(i);
    loop {
        let lgap = if left > 0 {
            key - space.key(left - 1)
        } else {
            f64::INFINITY
        };
        let rgap = if right < space.len() {
            space.key(right) - key
        } else {
            f64::INFINITY
        };
        let j = if lgap <= rgap {
            if lgap > bound || lgap.is_infinite() {
                break;
            }
            left -= 1;
            left
        } else {
            if rgap > bound {
                break;
            }
            right += 1;
            right - 1
        };
        let d = if bound.is_finite() {
            match space.within(i, j, bound, bound * bound) {
                Some(d2) => d2.sqrt(),
                None => continue,
            }
        } else {
            space.dist2(i, j).sqrt()
        };
        let at = near.partition_point(|(x, _)| *x <= d);
        near.insert(at, (d, space.weight[j]));
        held += space.weight[j];
        // Drop the farthest candidates the others make unnecessary.
        while let Some((_, w)) = near.last() {
            if held - w >= need {
                held -= w;
                near.pop();
            } else {
                break;
            }
        }
        if held >= need {
            bound = near.last().map_or(f64::INFINITY, |(d, _)| *d);
        }
    }
    // Fewer than k rows in all: the farthest one.
    near.last().map_or(0.0, |(d, _)| *d)
}

/// Minimum spanning tree of the mutual-reachability distances (Prim). Returns the edges
/// `(a, b, distance)` in the order they were added.
fn spanning_tree(space: &Space, core: &[f64]) -> Vec<(usize, usize, f64)> {
    let m = space.len();
    let mut in_tree = vec![false; m];
    let mut best = vec![f64::INFINITY; m];
    let mut from = vec![0usize; m];
    let mut edges = Vec::with_capacity(m.saturating_sub(1));
    let mut current = 0;
    in_tree[0] = true;
    for _ in 1..m {
        let (ck, cc) = (space.key(current), core[current]);
        let mut next = usize::MAX;
        let mut next_d = f64::INFINITY;
        for j in 0..m {
            if in_tree[j] {
                continue;
            }
            let floor = cc.max(core[j]);
            // The mutual reachability is at least the cores and the projection gap.
            if floor < best[j] && (space.key(j) - ck).abs() < best[j] {
                let b = best[j];
                let d = if b.is_finite() {
                    space.within(current, j, b, b * b).map(f64::sqrt)
                } else {
                    Some(space.dist2(current, j).sqrt())
                };
                if let Some(d) = d {
                    let mr = d.max(floor);
                    if mr < best[j] {
                        best[j] = mr;
                        from[j] = current;
                    }
                }
            }
            if best[j] < next_d || (best[j] == next_d && j < next) {
                next_d = best[j];
                next = j;
            }
        }
        in_tree[next] = true;
        edges.push((from[next], next, next_d));
        current = next;
    }
    edges
}

/// The condensed cluster tree: cluster 0 is the root.
struct Condensed {
    /// Per cluster: its parent (root: itself) and birth lambda.
    parent: Vec<usize>,
    birth: Vec<f64>,
    /// Entries: (cluster, lambda, size) of each child (a row leaving, or a cluster born).
    entries: Vec<(usize, f64, usize)>,
    /// Per distinct row: the cluster it left.
    left_from: Vec<usize>,
}

impl Condensed {
    fn build(
        space: &Space,
        core: &[f64],
        edges: &[(usize, usize, f64)],
        min_size: usize,
    ) -> Condensed {
        let m = space.len();
        // Single-linkage dendrogram: nodes 0..m are the rows, m.. the merges.
        let mut order: Vec<usize> = (0..edges.len()).collect();
        order.sort_by(|a, b| edges[*a].2.total_cmp(&edges[*b].2).then(a.cmp(b)));
        let mut sets = UnionFind::new(m);
        let mut node_of_root: Vec<usize> = (0..m).collect();
        let mut children: Vec<(usize, usize, f64)> = Vec::with_capacity(m);
        let mut size: Vec<usize> = space.weight.clone();
        for e in order {
            let (a, b, d) = edges[e];
            let (ra, rb) = (sets.find(a), sets.find(b));
            let (na, nb) = (node_of_root[ra], node_of_root[rb]);
            let node = m + children.len();
            children.push((na, nb, d));
            size.push(size[na] + size[nb]);
            let r = sets.union(ra, rb);
            node_of_root[r] = node;
        }
        let lambda = |d: f64| 1.0 / d.max(MIN_DISTANCE);
        let mut tree = Condensed {
            parent: vec![0],
            birth: vec![0.0],
            entries: Vec::new(),
            left_from: vec![0; m],
        };
        let root = m + children.len() - 1;
        // (dendrogram node, cluster it belongs to), breadth first.
        let mut queue = std::collections::VecDeque::from([(root, 0usize)]);
        let leaves_under = |node: usize, out: &mut Vec<usize>| {
            let mut stack = vec![node];
            while let Some(x) = stack.pop() {
                if x < m {
                    out.push(x);
                } else {
                    let (l, r, _) = children[x - m];
                    stack.push(r);
                    stack.push(l);
                }
            }
        };
        let mut fallen = Vec::new();
        while let Some((node, cluster)) = queue.pop_front() {
            if node < m {
                // A row heavy enough to carry a cluster on its own dissolves at its core.
                tree.leave(cluster, node, lambda(core[node]), space.weight[node]);
                continue;
            }
            let (l, r, d) = children[node - m];
            let lam = lambda(d);
            let (big_l, big_r) = (size[l] >= min_size, size[r] >= min_size);
            match (big_l, big_r) {
                (true, true) => {
                    for child in [l, r] {
                        let c = tree.parent.len();
                        tree.parent.push(cluster);
                        tree.birth.push(lam);
                        tree.entries.push((cluster, lam, size[child]));
                        queue.push_back((child, c));
                    }
                }
                _ => {
                    for (child, big) in [(l, big_l), (r, big_r)] {
                        if big {
                            queue.push_back((child, cluster));
                        } else {
                            fallen.clear();
                            leaves_under(child, &mut fallen);
                            for leaf in &fallen {
                                tree.leave(cluster, *leaf, lam, space.weight[*leaf]);
                            }
                        }
                    }
                }
            }
        }
        tree
    }

    fn leave(&mut self, cluster: usize, leaf: usize, lambda: f64, weight: usize) {
        self.entries.push((cluster, lambda, weight));
        self.left_from[leaf] = cluster;
    }

    /// Excess-of-mass selection, then the epsilon merge; returns the selected clusters.
    fn select(&self, eps: f64) -> Vec<bool> {
        let n = self.parent.len();
        let mut stability = vec![0.0; n];
        for (c, lam, size) in &self.entries {
            stability[*c] += (lam - self.birth[*c]) * *size as f64;
        }
        let mut kids: Vec<Vec<usize>> = vec![Vec::new(); n];
        for c in 1..n {
            kids[self.parent[c]].push(c);
        }
        let mut selected = vec![false; n];
        // Children have larger ids than their parents.
        for c in (1..n).rev() {
            let below: f64 = kids[c].iter().map(|k| stability[*k]).sum();
            if !kids[c].is_empty() && below > stability[c] {
                stability[c] = below;
            } else {
                selected[c] = true;
                self.clear_below(c, &kids, &mut selected);
            }
        }
        if eps > 0.0 {
            let limit = 1.0 / eps;
            let chosen: Vec<usize> = (1..n).filter(|c| selected[*c]).collect();
            for c in chosen {
                if self.birth[c] > limit {
                    let mut up = c;
                    while self.parent[up] != 0 && self.birth[up] > limit {
                        up = self.parent[up];
                    }
                    selected[c] = false;
                    selected[up] = true;
                }
            }
            for c in 1..n {
                if selected[c] {
                    self.clear_below(c, &kids, &mut selected);
                }
            }
        }
        selected
    }

    fn clear_below(&self, c: usize, kids: &[Vec<usize>], selected: &mut [bool]) {
        let mut stack = kids[c].clone();
        while let Some(k) = stack.pop() {
            selected[k] = false;
            stack.extend(kids[k].iter().copied());
        }
    }

    /// Each distinct row's selected cluster: the one it left, or its nearest selected
    /// ancestor; `None` (noise) when there is none below the root.
    fn label_leaves(&self, selected: &[bool]) -> Vec<Option<usize>> {
        self.left_from
            .iter()
            .map(|c| {
                let mut c = *c;
                loop {
                    if selected[c] {
                        return Some(c);
                    }
                    if c == 0 {
                        return None;
                    }
                    c = self.parent[c];
                }
            })
            .collect()
    }
}
