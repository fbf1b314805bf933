//! Exact TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2, as in the `shap` package's
//! `tree_shap.h`): per-feature contributions of one row that, with the tree's expected
//! value, sum exactly to the tree's output. Covers are the training hessian sums, as in
//! xgboost.
//!
//! Many rows at once go through [`Prepared`] tables instead (Fast TreeSHAP v2, Yang 2022):
//! a leaf's contribution to a row depends only on which of the leaf's path features the
//! row follows, so each leaf's contributions are computed once for each of those subsets
//! and a row then costs one table look-up per leaf instead of a walk of the whole tree.

use crate::tree::Tree;

#[derive(Clone, Copy, Default)]
struct PathElement {
    feature: i64,
    zero: f64,
    one: f64,
    weight: f64,
}

fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement {
        feature,
        zero,
        one,
        weight: if depth == 0 { 1.0 } else { 0.0 },
    };
    let d = depth as f64;
    for i in (0..depth).rev() {
        path[i + 1].weight += one * path[i].weight * (i as f64 + 1.0) / (d + 1.0);
        path[i].weight = zero * path[i].weight * (d - i as f64) / (d + 1.0);
    }
}

fn unwind(path: &mut [PathElement], depth: usize, index: usize) {
    let (one, zero) = (path[index].one, path[index].zero);
    let d = depth as f64;
    let mut next = path[depth].weight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].weight;
            path[i].weight = next * (d + 1.0) / ((i as f64 + 1.0) * one);
            next = tmp - path[i].weight * zero * (d - i as f64) / (d + 1.0);
        } else {
            path[i].weight = path[i].weight * (d + 1.0) / (zero * (d - i as f64));
        }
    }
    for i in index..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

fn unwound_sum(path: &[PathElement], depth: usize, index: usize) -> f64 {
    let (one, zero) = (path[index].one, path[index].zero);
    let d = depth as f64;
    let mut next = path[depth].weight;
    let mut total = 0.0;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = next * (d + 1.0) / ((i as f64 + 1.0) * one);
            total += tmp;
            next = path[i].weight - tmp * zero * (d - i as f64) / (d + 1.0);
        } else {
            total += path[i].weight / zero / ((d - i as f64) / (d + 1.0));
        }
    }
    total
}

#[allow(clippy::too_many_arguments)]
fn recurse(
    tree: &Tree,
    x: &[f32],
    phi: &mut [f64],
    node: usize,
    parent: &[PathElement],
    depth: usize,
    zero: f64,
    one: f64,
    feature: i64,
) {
    let mut path = parent[..depth].to_vec();
    path.resize(depth + 1, PathElement::default());
    extend(&mut path, depth, zero, one, feature);
    let n = &tree.nodes[node];
    if n.is_leaf() {
        for i in 1..=depth {
            let w = unwound_sum(&path, depth, i);
            let e = path[i];
            phi[e.feature as usize] += w * (e.one - e.zero) * n.value;
        }
        return;
    }
    let v = x[n.feature as usize];
    let (hot, cold) = if v.is_nan() || v <= n.threshold {
        (n.left as usize, n.right as usize)
    } else {
        (n.right as usize, n.left as usize)
    };
    let cover = n.cover;
    let hot_zero = tree.nodes[hot].cover / cover;
    let cold_zero = tree.nodes[cold].cover / cover;
    let (mut in_zero, mut in_one) = (1.0, 1.0);
    let mut depth = depth;
    // A feature already on the path: undo its earlier split first.
    if let Some(k) = (1..=depth).find(|k| path[*k].feature == i64::from(n.feature)) {
        in_zero = path[k].zero;
        in_one = path[k].one;
        unwind(&mut path, depth, k);
        depth -= 1;
    }
    let f = i64::from(n.feature);
    recurse(
        tree,
        x,
        phi,
        hot,
        &path,
        depth + 1,
        hot_zero * in_zero,
        in_one,
        f,
    );
    recurse(
        tree,
        x,
        phi,
        cold,
        &path,
        depth + 1,
        cold_zero * in_zero,
        0.0,
        f,
    );
}

/// The largest number of distinct features on a leaf's path for which the leaf is
/// tabulated (`2^m × m` values); a tree with a longer path is walked row by row.
const MAX_TABULATED: usize = 12;

/// Where one leaf's data lies in [`Prepared`]'s flat arrays.
#[derive(Clone, Copy)]
struct Leaf {
    /// Distinct features on its path (`m`).
    m: u32,
    /// Its first feature in `features` (`m` of them).
    features: u32,
    /// Its splits in `splits`.
    splits: (u32, u32),
    /// Its first value in `table` (`2^m × m` of them).
    table: u32,
}

/// A tree prepared for many rows, or `None` when a path is too long to tabulate. Each
/// leaf's distinct path features (in order of first split), its splits (node, whether the
/// path goes left there, and the slot of the split's feature among the leaf's features),
/// and for each subset `s` of the features the row follows (bit `i` for feature `i`), the
/// contribution to each: `table[s * m + i]`. All in flat arrays, read in order.
pub(crate) struct Prepared<'a> {
    tree: &'a Tree,
    leaves: Vec<Leaf>,
    features: Vec<u32>,
    splits: Vec<(u32, bool, u8)>,
    table: Vec<f64>,
}

impl<'a> Prepared<'a> {
    /// Tabulates every leaf of `tree`, or `None` when a leaf's path has more than
    /// [`MAX_TABULATED`] distinct features.
    pub(crate) fn new(tree: &'a Tree) -> Option<Prepared<'a>> {
        let mut p = Prepared {
            tree,
            leaves: Vec::new(),
            features: Vec::new(),
            splits: Vec::new(),
            table: Vec::new(),
        };
        let mut stack: Vec<(usize, Vec<(u32, bool)>)> = vec![(0, Vec::new())];
        let mut elements = vec![PathElement::default(); MAX_TABULATED + 1];
        while let Some((node, path)) = stack.pop() {
            let n = &tree.nodes[node];
            if !n.is_leaf() {
                for (child, left) in [(n.right, false), (n.left, true)] {
                    let mut path = path.clone();
                    path.push((node as u32, left));
                    stack.push((child as usize, path));
                }
                continue;
            }
            let first_feature = p.features.len();
            let first_split = p.splits.len();
            let mut zero: Vec<f64> = Vec::new();
            for (at, left) in &path {
                let parent = &tree.nodes[*at as usize];
                let child = if *left { parent.left } else { parent.right };
                let fraction = tree.nodes[child as usize].cover / parent.cover;
                let mine = &p.features[first_feature..];
                let slot = match mine.iter().position(|f| *f == parent.feature) {
                    Some(slot) => {
                        zero[slot] *= fraction;
                        slot
                    }
                    None => {
                        p.features.push(parent.feature);
                        zero.push(fraction);
                        zero.len() - 1
                    }
                };
                if zero.len() > MAX_TABULATED {
                    return None;
                }
                p.splits.push((*at, *left, slot as u8));
            }
            let m = zero.len();
            let first_value = p.table.len();
            p.table.resize(first_value + (1 << m) * m, 0.0);
            for subset in 0..1usize << m {
                extend(&mut elements, 0, 1.0, 1.0, -1);
                for (i, z) in zero.iter().enumerate() {
                    let one = if subset >> i & 1 == 1 { 1.0 } else { 0.0 };
                    extend(&mut elements, i + 1, *z, one, i as i64);
                }
                for i in 1..=m {
                    let e = elements[i];
                    p.table[first_value + subset * m + e.feature as usize] =
                        unwound_sum(&elements, m, i) * (e.one - e.zero) * n.value;
                }
            }
            p.leaves.push(Leaf {
                m: m as u32,
                features: first_feature as u32,
                splits: (first_split as u32, p.splits.len() as u32),
                table: first_value as u32,
            });
        }
        Some(p)
    }

    /// Adds the tree's contributions for row `x` to `phi`; `left` is scratch space.
    pub(crate) fn add(&self, x: &[f32], phi: &mut [f64], left: &mut Vec<bool>) {
        left.clear();
        left.extend(self.tree.nodes.iter().map(|n| {
            !n.is_leaf() && {
                let v = x[n.feature as usize];
                v.is_nan() || v <= n.threshold
            }
        }));
        for leaf in &self.leaves {
            let m = leaf.m as usize;
            let mut subset = (1usize << m) - 1;
            for (at, goes_left, slot) in
                &self.splits[leaf.splits.0 as usize..leaf.splits.1 as usize]
            {
                if left[*at as usize] != *goes_left {
                    subset &= !(1 << slot);
                }
            }
            let at = leaf.table as usize + subset * m;
            let features = &self.features[leaf.features as usize..leaf.features as usize + m];
            for (f, v) in features.iter().zip(&self.table[at..at + m]) {
                phi[*f as usize] += v;
            }
        }
    }

    /// Bytes its tables hold.
    pub(crate) fn bytes(&self) -> usize {
        self.table.len() * 8
    }
}

/// Adds the tree's contributions for row `x` to `phi` (one slot per feature).
pub fn tree_shap(tree: &Tree, x: &[f32], phi: &mut [f64]) {
    recurse(tree, x, phi, 0, &[], 0, 1.0, 1.0, -1);
}

/// The tree's expected output over the training data (cover-weighted mean of its leaves).
pub fn expected_value(tree: &Tree) -> f64 {
    let root = tree.nodes[0].cover;
    if root <= 0.0 {
        return 0.0;
    }
    tree.nodes
        .iter()
        .filter(|n| n.is_leaf())
        .map(|n| n.cover / root * n.value)
        .sum()
}
