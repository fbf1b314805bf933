//! Clustering of dense feature rows: [`standardize`], the density clusterings [`dbscan`]
//! and [`hdbscan`], the centroid clustering [`kmeans`] (k-means++ seeding, Hamerly's
//! bounds), and the 2-D views [`pca_2d`] and [`convex_hull`] behind the cluster map.
//!
//! Rows are `&[f64]` in row-major order with `dims` columns. Both algorithms work on the
//! distinct rows with their multiplicities (bots of one tool often send identical feature
//! vectors, so a campaign of thousands may be a handful of distinct points) and give
//! noise as `None`. Cluster labels are numbered in the order of their first row, so the
//! same rows always give the same labels, whatever the thread count.
//!
//! Neighbour searches sort the distinct rows by their projection on the first principal
//! axis and keep a candidate pair only when its projections on the first three axes are
//! all within `eps` (a projection on a unit vector never exceeds the distance), before the
//! full distance, which itself stops as soon as the partial sum passes `eps²`.

#![warn(missing_docs)]

mod dbscan;
mod hdbscan;
mod kmeans;
mod project;
mod space;

pub use dbscan::{dbscan, DbscanParams};
pub use hdbscan::{hdbscan, HdbscanParams};
pub use kmeans::{kmeans, Kmeans, KmeansParams};
pub use project::{convex_hull, pca_2d};

/// Errors of the clustering functions (all caller mistakes).
#[derive(Debug, Clone, PartialEq)]
pub enum ClusterError {
    /// `data.len()` is not a multiple of `dims`, or `dims` is 0.
    Shape {
        /// Values given.
        len: usize,
        /// Columns announced.
        dims: usize,
    },
    /// A value is NaN or infinite.
    NonFinite {
        /// Row of the first such value.
        row: usize,
    },
    /// A parameter is out of its range.
    Parameter(&'static str),
}

impl std::fmt::Display for ClusterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClusterError::Shape { len, dims } => {
                write!(f, "{len} values do not make rows of {dims} columns")
            }
            ClusterError::NonFinite { row } => write!(f, "row {row} has a NaN or infinite value"),
            ClusterError::Parameter(what) => write!(f, "invalid parameter: {what}"),
        }
    }
}

impl std::error::Error for ClusterError {}

/// Z-scores each column (mean 0, standard deviation 1, population formula) and drops the
/// constant ones. Returns the standardised rows and the indices of the kept columns.
pub fn standardize(data: &[f64], dims: usize) -> Result<(Vec<f64>, Vec<usize>), ClusterError> {
    space::check(data, dims)?;
    let n = data.len() / dims;
    let mut mean = vec![0.0; dims];
    for row in data.chunks_exact(dims) {
        for (m, v) in mean.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut var = vec![0.0; dims];
    for row in data.chunks_exact(dims) {
        for ((s, v), m) in var.iter_mut().zip(row).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    let kept: Vec<usize> = (0..dims)
        .filter(|j| var[*j] / n.max(1) as f64 > 1e-24)
        .collect();
    let sd: Vec<f64> = kept.iter().map(|j| (var[*j] / n as f64).sqrt()).collect();
    let mut out = Vec::with_capacity(n * kept.len());
    for row in data.chunks_exact(dims) {
        for (j, s) in kept.iter().zip(&sd) {
            out.push((row[*j] - mean[*j]) / s);
        }
    }
    Ok((out, kept))
}

/// Worker threads: `requested`, or one per core when 0.
fn threads(requested: usize) -> usize {
    if requested > 0 {
        requested
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

/// Numbers clusters by their first row: `raw[i]` is any cluster key (or `None` for noise).
fn relabel(raw: &[Option<usize>]) -> Vec<Option<u32>> {
    let mut map = std::collections::HashMap::new();
    raw.iter()
        .map(|k| {
            k.map(|k| {
                let next = map.len() as u32;
                *map.entry(k).or_insert(next)
            })
        })
        .collect()
}
