//! Per-feature attribution of a row's isolation (DIFFI-style): at each split on its path,
//! the imbalance of the child taken times each hyperplane entry's share of the hyperplane's
//! weight, averaged over the trees. Many rows go through leaf terms summed once per tree.

use crate::layout::{walk_leaves, ColumnBlock, Layout, BLOCK};
use crate::{threads, ForestError, IsolationForest, Tree};

/// Each leaf's share of the attribution of the rows that reach it: the terms of node `i`
/// are `terms[start[i]..start[i + 1]]` (none for a split).
struct LeafTerms {
    start: Vec<u32>,
    terms: Vec<(u32, f64)>,
}

impl IsolationForest {
    /// [`IsolationForest::attribution`] of every row of `data` (row-major), in parallel.
    ///
    /// What a path adds depends only on the leaf it ends in, so each leaf's terms are
    /// summed once; blocks of rows then go down each tree together, as in scoring, and
    /// every row takes its leaf's terms. The values are the row walk's up to rounding.
    pub fn attributions(&self, data: &[f64]) -> Result<Vec<Vec<f64>>, ForestError> {
        let rows = self.check(data)?;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let cols = self.n_features;
        let terms: Vec<LeafTerms> = self.trees.iter().map(|t| self.leaf_terms(t)).collect();
        let mut flat = vec![0.0; rows * cols];
        let workers = threads(self.params.threads)
            .min(rows.div_ceil(BLOCK))
            .max(1);
        let per = rows.div_ceil(workers);
        let terms = &terms;
        std::thread::scope(|s| {
            for (out, data) in flat.chunks_mut(per * cols).zip(data.chunks(per * cols)) {
                s.spawn(move || {
                    let mut scratch = ColumnBlock::new(cols);
                    for (out, data) in out.chunks_mut(BLOCK * cols).zip(data.chunks(BLOCK * cols)) {
                        self.attribute_block(data, terms, &mut scratch, out);
                    }
                });
            }
        });
        let n = self.trees.len() as f64;
        Ok(flat
            .chunks_exact(cols)
            .map(|imp| imp.iter().map(|v| v / n).collect())
            .collect())
    }

    /// Adds to `out` (row-major) the terms of the leaf each row of `data` reaches in each
    /// tree.
    fn attribute_block(
        &self,
        data: &[f64],
        terms: &[LeafTerms],
        block: &mut ColumnBlock,
        out: &mut [f64],
    ) {
        let cols = self.n_features;
        let add = |out: &mut [f64], terms: &LeafTerms, node: usize, r: usize| {
            let imp = &mut out[r * cols..(r + 1) * cols];
            let span = terms.start[node] as usize..terms.start[node + 1] as usize;
            for (c, w) in &terms.terms[span] {
                imp[*c as usize] += w;
            }
        };
        if let Layout::Generic = self.layout {
            let mut buf = Vec::with_capacity(cols);
            for (r, row) in data.chunks_exact(cols).enumerate() {
                self.impute_into(row, &mut buf);
                for (tree, terms) in self.trees.iter().zip(terms) {
                    let mut i = 0;
                    while !tree.nodes[i].is_leaf(i) {
                        i = self.step(tree, i, &buf);
                    }
                    add(out, terms, i, r);
                }
            }
            return;
        }
        self.fill_block(data, block);
        let mut at_leaf = |t: usize, node: usize, rows: &[u16]| {
            for r in rows {
                add(out, &terms[t], node, *r as usize);
            }
        };
        match &self.layout {
            Layout::D1(t) => walk_leaves(t, block, &mut at_leaf),
            Layout::D2(t) => walk_leaves(t, block, &mut at_leaf),
            Layout::D3(t) => walk_leaves(t, block, &mut at_leaf),
            Layout::Generic => {}
        }
    }

    /// What the path to each leaf of `tree` adds to [`IsolationForest::attribution`]
    /// (before the mean over trees): at each split, the imbalance of the child taken times
    /// each hyperplane entry's share of the hyperplane's weight, summed per column.
    fn leaf_terms(&self, tree: &Tree) -> LeafTerms {
        let d = self.ndim();
        let mut at: Vec<Vec<(u32, f64)>> = vec![Vec::new(); tree.nodes.len()];
        // Parents come before their children in `nodes`.
        for i in 0..tree.nodes.len() {
            let node = &tree.nodes[i];
            if node.is_leaf(i) {
                continue;
            }
            let k = i * d..(i + 1) * d;
            let norm: f64 = tree.coefs[k.clone()].iter().map(|w| w.abs()).sum();
            for child in [node.left as usize, node.right as usize] {
                let lambda = node.size as f64 / tree.nodes[child].size.max(1) as f64;
                let mut terms = at[i].clone();
                if norm > 0.0 {
                    for k in k.clone().filter(|k| tree.coefs[*k] != 0.0) {
                        let (c, w) = (tree.cols[k], lambda * tree.coefs[k].abs() / norm);
                        match terms.iter_mut().find(|(tc, _)| *tc == c) {
                            Some((_, tw)) => *tw += w,
                            None => terms.push((c, w)),
                        }
                    }
                }
                at[child] = terms;
            }
            at[i] = Vec::new();
        }
        let mut start = Vec::with_capacity(tree.nodes.len() + 1);
        let mut flat = Vec::new();
        for terms in at {
            start.push(flat.len() as u32);
            flat.extend(terms);
        }
        start.push(flat.len() as u32);
        LeafTerms { start, terms: flat }
    }

    /// Per-feature importance of the isolation of `row` (non-negative, summing to the
    /// mean over trees of the induced imbalances along its path). Larger = that feature
    /// did more to isolate the row.
    pub fn attribution(&self, row: &[f64]) -> Vec<f64> {
        let mut buf = Vec::with_capacity(self.n_features);
        self.impute_into(row, &mut buf);
        let row = &buf[..];
        let mut imp = vec![0.0; self.n_features];
        let d = self.ndim();
        for tree in &self.trees {
            let mut i = 0;
            while !tree.nodes[i].is_leaf(i) {
                let node = &tree.nodes[i];
                let next = self.step(tree, i, row);
                let child = tree.nodes[next].size.max(1) as f64;
                let lambda = node.size as f64 / child;
                let k = i * d..(i + 1) * d;
                let norm: f64 = tree.coefs[k.clone()].iter().map(|w| w.abs()).sum();
                if norm > 0.0 {
                    for k in k {
                        imp[tree.cols[k] as usize] += lambda * tree.coefs[k].abs() / norm;
                    }
                }
                i = next;
            }
        }
        let n = self.trees.len() as f64;
        imp.iter_mut().for_each(|v| *v /= n);
        imp
    }
}
