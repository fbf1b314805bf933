//! Distinct rows, principal-axis projections and pruned neighbour scans.

use std::collections::HashMap;

use crate::dbscan::UnionFind;
use crate::ClusterError;

/// Number of principal axes used to prune candidate pairs. Projecting on orthonormal axes
/// never lengthens a distance, so the projected distance is a lower bound of the true one.
const AXES: usize = 12;

/// Projected distances are lower bounds in exact arithmetic only; pruning on them allows
/// this relative slack so that rounding never drops a pair at the edge of `eps`.
const SLACK: f64 = 1.0 + 1e-9;

/// Rows per k-d tree leaf.
const LEAF: usize = 16;

pub(crate) fn check(data: &[f64], dims: usize) -> Result<(), ClusterError> {
    if dims == 0 || !data.len().is_multiple_of(dims) {
        return Err(ClusterError::Shape {
            len: data.len(),
            dims,
        });
    }
    if let Some(i) = data.iter().position(|v| !v.is_finite()) {
        return Err(ClusterError::NonFinite { row: i / dims });
    }
    Ok(())
}

/// The distinct rows of a matrix, their multiplicities and their projections on the
/// first principal axes, sorted by the first projection.
pub(crate) struct Space {
    pub dims: usize,
    /// Distinct rows, in sorted order (row `k` of `rows` is the `k`-th by first projection).
    pub rows: Vec<f64>,
    /// Multiplicity of each distinct row.
    pub weight: Vec<usize>,
    /// Projections, `AXES` per distinct row.
    proj: Vec<f64>,
    /// For each input row, its distinct row.
    pub of: Vec<usize>,
    /// For each distinct row, its first input row (ties are broken by it, so that results
    /// do not depend on the internal order).
    pub first: Vec<usize>,
    /// k-d tree over the projections.
    tree: KdTree,
}

impl Space {
    pub fn new(data: &[f64], dims: usize) -> Space {
        let n = data.len() / dims;
        let mut index: HashMap<Vec<u64>, usize> = HashMap::with_capacity(n);
        let mut first: Vec<usize> = Vec::new();
        let mut weight: Vec<usize> = Vec::new();
        let mut of = Vec::with_capacity(n);
        for (i, row) in data.chunks_exact(dims).enumerate() {
            // +0.0 and -0.0 are the same point.
            let key: Vec<u64> = row.iter().map(|v| (v + 0.0).to_bits()).collect();
            let k = *index.entry(key).or_insert_with(|| {
                first.push(i);
                weight.push(0);
                first.len() - 1
            });
            weight[k] += 1;
            of.push(k);
        }
        let m = first.len();
        let distinct: Vec<f64> = first
            .iter()
            .flat_map(|i| data[i * dims..(i + 1) * dims].iter().copied())
            .collect();
        let axes = principal_axes(&distinct, dims, AXES);
        let mut proj = vec![0.0; m * AXES];
        for (k, row) in distinct.chunks_exact(dims).enumerate() {
            for (a, axis) in axes.iter().enumerate() {
                proj[k * AXES + a] = row.iter().zip(axis).map(|(x, y)| x * y).sum();
            }
        }
        let mut order: Vec<usize> = (0..m).collect();
        order.sort_by(|a, b| proj[a * AXES].total_cmp(&proj[b * AXES]).then(a.cmp(b)));
        let mut rank = vec![0; m];
        for (r, k) in order.iter().enumerate() {
            rank[*k] = r;
        }
        let proj: Vec<f64> = order
            .iter()
            .flat_map(|k| proj[k * AXES..(k + 1) * AXES].iter().copied())
            .collect();
        let tree = KdTree::build(&proj, m);
        Space {
            dims,
            tree,
            rows: order
                .iter()
                .flat_map(|k| distinct[k * dims..(k + 1) * dims].iter().copied())
                .collect(),
            weight: order.iter().map(|k| weight[*k]).collect(),
            proj,
            first: order.iter().map(|k| first[*k]).collect(),
            of: of.into_iter().map(|k| rank[k]).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.weight.len()
    }

    pub fn row(&self, i: usize) -> &[f64] {
        &self.rows[i * self.dims..(i + 1) * self.dims]
    }

    /// First projection of distinct row `i` (ascending in `i`).
    pub fn key(&self, i: usize) -> f64 {
        self.proj[i * AXES]
    }

    /// Squared distance between distinct rows when it is at most `eps2`.
    #[inline]
    pub fn within(&self, a: usize, b: usize, eps: f64, eps2: f64) -> Option<f64> {
        let (pa, pb) = (
            &self.proj[a * AXES..(a + 1) * AXES],
            &self.proj[b * AXES..(b + 1) * AXES],
        );
        if (pa[0] - pb[0]).abs() > eps * SLACK {
            return None;
        }
        let lower: f64 = pa.iter().zip(pb).map(|(x, y)| (x - y) * (x - y)).sum();
        if lower > eps2 * SLACK {
            return None;
        }
        let (ra, rb) = (self.row(a), self.row(b));
        let mut sum = 0.0;
        for (x, y) in ra.chunks(8).zip(rb.chunks(8)) {
            sum += x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum::<f64>();
            if sum > eps2 {
                return None;
            }
        }
        Some(sum)
    }

    /// Full squared distance between distinct rows.
    #[inline]
    pub fn dist2(&self, a: usize, b: usize) -> f64 {
        self.row(a)
            .iter()
            .zip(self.row(b))
            .map(|(p, q)| (p - q) * (p - q))
            .sum()
    }

    /// Calls `f(j, d²)` for every distinct row `j != i` within `eps` of `i` (in no
    /// particular order); stops when `f` returns false.
    pub fn neighbours(&self, i: usize, eps: f64, mut f: impl FnMut(usize, f64) -> bool) {
        let eps2 = eps * eps;
        self.candidates(i, eps, |j| match self.within(i, j, eps, eps2) {
            Some(d) => f(j, d),
            None => true,
        });
    }

    /// Calls `f(j)` for every distinct row `j != i` whose projection lies in a k-d tree
    /// leaf within `eps` of `i`'s (a superset of the neighbours; no distance computed);
    /// stops when `f` returns false.
    pub fn candidates(&self, i: usize, eps: f64, mut f: impl FnMut(usize) -> bool) {
        let eps2 = eps * eps;
        let p = &self.proj[i * AXES..(i + 1) * AXES];
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            let node = &self.tree.nodes[n];
            if node.gap2(p) > eps2 * SLACK {
                continue;
            }
            match node.children {
                Some((l, r)) => {
                    stack.push(r);
                    stack.push(l);
                }
                None => {
                    for &j in &self.tree.order[node.start..node.end] {
                        let j = j as usize;
                        if j != i && !f(j) {
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// What step 2 of DBSCAN knows of a k-d tree node's core rows.
#[derive(Clone, Copy)]
enum Joined {
    /// Nothing yet.
    Unknown,
    /// It holds no core row.
    NoCore,
    /// All its core rows are in the set of this one. Sets only ever merge, so this stays
    /// true.
    With(u32),
}

impl Space {
    /// DBSCAN's step 2: joins in `sets` every two core rows within `eps` of each other.
    ///
    /// Exact, and near linear on dense clusters: a subtree whose core rows are all in one
    /// set already is remembered as such and skipped by every row of that set (a join would
    /// change nothing), so a row stops scanning the thousands of neighbours it shares with
    /// the rest of its cluster.
    ///
    /// On `workers` threads, each takes a contiguous range of the rows (by first projection,
    /// so a cluster mostly lies in one range) with sets of its own; every join a thread makes
    /// is a true pair, and a pair a thread skips was already joined in its own sets, so the
    /// union of the threads' sets is the same partition whatever the split.
    pub(crate) fn join_cores(&self, core: &[bool], eps: f64, sets: &mut UnionFind, workers: usize) {
        let eps2 = eps * eps;
        let cores: Vec<usize> = (0..self.len()).filter(|i| core[*i]).collect();
        let join = |rows: &[usize], sets: &mut UnionFind| {
            let mut state = vec![Joined::Unknown; self.tree.nodes.len()];
            for &i in rows {
                self.join_from(0, i, core, eps, eps2, sets, &mut state);
            }
        };
        if workers <= 1 || cores.len() < 1024 {
            join(&cores, sets);
            return;
        }
        let per = cores.len().div_ceil(workers);
        let parts: Vec<UnionFind> = std::thread::scope(|s| {
            let handles: Vec<_> = cores
                .chunks(per)
                .map(|rows| {
                    let join = &join;
                    s.spawn(move || {
                        let mut own = UnionFind::new(self.len());
                        join(rows, &mut own);
                        own
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for mut part in parts {
            for &i in &cores {
                let root = part.find(i);
                if root != i {
                    sets.union(i, root);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn join_from(
        &self,
        n: usize,
        i: usize,
        core: &[bool],
        eps: f64,
        eps2: f64,
        sets: &mut UnionFind,
        state: &mut [Joined],
    ) {
        match state[n] {
            Joined::NoCore => return,
            Joined::With(r) if sets.find(r as usize) == sets.find(i) => return,
            _ => {}
        }
        let node = &self.tree.nodes[n];
        if node.gap2(&self.proj[i * AXES..(i + 1) * AXES]) > eps2 * SLACK {
            return;
        }
        let now = match node.children {
            Some((l, r)) => {
                self.join_from(l, i, core, eps, eps2, sets, state);
                self.join_from(r, i, core, eps, eps2, sets, state);
                match (state[l], state[r]) {
                    (Joined::NoCore, Joined::NoCore) => Joined::NoCore,
                    (Joined::NoCore, Joined::With(a)) | (Joined::With(a), Joined::NoCore) => {
                        Joined::With(a)
                    }
                    (Joined::With(a), Joined::With(b))
                        if sets.find(a as usize) == sets.find(b as usize) =>
                    {
                        Joined::With(a)
                    }
                    _ => Joined::Unknown,
                }
            }
            None => {
                let rows = &self.tree.order[node.start..node.end];
                for &j in rows {
                    let j = j as usize;
                    // Each pair once, from its first row: the other joined it already.
                    if j > i
                        && core[j]
                        && sets.find(i) != sets.find(j)
                        && self.within(i, j, eps, eps2).is_some()
                    {
                        sets.union(i, j);
                    }
                }
                let mut cores = rows.iter().map(|j| *j as usize).filter(|j| core[*j]);
                match cores.next() {
                    None => Joined::NoCore,
                    Some(first) => {
                        let root = sets.find(first);
                        if cores.all(|j| sets.find(j) == root) {
                            Joined::With(first as u32)
                        } else {
                            Joined::Unknown
                        }
                    }
                }
            }
        };
        if !matches!(now, Joined::Unknown) {
            state[n] = now;
        }
    }
}

/// A node of the k-d tree: the bounding box of its rows' projections.
struct KdNode {
    lo: [f64; AXES],
    hi: [f64; AXES],
    start: usize,
    end: usize,
    children: Option<(usize, usize)>,
}

impl KdNode {
    /// Squared distance from projection `p` to the node's box (0 inside it).
    #[inline]
    fn gap2(&self, p: &[f64]) -> f64 {
        (0..AXES)
            .map(|a| {
                let g = (self.lo[a] - p[a]).max(p[a] - self.hi[a]).max(0.0);
                g * g
            })
            .sum()
    }
}

/// A k-d tree over the projections (median splits on the widest axis).
struct KdTree {
    nodes: Vec<KdNode>,
    order: Vec<u32>,
}

impl KdTree {
    fn build(proj: &[f64], m: usize) -> KdTree {
        let mut tree = KdTree {
            nodes: Vec::new(),
            order: (0..m as u32).collect(),
        };
        tree.node(proj, 0, m);
        tree
    }

    fn node(&mut self, proj: &[f64], start: usize, end: usize) -> usize {
        let mut lo = [f64::INFINITY; AXES];
        let mut hi = [f64::NEG_INFINITY; AXES];
        for &j in &self.order[start..end] {
            let p = &proj[j as usize * AXES..(j as usize + 1) * AXES];
            for a in 0..AXES {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a]);
            }
        }
        let id = self.nodes.len();
        self.nodes.push(KdNode {
            lo,
            hi,
            start,
            end,
            children: None,
        });
        let axis = (0..AXES)
            .max_by(|a, b| (hi[*a] - lo[*a]).total_cmp(&(hi[*b] - lo[*b])))
            .unwrap_or(0);
        if end - start <= LEAF || hi[axis] <= lo[axis] {
            return id;
        }
        let mid = (start + end) / 2;
        self.order[start..end].select_nth_unstable_by(mid - start, |x, y| {
            proj[*x as usize * AXES + axis]
                .total_cmp(&proj[*y as usize * AXES + axis])
                .then(x.cmp(y))
        });
        let l = self.node(proj, start, mid);
        let r = self.node(proj, mid, end);
        self.nodes[id].children = Some((l, r));
        id
    }
}

/// The first `k` principal axes of the rows (unit vectors), by power iteration with
/// deflation on the covariance matrix; deterministic. Missing axes (fewer dimensions,
/// or no variance left) are zero vectors, which never prune anything.
fn principal_axes(rows: &[f64], dims: usize, k: usize) -> Vec<Vec<f64>> {
    let n = rows.len() / dims;
    let mut mean = vec![0.0; dims];
    for r in rows.chunks_exact(dims) {
        mean.iter_mut().zip(r).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let mut cov = vec![0.0; dims * dims];
    let mut c = vec![0.0; dims];
    for r in rows.chunks_exact(dims) {
        c.iter_mut()
            .zip(r)
            .zip(&mean)
            .for_each(|((c, v), m)| *c = v - m);
        for a in 0..dims {
            let ca = c[a];
            if ca == 0.0 {
                continue;
            }
            let line = &mut cov[a * dims..(a + 1) * dims];
            for (b, cb) in c.iter().enumerate().skip(a) {
                line[b] += ca * cb;
            }
        }
    }
    for a in 0..dims {
        for b in 0..a {
            cov[a * dims + b] = cov[b * dims + a];
        }
    }
    let mut axes = Vec::with_capacity(k);
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..k.min(dims) {
        let mut v: Vec<f64> = (0..dims)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect();
        let mut norm = 0.0;
        for _ in 0..60 {
            let mut w: Vec<f64> = (0..dims)
                .map(|a| {
                    cov[a * dims..(a + 1) * dims]
                        .iter()
                        .zip(&v)
                        .map(|(x, y)| x * y)
                        .sum()
                })
                .collect();
            // Deflation: stay orthogonal to the axes found so far.
            for u in &axes {
                let dot: f64 = w.iter().zip(u).map(|(x, y): (&f64, &f64)| x * y).sum();
                w.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm < 1e-300 {
                break;
            }
            w.iter_mut().for_each(|x| *x /= norm);
            v = w;
        }
        // Power iteration on a deflated matrix of lower rank ends on rounding noise,
        // which need not be orthogonal to the axes found: one last Gram-Schmidt step keeps
        // the axes orthonormal, which the lower bound relies on. A direction with nothing
        // left after it is dropped.
        if norm >= 1e-300 {
            for u in &axes {
                let dot: f64 = v.iter().zip(u).map(|(x, y): (&f64, &f64)| x * y).sum();
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= dot * y);
            }
            norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        }
        if norm < 1e-6 {
            axes.push(vec![0.0; dims]);
        } else {
            v.iter_mut().for_each(|x| *x /= norm);
            axes.push(v);
        }
    }
    while axes.len() < k {
        axes.push(vec![0.0; dims]);
    }
    axes
}
