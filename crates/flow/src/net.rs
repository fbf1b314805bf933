//! The network of the flow: shapes, parameter views, the forward and backward passes of a
//! coupling block, and the vectorisable `exp`/`tanh`.

use shrike_types::math;

use crate::gemm::{gemm, Mat};
use crate::HALF_LN_2PI;

/// Dimensions of one block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) d: usize,
    pub(crate) d1: usize,
    pub(crate) d2: usize,
    pub(crate) h: usize,
}

impl Shape {
    pub(crate) fn new(d: usize, h: usize) -> Self {
        let d2 = d / 2;
        Shape {
            d,
            d1: d - d2,
            d2,
            h,
        }
    }

    /// Parameters of one block: w1 b1 w2 b2 w3 b3 gamma offset.
    pub(crate) fn block_len(&self) -> usize {
        let Shape { d, d1, d2, h } = *self;
        d1 * h + h + h * h + h + h * 2 * d2 + 2 * d2 + 2 * d
    }

    pub(crate) fn lens(&self) -> [usize; 8] {
        let Shape { d, d1, d2, h } = *self;
        [d1 * h, h, h * h, h, h * 2 * d2, 2 * d2, d, d]
    }
}

/// One block's parameters, as views into the flat parameter vector.
pub(crate) struct Block<'a> {
    pub(crate) w1: &'a [f32],
    pub(crate) b1: &'a [f32],
    pub(crate) w2: &'a [f32],
    pub(crate) b2: &'a [f32],
    pub(crate) w3: &'a [f32],
    pub(crate) b3: &'a [f32],
    pub(crate) gamma: &'a [f32],
    pub(crate) offset: &'a [f32],
}

pub(crate) fn block(p: &[f32], s: Shape) -> Block<'_> {
    let mut rest = p;
    let mut take = |n: usize| {
        let (a, b) = rest.split_at(n);
        rest = b;
        a
    };
    let [l1, l2, l3, l4, l5, l6, l7, l8] = s.lens();
    Block {
        w1: take(l1),
        b1: take(l2),
        w2: take(l3),
        b2: take(l4),
        w3: take(l5),
        b3: take(l6),
        gamma: take(l7),
        offset: take(l8),
    }
}

pub(crate) fn blocks_mut(p: &mut [f32], s: Shape) -> [&mut [f32]; 8] {
    let mut rest = p;
    s.lens().map(|n| {
        let (a, b) = std::mem::take(&mut rest).split_at_mut(n);
        rest = b;
        a
    })
}

pub(crate) fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        math::ln_1pf(math::expf(x))
    }
}

/// `exp` for `f32` without a libm call, so that loops over it vectorise: Cody-Waite range
/// reduction to `r` in [−ln 2 / 2, ln 2 / 2], a degree-6 polynomial, and the exponent built
/// from bits (relative error below 2e-7 on [−87, 88]; inputs are clamped to that range).
#[inline]
pub(crate) fn fast_exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23: adding it rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) << 23) as u32)
}

/// `tanh` through [`fast_exp`].
#[inline]
pub(crate) fn fast_tanh(y: f32) -> f32 {
    let e = fast_exp(2.0 * y.clamp(-9.0, 9.0));
    (e - 1.0) / (e + 1.0)
}

pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + math::expf(-x))
}

/// The global scale `g = 0.2 · softplus(0.5 γ)`.
pub(crate) fn global_scale(gamma: f32) -> f32 {
    0.2 * softplus(0.5 * gamma)
}

/// `γ` such that `g = 1` (FrEIA's `global_affine_init = 1.0`).
pub(crate) fn gamma_init() -> f32 {
    2.0 * math::lnf(math::expf(5.0) - 1.0)
}

/// Intermediate values of one block for a batch (kept for the backward pass).
#[derive(Debug, Default)]
pub(crate) struct Cache {
    pub(crate) x: Vec<f32>,
    pub(crate) h1: Vec<f32>,
    pub(crate) h2: Vec<f32>,
    pub(crate) a: Vec<f32>,
    pub(crate) s: Vec<f32>,
    pub(crate) u: Vec<f32>,
}

impl Cache {
    pub(crate) fn resize(&mut self, b: usize, s: Shape) {
        self.x.resize(b * s.d, 0.0);
        self.h1.resize(b * s.h, 0.0);
        self.h2.resize(b * s.h, 0.0);
        self.a.resize(b * 2 * s.d2, 0.0);
        self.s.resize(b * s.d2, 0.0);
        self.u.resize(b * s.d, 0.0);
    }
}

/// Per-part training buffers.
#[derive(Debug, Default)]
pub(crate) struct Work {
    pub(crate) caches: Vec<Cache>,
    pub(crate) x: Vec<f32>,
    pub(crate) logdet: Vec<f32>,
    pub(crate) grad: Vec<f32>,
    pub(crate) gu: Vec<f32>,
    pub(crate) ga: Vec<f32>,
    pub(crate) gh2: Vec<f32>,
    pub(crate) gh1: Vec<f32>,
    pub(crate) gx1: Vec<f32>,
    pub(crate) ggamma: Vec<f32>,
}

/// The network: shapes, permutations and parameters.
#[derive(Clone, Copy)]
pub(crate) struct Net<'a> {
    pub(crate) s: Shape,
    pub(crate) clamp: f32,
    pub(crate) perms: &'a [Vec<u32>],
    pub(crate) params: &'a [f32],
}

impl Net<'_> {
    pub(crate) fn block(&self, bi: usize) -> Block<'_> {
        let len = self.s.block_len();
        block(&self.params[bi * len..(bi + 1) * len], self.s)
    }

    /// Runs block `bi` on the `b` rows of `x` (in place). Adds each row's log-determinant to
    /// `logdet`; when `coord` is given, tracks the log-scales per coordinate, permuted with
    /// the values.
    pub(crate) fn forward_block(
        &self,
        bi: usize,
        c: &mut Cache,
        x: &mut [f32],
        b: usize,
        logdet: &mut [f32],
        mut coord: Option<&mut [f32]>,
    ) {
        let Shape { d, d1, d2, h } = self.s;
        let p = self.block(bi);
        c.resize(b, self.s);
        c.x.copy_from_slice(&x[..b * d]);
        let fill = |out: &mut [f32], bias: &[f32]| {
            for row in out.chunks_exact_mut(bias.len()) {
                row.copy_from_slice(bias);
            }
        };
        let relu = |v: &mut [f32]| v.iter_mut().for_each(|a| *a = a.max(0.0));
        fill(&mut c.h1, p.b1);
        let x1 = Mat {
            data: &c.x,
            stride: d,
            transposed: false,
        };
        gemm(b, d1, h, x1, Mat::new(p.w1, h), 1.0, &mut c.h1);
        relu(&mut c.h1);
        fill(&mut c.h2, p.b2);
        gemm(
            b,
            h,
            h,
            Mat::new(&c.h1, h),
            Mat::new(p.w2, h),
            1.0,
            &mut c.h2,
        );
        relu(&mut c.h2);
        fill(&mut c.a, p.b3);
        gemm(
            b,
            h,
            2 * d2,
            Mat::new(&c.h2, h),
            Mat::new(p.w3, 2 * d2),
            1.0,
            &mut c.a,
        );
        let g: Vec<f32> = p.gamma.iter().map(|v| global_scale(*v)).collect();
        let log_g: Vec<f32> = g.iter().map(|v| math::lnf(*v)).collect();
        let sum_log_g: f32 = log_g.iter().sum();
        let perm = &self.perms[bi];
        let mut tmp = vec![0.0f32; d];
        for r in 0..b {
            let xr = &c.x[r * d..(r + 1) * d];
            let ar = &c.a[r * 2 * d2..(r + 1) * 2 * d2];
            let sr = &mut c.s[r * d2..(r + 1) * d2];
            let ur = &mut c.u[r * d..(r + 1) * d];
            ur[..d1].copy_from_slice(&xr[..d1]);
            for (s, a) in sr.iter_mut().zip(&ar[..d2]) {
                *s = self.clamp * fast_tanh(0.1 * a);
            }
            for k in 0..d2 {
                ur[d1 + k] = xr[d1 + k] * fast_exp(sr[k]) + 0.1 * ar[d2 + k];
            }
            let sum: f32 = sr.iter().sum();
            logdet[r] += sum + sum_log_g;
            // The affine part over contiguous values (vectorised), then the gather.
            for ((v, u), (g, o)) in tmp.iter_mut().zip(ur.iter()).zip(g.iter().zip(p.offset)) {
                *v = u * g + o;
            }
            let out = &mut x[r * d..(r + 1) * d];
            for (o, q) in out.iter_mut().zip(perm) {
                *o = tmp[*q as usize];
            }
            if let Some(coord) = coord.as_deref_mut() {
                let cr = &mut coord[r * d..(r + 1) * d];
                for k in 0..d2 {
                    cr[d1 + k] += sr[k];
                }
                tmp.copy_from_slice(cr);
                for (j, v) in cr.iter_mut().enumerate() {
                    let q = perm[j] as usize;
                    *v = tmp[q] + log_g[q];
                }
            }
        }
    }

    /// Back-propagates through block `bi`: `gx` holds the gradient with respect to the
    /// block's output on entry and with respect to its input on return; parameter
    /// gradients are added to `grad` (the whole flat vector). `inv_n` is 1 / batch size.
    pub(crate) fn backward_block(
        &self,
        bi: usize,
        c: &Cache,
        gx: &mut [f32],
        b: usize,
        inv_n: f32,
        w: &mut WorkGrad<'_>,
    ) {
        let Shape { d, d1, d2, h } = self.s;
        let p = self.block(bi);
        let len = self.s.block_len();
        let [gw1, gb1, gw2, gb2, gw3, gb3, ggamma, goffset] =
            blocks_mut(&mut w.grad[bi * len..(bi + 1) * len], self.s);
        let perm = &self.perms[bi];
        let g: Vec<f32> = p.gamma.iter().map(|v| global_scale(*v)).collect();
        w.gu.resize(b * d, 0.0);
        w.ga.resize(b * 2 * d2, 0.0);
        w.gh2.resize(b * h, 0.0);
        w.gh1.resize(b * h, 0.0);
        w.gx1.resize(b * d1, 0.0);
        w.ggamma.clear();
        w.ggamma.resize(d, 0.0);
        // Permutation and global affine.
        for r in 0..b {
            let go = &gx[r * d..(r + 1) * d];
            let ur = &c.u[r * d..(r + 1) * d];
            let gur = &mut w.gu[r * d..(r + 1) * d];
            for (j, gv) in go.iter().enumerate() {
                let q = perm[j] as usize;
                goffset[q] += gv;
                w.ggamma[q] += gv * ur[q];
                gur[q] = gv * g[q];
            }
        }
        for j in 0..d {
            let dg = w.ggamma[j] - b as f32 * inv_n / g[j];
            ggamma[j] += dg * 0.1 * sigmoid(0.5 * p.gamma[j]);
        }
        // Coupling: y2 = x2 · exp(s) + t, with −mean(log det) contributing −1/n per s.
        for r in 0..b {
            let xr = &c.x[r * d..(r + 1) * d];
            let sr = &c.s[r * d2..(r + 1) * d2];
            let gur = &w.gu[r * d..(r + 1) * d];
            let gar = &mut w.ga[r * 2 * d2..(r + 1) * 2 * d2];
            let gxr = &mut gx[r * d..(r + 1) * d];
            for k in 0..d2 {
                let s = sr[k];
                let es = fast_exp(s);
                let gy = gur[d1 + k];
                gxr[d1 + k] = gy * es;
                let gs = gy * xr[d1 + k] * es - inv_n;
                let th = s / self.clamp;
                gar[k] = gs * self.clamp * (1.0 - th * th) * 0.1;
                gar[d2 + k] = gy * 0.1;
            }
        }
        let colsum = |out: &mut [f32], m: &[f32]| {
            for row in m.chunks_exact(out.len()) {
                for (o, v) in out.iter_mut().zip(row) {
                    *o += v;
                }
            }
        };
        // Subnet.
        gemm(
            h,
            b,
            2 * d2,
            Mat::t(&c.h2, h),
            Mat::new(w.ga, 2 * d2),
            1.0,
            gw3,
        );
        colsum(gb3, w.ga);
        gemm(
            b,
            2 * d2,
            h,
            Mat::new(w.ga, 2 * d2),
            Mat::t(p.w3, 2 * d2),
            0.0,
            w.gh2,
        );
        for (gv, hv) in w.gh2.iter_mut().zip(&c.h2) {
            if *hv <= 0.0 {
                *gv = 0.0;
            }
        }
        gemm(h, b, h, Mat::t(&c.h1, h), Mat::new(w.gh2, h), 1.0, gw2);
        colsum(gb2, w.gh2);
        gemm(b, h, h, Mat::new(w.gh2, h), Mat::t(p.w2, h), 0.0, w.gh1);
        for (gv, hv) in w.gh1.iter_mut().zip(&c.h1) {
            if *hv <= 0.0 {
                *gv = 0.0;
            }
        }
        let x1t = Mat {
            data: &c.x,
            stride: d,
            transposed: true,
        };
        gemm(d1, b, h, x1t, Mat::new(w.gh1, h), 1.0, gw1);
        colsum(gb1, w.gh1);
        gemm(b, h, d1, Mat::new(w.gh1, h), Mat::t(p.w1, h), 0.0, w.gx1);
        for r in 0..b {
            for k in 0..d1 {
                gx[r * d + k] = w.gu[r * d + k] + w.gx1[r * d1 + k];
            }
        }
    }

    /// Forward and backward over `rows` (a part of a batch of `n` rows); returns the sum of
    /// the part's losses and leaves the part's gradient in `work.grad`.
    pub(crate) fn train_part(&self, rows: &[f32], n: usize, work: &mut Work) -> f64 {
        let d = self.s.d;
        let b = rows.len() / d;
        let blocks = self.perms.len();
        work.caches.resize_with(blocks, Cache::default);
        work.x.clear();
        work.x.extend_from_slice(rows);
        work.logdet.clear();
        work.logdet.resize(b, 0.0);
        for bi in 0..blocks {
            self.forward_block(
                bi,
                &mut work.caches[bi],
                &mut work.x,
                b,
                &mut work.logdet,
                None,
            );
        }
        let mut loss = 0.0f64;
        for r in 0..b {
            let z = &work.x[r * d..(r + 1) * d];
            let sq: f32 = z.iter().map(|v| v * v).sum();
            loss += f64::from(0.5 * sq + HALF_LN_2PI * d as f32 - work.logdet[r]);
        }
        let inv_n = 1.0 / n as f32;
        work.x.iter_mut().for_each(|v| *v *= inv_n);
        work.grad.clear();
        work.grad.resize(self.params.len(), 0.0);
        let mut gx = std::mem::take(&mut work.x);
        let mut wg = WorkGrad {
            grad: &mut work.grad,
            gu: &mut work.gu,
            ga: &mut work.ga,
            gh2: &mut work.gh2,
            gh1: &mut work.gh1,
            gx1: &mut work.gx1,
            ggamma: &mut work.ggamma,
        };
        for bi in (0..blocks).rev() {
            self.backward_block(bi, &work.caches[bi], &mut gx, b, inv_n, &mut wg);
        }
        work.x = gx;
        loss
    }

    /// −log p(x) of scaled rows; optionally the latent vectors and per-feature terms.
    pub(crate) fn evaluate(
        &self,
        rows: &[f32],
        latent: Option<&mut Vec<f32>>,
        per_feature: Option<&mut Vec<f32>>,
    ) -> Vec<f32> {
        let d = self.s.d;
        let b = rows.len() / d;
        let mut x = rows.to_vec();
        let mut logdet = vec![0.0f32; b];
        let mut cache = Cache::default();
        let mut coord = per_feature.as_ref().map(|_| vec![0.0f32; b * d]);
        let mut origin: Vec<usize> = (0..d).collect();
        for bi in 0..self.perms.len() {
            self.forward_block(bi, &mut cache, &mut x, b, &mut logdet, coord.as_deref_mut());
            let prev = origin.clone();
            for (j, o) in origin.iter_mut().enumerate() {
                *o = prev[self.perms[bi][j] as usize];
            }
        }
        let scores = (0..b)
            .map(|r| {
                let z = &x[r * d..(r + 1) * d];
                0.5 * z.iter().map(|v| v * v).sum::<f32>() + HALF_LN_2PI * d as f32 - logdet[r]
            })
            .collect();
        if let (Some(out), Some(coord)) = (per_feature, coord) {
            out.clear();
            out.resize(b * d, 0.0);
            for r in 0..b {
                for j in 0..d {
                    let z = x[r * d + j];
                    out[r * d + origin[j]] = 0.5 * z * z + HALF_LN_2PI - coord[r * d + j];
                }
            }
        }
        if let Some(latent) = latent {
            *latent = x;
        }
        scores
    }
}

/// Gradient buffers borrowed from a [`Work`].
pub(crate) struct WorkGrad<'a> {
    pub(crate) grad: &'a mut Vec<f32>,
    pub(crate) gu: &'a mut Vec<f32>,
    pub(crate) ga: &'a mut Vec<f32>,
    pub(crate) gh2: &'a mut Vec<f32>,
    pub(crate) gh1: &'a mut Vec<f32>,
    pub(crate) gx1: &'a mut Vec<f32>,
    pub(crate) ggamma: &'a mut Vec<f32>,
}
