//! A RealNVP normalizing flow for anomaly scoring, trained on CPU.
//!
//! The architecture is the one shrike's predecessor built with FrEIA's `AllInOneBlock`:
//! `blocks` (4) affine coupling blocks, each
//! 1. splits a row `x` into `x1` (the first ⌈d/2⌉ coordinates) and `x2` (the rest);
//! 2. runs a subnet on `x1` (Linear → ReLU → Linear → ReLU → Linear, `hidden` = 64 units)
//!    whose output `a` (2 × |x2| values) is scaled by 0.1, as FrEIA does;
//! 3. transforms `x2 ← x2 · exp(s) + t` with `s = clamp · tanh(a_s)` (`clamp` = 2.0) and
//!    `t = a_t`, adding `Σ s` to the log-determinant;
//! 4. applies a learned global affine `v = u · g + o` with `g = 0.2 · softplus(0.5 γ)`
//!    (FrEIA's SOFTPLUS global scaling, initialised to g = 1), adding `Σ ln g`;
//! 5. permutes the coordinates with a fixed, seeded random permutation.
//!
//! Inputs are min-max scaled to [0, 1] with the training minimum and range (values outside
//! are clipped, as the predecessor did; non-finite values become 0). The score of a row is
//! `−log p(x) = ½‖z‖² + ½ d ln 2π − log|det J|`, higher meaning more anomalous.
//! Training minimises its mean (negative log-likelihood) with Adam (L2 weight decay 1e-5,
//! batch 256), on shuffled rows in a seeded order.
//!
//! Because the permutations are hard, every latent coordinate is one input coordinate
//! transformed along its path; [`Flow::contributions`] splits `−log p(x)` exactly into one
//! term per input feature (`½ z² + ½ ln 2π` minus the log-scales applied to it), which the
//! detection cycle shows as the flow's per-feature error. [`Flow::encode`] gives the latent
//! vectors for campaign clustering.
//!
//! Matrix products run through `matrixmultiply`'s SGEMM (runtime-detected AVX2/FMA); each
//! training batch is split into fixed halves run on two threads, and their gradients are
//! summed in a fixed order, so the result does not depend on the thread count.

#![warn(missing_docs)]

mod gemm;
mod net;

use serde::{Deserialize, Serialize};
use shrike_types::Rng;

use crate::net::{gamma_init, Net, Shape, Work};

/// Why a flow could not be trained or loaded.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// `data.len()` is not a multiple of `dims`, or there are no rows.
    #[error("{len} values are not rows of {dims} columns")]
    Shape {
        /// Values.
        len: usize,
        /// Columns.
        dims: usize,
    },
    /// A coupling block needs two halves.
    #[error("a flow needs at least 2 features, got {0}")]
    TooFewFeatures(usize),
    /// A parameter is out of range.
    #[error("invalid flow parameter: {0}")]
    Parameter(&'static str),
    /// The loss became NaN or infinite.
    #[error("flow training diverged at epoch {epoch} (loss {loss})")]
    Diverged {
        /// Epoch (from 1).
        epoch: usize,
        /// Mean loss of that epoch.
        loss: f64,
    },
    /// Bytes that are not a valid saved flow.
    #[error("not a valid shrike flow: {0}")]
    Corrupt(String),
}

/// Hyperparameters (the predecessor's architecture and optimiser).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowParams {
    /// Affine coupling blocks.
    pub blocks: usize,
    /// Units of each of the subnet's two hidden layers.
    pub hidden: usize,
    /// Soft clamp of the log-scales.
    pub clamp: f32,
    /// Passes over the training rows.
    pub epochs: usize,
    /// Rows per optimiser step.
    pub batch: usize,
    /// Adam's learning rate.
    pub learning_rate: f32,
    /// L2 weight decay (added to the gradient, as `torch.optim.Adam` does).
    pub weight_decay: f32,
    /// Seed of the initialisation, the permutations and the row order.
    pub seed: u64,
    /// Worker threads (0: up to one per core; at most one per half batch).
    pub threads: usize,
}

impl Default for FlowParams {
    fn default() -> Self {
        FlowParams {
            blocks: 4,
            hidden: 64,
            clamp: 2.0,
            epochs: 30,
            batch: 256,
            learning_rate: 1e-3,
            weight_decay: 1e-5,
            seed: 42,
            threads: 0,
        }
    }
}

/// Rows per independent gradient part: a batch of 256 makes two, whatever the threads.
const PART_ROWS: usize = 128;
/// Rows evaluated together when scoring.
const EVAL_ROWS: usize = 256;
const HALF_LN_2PI: f32 = 0.918_938_5;

/// A trained flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    dims: usize,
    hidden: usize,
    clamp: f32,
    min: Vec<f32>,
    range: Vec<f32>,
    perms: Vec<Vec<u32>>,
    params: Vec<f32>,
    /// Mean training loss (NLL per row) after each epoch.
    pub history: Vec<f64>,
    /// The parameters it was trained with.
    pub trained_with: FlowParams,
}

fn threads_of(t: usize) -> usize {
    if t > 0 {
        t
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

impl FlowParams {
    fn check(&self) -> Result<(), FlowError> {
        let bad = |what| Err(FlowError::Parameter(what));
        if self.blocks == 0 || self.blocks > 64 {
            return bad("blocks in 1..=64");
        }
        if self.hidden == 0 || self.hidden > 4096 {
            return bad("hidden in 1..=4096");
        }
        if !(self.clamp > 0.0 && self.clamp.is_finite()) {
            return bad("clamp > 0");
        }
        if self.batch == 0 {
            return bad("batch ≥ 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate > 0");
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad("weight_decay ≥ 0");
        }
        Ok(())
    }

    /// Trains a flow on row-major `data` (`dims` columns; NaN allowed, scaled to 0).
    pub fn fit(&self, data: &[f32], dims: usize) -> Result<Flow, FlowError> {
        self.check()?;
        if dims < 2 {
            return Err(FlowError::TooFewFeatures(dims));
        }
        if data.is_empty() || !data.len().is_multiple_of(dims) {
            return Err(FlowError::Shape {
                len: data.len(),
                dims,
            });
        }
        let n = data.len() / dims;
        let (mut min, mut max) = (vec![f32::INFINITY; dims], vec![f32::NEG_INFINITY; dims]);
        for row in data.chunks_exact(dims) {
            for j in 0..dims {
                if row[j].is_finite() {
                    min[j] = min[j].min(row[j]);
                    max[j] = max[j].max(row[j]);
                }
            }
        }
        let range: Vec<f32> = min
            .iter_mut()
            .zip(&max)
            .map(|(lo, hi)| {
                if lo.is_finite() {
                    *hi - *lo
                } else {
                    *lo = 0.0;
                    0.0
                }
            })
            .collect();
        let s = Shape::new(dims, self.hidden);
        let mut rng = Rng::seed_from_u64(self.seed);
        let perms: Vec<Vec<u32>> = (0..self.blocks)
            .map(|_| {
                let mut p: Vec<u32> = (0..dims as u32).collect();
                for i in (1..dims).rev() {
                    p.swap(i, rng.below(i as u64 + 1) as usize);
                }
                p
            })
            .collect();
        // PyTorch's Linear initialisation: weights and biases uniform in ±1/√fan_in.
        let mut params = Vec::with_capacity(self.blocks * s.block_len());
        for _ in 0..self.blocks {
            let [l1, l2, l3, l4, l5, l6, l7, l8] = s.lens();
            for (len, fan_in) in [
                (l1, s.d1),
                (l2, s.d1),
                (l3, s.h),
                (l4, s.h),
                (l5, s.h),
                (l6, s.h),
            ] {
                let bound = 1.0 / (fan_in as f64).sqrt();
                params.extend((0..len).map(|_| ((rng.f64() * 2.0 - 1.0) * bound) as f32));
            }
            params.extend(std::iter::repeat_n(gamma_init(), l7));
            params.extend(std::iter::repeat_n(0.0, l8));
        }
        let mut flow = Flow {
            dims,
            hidden: self.hidden,
            clamp: self.clamp,
            min,
            range,
            perms,
            params,
            history: Vec::with_capacity(self.epochs),
            trained_with: *self,
        };
        let scaled = flow.scale(data);
        flow.train(&scaled, n, &mut rng)?;
        Ok(flow)
    }
}

impl Flow {
    fn net(&self) -> Net<'_> {
        Net {
            s: Shape::new(self.dims, self.hidden),
            clamp: self.clamp,
            perms: &self.perms,
            params: &self.params,
        }
    }

    /// Input features per row.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Min-max scaling to [0, 1] with clipping; non-finite values become 0.
    fn scale(&self, data: &[f32]) -> Vec<f32> {
        let inv: Vec<f32> = self.range.iter().map(|r| 1.0 / (r + 1e-9)).collect();
        let mut out = data.to_vec();
        for row in out.chunks_exact_mut(self.dims) {
            for ((v, lo), inv) in row.iter_mut().zip(&self.min).zip(&inv) {
                // Not `clamp`: `max` turns NaN into 0, where `clamp` would keep it.
                #[allow(clippy::manual_clamp)]
                {
                    *v = ((*v - lo) * inv).max(0.0).min(1.0);
                }
            }
        }
        out
    }

    fn train(&mut self, scaled: &[f32], n: usize, rng: &mut Rng) -> Result<(), FlowError> {
        let p = self.trained_with;
        let d = self.dims;
        let threads = threads_of(p.threads);
        let parts_max = p.batch.div_ceil(PART_ROWS);
        let mut works: Vec<Work> = (0..parts_max).map(|_| Work::default()).collect();
        let (mut m, mut v) = (
            vec![0.0f32; self.params.len()],
            vec![0.0f32; self.params.len()],
        );
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut step = 0i32;
        let mut order: Vec<u32> = (0..n as u32).collect();
        let mut batch = Vec::with_capacity(p.batch * d);
        for epoch in 1..=p.epochs {
            for i in (1..n).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let mut total = 0.0f64;
            for idx in order.chunks(p.batch) {
                batch.clear();
                for i in idx {
                    let i = *i as usize;
                    batch.extend_from_slice(&scaled[i * d..(i + 1) * d]);
                }
                let rows = idx.len();
                let net = self.net();
                let parts: Vec<&[f32]> = batch.chunks(PART_ROWS * d).collect();
                let used = &mut works[..parts.len()];
                let losses: Vec<f64> = if threads <= 1 || parts.len() == 1 {
                    parts
                        .iter()
                        .zip(used.iter_mut())
                        .map(|(x, w)| net.train_part(x, rows, w))
                        .collect()
                } else {
                    std::thread::scope(|sc| {
                        let mut it = parts.iter().zip(used.iter_mut());
                        let (x0, w0) = it.next().expect("at least one part");
                        let handles: Vec<_> = it
                            .map(|(x, w)| sc.spawn(move || net.train_part(x, rows, w)))
                            .collect();
                        let mut out = vec![net.train_part(x0, rows, w0)];
                        out.extend(handles.into_iter().map(|h| h.join().expect("flow worker")));
                        out
                    })
                };
                total += losses.iter().sum::<f64>();
                let (first, rest) = used.split_first_mut().expect("at least one part");
                for w in rest.iter() {
                    for (a, b) in first.grad.iter_mut().zip(&w.grad) {
                        *a += b;
                    }
                }
                step += 1;
                let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
                for (((theta, g), m), v) in self
                    .params
                    .iter_mut()
                    .zip(&first.grad)
                    .zip(&mut m)
                    .zip(&mut v)
                {
                    let g = g + p.weight_decay * *theta;
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *theta -= p.learning_rate * (*m / c1) / ((*v / c2).sqrt() + eps);
                }
            }
            let loss = total / n as f64;
            self.history.push(loss);
            if !loss.is_finite() || self.params.iter().any(|v| !v.is_finite()) {
                return Err(FlowError::Diverged { epoch, loss });
            }
        }
        Ok(())
    }

    /// Runs `f` over the rows split into one contiguous range per thread; each range is
    /// scaled and evaluated in sub-batches of [`EVAL_ROWS`] rows (buffers stay in cache).
    fn chunked<T: Send>(
        &self,
        data: &[f32],
        threads: usize,
        f: impl Fn(&[f32], &mut Vec<T>) + Sync,
    ) -> Vec<T> {
        let d = self.dims;
        let n = data.len() / d;
        let per = n.div_ceil(threads_of(threads)).max(EVAL_ROWS);
        let run = |range: &[f32]| {
            let mut out = Vec::new();
            for batch in range.chunks(EVAL_ROWS * d) {
                f(&self.scale(batch), &mut out);
            }
            out
        };
        std::thread::scope(|sc| {
            let handles: Vec<_> = data
                .chunks(per * d)
                .map(|range| {
                    let run = &run;
                    sc.spawn(move || run(range))
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().expect("flow worker"))
                .collect()
        })
    }

    /// `−log p(x)` of every row-major row (higher: more anomalous), on `threads` threads
    /// (0: one per core).
    pub fn score(&self, data: &[f32], threads: usize) -> Result<Vec<f32>, FlowError> {
        self.check_rows(data)?;
        let net = self.net();
        Ok(self.chunked(data, threads, |x, out| {
            out.extend(net.evaluate(x, None, None))
        }))
    }

    /// Latent vectors `z = f(x)`, row-major, `dims` per row.
    pub fn encode(&self, data: &[f32], threads: usize) -> Result<Vec<f32>, FlowError> {
        self.check_rows(data)?;
        let net = self.net();
        Ok(self.chunked(data, threads, |x, out| {
            let mut z = Vec::new();
            net.evaluate(x, Some(&mut z), None);
            out.extend(z);
        }))
    }

    /// Per input feature, its share of `−log p(x)` for every row (row-major, `dims` per
    /// row): each row's terms sum to its score.
    pub fn contributions(&self, data: &[f32]) -> Result<Vec<f32>, FlowError> {
        self.check_rows(data)?;
        let net = self.net();
        let mut out = Vec::new();
        net.evaluate(&self.scale(data), None, Some(&mut out));
        Ok(out)
    }

    fn check_rows(&self, data: &[f32]) -> Result<(), FlowError> {
        if !data.len().is_multiple_of(self.dims) {
            return Err(FlowError::Shape {
                len: data.len(),
                dims: self.dims,
            });
        }
        Ok(())
    }

    const MAGIC: &'static [u8; 8] = b"SHKFLW01";

    /// Serialises the flow (header + postcard).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Self::MAGIC.to_vec();
        out.extend(postcard::to_stdvec(self).unwrap_or_default());
        out
    }

    /// Reads a flow written by [`Flow::to_bytes`], checking its structure.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FlowError> {
        let body = bytes
            .strip_prefix(Self::MAGIC.as_slice())
            .ok_or_else(|| FlowError::Corrupt("bad header".into()))?;
        let f: Flow = postcard::from_bytes(body).map_err(|e| FlowError::Corrupt(e.to_string()))?;
        let bad = |why: &str| Err(FlowError::Corrupt(why.to_string()));
        let s = Shape::new(f.dims, f.hidden);
        if f.dims < 2 || f.hidden == 0 || f.min.len() != f.dims || f.range.len() != f.dims {
            return bad("inconsistent dimensions");
        }
        if f.perms.is_empty() || f.params.len() != f.perms.len() * s.block_len() {
            return bad("parameter count does not match the shape");
        }
        for p in &f.perms {
            let mut seen = vec![false; f.dims];
            for q in p {
                match seen.get_mut(*q as usize) {
                    Some(v) if !*v => *v = true,
                    _ => return bad("a permutation is not one"),
                }
            }
            if p.len() != f.dims {
                return bad("a permutation is not one");
            }
        }
        if f.clamp <= 0.0
            || f.clamp.is_nan()
            || f.params
                .iter()
                .chain(&f.min)
                .chain(&f.range)
                .any(|v| !v.is_finite())
        {
            return bad("non-finite parameters");
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests;
