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
//! - a split picks `ndim` distinct features among those not constant in the node; with
//!   `ndim > 1` each is standardised by its standard deviation in the node and weighted by a
//!   coefficient uniform in `[-1, 1]` (isotree's defaults `standardize_data`, `coefs =
//!   "uniform"`), so that units do not matter; the threshold is uniform between the
//!   smallest and largest projection of the node's rows;
//! - missing values (NaN) are replaced by the training median of their feature, at training
//!   and at scoring; infinities are an error.

#![warn(missing_docs)]

mod attribution;
pub mod dataset;
mod layout;

use layout::{walk_flat, ColumnBlock, Layout, BLOCK};

use serde::{Deserialize, Serialize};
use shrike_types::{math, Rng};

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
    /// Depth limit, at most 64; `None` = `ceil(log2(sample_size))`.
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
    /// The trees again, laid out for scoring (rebuilt on load, never stored).
    #[serde(skip)]
    layout: Layout,
}

/// The deepest tree trained or loaded: training and scoring recurse once per level.
const MAX_DEPTH: usize = 64;

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
            2.0 * (math::ln(n - 1.0) + 0.577_215_664_901_532_9) - 2.0 * (n - 1.0) / n
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

/// Median of the values (0 for none), in linear time.
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let m = v.len() / 2;
    let odd = v.len() % 2 == 1;
    let (below, mid, _) = v.select_nth_unstable_by(m, f64::total_cmp);
    let mid = *mid;
    if odd {
        mid
    } else {
        // The largest value below the middle one is the lower middle.
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + mid) / 2.0
    }
}

/// `k` distinct indices in `0..n` (`k <= n`), uniformly (Floyd's algorithm): the work
/// depends on `k`, not on `n`, so a tree's sample costs the same on 1k or 10M rows.
fn sample_without_replacement(rng: &mut Rng, n: usize, k: usize) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    let mut seen = std::collections::HashSet::with_capacity(k);
    for j in n - k..n {
        let t = rng.below(j as u64 + 1) as usize;
        let pick = if seen.contains(&t) { j } else { t };
        seen.insert(pick);
        chosen.push(pick);
    }
    chosen
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

    /// Standard deviation of `col` over `rows`, `None` when the feature is constant there.
    fn spread(&self, rows: &[usize], col: usize) -> Option<f64> {
        let (lo, hi) = self.range(rows, col);
        if hi <= lo {
            // Also guards against a rounding-sized deviation of a constant feature.
            return None;
        }
        let n = rows.len() as f64;
        let mean = rows.iter().map(|&r| self.x(r, col)).sum::<f64>() / n;
        let var = rows
            .iter()
            .map(|&r| (self.x(r, col) - mean).powi(2))
            .sum::<f64>()
            / n;
        (var > 0.0 && var.is_finite()).then(|| var.sqrt())
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
            if self.ndim == 1 {
                // The classic model: the coefficient's value does not matter, only that the
                // feature varies in the node.
                let (lo, hi) = self.range(rows, col);
                if hi > lo {
                    self.hyper.push((col as u32, 1.0));
                }
            } else if let Some(sd) = self.spread(rows, col) {
                // isotree's extended model: the feature is standardised in the node and
                // weighted by a coefficient uniform in [-1, 1].
                let w = (2.0 * self.rng.f64() - 1.0) / sd;
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
        // Column by column, gathered in one pass over the rows.
        let mut columns: Vec<Vec<f64>> = (0..cols).map(|_| Vec::with_capacity(rows)).collect();
        for row in data.chunks_exact(cols) {
            for (col, v) in columns.iter_mut().zip(row) {
                if !v.is_nan() {
                    col.push(*v);
                }
            }
        }
        let medians: Vec<f64> = columns.into_iter().map(median).collect();
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
            .unwrap_or_else(|| math::log2(psi as f64).ceil().max(1.0) as usize);
        if max_depth > MAX_DEPTH {
            return Err(ForestError::Param {
                key: "max_depth",
                why: "at most 64",
            });
        }
        let ndim = params.ndim.min(cols);
        let build = |t: usize| {
            let mut rng = Rng::seed_from_u64(
                params.seed ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            );
            let mut sample = sample_without_replacement(&mut rng, rows, psi);
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
        let trees: Vec<Tree> = trees.into_iter().flatten().collect();
        Ok(IsolationForest {
            params: params.clone(),
            n_features: cols,
            psi,
            medians,
            layout: Layout::new(&trees, ndim),
            trees,
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

    /// Hyperplane entries per node.
    fn ndim(&self) -> usize {
        self.params.ndim.min(self.n_features)
    }

    fn to_score(&self, mean_depth: f64) -> f64 {
        let c = c_factor(self.psi);
        if c == 0.0 {
            return 0.5;
        }
        math::powf(2.0, -mean_depth / c)
    }

    /// Standardised outlier score of one row in `[0, 1]` (higher = more anomalous).
    pub fn score_row(&self, row: &[f64]) -> f64 {
        let mut buf = Vec::with_capacity(self.n_features);
        self.impute_into(row, &mut buf);
        let total: f64 = self.trees.iter().map(|t| self.path_length(t, &buf)).sum();
        self.to_score(total / self.trees.len() as f64)
    }

    /// Puts the rows of `data` (at most [`BLOCK`]) in `block`, column-major, missing values
    /// imputed.
    fn fill_block(&self, data: &[f64], block: &mut ColumnBlock) {
        block.rows = data.len() / self.n_features;
        for (r, row) in data.chunks_exact(self.n_features).enumerate() {
            for ((col, v), m) in block.cols.iter_mut().zip(row).zip(&self.medians) {
                col[r] = if v.is_nan() { *m } else { *v };
            }
        }
    }

    /// Scores a block of rows tree by tree, so that each tree stays in cache while the
    /// block goes through it.
    fn score_block(&self, data: &[f64], block: &mut ColumnBlock, out: &mut [f64]) {
        let n = self.trees.len() as f64;
        if let Layout::Generic = self.layout {
            for (o, r) in out.iter_mut().zip(data.chunks_exact(self.n_features)) {
                *o = self.score_row(r);
            }
            return;
        }
        self.fill_block(data, block);
        let mut depth = [0.0; BLOCK];
        match &self.layout {
            Layout::D1(t) => walk_flat(t, block, &mut depth),
            Layout::D2(t) => walk_flat(t, block, &mut depth),
            Layout::D3(t) => walk_flat(t, block, &mut depth),
            Layout::Generic => {}
        }
        for (o, d) in out.iter_mut().zip(depth) {
            *o = self.to_score(d / n);
        }
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
        let workers = threads(self.params.threads)
            .min(rows.div_ceil(BLOCK))
            .max(1);
        let per = rows.div_ceil(workers);
        let cols = self.n_features;
        std::thread::scope(|s| {
            for (w, chunk) in out.chunks_mut(per).enumerate() {
                s.spawn(move || {
                    let mut scratch = ColumnBlock::new(cols);
                    for (b, block) in chunk.chunks_mut(BLOCK).enumerate() {
                        let r = w * per + b * BLOCK;
                        let rows = &data[r * cols..(r + block.len()) * cols];
                        self.score_block(rows, &mut scratch, block);
                    }
                });
            }
        });
        Ok(out)
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
        let mut f: IsolationForest =
            postcard::from_bytes(body).map_err(|e| ForestError::Corrupt(e.to_string()))?;
        f.validate()?;
        f.layout = Layout::new(&f.trees, f.ndim());
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
            let mut depth = vec![0usize; t.nodes.len()];
            for (i, n) in t.nodes.iter().enumerate() {
                if n.is_leaf(i) {
                    if n.right as usize != i {
                        return bad("malformed leaf");
                    }
                    continue;
                }
                // Children come after their parent (pre-order), so every walk ends, and
                // a node's depth is known before its children are checked.
                let ok = |c: u32| (c as usize) > i && (c as usize) < t.nodes.len();
                if !ok(n.left) || !ok(n.right) {
                    return bad("node out of range");
                }
                if depth[i] >= MAX_DEPTH || depth[i] >= t.depth as usize {
                    return bad("tree deeper than recorded");
                }
                depth[n.left as usize] = depth[i] + 1;
                depth[n.right as usize] = depth[i] + 1;
            }
        }
        Ok(())
    }
}
