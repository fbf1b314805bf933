//! Two-dimensional views of feature rows: the projection on the first two principal axes
//! ([`pca_2d`]) and the convex hull of a set of points ([`convex_hull`]).

use crate::space::check;
use crate::ClusterError;

/// Projects rows on their first two principal axes (power iteration on the covariance
/// matrix, with deflation), then scales each axis to [0, 1]. Each axis is oriented so that
/// its largest loading is positive, which makes the picture the same from run to run.
/// A constant axis maps to 0.5.
pub fn pca_2d(data: &[f64], dims: usize) -> Result<Vec<[f64; 2]>, ClusterError> {
    check(data, dims)?;
    let n = data.len() / dims;
    let mut mean = vec![0.0; dims];
    for row in data.chunks_exact(dims) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut cov = vec![0.0; dims * dims];
    let mut centred = vec![0.0; dims];
    for row in data.chunks_exact(dims) {
        for ((c, v), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = v - m;
        }
        for a in 0..dims {
            let ca = centred[a];
            if ca == 0.0 {
                continue;
            }
            for b in a..dims {
                cov[a * dims + b] += ca * centred[b];
            }
        }
    }
    for a in 0..dims {
        for b in 0..a {
            cov[a * dims + b] = cov[b * dims + a];
        }
    }
    let first = principal_axis(&cov, dims);
    let lambda = rayleigh(&cov, dims, &first);
    // Deflate: remove the first axis's share of the covariance.
    for a in 0..dims {
        for b in 0..dims {
            cov[a * dims + b] -= lambda * first[a] * first[b];
        }
    }
    let second = principal_axis(&cov, dims);
    let mut out: Vec<[f64; 2]> = data
        .chunks_exact(dims)
        .map(|row| {
            let mut p = [0.0; 2];
            for j in 0..dims {
                let c = row[j] - mean[j];
                p[0] += c * first[j];
                p[1] += c * second[j];
            }
            p
        })
        .collect();
    for axis in 0..2 {
        let (lo, hi) = out
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p[axis]), hi.max(p[axis]))
            });
        let span = hi - lo;
        for p in &mut out {
            p[axis] = if span > 1e-12 {
                (p[axis] - lo) / span
            } else {
                0.5
            };
        }
    }
    Ok(out)
}

fn rayleigh(m: &[f64], dims: usize, v: &[f64]) -> f64 {
    (0..dims)
        .map(|a| v[a] * (0..dims).map(|b| m[a * dims + b] * v[b]).sum::<f64>())
        .sum()
}

/// The dominant eigenvector of a symmetric positive semi-definite matrix (unit length,
/// largest component positive), or a zero vector when the matrix is zero.
fn principal_axis(m: &[f64], dims: usize) -> Vec<f64> {
    // A fixed start that is not orthogonal to any axis in practice.
    let mut v: Vec<f64> = (0..dims).map(|j| 1.0 + j as f64 * 0.013).collect();
    normalise(&mut v);
    for _ in 0..500 {
        let mut w: Vec<f64> = (0..dims)
            .map(|a| (0..dims).map(|b| m[a * dims + b] * v[b]).sum())
            .collect();
        if normalise(&mut w) == 0.0 {
            return vec![0.0; dims];
        }
        let delta: f64 = w.iter().zip(&v).map(|(a, b)| (a - b).abs()).sum();
        v = w;
        if delta < 1e-12 {
            break;
        }
    }
    let big = v
        .iter()
        .copied()
        .fold(0.0f64, |acc, x| if x.abs() > acc.abs() { x } else { acc });
    if big < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    v
}

fn normalise(v: &mut [f64]) -> f64 {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    norm
}

/// The convex hull of `points` (Andrew's monotone chain), counter-clockwise from the
/// lowest-leftmost point, without collinear points. Fewer than three distinct points give
/// those points.
pub fn convex_hull(points: &[[f64; 2]]) -> Vec<[f64; 2]> {
    let mut p: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|q| q[0].is_finite() && q[1].is_finite())
        .collect();
    p.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: [f64; 2], a: [f64; 2], b: [f64; 2]| {
        (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])
    };
    let mut hull: Vec<[f64; 2]> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &[f64; 2]>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for q in iter {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], *q) <= 0.0
            {
                hull.pop();
            }
            hull.push(*q);
        }
        hull.pop();
    }
    hull
}
