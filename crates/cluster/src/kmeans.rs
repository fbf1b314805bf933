//! k-means with k-means++ seeding and Hamerly's bounds.
//!
//! Seeding is Arthur & Vassilvitskii's k-means++ (each next centre drawn with probability
//! proportional to the squared distance to the nearest centre already chosen), from a
//! seeded generator, so a seed always gives the same clustering. Lloyd iterations use
//! Hamerly's upper and lower bounds (2010): a row whose distance to its centre is below
//! half the gap to that centre's nearest neighbour, or below its lower bound to every
//! other centre, keeps its label without computing the `k` distances. On the rows of a
//! dashboard, most rows stop moving after a few iterations and each iteration then costs
//! little more than one pass over the data. The result equals plain Lloyd's from the
//! same seeds.

use shrike_types::Rng;

use crate::space::check;
use crate::{threads, ClusterError};

/// Parameters of [`kmeans`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KmeansParams {
    /// Clusters (1 ≤ k ≤ rows).
    pub k: usize,
    /// Seedings tried; the one with the lowest inertia is kept.
    pub n_init: usize,
    /// Lloyd iterations at most per seeding.
    pub max_iter: usize,
    /// Random seed.
    pub seed: u64,
    /// Stop when no row changes cluster, or when the centres move less than this (sum of
    /// squared shifts, relative to the mean per-column variance, as sklearn's `tol`).
    pub tol: f64,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

impl Default for KmeansParams {
    fn default() -> Self {
        KmeansParams {
            k: 8,
            n_init: 3,
            max_iter: 80,
            seed: 42,
            tol: 1e-4,
            threads: 0,
        }
    }
}

/// A fitted clustering.
#[derive(Debug, Clone, PartialEq)]
pub struct Kmeans {
    /// Centres, `k × dims` row-major.
    pub centroids: Vec<f64>,
    /// Cluster of each row.
    pub labels: Vec<u32>,
    /// Sum of squared distances of the rows to their centres.
    pub inertia: f64,
    /// Iterations run by the kept seeding.
    pub iterations: usize,
}

/// Squared distance, with four independent partial sums (a plain `sum()` is one serial
/// chain of dependent additions, which the compiler may not reorder).
fn dist2(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in a4.zip(b4) {
        for i in 0..4 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Clusters `data` (rows of `dims` columns) into `p.k` clusters.
pub fn kmeans(data: &[f64], dims: usize, p: &KmeansParams) -> Result<Kmeans, ClusterError> {
    check(data, dims)?;
    let n = data.len() / dims;
    if p.k == 0 || p.k > n {
        return Err(ClusterError::Parameter(
            "k must be between 1 and the number of rows",
        ));
    }
    if p.n_init == 0 || p.max_iter == 0 {
        return Err(ClusterError::Parameter(
            "n_init and max_iter must be at least 1",
        ));
    }
    if p.tol.is_nan() || p.tol < 0.0 {
        return Err(ClusterError::Parameter("tol must be a number ≥ 0"));
    }
    let tol = p.tol * mean_variance(data, dims);
    let mut rng = Rng::seed_from_u64(p.seed);
    let mut best: Option<Kmeans> = None;
    for init in 0..p.n_init {
        let mut r = rng.fork(init as u64);
        let seeds = plus_plus(data, dims, p.k, &mut r);
        let fit = lloyd(data, dims, seeds, p.max_iter, tol, threads(p.threads));
        if best.as_ref().is_none_or(|b| fit.inertia < b.inertia) {
            best = Some(fit);
        }
    }
    Ok(best.expect("n_init ≥ 1"))
}

/// Mean over columns of the column variance, in one pass over the rows.
fn mean_variance(data: &[f64], dims: usize) -> f64 {
    let n = (data.len() / dims) as f64;
    let mut sum = vec![0.0; dims];
    let mut sq = vec![0.0; dims];
    for row in data.chunks_exact(dims) {
        for ((s, q), v) in sum.iter_mut().zip(sq.iter_mut()).zip(row) {
            *s += v;
            *q += v * v;
        }
    }
    let total: f64 = sum
        .iter()
        .zip(&sq)
        .map(|(s, q)| (q / n - (s / n) * (s / n)).max(0.0))
        .sum();
    total / dims as f64
}

/// Rows the k-means++ seeding draws from at most: above it, a seeded random sample.
pub const SEEDING_SAMPLE: usize = 65_536;

/// k-means++ seeding over at most [`SEEDING_SAMPLE`] rows (a seeded sample without
/// replacement when there are more, so a million rows cost 15 times fewer passes; the
/// Lloyd iterations then use every row).
fn plus_plus(data: &[f64], dims: usize, k: usize, rng: &mut Rng) -> Vec<f64> {
    let n = data.len() / dims;
    let sample: Vec<usize> = if n > SEEDING_SAMPLE.max(k) {
        // Floyd's algorithm: distinct indices, in a deterministic order after sorting.
        let mut chosen = std::collections::BTreeSet::new();
        for j in n - SEEDING_SAMPLE..n {
            let t = rng.below(j as u64 + 1) as usize;
            if !chosen.insert(t) {
                chosen.insert(j);
            }
        }
        chosen.into_iter().collect()
    } else {
        (0..n).collect()
    };
    // A contiguous copy: the passes below then read memory in order.
    let rows: Vec<f64> = sample
        .iter()
        .flat_map(|i| &data[i * dims..(i + 1) * dims])
        .copied()
        .collect();
    let row = |i: usize| &rows[i * dims..(i + 1) * dims];
    let m = sample.len();
    let mut centres = Vec::with_capacity(k * dims);
    let first = rng.below(m as u64) as usize;
    centres.extend_from_slice(row(first));
    let mut nearest: Vec<f64> = (0..m).map(|i| dist2(row(i), row(first))).collect();
    for _ in 1..k {
        let total: f64 = nearest.iter().sum();
        let pick = if total > 0.0 {
            let target = rng.f64() * total;
            let mut acc = 0.0;
            let mut chosen = m - 1;
            for (i, d) in nearest.iter().enumerate() {
                acc += d;
                if acc > target {
                    chosen = i;
                    break;
                }
            }
            chosen
        } else {
            // Fewer distinct rows than clusters: duplicate centres, some stay empty.
            rng.below(m as u64) as usize
        };
        let c = row(pick).to_vec();
        for (i, d) in nearest.iter_mut().enumerate() {
            *d = d.min(dist2(row(i), &c));
        }
        centres.extend_from_slice(&c);
    }
    centres
}

/// Per-row state of Hamerly's algorithm.
struct Bounds {
    label: u32,
    upper: f64,
    lower: f64,
}

/// Closest and second-closest centres of `x`: (index, distance, second distance).
fn scan(x: &[f64], centres: &[f64], dims: usize) -> (u32, f64, f64) {
    let (mut best, mut d1, mut d2) = (0u32, f64::INFINITY, f64::INFINITY);
    for (j, c) in centres.chunks_exact(dims).enumerate() {
        let d = dist2(x, c);
        if d < d1 {
            d2 = d1;
            d1 = d;
            best = j as u32;
        } else if d < d2 {
            d2 = d;
        }
    }
    (best, d1.sqrt(), d2.sqrt())
}

fn lloyd(
    data: &[f64],
    dims: usize,
    mut centres: Vec<f64>,
    max_iter: usize,
    tol: f64,
    threads: usize,
) -> Kmeans {
    let n = data.len() / dims;
    let k = centres.len() / dims;
    let chunk = n.div_ceil(threads.max(1)).max(1024);
    // First assignment: every row scans every centre, in parallel.
    let mut state: Vec<Bounds> = Vec::with_capacity(n);
    std::thread::scope(|scope| {
        let centres = &centres;
        let parts: Vec<_> = data
            .chunks(chunk * dims)
            .map(|xs| {
                scope.spawn(move || {
                    xs.chunks_exact(dims)
                        .map(|x| {
                            let (label, upper, lower) = scan(x, centres, dims);
                            Bounds {
                                label,
                                upper,
                                lower,
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for p in parts {
            state.extend(p.join().expect("k-means worker"));
        }
    });
    let mut iterations = 0;
    for _ in 0..max_iter {
        iterations += 1;
        // New centres: means of the members (an empty cluster keeps its centre).
        let mut sums = vec![0.0; k * dims];
        let mut counts = vec![0usize; k];
        for (x, s) in data.chunks_exact(dims).zip(&state) {
            let j = s.label as usize;
            counts[j] += 1;
            for (a, v) in sums[j * dims..(j + 1) * dims].iter_mut().zip(x) {
                *a += v;
            }
        }
        let mut shift = vec![0.0; k];
        let mut moved = 0.0;
        for j in 0..k {
            if counts[j] == 0 {
                continue;
            }
            let c = &mut centres[j * dims..(j + 1) * dims];
            let mut d = 0.0;
            for (cv, sv) in c.iter_mut().zip(&sums[j * dims..(j + 1) * dims]) {
                let new = sv / counts[j] as f64;
                d += (new - *cv) * (new - *cv);
                *cv = new;
            }
            shift[j] = d.sqrt();
            moved += d;
        }
        // Update the bounds for the moves: the upper bound grows by the own centre's
        // shift, the lower bound shrinks by the largest shift of any other centre.
        let (mut far, mut far_j, mut second) = (0.0f64, usize::MAX, 0.0f64);
        for (j, s) in shift.iter().enumerate() {
            if *s > far {
                second = far;
                far = *s;
                far_j = j;
            } else if *s > second {
                second = *s;
            }
        }
        // Half the distance from each centre to its nearest other centre.
        let half_gap: Vec<f64> = (0..k)
            .map(|j| {
                let cj = &centres[j * dims..(j + 1) * dims];
                (0..k)
                    .filter(|o| *o != j)
                    .map(|o| dist2(cj, &centres[o * dims..(o + 1) * dims]))
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
                    / 2.0
            })
            .collect();
        let changed: usize = std::thread::scope(|scope| {
            let centres = &centres;
            let shift = &shift;
            let half_gap = &half_gap;
            let workers: Vec<_> = state
                .chunks_mut(chunk)
                .zip(data.chunks(chunk * dims))
                .map(|(st, xs)| {
                    scope.spawn(move || {
                        let mut changed = 0;
                        for (s, x) in st.iter_mut().zip(xs.chunks_exact(dims)) {
                            let a = s.label as usize;
                            s.upper += shift[a];
                            s.lower -= if a == far_j { second } else { far };
                            let m = half_gap[a].max(s.lower);
                            if s.upper <= m {
                                continue;
                            }
                            s.upper = dist2(x, &centres[a * dims..(a + 1) * dims]).sqrt();
                            if s.upper <= m {
                                continue;
                            }
                            let (label, d1, d2) = scan(x, centres, dims);
                            if label != s.label {
                                changed += 1;
                            }
                            s.label = label;
                            s.upper = d1;
                            s.lower = d2;
                        }
                        changed
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("k-means worker"))
                .sum()
        });
        if changed == 0 || moved <= tol {
            break;
        }
    }
    let inertia = data
        .chunks_exact(dims)
        .zip(&state)
        .map(|(x, s)| {
            let j = s.label as usize;
            dist2(x, &centres[j * dims..(j + 1) * dims])
        })
        .sum();
    Kmeans {
        centroids: centres,
        labels: state.iter().map(|s| s.label).collect(),
        inertia,
        iterations,
    }
}
