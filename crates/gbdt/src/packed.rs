//! The trees laid out for batch prediction: every tree padded to a complete binary tree of
//! the ensemble's depth, stored as arrays in breadth-first order, so that a row goes down
//! with `i = 2i + 1 + (x[f] > t)` and no data-dependent branch. Pointer-chasing over
//! [`crate::tree::Node`]s mispredicts about half of its branches on real data; this walk
//! has none, and [`LANES`] rows go down each tree in lockstep to overlap their loads.
//!
//! A leaf shallower than the depth becomes a split that always goes left (threshold `+∞`,
//! which no value, NaN included, exceeds) with the leaf's value copied to every leaf below
//! it. The margins are the same `f64` sums, in the same tree order, as [`crate::Gbdt::margin`]:
//! bit for bit.

use crate::tree::Tree;

/// The deepest ensemble packed (2^12 leaves per tree); deeper ones are walked node by node.
pub(crate) const MAX_PACKED_DEPTH: usize = 12;

/// Rows that go down a tree together.
const LANES: usize = 8;

/// Complete trees of one depth.
pub(crate) struct Packed {
    depth: usize,
    /// Split feature and threshold per internal node (`x[feature] > threshold` goes
    /// right), `2^depth − 1` per tree: one load per step.
    split: Vec<(u32, f32)>,
    /// Leaf values, `2^depth` per tree.
    leaf: Vec<f64>,
}

fn depth_of(tree: &Tree, i: usize) -> usize {
    let n = &tree.nodes[i];
    if n.is_leaf() {
        0
    } else {
        1 + depth_of(tree, n.left as usize).max(depth_of(tree, n.right as usize))
    }
}

impl Packed {
    /// Packs `trees`, or `None` when the deepest is deeper than [`MAX_PACKED_DEPTH`].
    pub(crate) fn new(trees: &[Tree]) -> Option<Self> {
        let depth = trees.iter().map(|t| depth_of(t, 0)).max().unwrap_or(0);
        if depth > MAX_PACKED_DEPTH {
            return None;
        }
        let internal = (1usize << depth) - 1;
        let mut p = Packed {
            depth,
            split: vec![(0, f32::INFINITY); internal * trees.len()],
            leaf: vec![0.0; (internal + 1) * trees.len()],
        };
        for (k, tree) in trees.iter().enumerate() {
            p.fill(k, tree, 0, 0, 0);
        }
        Some(p)
    }

    /// Writes node `node` of `tree` at position `pos` (breadth-first) of packed tree `k`.
    fn fill(&mut self, k: usize, tree: &Tree, node: usize, pos: usize, level: usize) {
        let internal = (1usize << self.depth) - 1;
        if level == self.depth {
            // Only leaves reach the ensemble's depth: it is the deepest tree's.
            self.leaf[k * (internal + 1) + pos - internal] = tree.nodes[node].value;
            return;
        }
        let n = &tree.nodes[node];
        let (left, right) = if n.is_leaf() {
            // Padding: threshold stays +∞ (always left); both subtrees repeat the leaf.
            (node, node)
        } else {
            self.split[k * internal + pos] = (n.feature, n.threshold);
            (n.left as usize, n.right as usize)
        };
        self.fill(k, tree, left, 2 * pos + 1, level + 1);
        self.fill(k, tree, right, 2 * pos + 2, level + 1);
    }

    /// The leaf index (within its tree's leaves) row `x` reaches in packed tree `split`.
    fn leaf_of(&self, split: &[(u32, f32)], x: &[f32]) -> usize {
        let mut i = 0;
        for _ in 0..self.depth {
            let (f, t) = split[i];
            i = 2 * i + 1 + usize::from(x[f as usize] > t);
        }
        i - split.len()
    }

    /// Adds every tree's output to `out[r]` for each row `r` of `rows` (row-major, `dims`
    /// columns); `out` starts at the intercept.
    pub(crate) fn add_margins(&self, rows: &[f32], dims: usize, out: &mut [f64]) {
        let internal = (1usize << self.depth) - 1;
        let trees = self.leaf.len() / (internal + 1);
        let mut groups = rows.chunks_exact(dims * LANES);
        let mut outs = out.chunks_exact_mut(LANES);
        for (group, o) in (&mut groups).zip(&mut outs) {
            let x: [&[f32]; LANES] = std::array::from_fn(|j| &group[j * dims..(j + 1) * dims]);
            for k in 0..trees {
                let split = &self.split[k * internal..(k + 1) * internal];
                let mut i = [0usize; LANES];
                for _ in 0..self.depth {
                    for j in 0..LANES {
                        let (f, t) = split[i[j]];
                        i[j] = 2 * i[j] + 1 + usize::from(x[j][f as usize] > t);
                    }
                }
                let leaf = &self.leaf[k * (internal + 1)..(k + 1) * (internal + 1)];
                for j in 0..LANES {
                    o[j] += leaf[i[j] - internal];
                }
            }
        }
        for (x, o) in groups
            .remainder()
            .chunks_exact(dims)
            .zip(outs.into_remainder())
        {
            for k in 0..trees {
                let split = &self.split[k * internal..(k + 1) * internal];
                *o += self.leaf[k * (internal + 1) + self.leaf_of(split, x)];
            }
        }
    }
}
