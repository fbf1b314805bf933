//! DBSCAN (Ester et al. 1996) with sklearn's conventions.

use crate::space::{check, Space};
use crate::{relabel, threads, ClusterError};

/// DBSCAN parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DbscanParams {
    /// Neighbourhood radius (Euclidean).
    pub eps: f64,
    /// Rows within `eps` of a row, itself included, for it to be a core row.
    pub min_samples: usize,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
}

impl Default for DbscanParams {
    fn default() -> Self {
        DbscanParams {
            eps: 0.5,
            min_samples: 5,
            threads: 0,
        }
    }
}

/// Clusters rows with DBSCAN: a row is *core* when at least `min_samples` rows (itself
/// included) lie within `eps`; core rows within `eps` of each other share a cluster; a
/// non-core row within `eps` of a core row joins the cluster of its nearest core row
/// (sklearn gives it to whichever core row reaches it first); the rest is noise (`None`).
pub fn dbscan(
    data: &[f64],
    dims: usize,
    params: &DbscanParams,
) -> Result<Vec<Option<u32>>, ClusterError> {
    check(data, dims)?;
    if !(params.eps.is_finite() && params.eps > 0.0) {
        return Err(ClusterError::Parameter("eps must be a positive number"));
    }
    if params.min_samples == 0 {
        return Err(ClusterError::Parameter("min_samples must be at least 1"));
    }
    let space = Space::new(data, dims);
    let m = space.len();
    let eps = params.eps;
    let workers = threads(params.threads).min(m.max(1));

    // 1. Core rows (each scan stops once the count is reached). A row that is not core
    //    had its whole neighbourhood scanned: it is kept for step 3.
    let scans: Vec<Result<(), Vec<(usize, f64)>>> = parallel(m, workers, |i| {
        let mut count = space.weight[i];
        if count >= params.min_samples {
            return Ok(());
        }
        let mut near = Vec::new();
        space.neighbours(i, eps, |j, d| {
            count += space.weight[j];
            near.push((j, d));
            count < params.min_samples
        });
        if count >= params.min_samples {
            Ok(())
        } else {
            Err(near)
        }
    });
    let core: Vec<bool> = scans.iter().map(|s| s.is_ok()).collect();
    // 2. Core rows within eps of each other are joined.
    let mut sets = UnionFind::new(m);
    space.join_cores(&core, eps, &mut sets, workers);
    // 3. Border rows join their nearest core row (ties: the one that comes first).
    let border: Vec<Option<usize>> = scans
        .iter()
        .map(|scan| match scan {
            Ok(()) => None,
            Err(near) => near
                .iter()
                .filter(|(j, _)| core[*j])
                .min_by(|a, b| {
                    a.1.total_cmp(&b.1)
                        .then(space.first[a.0].cmp(&space.first[b.0]))
                })
                .map(|(j, _)| *j),
        })
        .collect();
    let cluster: Vec<Option<usize>> = (0..m)
        .map(|i| {
            if core[i] {
                Some(sets.find(i))
            } else {
                border[i].map(|j| sets.find(j))
            }
        })
        .collect();
    let raw: Vec<Option<usize>> = space.of.iter().map(|k| cluster[*k]).collect();
    Ok(relabel(&raw))
}

/// `f(i)` for `i` in `0..n`, over `workers` threads, in order.
pub(crate) fn parallel<T: Send>(n: usize, workers: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    if workers <= 1 || n < 256 {
        return (0..n).map(f).collect();
    }
    // Interleaved blocks balance dense and sparse regions of the sorted order.
    let block = 64;
    let f = &f;
    let mut parts: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    let mut out = Vec::new();
                    let mut start = w * block;
                    while start < n {
                        for i in start..(start + block).min(n) {
                            out.push((i, f(i)));
                        }
                        start += workers * block;
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("clustering worker panicked"))
            .collect()
    });
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    for part in parts.iter_mut() {
        for (i, v) in part.drain(..) {
            slots[i] = Some(v);
        }
    }
    slots
        .into_iter()
        .map(|v| v.expect("every index computed"))
        .collect()
}

/// Disjoint sets with path halving and union by size.
pub(crate) struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    pub fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins the sets of `a` and `b`; returns the new root.
    pub fn union(&mut self, a: usize, b: usize) -> usize {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return a;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
        a
    }
}
