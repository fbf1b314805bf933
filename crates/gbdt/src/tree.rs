//! One regression tree on gradients and hessians, grown depth-wise from per-node gradient
//! histograms (the smaller child's histogram is built, the larger one's is the parent's
//! minus it), with xgboost's split gain and leaf weights.

use serde::{Deserialize, Serialize};

use crate::bins::BinMapper;

/// A node: a split (`feature`, `threshold`, children) or a leaf (`value`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// Split feature (`u32::MAX` for a leaf).
    pub feature: u32,
    /// `x[feature] <= threshold` (or NaN) goes left.
    pub threshold: f32,
    /// Left child.
    pub left: u32,
    /// Right child.
    pub right: u32,
    /// Leaf output (margin), learning rate applied.
    pub value: f64,
    /// Sum of the training hessians that reached the node (TreeSHAP's cover).
    pub cover: f64,
    /// Split gain (0 for a leaf).
    pub gain: f64,
}

impl Node {
    /// Is a leaf.
    pub fn is_leaf(&self) -> bool {
        self.feature == u32::MAX
    }
}

/// A fitted tree; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// Nodes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The leaf a row reaches.
    pub fn leaf(&self, x: &[f32]) -> usize {
        let mut i = 0;
        loop {
            let n = &self.nodes[i];
            if n.is_leaf() {
                return i;
            }
            let v = x[n.feature as usize];
            i = if v.is_nan() || v <= n.threshold {
                n.left
            } else {
                n.right
            } as usize;
        }
    }

    /// The tree's output for a row.
    pub fn predict(&self, x: &[f32]) -> f64 {
        self.nodes[self.leaf(x)].value
    }
}

/// Growth settings (see [`crate::GbdtParams`]).
pub(crate) struct Grow<'a> {
    pub max_depth: usize,
    pub lambda: f64,
    pub gamma: f64,
    pub min_child_weight: f64,
    pub learning_rate: f64,
    pub threads: usize,
    pub mapper: &'a BinMapper,
    /// Row-major bins (histograms).
    pub bins: &'a [u8],
    /// Column-major bins (partitions): `columns[j * n + i]`.
    pub columns: &'a [u8],
    pub n: usize,
    pub dims: usize,
}

/// Gradient and hessian sums per bin, per feature, flattened (`offsets[j]` + bin).
type Hist = Vec<[f32; 2]>;

/// Rows per histogram chunk.
const CHUNK: usize = 4096;

/// `f` over `items` on up to `threads` threads (contiguous shares), results in order.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    if threads <= 1 || items.len() <= 1 {
        return items.iter().map(&f).collect();
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let f = &f;
        let parts: Vec<_> = items
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("gbdt worker"))
            .collect()
    })
}

struct Pending {
    node: usize,
    start: usize,
    end: usize,
    hist: Hist,
    g: f64,
    h: f64,
}

struct Split {
    feature: usize,
    bin: usize,
    gain: f64,
}

impl Grow<'_> {
    fn offsets(&self) -> Vec<usize> {
        let mut o = Vec::with_capacity(self.dims + 1);
        let mut acc = 0;
        for j in 0..self.dims {
            o.push(acc);
            acc += self.mapper.bins(j);
        }
        o.push(acc);
        o
    }

    /// Histogram of the rows `idx`, row by row (each row's bins are contiguous and its
    /// gradient pair is loaded once), in fixed chunks of [`CHUNK`] rows summed in order, so
    /// that the sums do not depend on how many threads built them.
    fn histogram(&self, idx: &[u32], gh: &[[f32; 2]], offsets: &[usize], threads: usize) -> Hist {
        let total = offsets[self.dims];
        let build = |rows: &[u32]| {
            let mut hist = vec![[0.0f32; 2]; total];
            for &i in rows {
                let [g, h] = gh[i as usize];
                let row = &self.bins[i as usize * self.dims..(i as usize + 1) * self.dims];
                for (b, off) in row.iter().zip(offsets) {
                    let cell = &mut hist[off + *b as usize];
                    cell[0] += g;
                    cell[1] += h;
                }
            }
            hist
        };
        let chunks: Vec<&[u32]> = idx.chunks(CHUNK).collect();
        if chunks.len() <= 1 {
            return build(idx);
        }
        let parts = parallel_map(&chunks, threads, |rows| build(rows));
        let mut parts = parts.into_iter();
        let mut hist = parts.next().unwrap_or_else(|| vec![[0.0f32; 2]; total]);
        for part in parts {
            for (a, b) in hist.iter_mut().zip(&part) {
                a[0] += b[0];
                a[1] += b[1];
            }
        }
        hist
    }

    fn score(&self, g: f64, h: f64) -> f64 {
        g * g / (h + self.lambda)
    }

    /// The best split of node `p` over features `features`.
    fn best_split(
        &self,
        p: &Pending,
        offsets: &[usize],
        features: std::ops::Range<usize>,
    ) -> Option<Split> {
        let parent = self.score(p.g, p.h);
        let mut best: Option<Split> = None;
        for j in features {
            let h = &p.hist[offsets[j]..offsets[j + 1]];
            let (mut gl, mut hl) = (0.0, 0.0);
            for (s, [g, hh]) in h.iter().enumerate().take(h.len() - 1) {
                // An empty bin moves no row: its split equals the previous one.
                if *hh == 0.0 {
                    continue;
                }
                gl += f64::from(*g);
                hl += f64::from(*hh);
                let (gr, hr) = (p.g - gl, p.h - hl);
                if hl < self.min_child_weight || hr < self.min_child_weight {
                    continue;
                }
                let gain = 0.5 * (self.score(gl, hl) + self.score(gr, hr) - parent) - self.gamma;
                if gain > 1e-6 && best.as_ref().is_none_or(|b| gain > b.gain) {
                    best = Some(Split {
                        feature: j,
                        bin: s,
                        gain,
                    });
                }
            }
        }
        best
    }

    /// Grows a tree on `idx` (reordered in place) with gradients and hessians `gh`; also
    /// returns each leaf with the range of `idx` that reached it.
    pub fn grow(&self, idx: &mut [u32], gh: &[[f32; 2]]) -> (Tree, Vec<(usize, usize, usize)>) {
        let offsets = self.offsets();
        let (g, h) = idx.iter().fold((0.0f64, 0.0f64), |(g, h), i| {
            let [gi, hi] = gh[*i as usize];
            (g + f64::from(gi), h + f64::from(hi))
        });
        let leaf = |g: f64, h: f64| Node {
            feature: u32::MAX,
            threshold: 0.0,
            left: 0,
            right: 0,
            value: -g / (h + self.lambda) * self.learning_rate,
            cover: h,
            gain: 0.0,
        };
        let mut nodes = vec![leaf(g, h)];
        let mut ranges = Vec::new();
        let mut level = vec![Pending {
            node: 0,
            start: 0,
            end: idx.len(),
            hist: self.histogram(idx, gh, &offsets, self.threads),
            g,
            h,
        }];
        for depth in 0..self.max_depth {
            // The split of every node of the level, in parallel (it costs the same whatever
            // the node's size: one pass over its histogram).
            // Work items: (node, features); a lone node's features are shared out.
            let share = if level.len() >= self.threads {
                self.dims
            } else {
                self.dims.div_ceil(self.threads)
            };
            let items: Vec<(usize, std::ops::Range<usize>)> = (0..level.len())
                .flat_map(|k| {
                    (0..self.dims)
                        .step_by(share.max(1))
                        .map(move |f| (k, f..(f + share).min(self.dims)))
                })
                .collect();
            let found = parallel_map(&items, self.threads, |(k, f)| {
                self.best_split(&level[*k], &offsets, f.clone())
            });
            // Per node, the best over its items; ties go to the lowest feature (item order).
            let mut splits: Vec<Option<Split>> = (0..level.len()).map(|_| None).collect();
            for ((k, _), s) in items.iter().zip(found) {
                if let Some(s) = s {
                    if splits[*k].as_ref().is_none_or(|b| s.gain > b.gain) {
                        splits[*k] = Some(s);
                    }
                }
            }
            let last = depth + 1 == self.max_depth;
            let mut next = Vec::new();
            // (index in `next` of the child to build, the other child, its rows)
            let mut jobs: Vec<(usize, usize, usize, usize)> = Vec::new();
            let mut parents: Vec<Hist> = Vec::new();
            for (p, split) in level.into_iter().zip(splits) {
                let Some(split) = split else {
                    ranges.push((p.node, p.start, p.end));
                    continue;
                };
                // Stable partition of the node's rows: left (bin ≤ split) first.
                let rows = &mut idx[p.start..p.end];
                let col = &self.columns[split.feature * self.n..(split.feature + 1) * self.n];
                let (left, right): (Vec<u32>, Vec<u32>) = rows
                    .iter()
                    .partition(|i| (col[**i as usize] as usize) <= split.bin);
                let mid = p.start + left.len();
                rows[..left.len()].copy_from_slice(&left);
                rows[left.len()..].copy_from_slice(&right);
                let (gl, hl) = left.iter().fold((0.0f64, 0.0f64), |(g, h), i| {
                    let [gi, hi] = gh[*i as usize];
                    (g + f64::from(gi), h + f64::from(hi))
                });
                let (gr, hr) = (p.g - gl, p.h - hl);
                let l = nodes.len();
                nodes.push(leaf(gl, hl));
                nodes.push(leaf(gr, hr));
                let n = &mut nodes[p.node];
                n.feature = split.feature as u32;
                n.threshold = self.mapper.threshold(split.feature, split.bin);
                n.left = l as u32;
                n.right = l as u32 + 1;
                n.gain = split.gain;
                if !last {
                    // The smaller child's histogram is built; the other is the parent's
                    // minus it. Children at the last depth are leaves: no histogram.
                    let left_small = mid - p.start <= p.end - mid;
                    let (small, large) = if left_small { (0, 1) } else { (1, 0) };
                    let (a, b) = if left_small {
                        (p.start, mid)
                    } else {
                        (mid, p.end)
                    };
                    jobs.push((next.len() + small, next.len() + large, a, b));
                    parents.push(p.hist);
                }
                next.push(Pending {
                    node: l,
                    start: p.start,
                    end: mid,
                    hist: Vec::new(),
                    g: gl,
                    h: hl,
                });
                next.push(Pending {
                    node: l + 1,
                    start: mid,
                    end: p.end,
                    hist: Vec::new(),
                    g: gr,
                    h: hr,
                });
            }
            if !last && !jobs.is_empty() {
                // One job per node when the level has several; rows split across threads
                // inside a job otherwise (the sums are the same either way).
                let inner = if jobs.len() >= self.threads {
                    1
                } else {
                    self.threads
                };
                let built = parallel_map(&jobs, self.threads.min(jobs.len()), |&(_, _, a, b)| {
                    self.histogram(&idx[a..b], gh, &offsets, inner)
                });
                for ((small, large, ..), (hist, mut parent)) in
                    jobs.iter().zip(built.into_iter().zip(parents))
                {
                    for (x, y) in parent.iter_mut().zip(&hist) {
                        x[0] -= y[0];
                        x[1] -= y[1];
                    }
                    next[*small].hist = hist;
                    next[*large].hist = parent;
                }
            }
            level = next;
            if level.is_empty() {
                break;
            }
        }
        ranges.extend(level.iter().map(|p| (p.node, p.start, p.end)));
        (Tree { nodes }, ranges)
    }
}
