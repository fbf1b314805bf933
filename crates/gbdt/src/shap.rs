//! Exact TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2, as in the `shap` package's
//! `tree_shap.h`): per-feature contributions of one row that, with the tree's expected
//! value, sum exactly to the tree's output. Covers are the training hessian sums, as in
//! xgboost.

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
