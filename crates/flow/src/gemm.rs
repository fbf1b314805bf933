//! The one place this crate calls unsafe code: matrixmultiply's SGEMM, behind a safe
//! wrapper that checks every slice against the shapes and strides it is given.
#![allow(unsafe_code)]

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

    /// (row stride, column stride) of the logical `rows × cols` matrix, after checking that
    /// every element it addresses lies inside the slice.
    fn strides(&self, rows: usize, cols: usize) -> (isize, isize) {
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
        (rs as isize, cs as isize)
    }
}

/// `c (m × n, contiguous) = a (m × k) · b (k × n) + beta · c`.
pub(crate) fn gemm(m: usize, k: usize, n: usize, a: Mat<'_>, b: Mat<'_>, beta: f32, c: &mut [f32]) {
    assert!(c.len() >= m * n, "gemm: output too short");
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = a.strides(m, k);
    let (rsb, csb) = b.strides(k, n);
    // SAFETY: `strides` checked that every element (i, p) of `a` for i < m, p < k, and
    // (p, j) of `b` for p < k, j < n, lies inside its slice; `c` holds m × n elements
    // addressed with row stride n, and is borrowed mutably, so it aliases neither input.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            rsa,
            csa,
            b.data.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(
        m: usize,
        k: usize,
        n: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn every_transpose_combination_matches_the_naive_product() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|v| (v as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|v| (v as f32 * 0.11).cos()).collect();
        let at: Vec<f32> = (0..k * m).map(|v| a[(v % m) * k + v / m]).collect();
        let bt: Vec<f32> = (0..n * k).map(|v| b[(v % k) * n + v / k]).collect();
        let want = naive(m, k, n, |i, p| a[i * k + p], |p, j| b[p * n + j]);
        for (ma, mb) in [
            (Mat::new(&a, k), Mat::new(&b, n)),
            (Mat::t(&at, m), Mat::new(&b, n)),
            (Mat::new(&a, k), Mat::t(&bt, k)),
            (Mat::t(&at, m), Mat::t(&bt, k)),
        ] {
            let mut c = vec![1.0; m * n];
            gemm(m, k, n, ma, mb, 0.0, &mut c);
            for (x, y) in c.iter().zip(&want) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
        }
        // beta = 1 accumulates.
        let mut c = want.clone();
        gemm(m, k, n, Mat::new(&a, k), Mat::new(&b, n), 1.0, &mut c);
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
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
