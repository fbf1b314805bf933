//! Gradient-boosted trees for binary classification (logistic loss), xgboost-style:
//! histogram splits over at most 256 bins per feature ([`bins::BinMapper`]), depth-wise
//! growth with xgboost's gain, regularisation (`lambda`, `gamma`, `min_child_weight`) and
//! leaf weights, class weighting (`scale_pos_weight`), an intercept from the weighted label
//! mean (as xgboost 3 estimates `base_score`), and exact TreeSHAP contributions
//! ([`Gbdt::contributions`]) that sum, with the bias, to the margin.
//!
//! [`GbdtParams`] are checked by [`GbdtParams::fit`], which returns a fitted [`Gbdt`].
//! Training is deterministic and independent of the thread count: no sampling, histograms
//! summed over fixed row chunks in order, ties broken by the lowest feature and bin.
//! Missing values (NaN) always go left. Gradient pairs are `f32` and summed per bin in
//! `f32` (LightGBM's trade: half the memory traffic of the hottest loop); node totals,
//! gains, leaf weights and covers are `f64`.

#![warn(missing_docs)]

pub mod bins;
mod packed;
mod shap;
pub mod tree;

use serde::{Deserialize, Serialize};
use shrike_types::math;

use crate::bins::BinMapper;
use crate::tree::{Grow, Tree};

/// Caller mistakes.
#[derive(Debug, Clone, PartialEq)]
pub enum GbdtError {
    /// `data.len()` is not `labels.len() × dims`, or there are no rows.
    Shape {
        /// Values.
        len: usize,
        /// Labels.
        labels: usize,
        /// Columns.
        dims: usize,
    },
    /// A label is not 0 or 1, or the labels hold a single class.
    Labels(&'static str),
    /// A parameter is out of range.
    Parameter(&'static str),
    /// Bytes that are not a valid saved model.
    Corrupt(String),
}

impl std::fmt::Display for GbdtError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GbdtError::Shape { len, labels, dims } => {
                write!(f, "{len} values are not {labels} rows of {dims} columns")
            }
            GbdtError::Labels(what) => write!(f, "labels: {what}"),
            GbdtError::Parameter(what) => write!(f, "invalid parameter: {what}"),
            GbdtError::Corrupt(why) => write!(f, "not a valid shrike boosted-trees model: {why}"),
        }
    }
}

impl std::error::Error for GbdtError {}

/// Hyperparameters (xgboost's names and defaults, except those the seed sets: 200 trees,
/// depth 6, learning rate 0.1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    /// Boosting rounds (trees).
    pub n_trees: usize,
    /// Largest depth of a tree.
    pub max_depth: usize,
    /// Shrinkage of every leaf.
    pub learning_rate: f64,
    /// L2 regularisation of leaf weights.
    pub lambda: f64,
    /// Smallest gain for a split.
    pub gamma: f64,
    /// Smallest hessian sum of a child.
    pub min_child_weight: f64,
    /// Weight of positive rows (class weighting).
    pub scale_pos_weight: f64,
    /// Bins per feature (≤ 256, bin 0 for missing values).
    pub max_bins: usize,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            n_trees: 200,
            max_depth: 6,
            learning_rate: 0.1,
            lambda: 1.0,
            gamma: 0.0,
            min_child_weight: 1.0,
            scale_pos_weight: 1.0,
            max_bins: 256,
            threads: 0,
        }
    }
}

/// A fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    /// Features per row.
    pub dims: usize,
    /// Intercept (margin).
    pub base_margin: f64,
    /// Trees, in boosting order.
    pub trees: Vec<Tree>,
    /// The parameters it was trained with.
    pub params: GbdtParams,
}

/// A thread count as given (0: one per core).
fn resolve_threads(threads: usize) -> usize {
    match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + math::exp(-x))
}

impl GbdtParams {
    fn check(&self) -> Result<(), GbdtError> {
        let bad = |what| Err(GbdtError::Parameter(what));
        if self.n_trees == 0 || self.max_depth == 0 || self.max_depth > 16 {
            return bad("n_trees ≥ 1 and max_depth in 1..=16");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate in (0, 1]");
        }
        if !(self.lambda >= 0.0 && self.gamma >= 0.0 && self.min_child_weight >= 0.0) {
            return bad("lambda, gamma and min_child_weight ≥ 0");
        }
        if !(self.scale_pos_weight > 0.0 && self.scale_pos_weight.is_finite()) {
            return bad("scale_pos_weight > 0");
        }
        if !(3..=256).contains(&self.max_bins) {
            return bad("max_bins in 3..=256");
        }
        Ok(())
    }

    /// Trains on row-major `data` (`dims` columns) with 0/1 `labels`.
    pub fn fit(&self, data: &[f32], dims: usize, labels: &[f32]) -> Result<Gbdt, GbdtError> {
        self.check()?;
        let n = labels.len();
        if dims == 0 || n == 0 || data.len() != n * dims {
            return Err(GbdtError::Shape {
                len: data.len(),
                labels: n,
                dims,
            });
        }
        if labels.iter().any(|y| *y != 0.0 && *y != 1.0) {
            return Err(GbdtError::Labels("every label must be 0 or 1"));
        }
        let weight = |y: f32| if y == 1.0 { self.scale_pos_weight } else { 1.0 };
        let (wpos, wall) = labels.iter().fold((0.0, 0.0), |(p, a), y| {
            (p + f64::from(*y) * weight(*y), a + weight(*y))
        });
        if wpos == 0.0 || wpos == wall {
            return Err(GbdtError::Labels("both classes are needed"));
        }
        let mean = wpos / wall;
        let base_margin = math::ln(mean / (1.0 - mean));
        let mapper = BinMapper::fit(data, dims, self.max_bins);
        let bins = mapper.transform(data, dims);
        let mut columns = vec![0u8; n * dims];
        for (i, row) in bins.chunks_exact(dims).enumerate() {
            for (j, b) in row.iter().enumerate() {
                columns[j * n + i] = *b;
            }
        }
        let threads = resolve_threads(self.threads);
        let grow = Grow {
            max_depth: self.max_depth,
            lambda: self.lambda,
            gamma: self.gamma,
            min_child_weight: self.min_child_weight,
            learning_rate: self.learning_rate,
            threads,
            mapper: &mapper,
            bins: &bins,
            columns: &columns,
            n,
            dims,
        };
        let mut margin = vec![base_margin; n];
        let mut gh = vec![[0.0f32; 2]; n];
        let mut idx: Vec<u32> = (0..n as u32).collect();
        let mut trees = Vec::with_capacity(self.n_trees);
        for _ in 0..self.n_trees {
            for ((g, m), y) in gh.iter_mut().zip(&margin).zip(labels) {
                let p = sigmoid(*m);
                let w = weight(*y);
                *g = [
                    ((p - f64::from(*y)) * w) as f32,
                    ((p * (1.0 - p)).max(1e-16) * w) as f32,
                ];
            }
            idx.iter_mut().enumerate().for_each(|(i, v)| *v = i as u32);
            let (tree, leaves) = grow.grow(&mut idx, &gh);
            // The partition already tells which leaf each row reached.
            for (leaf, start, end) in leaves {
                let value = tree.nodes[leaf].value;
                for i in &idx[start..end] {
                    margin[*i as usize] += value;
                }
            }
            trees.push(tree);
        }
        Ok(Gbdt {
            dims,
            base_margin,
            trees,
            params: *self,
        })
    }
}

impl Gbdt {
    /// The margin (log-odds) of a row.
    pub fn margin(&self, x: &[f32]) -> f64 {
        self.base_margin + self.trees.iter().map(|t| t.predict(x)).sum::<f64>()
    }

    /// The probability of the positive class.
    pub fn probability(&self, x: &[f32]) -> f64 {
        sigmoid(self.margin(x))
    }

    /// Probabilities of row-major rows, in parallel; the same values as
    /// [`Gbdt::probability`] row by row, from trees packed for batch prediction.
    pub fn probabilities(&self, data: &[f32], threads: usize) -> Vec<f64> {
        if self.dims == 0 {
            return Vec::new();
        }
        let n = data.len() / self.dims;
        let data = &data[..n * self.dims];
        let packed = packed::Packed::new(&self.trees);
        let mut out = vec![0.0; n];
        let per = n.div_ceil(threads.max(1)).max(1024);
        std::thread::scope(|s| {
            for (rows, out) in data.chunks(per * self.dims).zip(out.chunks_mut(per)) {
                let packed = packed.as_ref();
                s.spawn(move || {
                    match packed {
                        Some(p) => p.add_margins(rows, self.dims, out),
                        None => {
                            for (o, x) in out.iter_mut().zip(rows.chunks_exact(self.dims)) {
                                *o = self.trees.iter().map(|t| t.predict(x)).sum::<f64>();
                            }
                        }
                    }
                    for o in out.iter_mut() {
                        *o = sigmoid(self.base_margin + *o);
                    }
                });
            }
        });
        out
    }

    const MAGIC: &'static [u8; 8] = b"SHKGBT01";

    /// Serialises the model (header + postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Self::MAGIC.to_vec();
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        out
    }

    /// Reads a model written by [`Gbdt::to_bytes`], checking that every split names a
    /// feature in range and every child index points forward inside its tree (so that a
    /// damaged file cannot make prediction panic or loop).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, GbdtError> {
        let body = bytes
            .strip_prefix(Self::MAGIC.as_slice())
            .ok_or_else(|| GbdtError::Corrupt("bad header".into()))?;
        let m: Gbdt = postcard::from_bytes(body).map_err(|e| GbdtError::Corrupt(e.to_string()))?;
        let bad = |why: &str| Err(GbdtError::Corrupt(why.to_string()));
        if m.dims == 0 || !m.base_margin.is_finite() {
            return bad("inconsistent header");
        }
        for t in &m.trees {
            if t.nodes.is_empty() {
                return bad("empty tree");
            }
            for (i, n) in t.nodes.iter().enumerate() {
                if !n.value.is_finite() || !n.cover.is_finite() {
                    return bad("non-finite node");
                }
                if n.is_leaf() {
                    continue;
                }
                let len = t.nodes.len();
                if n.feature as usize >= m.dims
                    || n.left as usize <= i
                    || n.right as usize <= i
                    || n.left as usize >= len
                    || n.right as usize >= len
                {
                    return bad("a split points outside its tree");
                }
            }
        }
        Ok(m)
    }

    /// Exact TreeSHAP: one contribution per feature, and the bias (the intercept plus each
    /// tree's expected value). `bias + Σ contributions` equals [`Gbdt::margin`].
    pub fn contributions(&self, x: &[f32]) -> (Vec<f64>, f64) {
        let mut phi = vec![0.0; self.dims];
        let mut bias = self.base_margin;
        for t in &self.trees {
            shap::tree_shap(t, x, &mut phi);
            bias += shap::expected_value(t);
        }
        (phi, bias)
    }

    /// [`Gbdt::contributions`] of many row-major rows at once, over `threads` threads (0:
    /// one per core): `dims` contributions per row, and the bias (the same for every row).
    /// Trees are tabulated per leaf (Fast TreeSHAP v2) in groups of bounded memory; the
    /// values are the row-by-row ones up to rounding (each sums with the bias to the
    /// margin).
    pub fn contributions_many(&self, data: &[f32], threads: usize) -> (Vec<f64>, f64) {
        /// Table bytes prepared at once.
        const BUDGET: usize = 8 << 20;
        let bias = self
            .trees
            .iter()
            .fold(self.base_margin, |b, t| b + shap::expected_value(t));
        if self.dims == 0 {
            return (Vec::new(), bias);
        }
        let n = data.len() / self.dims;
        let data = &data[..n * self.dims];
        let mut phi = vec![0.0; n * self.dims];
        if n == 0 {
            return (phi, bias);
        }
        let per = n.div_ceil(resolve_threads(threads)).max(256);
        let mut trees = self.trees.iter().peekable();
        while trees.peek().is_some() {
            // A group of trees: tabulated ones up to the budget, or one walked row by row.
            let mut group: Vec<Result<shap::Prepared, &Tree>> = Vec::new();
            let mut bytes = 0;
            while let Some(t) = trees.peek() {
                if bytes > BUDGET {
                    break;
                }
                match shap::Prepared::new(t) {
                    Some(p) => {
                        bytes += p.bytes();
                        group.push(Ok(p));
                    }
                    None => group.push(Err(t)),
                }
                trees.next();
            }
            let group = &group;
            std::thread::scope(|s| {
                for (rows, phi) in data
                    .chunks(per * self.dims)
                    .zip(phi.chunks_mut(per * self.dims))
                {
                    s.spawn(move || {
                        // Blocks of rows go through each tree in turn, so that a tree's
                        // tables stay in cache for the whole block.
                        const BLOCK: usize = 64;
                        let mut left = Vec::new();
                        let d = self.dims;
                        for (rows, phi) in rows.chunks(BLOCK * d).zip(phi.chunks_mut(BLOCK * d)) {
                            for t in group {
                                for (x, phi) in rows.chunks_exact(d).zip(phi.chunks_exact_mut(d)) {
                                    match t {
                                        Ok(p) => p.add(x, phi, &mut left),
                                        Err(t) => shap::tree_shap(t, x, phi),
                                    }
                                }
                            }
                        }
                    });
                }
            });
        }
        (phi, bias)
    }
}
