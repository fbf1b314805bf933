//! Matrix products with a reduction order fixed by this code, not by the CPU.
//!
//! Every element of a product is computed the same way on every machine: `c[i][j]` starts
//! from `beta · c[i][j]` (from `c[i][j]` itself when `beta` is 1, from 0 when it is 0) and
//! adds `a[i][p] · b[p][j]` for `p = 0, 1, …, k − 1` in that order, every product and every
//! sum rounded to `f32` (no fused multiply-add: Rust never contracts `a * b + c`). The
//! kernel works on register tiles of `MR` rows × `NR` columns and vectorises across a
//! tile's columns, which are independent elements, never across `p`. So the vector width
//! changes how many elements one instruction computes, not what any element is: the
//! [`Kernel::Avx`] product (8 lanes, chosen at run time where the CPU has AVX) and the
//! [`Kernel::Portable`] one (SSE2's 4 lanes, NEON's on aarch64) give the same bits, which
//! the tests check against a plain triple loop written in that order, on every layout.
//!
//! A general-purpose BLAS chooses its kernel from the CPU at run time (FMA, AVX2, AVX-512)
//! and splits long sums by cache size; each choice rounds differently, and the flow's
//! scores then moved sessions across the cycle's threshold from one machine to the next.
//! Fused multiply-adds would be exact to specify too, but the compiler left the same tiles
//! written with `mul_add` unvectorised (flow training 15 times slower here, `shrike bench
//! flow`), and a CPU without FMA would call a software `fmaf` per element; so the products
//! use separate multiplications and additions everywhere.

/// A row-major matrix operand: `rows × cols` elements, row `i` starting at `i * stride`.
/// `transposed` reads the slice as the transpose of the stored `cols × rows` matrix
/// (stored with row stride `stride`).
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub transposed: bool,
}

impl<'a> Mat<'a> {
    /// A contiguous row-major matrix with `cols` columns.
    pub fn new(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            stride: cols,
            transposed: false,
        }
    }

    /// The transpose of a contiguous row-major matrix with `cols` columns.
    pub fn t(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            stride: cols,
            transposed: true,
        }
    }

    /// (row step, column step) of the logical `rows × cols` matrix in `data`, after
    /// checking that every element it addresses lies inside the slice.
    fn steps(&self, rows: usize, cols: usize) -> (usize, usize) {
        let (rs, cs, stored_rows, stored_cols) = if self.transposed {
            (1, self.stride, cols, rows)
        } else {
            (self.stride, 1, rows, cols)
        };
        assert!(
            stored_cols <= self.stride,
            "gemm: stride shorter than a row"
        );
        if rows > 0 && cols > 0 {
            let last = (stored_rows - 1) * self.stride + stored_cols - 1;
            assert!(last < self.data.len(), "gemm: operand too short");
        }
        (rs, cs)
    }
}

/// `c (m × n, contiguous) = a (m × k) · b (k × n) + beta · c`, in the order the module
/// documentation fixes, on the widest [`Kernel`] this CPU runs.
pub(crate) fn gemm(m: usize, k: usize, n: usize, a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    gemm_on(Kernel::detect(), m, k, n, a, b, beta, c);
}

/// The vector width a product runs at. Each computes every element in the same order, so
/// they agree to the bit; only the number of elements per instruction differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// Baseline instructions of the target (SSE2 on x86-64, NEON on aarch64).
    Portable,
    /// 256-bit AVX vectors (without FMA, which would round differently).
    #[cfg(target_arch = "x86_64")]
    Avx,
}

impl Kernel {
    /// The widest kernel this CPU runs.
    pub(crate) fn detect() -> Kernel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            return Kernel::Avx;
        }
        Kernel::Portable
    }
}

/// [`gemm`] on a given kernel.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_on(
    kernel: Kernel,
    m: usize,
    k: usize,
    n: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    beta: f32,
    c: &mut [f32],
) {
    assert!(c.len() >= m * n, "gemm: output too short");
    if m == 0 || n == 0 {
        return;
    }
    let a = Operand::new(a, m, k);
    let b = Operand::new(b, k, n);
    let c = &mut c[..m * n];
    if beta == 0.0 {
        c.fill(0.0);
    } else if beta != 1.0 {
        c.iter_mut().for_each(|v| *v *= beta);
    }
    if k == 0 {
        return;
    }
    match kernel {
        Kernel::Portable => product::<4, 8>(m, k, n, a, b, c),
        #[cfg(target_arch = "x86_64")]
        Kernel::Avx => {
            assert!(std::arch::is_x86_feature_detected!("avx"));
            // SAFETY: the CPU has AVX (checked on the line above), the one requirement of
            // a `#[target_feature(enable = "avx")]` function; its body is safe code.
            #[allow(unsafe_code)]
            unsafe {
                product_avx(m, k, n, a, b, c)
            }
        }
    }
}

/// A checked operand: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
struct Operand<'a> {
    data: &'a [f32],
    rs: usize,
    cs: usize,
}

impl<'a> Operand<'a> {
    fn new(m: Mat<'a>, rows: usize, cols: usize) -> Self {
        let (rs, cs) = m.steps(rows, cols);
        Operand {
            data: m.data,
            rs,
            cs,
        }
    }

    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn product_avx(m: usize, k: usize, n: usize, a: Operand<'_>, b: Operand<'_>, c: &mut [f32]) {
    product::<4, 16>(m, k, n, a, b, c)
}

/// `c += a · b` by register tiles of `MR × NR`. `b` is packed into panels of `NR` columns
/// and `a` into strips of `MR` rows, each `k` long and contiguous, the last ones padded
/// with zeros: a padded row or column is computed and thrown away, and the others do not
/// see it (the elements of a tile are independent).
#[inline(always)]
fn product<const MR: usize, const NR: usize>(
    m: usize,
    k: usize,
    n: usize,
    a: Operand<'_>,
    b: Operand<'_>,
    c: &mut [f32],
) {
    let panels = n.div_ceil(NR);
    let mut bpack = vec![0.0f32; panels * k * NR];
    for (q, panel) in bpack.chunks_exact_mut(k * NR).enumerate() {
        let j0 = q * NR;
        let cols = NR.min(n - j0);
        if b.cs == 1 {
            for (p, row) in panel.chunks_exact_mut(NR).enumerate() {
                let at = p * b.rs + j0;
                row[..cols].copy_from_slice(&b.data[at..at + cols]);
            }
        } else {
            for c in 0..cols {
                for p in 0..k {
                    panel[p * NR + c] = b.at(p, j0 + c);
                }
            }
        }
    }
    let mut strip = vec![0.0f32; k * MR];
    for i0 in (0..m).step_by(MR) {
        let rows = MR.min(m - i0);
        if rows < MR {
            strip.fill(0.0);
        }
        if a.rs == 1 {
            for (p, col) in strip.chunks_exact_mut(MR).enumerate() {
                let at = p * a.cs + i0;
                col[..rows].copy_from_slice(&a.data[at..at + rows]);
            }
        } else {
            for r in 0..rows {
                let row = &a.data[(i0 + r) * a.rs..];
                for (p, x) in strip.iter_mut().skip(r).step_by(MR).enumerate() {
                    *x = row[p * a.cs];
                }
            }
        }
        for (q, panel) in bpack.chunks_exact(k * NR).enumerate() {
            let j0 = q * NR;
            let cols = NR.min(n - j0);
            let mut acc = [[0.0f32; NR]; MR];
            for (r, row) in acc[..rows].iter_mut().enumerate() {
                let at = (i0 + r) * n + j0;
                row[..cols].copy_from_slice(&c[at..at + cols]);
            }
            for (ap, bp) in strip.chunks_exact(MR).zip(panel.chunks_exact(NR)) {
                for (row, ar) in acc.iter_mut().zip(ap) {
                    for (x, bv) in row.iter_mut().zip(bp) {
                        *x += ar * bv;
                    }
                }
            }
            for (r, row) in acc[..rows].iter().enumerate() {
                let at = (i0 + r) * n + j0;
                c[at..at + cols].copy_from_slice(&row[..cols]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shrike_types::Rng;

    /// The order the module documentation fixes, written as plainly as possible.
    fn reference(
        (m, k, n): (usize, usize, usize),
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
        beta: f32,
        c0: &[f32],
    ) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut x = if beta == 0.0 {
                    0.0
                } else if beta == 1.0 {
                    c0[i * n + j]
                } else {
                    beta * c0[i * n + j]
                };
                for p in 0..k {
                    x += a(i, p) * b(p, j);
                }
                c[i * n + j] = x;
            }
        }
        c
    }

    fn values(rng: &mut Rng, len: usize) -> Vec<f32> {
        (0..len).map(|_| (rng.normal() * 3.0) as f32).collect()
    }

    /// The kernels this CPU runs (the portable one everywhere).
    fn kernels() -> Vec<Kernel> {
        let mut all = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            all.push(Kernel::Avx);
        } else {
            println!("no AVX on this CPU: the AVX kernel is not compared");
        }
        all
    }

    /// Every kernel, every layout, shapes on and off the tile sizes: the bits are the
    /// plain loop's. A kernel that fused multiply-adds or split the sum over `k` (as a
    /// BLAS picking its code from the CPU does) fails this on the first few elements.
    #[test]
    fn every_kernel_layout_and_shape_matches_the_plain_loop_to_the_bit() {
        let mut rng = Rng::seed_from_u64(7);
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 7),
            (4, 33, 8),
            (5, 7, 3),
            (9, 64, 17),
            (128, 33, 64),
            (64, 128, 64),
            (131, 64, 62),
        ] {
            let a = values(&mut rng, m * k);
            let b = values(&mut rng, k * n);
            let at: Vec<f32> = (0..k * m).map(|v| a[(v % m) * k + v / m]).collect();
            let bt: Vec<f32> = (0..n * k).map(|v| b[(v % k) * n + v / k]).collect();
            let c0 = values(&mut rng, m * n);
            for beta in [0.0, 1.0, 0.5] {
                let want = reference(
                    (m, k, n),
                    |i, p| a[i * k + p],
                    |p, j| b[p * n + j],
                    beta,
                    &c0,
                );
                for (ma, mb) in [
                    (Mat::new(&a, k), Mat::new(&b, n)),
                    (Mat::t(&at, m), Mat::new(&b, n)),
                    (Mat::new(&a, k), Mat::t(&bt, k)),
                    (Mat::t(&at, m), Mat::t(&bt, k)),
                ] {
                    for kernel in kernels() {
                        let mut c = c0.clone();
                        gemm_on(kernel, m, k, n, ma, mb, beta, &mut c);
                        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&c), bits(&want), "{kernel:?} {m}×{k}×{n}, beta {beta}");
                    }
                }
            }
        }
    }

    /// A strided operand (the first `d1` columns of wider rows, as the coupling blocks
    /// read their input) is read in place, element for element.
    #[test]
    fn a_strided_operand_reads_only_its_columns() {
        let (m, k, n, stride) = (6, 3, 9, 5);
        let mut rng = Rng::seed_from_u64(3);
        let wide = values(&mut rng, m * stride);
        let b = values(&mut rng, k * n);
        let a = Mat {
            data: &wide,
            stride,
            transposed: false,
        };
        let mut c = vec![f32::NAN; m * n];
        gemm(m, k, n, a, Mat::new(&b, n), 0.0, &mut c);
        let want = reference(
            (m, k, n),
            |i, p| wide[i * stride + p],
            |p, j| b[p * n + j],
            0.0,
            &[],
        );
        assert_eq!(c, want);
    }

    #[test]
    #[should_panic(expected = "operand too short")]
    fn a_short_operand_is_refused_before_any_read() {
        let a = vec![0.0; 5];
        let b = vec![0.0; 6];
        let mut c = vec![0.0; 4];
        gemm(2, 3, 2, Mat::new(&a, 3), Mat::new(&b, 2), 0.0, &mut c);
    }
}
