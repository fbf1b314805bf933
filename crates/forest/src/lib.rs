//! Extended Isolation Forest (Hariri et al., 2018), with the conventions of isotree.
//!
//! Each tree isolates a random sub-sample of the training rows by splitting on random
//! hyperplanes over up to `ndim` features (`ndim = 1` is the classic isolation forest of Liu
//! et al.). Anomalies are isolated in fewer splits, so their average path length is short:
//!
//! - [`IsolationForest::score`]: the standardised outlier score `2^(-E[h(x)] / c(ψ))` in
//!   `[0, 1]`, isotree's `decision_function`: above 0.5 is anomalous, near 1 clearly so.
//! - [`raw_score`]: `0.5 - score`, the seed's convention (negative = anomalous), on the
//!   same scale as its static threshold.
//! - [`IsolationForest::attribution`]: per-feature importance of one row's isolation, in
//!   the manner of DIFFI/ExIFFI: at every split the row passes, each feature of the
//!   hyperplane is credited with the split's induced imbalance (parent size over the size of
//!   the branch the row takes) times its share of the normalised hyperplane.
//!
//! Details, all deterministic for a seed whatever the thread count:
//! - sub-sample of `min(sample_size, rows)` rows drawn without replacement per tree;
//! - depth limit `ceil(log2(sample_size))` by default, isotree's `'auto'`; a leaf adds
//!   `c(n)`, the expected path length of an unbuilt subtree of `n` rows;
//! - a split picks `ndim` distinct features among those not constant in the node, draws
//!   normal coefficients scaled by each feature's range in the node (so that units do not
//!   matter), and a threshold uniform between the smallest and largest projection;
//! - missing values (NaN) are replaced by the training median of their feature, at training
//!   and at scoring; infinities are an error.

#![warn(missing_docs)]

pub mod dataset;

use serde::{Deserialize, Serialize};
use shrike_types::Rng;

/// Why a forest could not be trained, scored or loaded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForestError {
    /// No rows, or no columns.
    #[error("no training data ({rows} rows × {cols} columns)")]
    Empty {
        /// Rows given.
        rows: usize,
        /// Columns given.
        cols: usize,
    },
    /// The data length is not a multiple of the column count, or the column count differs
    /// from the model's.
    #[error("shape mismatch: expected {expected} columns, got {got}")]
    Shape {
        /// Columns the model has.
        expected: usize,
        /// Columns given (or the data length when it is not a whole number of rows).
        got: usize,
    },
    /// An infinite value (NaN is a missing value; infinity is not).
    #[error("infinite value in column {col} of row {row}")]
    Infinite {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
    },
    /// A parameter outside its allowed range.
    #[error("invalid forest parameter `{key}`: {why}")]
    Param {
        /// The parameter.
        key: &'static str,
        /// Allowed values.
        why: &'static str,
    },
    /// A stored model that cannot be read back.
    #[error("corrupt or truncated forest model: {0}")]
    Corrupt(String),
}

/// Training parameters, with isotree's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    /// Number of trees (default 300).
    pub trees: usize,
    /// Features per hyperplane (default 3; 1 = classic isolation forest).
    pub ndim: usize,
    /// Rows per tree (default 256, capped at the row count).
    pub sample_size: usize,
    /// Depth limit; `None` = `ceil(log2(sample_size))`.
    pub max_depth: Option<usize>,
    /// Seed of every random choice.
    pub seed: u64,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 300,
            ndim: 3,
            sample_size: 256,
            max_depth: None,
            seed: 42,
            threads: 0,
        }
    }
}

/// One node. Every node owns exactly `ndim` hyperplane entries in its tree's `cols`/`coefs`
/// (unused entries and leaves have coefficient 0), and a leaf is its own left and right
/// child: scoring can then walk every tree a fixed number of steps with no data-dependent
/// branch, several rows at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Node {
    /// Split threshold on the projection; for a leaf, its path length (depth + c(size)).
    value: f64,
    left: u32,
    right: u32,
    /// Training rows that reached the node.
    size: u32,
}

impl Node {
    fn is_leaf(&self, me: usize) -> bool {
        self.left as usize == me
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
    /// `ndim` feature indices per node.
    cols: Vec<u32>,
    /// `ndim` coefficients per node.
    coefs: Vec<f64>,
    /// Deepest leaf.
    depth: u32,
}

/// A trained forest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IsolationForest {
    params: ForestParams,
    n_features: usize,
    psi: usize,
    medians: Vec<f64>,
    trees: Vec<Tree>,
}

/// The seed's raw score: `0.5 - score`, negative = anomalous.
pub fn raw_score(score: f64) -> f64 {
    0.5 - score
}

/// Expected path length of an unsuccessful search in a binary search tree of `n` keys,
/// the normaliser of isolation depths.
pub fn c_factor(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
        }
    }
}

fn threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Median of the values (0 for none).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

struct Builder<'a> {
    data: &'a [f64],
    cols: usize,
    max_depth: usize,
    ndim: usize,
    rng: Rng,
    tree: Tree,
    proj: Vec<f64>,
    candidates: Vec<usize>,
    hyper: Vec<(u32, f64)>,
}

impl Builder<'_> {
    fn x(&self, row: usize, col: usize) -> f64 {
        self.data[row * self.cols + col]
    }

    fn range(&self, rows: &[usize], col: usize) -> (f64, f64) {
        rows.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &r| {
                let v = self.x(r, col);
                (lo.min(v), hi.max(v))
            })
    }

    fn leaf(&mut self, depth: usize, size: usize) {
        let me = self.tree.nodes.len() as u32;
        self.tree.nodes.push(Node {
            value: depth as f64 + c_factor(size),
            left: me,
            right: me,
            size: size as u32,
        });
        self.tree.cols.extend(std::iter::repeat_n(0, self.ndim));
        self.tree.coefs.extend(std::iter::repeat_n(0.0, self.ndim));
        self.tree.depth = self.tree.depth.max(depth as u32);
    }

    fn grow(&mut self, rows: &mut [usize], depth: usize) {
        if depth >= self.max_depth || rows.len() <= 1 {
            self.leaf(depth, rows.len());
            return;
        }
        // Draw up to `ndim` distinct features that vary in this node.
        self.candidates.clear();
        self.candidates.extend(0..self.cols);
        self.hyper.clear();
        while self.hyper.len() < self.ndim && !self.candidates.is_empty() {
            let i = self.rng.below(self.candidates.len() as u64) as usize;
            let col = self.candidates.swap_remove(i);
            let (lo, hi) = self.range(rows, col);
            if hi > lo {
                let w = self.rng.normal() / (hi - lo);
                self.hyper.push((col as u32, w));
            }
        }
        if self.hyper.is_empty() {
            self.leaf(depth, rows.len());
            return;
        }
        self.proj.clear();
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &r in rows.iter() {
            let p: f64 = self
                .hyper
                .iter()
                .map(|(c, w)| w * self.x(r, *c as usize))
                .sum();
            lo = lo.min(p);
            hi = hi.max(p);
            self.proj.push(p);
        }
        if hi <= lo {
            self.leaf(depth, rows.len());
            return;
        }
        let threshold = lo + self.rng.f64() * (hi - lo);
        // Partition rows (and their projections) around the threshold.
        let mut k = 0;
        for i in 0..rows.len() {
            if self.proj[i] < threshold {
                rows.swap(i, k);
                self.proj.swap(i, k);
                k += 1;
            }
        }
        if k == 0 || k == rows.len() {
            // Only possible through rounding at the threshold: stop here.
            self.leaf(depth, rows.len());
            return;
        }
        let me = self.tree.nodes.len();
        self.tree.nodes.push(Node {
            value: threshold,
            left: me as u32 + 1,
            right: 0,
            size: rows.len() as u32,
        });
        for j in 0..self.ndim {
            let (c, w) = self.hyper.get(j).copied().unwrap_or((0, 0.0));
            self.tree.cols.push(c);
            self.tree.coefs.push(w);
        }
        let (left, right) = rows.split_at_mut(k);
        self.grow(left, depth + 1);
        self.tree.nodes[me].right = self.tree.nodes.len() as u32;
        self.grow(right, depth + 1);
    }
}

impl IsolationForest {
    /// Trains on `data`, row-major with `cols` columns. NaN is a missing value.
    pub fn fit(data: &[f64], cols: usize, params: &ForestParams) -> Result<Self, ForestError> {
        if cols == 0 || data.is_empty() {
            return Err(ForestError::Empty {
                rows: data.len().checked_div(cols).unwrap_or(0),
                cols,
            });
        }
        if !data.len().is_multiple_of(cols) {
            return Err(ForestError::Shape {
                expected: cols,
                got: data.len(),
            });
        }
        if params.trees == 0 {
            return Err(ForestError::Param {
                key: "trees",
                why: "at least 1",
            });
        }
        if params.ndim == 0 || params.ndim > u8::MAX as usize {
            return Err(ForestError::Param {
                key: "ndim",
                why: "between 1 and 255",
            });
        }
        if params.sample_size < 2 {
            return Err(ForestError::Param {
                key: "sample_size",
                why: "at least 2",
            });
        }
        let rows = data.len() / cols;
        if let Some(i) = data.iter().position(|v| v.is_infinite()) {
            return Err(ForestError::Infinite {
                row: i / cols,
                col: i % cols,
            });
        }
        let medians: Vec<f64> = (0..cols)
            .map(|c| {
                median(
                    (0..rows)
                        .map(|r| data[r * cols + c])
                        .filter(|v| !v.is_nan())
                        .collect(),
                )
            })
            .collect();
        let imputed;
        let data = if data.iter().any(|v| v.is_nan()) {
            imputed = data
                .iter()
                .enumerate()
                .map(|(i, v)| if v.is_nan() { medians[i % cols] } else { *v })
                .collect::<Vec<_>>();
            &imputed[..]
        } else {
            data
        };
        let psi = params.sample_size.min(rows).max(1);
        let max_depth = params
            .max_depth
            .unwrap_or_else(|| (psi as f64).log2().ceil().max(1.0) as usize);
        let ndim = params.ndim.min(cols);
        let build = |t: usize| {
            let mut rng = Rng::seed_from_u64(
                params.seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            // Partial Fisher–Yates: the first `psi` entries are the sample.
            let mut idx: Vec<usize> = (0..rows).collect();
            for i in 0..psi {
                let j = i + rng.below((rows - i) as u64) as usize;
                idx.swap(i, j);
            }
            let mut sample = idx[..psi].to_vec();
            let mut b = Builder {
                data,
                cols,
                max_depth,
                ndim,
                rng,
                tree: Tree {
                    nodes: Vec::new(),
                    cols: Vec::new(),
                    coefs: Vec::new(),
                    depth: 0,
                },
                proj: Vec::with_capacity(psi),
                candidates: Vec::with_capacity(cols),
                hyper: Vec::with_capacity(ndim),
            };
            b.grow(&mut sample, 0);
            b.tree
        };
        let workers = threads(params.threads).min(params.trees);
        let mut trees: Vec<Option<Tree>> = (0..params.trees).map(|_| None).collect();
        let per = params.trees.div_ceil(workers);
        std::thread::scope(|s| {
            for (w, chunk) in trees.chunks_mut(per).enumerate() {
                let build = &build;
                s.spawn(move || {
                    for (i, slot) in chunk.iter_mut().enumerate() {
                        *slot = Some(build(w * per + i));
                    }
                });
            }
        });
        Ok(IsolationForest {
            params: params.clone(),
            n_features: cols,
            psi,
            medians,
            trees: trees.into_iter().flatten().collect(),
        })
    }

    /// Number of features the forest was trained on.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Training parameters.
    pub fn params(&self) -> &ForestParams {
        &self.params
    }

    /// Training medians used to impute missing values.
    pub fn medians(&self) -> &[f64] {
        &self.medians
    }

    /// The row with missing values replaced by the training medians.
    fn impute_into(&self, row: &[f64], out: &mut Vec<f64>) {
        out.clear();
        out.extend(
            row.iter()
                .zip(&self.medians)
                .map(|(v, m)| if v.is_nan() { *m } else { *v }),
        );
    }

    #[inline(always)]
    fn project(&self, tree: &Tree, node: usize, row: &[f64]) -> f64 {
        let d = self.ndim();
        let s = node * d;
        tree.coefs[s..s + d]
            .iter()
            .zip(&tree.cols[s..s + d])
            .map(|(w, c)| w * row[*c as usize])
            .sum()
    }

    #[inline(always)]
    fn step(&self, tree: &Tree, i: usize, row: &[f64]) -> usize {
        let node = &tree.nodes[i];
        let go_left = self.project(tree, i, row) < node.value;
        [node.right, node.left][go_left as usize] as usize
    }

    /// Path length of an imputed row in one tree.
    fn path_length(&self, tree: &Tree, row: &[f64]) -> f64 {
        let mut i = 0;
        for _ in 0..tree.depth {
            i = self.step(tree, i, row);
        }
        tree.nodes[i].value
    }

    /// Adds each row's path length in every tree to `out`. Eight rows walk a tree in
    /// lockstep: their steps are independent, so the processor overlaps them instead of
    /// waiting on one chain of loads. `D` is the hyperplane size when known at compile
    /// time (0 = read it at run time).
    fn walk_block<const D: usize>(&self, rows: &[f64], out: &mut [f64]) {
        const LANES: usize = 8;
        let cols = self.n_features;
        let d = if D > 0 { D } else { self.ndim() };
        for tree in &self.trees {
            for (outs, rows) in out.chunks_mut(LANES).zip(rows.chunks(LANES * cols)) {
                let mut at = [0usize; LANES];
                let n = outs.len();
                for _ in 0..tree.depth {
                    for (k, i) in at.iter_mut().enumerate().take(n) {
                        let row = &rows[k * cols..(k + 1) * cols];
                        let node = &tree.nodes[*i];
                        let s = *i * d;
                        let p: f64 = if D > 0 {
                            let w: &[f64; D] = tree.coefs[s..s + D].try_into().unwrap_or(&[0.0; D]);
                            let c: &[u32; D] = tree.cols[s..s + D].try_into().unwrap_or(&[0; D]);
                            (0..D).map(|j| w[j] * row[c[j] as usize]).sum()
                        } else {
                            self.project(tree, *i, row)
                        };
                        *i = [node.right, node.left][(p < node.value) as usize] as usize;
                    }
                }
                for (o, i) in outs.iter_mut().zip(at) {
                    *o += tree.nodes[i].value;
                }
            }
        }
    }

    /// Hyperplane entries per node.
    fn ndim(&self) -> usize {
        self.params.ndim.min(self.n_features)
    }

    fn to_score(&self, mean_depth: f64) -> f64 {
        let c = c_factor(self.psi);
        if c == 0.0 {
            return 0.5;
        }
        2f64.powf(-mean_depth / c)
    }

    /// Standardised outlier score of one row in `[0, 1]` (higher = more anomalous).
    pub fn score_row(&self, row: &[f64]) -> f64 {
        let mut buf = Vec::with_capacity(self.n_features);
        self.impute_into(row, &mut buf);
        let total: f64 = self.trees.iter().map(|t| self.path_length(t, &buf)).sum();
        self.to_score(total / self.trees.len() as f64)
    }

    /// Scores a block of rows tree by tree, so that each tree stays in cache while the
    /// block goes through it.
    fn score_block(&self, data: &[f64], out: &mut [f64]) {
        let cols = self.n_features;
        let mut rows = Vec::with_capacity(data.len());
        let mut buf = Vec::with_capacity(cols);
        for r in data.chunks_exact(cols) {
            self.impute_into(r, &mut buf);
            rows.extend_from_slice(&buf);
        }
        out.iter_mut().for_each(|o| *o = 0.0);
        match self.ndim() {
            1 => self.walk_block::<1>(&rows, out),
            2 => self.walk_block::<2>(&rows, out),
            3 => self.walk_block::<3>(&rows, out),
            _ => self.walk_block::<0>(&rows, out),
        }
        let n = self.trees.len() as f64;
        out.iter_mut().for_each(|o| *o = self.to_score(*o / n));
    }

    fn check(&self, data: &[f64]) -> Result<usize, ForestError> {
        if !data.len().is_multiple_of(self.n_features) {
            return Err(ForestError::Shape {
                expected: self.n_features,
                got: data.len(),
            });
        }
        if let Some(i) = data.iter().position(|v| v.is_infinite()) {
            return Err(ForestError::Infinite {
                row: i / self.n_features,
                col: i % self.n_features,
            });
        }
        Ok(data.len() / self.n_features)
    }

    /// Scores every row of `data` (row-major), in parallel.
    pub fn score(&self, data: &[f64]) -> Result<Vec<f64>, ForestError> {
        let rows = self.check(data)?;
        let mut out = vec![0.0; rows];
        if rows == 0 {
            return Ok(out);
        }
        const BLOCK: usize = 256;
        let workers = threads(self.params.threads)
            .min(rows.div_ceil(BLOCK))
            .max(1);
        let per = rows.div_ceil(workers);
        let cols = self.n_features;
        std::thread::scope(|s| {
            for (w, chunk) in out.chunks_mut(per).enumerate() {
                s.spawn(move || {
                    for (b, block) in chunk.chunks_mut(BLOCK).enumerate() {
                        let r = w * per + b * BLOCK;
                        self.score_block(&data[r * cols..(r + block.len()) * cols], block);
                    }
                });
            }
        });
        Ok(out)
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

    const MAGIC: &'static [u8; 8] = b"SHKEIF01";

    /// Serialises the forest (a magic header, then postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Self::MAGIC.to_vec();
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        out
    }

    /// Reads a forest written by [`IsolationForest::to_bytes`], checking its structure.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ForestError> {
        let body = bytes
            .strip_prefix(Self::MAGIC.as_slice())
            .ok_or_else(|| ForestError::Corrupt("not a shrike forest (bad header)".into()))?;
        let f: IsolationForest =
            postcard::from_bytes(body).map_err(|e| ForestError::Corrupt(e.to_string()))?;
        f.validate()?;
        Ok(f)
    }

    /// Structural checks so that a damaged file cannot make scoring panic or loop.
    fn validate(&self) -> Result<(), ForestError> {
        let bad = |why: &str| Err(ForestError::Corrupt(why.to_string()));
        if self.n_features == 0 || self.medians.len() != self.n_features || self.trees.is_empty() {
            return bad("inconsistent header");
        }
        let d = self.ndim();
        for t in &self.trees {
            if t.nodes.is_empty()
                || t.cols.len() != t.nodes.len() * d
                || t.coefs.len() != t.cols.len()
                || t.depth as usize >= t.nodes.len()
            {
                return bad("inconsistent tree");
            }
            if t.cols.iter().any(|c| *c as usize >= self.n_features) {
                return bad("feature out of range");
            }
            for (i, n) in t.nodes.iter().enumerate() {
                if n.is_leaf(i) {
                    if n.right as usize != i {
                        return bad("malformed leaf");
                    }
                    continue;
                }
                // Children come after their parent (pre-order), so every walk ends.
                let ok = |c: u32| (c as usize) > i && (c as usize) < t.nodes.len();
                if !ok(n.left) || !ok(n.right) {
                    return bad("node out of range");
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::seed_from_u64(seed);
        (0..rows * cols).map(|_| rng.normal()).collect()
    }

    #[test]
    fn c_factor_matches_the_published_values() {
        assert_eq!(c_factor(1), 0.0);
        assert_eq!(c_factor(2), 1.0);
        // c(256) = 2 H(255) - 2·255/256 ≈ 10.2448 (Liu et al.).
        assert!((c_factor(256) - 10.2448).abs() < 1e-3, "{}", c_factor(256));
    }

    #[test]
    fn an_outlier_scores_above_every_inlier() {
        for ndim in [1, 3] {
            let mut data = blob(500, 4, 1);
            data.extend([8.0, -8.0, 8.0, 8.0]);
            let p = ForestParams {
                ndim,
                trees: 100,
                ..ForestParams::default()
            };
            let f = IsolationForest::fit(&data, 4, &p).unwrap();
            let s = f.score(&data).unwrap();
            let outlier = s[500];
            assert!(outlier > 0.6, "ndim {ndim}: outlier score {outlier}");
            assert!(s[..500].iter().all(|v| *v < outlier));
            assert!(s.iter().all(|v| (0.0..=1.0).contains(v)));
            assert!(raw_score(outlier) < 0.0);
        }
    }

    #[test]
    fn same_seed_same_forest_whatever_the_threads() {
        let data = blob(300, 5, 2);
        let a = IsolationForest::fit(
            &data,
            5,
            &ForestParams {
                threads: 1,
                ..ForestParams::default()
            },
        )
        .unwrap();
        let b = IsolationForest::fit(
            &data,
            5,
            &ForestParams {
                threads: 3,
                ..ForestParams::default()
            },
        )
        .unwrap();
        assert_eq!(a.score(&data).unwrap(), b.score(&data).unwrap());
        let c = IsolationForest::fit(
            &data,
            5,
            &ForestParams {
                seed: 7,
                ..ForestParams::default()
            },
        )
        .unwrap();
        assert_ne!(a.score(&data).unwrap(), c.score(&data).unwrap());
    }

    #[test]
    fn missing_values_are_imputed_and_infinities_refused() {
        let mut data = blob(200, 3, 3);
        data[4] = f64::NAN;
        let f = IsolationForest::fit(&data, 3, &ForestParams::default()).unwrap();
        let s = f.score_row(&[f64::NAN, f64::NAN, f64::NAN]);
        assert!(s.is_finite() && s < 0.55, "the median row is typical: {s}");
        data[5] = f64::INFINITY;
        assert_eq!(
            IsolationForest::fit(&data, 3, &ForestParams::default()).unwrap_err(),
            ForestError::Infinite { row: 1, col: 2 }
        );
        assert!(matches!(
            f.score(&[1.0, 2.0]),
            Err(ForestError::Shape { expected: 3, .. })
        ));
    }

    #[test]
    fn attribution_points_at_the_deviating_feature() {
        let data = blob(400, 5, 4);
        let f = IsolationForest::fit(&data, 5, &ForestParams::default()).unwrap();
        let imp = f.attribution(&[0.0, 0.0, 9.0, 0.0, 0.0]);
        let top = (0..5).max_by(|a, b| imp[*a].total_cmp(&imp[*b])).unwrap();
        assert_eq!(top, 2, "{imp:?}");
    }

    #[test]
    fn serialisation_round_trips_and_damage_is_detected() {
        let data = blob(200, 4, 5);
        let f = IsolationForest::fit(&data, 4, &ForestParams::default()).unwrap();
        let bytes = f.to_bytes();
        let g = IsolationForest::from_bytes(&bytes).unwrap();
        assert_eq!(f.score(&data).unwrap(), g.score(&data).unwrap());
        assert!(matches!(
            IsolationForest::from_bytes(&bytes[..bytes.len() / 2]),
            Err(ForestError::Corrupt(_))
        ));
        assert!(matches!(
            IsolationForest::from_bytes(b"garbage"),
            Err(ForestError::Corrupt(_))
        ));
    }
}
