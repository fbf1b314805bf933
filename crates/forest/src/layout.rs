//! The trees laid out for batch scoring: one record per node, blocks of rows stored
//! column-major, and the partitioning walk that takes a whole block down a tree.

use crate::Tree;

/// A node as scoring reads it: everything a split needs in one place (56 bytes for
/// `ndim = 3`), where [`Tree`] keeps separate arrays. A leaf is its own child and holds its
/// path length in `t`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Flat<const D: usize> {
    w: [f64; D],
    /// The split threshold; a leaf: its path length.
    t: f64,
    c: [u32; D],
    /// `[right, left]`: indexed by `projection < t`.
    next: [u32; 2],
}

// The size the docs quote, checked at compile time.
const _: () = assert!(std::mem::size_of::<Flat<3>>() == 56);

#[derive(Debug, Clone)]
pub(crate) struct FlatTree<const D: usize> {
    nodes: Vec<Flat<D>>,
}

impl<const D: usize> FlatTree<D> {
    fn new(tree: &Tree) -> Self {
        let nodes = tree
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let (mut w, mut c) = ([0.0; D], [0u32; D]);
                if !n.is_leaf(i) {
                    w.copy_from_slice(&tree.coefs[i * D..(i + 1) * D]);
                    c.copy_from_slice(&tree.cols[i * D..(i + 1) * D]);
                }
                Flat {
                    w,
                    t: n.value,
                    c,
                    next: [n.right, n.left],
                }
            })
            .collect();
        FlatTree { nodes }
    }
}

/// The scoring layout for the hyperplane sizes known at compile time.
#[derive(Debug, Clone, Default)]
pub(crate) enum Layout {
    /// `ndim > 3`: scoring reads [`Tree`] directly.
    #[default]
    Generic,
    D1(Vec<FlatTree<1>>),
    D2(Vec<FlatTree<2>>),
    D3(Vec<FlatTree<3>>),
}

impl Layout {
    pub(crate) fn new(trees: &[Tree], ndim: usize) -> Self {
        match ndim {
            1 => Layout::D1(trees.iter().map(FlatTree::new).collect()),
            2 => Layout::D2(trees.iter().map(FlatTree::new).collect()),
            3 => Layout::D3(trees.iter().map(FlatTree::new).collect()),
            _ => Layout::Generic,
        }
    }
}

/// Rows scored together: a block's columns are `[f64; BLOCK]` arrays indexed by a `u16`
/// row number masked to the block, so that no access needs a bounds check. 2048 rows of 60
/// features take 1 MB, within a core's L2 cache.
pub(crate) const BLOCK: usize = 2048;

/// A block of up to [`BLOCK`] imputed rows, column-major.
pub(crate) struct ColumnBlock {
    pub(crate) cols: Vec<[f64; BLOCK]>,
    pub(crate) rows: usize,
}

impl ColumnBlock {
    pub(crate) fn new(n_features: usize) -> Self {
        ColumnBlock {
            cols: vec![[0.0; BLOCK]; n_features],
            rows: 0,
        }
    }
}

/// Calls `leaf(node, rows)` with the rows of `idx[lo..hi]` that reach each leaf of the
/// subtree at `i`; `tmp` is scratch space (the two swap roles at each level).
///
/// The rows go down the tree together, as they went at training: each node projects its
/// rows and partitions them between its two children, without a data-dependent branch. A
/// node and its columns are read once for all its rows, and a row stops at its leaf,
/// whatever its depth. Every index is masked to the block, so none needs a bounds check.
#[allow(clippy::too_many_arguments)]
fn descend<const D: usize>(
    nodes: &[Flat<D>],
    i: usize,
    idx: &mut [u16; BLOCK],
    tmp: &mut [u16; BLOCK],
    lo: usize,
    hi: usize,
    block: &ColumnBlock,
    leaf: &mut impl FnMut(usize, &[u16]),
) {
    const MASK: usize = BLOCK - 1;
    if lo >= hi {
        return;
    }
    let node = &nodes[i];
    if node.next[0] as usize == i {
        leaf(i, &idx[lo..hi]);
        return;
    }
    let x: [&[f64; BLOCK]; D] = std::array::from_fn(|j| &block.cols[node.c[j] as usize]);
    // Left rows fill `tmp[lo..]` from the front, right rows fill it from `hi` backwards;
    // each row is written to both ends and only the end it belongs to moves on.
    let (mut left, mut right) = (lo, hi);
    for k in lo..hi {
        let r = idx[k & MASK];
        let mut p = 0.0;
        for (w, col) in node.w.iter().zip(x) {
            p += w * col[r as usize & MASK];
        }
        let go_left = p < node.t;
        tmp[left & MASK] = r;
        tmp[(right - 1) & MASK] = r;
        left += go_left as usize;
        right -= !go_left as usize;
    }
    descend(
        nodes,
        node.next[1] as usize,
        tmp,
        idx,
        lo,
        left,
        block,
        leaf,
    );
    descend(
        nodes,
        node.next[0] as usize,
        tmp,
        idx,
        left,
        hi,
        block,
        leaf,
    );
}

/// Calls `leaf(tree, node, rows)` for every leaf of every tree, with the rows of the block
/// that reach it.
pub(crate) fn walk_leaves<const D: usize>(
    trees: &[FlatTree<D>],
    block: &ColumnBlock,
    mut leaf: impl FnMut(usize, usize, &[u16]),
) {
    let mut idx = [0u16; BLOCK];
    let mut tmp = [0u16; BLOCK];
    for (t, tree) in trees.iter().enumerate() {
        for (r, v) in idx.iter_mut().enumerate() {
            *v = r as u16;
        }
        descend(
            &tree.nodes,
            0,
            &mut idx,
            &mut tmp,
            0,
            block.rows,
            block,
            &mut |node, rows| leaf(t, node, rows),
        );
    }
}

/// Adds each row's path length in every tree to `out`.
pub(crate) fn walk_flat<const D: usize>(
    trees: &[FlatTree<D>],
    block: &ColumnBlock,
    out: &mut [f64; BLOCK],
) {
    const MASK: usize = BLOCK - 1;
    walk_leaves(trees, block, |t, node, rows| {
        let length = trees[t].nodes[node].t;
        for r in rows {
            out[*r as usize & MASK] += length;
        }
    });
}
