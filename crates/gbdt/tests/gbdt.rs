//! Boosted trees learn what they should, and TreeSHAP keeps its defining property:
//! contributions plus bias equal the margin, for every row.

use proptest::prelude::*;
use shrike_gbdt::tree::{Node, Tree};
use shrike_gbdt::{Gbdt, GbdtError, GbdtParams};

/// A small deterministic generator.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Rows of 5 features; the label is the XOR of features 0 and 1 being above 0.5 (2-4 are
/// noise), with `flip` of the labels flipped.
fn xor(n: usize, flip: f32, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut r = Lcg(seed);
    let mut x = Vec::with_capacity(n * 5);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f32> = (0..5).map(|_| r.next()).collect();
        let mut label = ((row[0] > 0.5) != (row[1] > 0.5)) as u8 as f32;
        if r.next() < flip {
            label = 1.0 - label;
        }
        x.extend(row);
        y.push(label);
    }
    (x, y)
}

#[test]
fn learns_an_interaction_no_single_feature_shows() {
    let (x, y) = xor(4000, 0.02, 1);
    let p = GbdtParams {
        n_trees: 60,
        max_depth: 3,
        threads: 1,
        ..GbdtParams::default()
    };
    let m = p.fit(&x, 5, &y).unwrap();
    let (tx, ty) = xor(2000, 0.0, 2);
    let correct = tx
        .chunks_exact(5)
        .zip(&ty)
        .filter(|(row, y)| (m.probability(row) > 0.5) == (**y == 1.0))
        .count();
    assert!(
        correct as f64 / 2000.0 > 0.97,
        "accuracy {}",
        correct as f64 / 2000.0
    );
    // The noise features carry (almost) nothing.
    let (phi, _) = m.contributions(&tx[..5]);
    assert!(
        phi[0].abs() + phi[1].abs() > 10.0 * (phi[2].abs() + phi[3].abs() + phi[4].abs()),
        "{phi:?}"
    );
}

#[test]
fn training_is_deterministic_whatever_the_thread_count() {
    let (x, y) = xor(6000, 0.1, 3);
    let p = GbdtParams {
        n_trees: 20,
        threads: 1,
        ..GbdtParams::default()
    };
    let a = p.fit(&x, 5, &y).unwrap();
    let b = GbdtParams { threads: 2, ..p }.fit(&x, 5, &y).unwrap();
    assert!(
        a.trees == b.trees && a.base_margin == b.base_margin,
        "threads changed the model"
    );
}

#[test]
fn a_stump_attributes_everything_to_its_feature() {
    // Label = feature 2 > 0.5, nothing else: one split on feature 2.
    let mut r = Lcg(9);
    let x: Vec<f32> = (0..3000).map(|_| r.next()).collect();
    let y: Vec<f32> = x
        .chunks_exact(3)
        .map(|row| (row[2] > 0.5) as u8 as f32)
        .collect();
    let p = GbdtParams {
        n_trees: 1,
        max_depth: 1,
        learning_rate: 1.0,
        threads: 1,
        ..GbdtParams::default()
    };
    let m = p.fit(&x, 3, &y).unwrap();
    let row = [0.9, 0.1, 0.9];
    let (phi, bias) = m.contributions(&row);
    assert_eq!((phi[0], phi[1]), (0.0, 0.0));
    assert!((bias + phi[2] - m.margin(&row)).abs() < 1e-9);
    // Exactly: the leaf's value minus the cover-weighted mean of both leaves.
    let t = &m.trees[0];
    let (l, r) = (
        &t.nodes[t.nodes[0].left as usize],
        &t.nodes[t.nodes[0].right as usize],
    );
    let expected = (l.cover * l.value + r.cover * r.value) / t.nodes[0].cover;
    assert!((phi[2] - (r.value - expected)).abs() < 1e-9);
}

#[test]
fn class_weighting_moves_the_intercept_and_bad_input_is_an_error() {
    let (x, y) = xor(1000, 0.0, 4);
    let plain = GbdtParams {
        n_trees: 1,
        ..GbdtParams::default()
    }
    .fit(&x, 5, &y)
    .unwrap();
    let heavy = GbdtParams {
        n_trees: 1,
        scale_pos_weight: 4.0,
        ..GbdtParams::default()
    }
    .fit(&x, 5, &y)
    .unwrap();
    assert!(heavy.base_margin > plain.base_margin + 1.0);
    let p = GbdtParams::default();
    assert!(matches!(p.fit(&x, 4, &y), Err(GbdtError::Shape { .. })));
    assert!(matches!(
        p.fit(&x, 5, &vec![1.0; 1000]),
        Err(GbdtError::Labels(_))
    ));
    assert!(matches!(
        p.fit(&x[..5], 5, &[2.0]),
        Err(GbdtError::Labels(_))
    ));
    let zero = GbdtParams { n_trees: 0, ..p };
    assert!(matches!(zero.fit(&x, 5, &y), Err(GbdtError::Parameter(_))));
}

/// A path with more distinct features than a leaf is tabulated for (13 splits, each on
/// its own feature) is walked row by row, with the same contributions.
#[test]
fn a_path_too_long_to_tabulate_is_walked() {
    let splits = 13u32;
    let mut nodes = Vec::new();
    let mut cover = 8192.0;
    for f in 0..splits {
        // Node 2f splits on feature f: its left child (2f + 1) is a leaf, its right
        // child (2f + 2) the next split or the last leaf.
        let leaf_cover = cover / 3.0;
        nodes.push(Node {
            feature: f,
            threshold: 0.5,
            left: 2 * f + 1,
            right: 2 * f + 2,
            value: 0.0,
            cover,
            gain: 1.0,
        });
        nodes.push(Node {
            feature: u32::MAX,
            threshold: 0.0,
            left: 0,
            right: 0,
            value: f64::from(f) * 0.1 - 0.5,
            cover: leaf_cover,
            gain: 0.0,
        });
        cover -= leaf_cover;
    }
    nodes.push(Node {
        feature: u32::MAX,
        threshold: 0.0,
        left: 0,
        right: 0,
        value: 0.9,
        cover,
        gain: 0.0,
    });
    let tree = Tree { nodes };
    let m = Gbdt {
        dims: splits as usize,
        base_margin: 0.25,
        trees: vec![tree.clone(), tree],
        params: GbdtParams::default(),
    };
    let mut r = Lcg(7);
    let x: Vec<f32> = (0..50 * splits as usize)
        .map(|_| r.next() * 0.6 + 0.2)
        .collect();
    let (many, bias) = m.contributions_many(&x, 2);
    for (row, phi) in x
        .chunks_exact(splits as usize)
        .zip(many.chunks_exact(splits as usize))
    {
        let (one, one_bias) = m.contributions(row);
        assert_eq!((phi, bias), (&one[..], one_bias));
        assert!((bias + phi.iter().sum::<f64>() - m.margin(row)).abs() < 1e-9);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Local accuracy: bias + Σ φ = margin, for any data, depth and row (NaN included).
    #[test]
    fn contributions_sum_to_the_margin(seed in 0u64..1000, depth in 1usize..7, dims in 1usize..6, nan_row in any::<bool>()) {
        let mut r = Lcg(seed);
        let n = 300;
        // Coarse values make repeated splits on one feature along a path common.
        let x: Vec<f32> = (0..n * dims).map(|_| (r.next() * 6.0).floor()).collect();
        let y: Vec<f32> = x.chunks_exact(dims).map(|row| ((row.iter().sum::<f32>() + r.next() * 4.0) > 3.0 * dims as f32) as u8 as f32).collect();
        prop_assume!(y.contains(&1.0) && y.contains(&0.0));
        let p = GbdtParams { n_trees: 8, max_depth: depth, threads: 1, min_child_weight: 0.01, ..GbdtParams::default() };
        let m = p.fit(&x, dims, &y).unwrap();
        for row in x.chunks_exact(dims).take(25) {
            let mut row = row.to_vec();
            if nan_row { row[0] = f32::NAN; }
            let (phi, bias) = m.contributions(&row);
            let total = bias + phi.iter().sum::<f64>();
            prop_assert!((total - m.margin(&row)).abs() < 1e-6, "{} vs {}", total, m.margin(&row));
        }
    }

    /// Many rows at once (leaves tabulated per subset of their path's features) give each
    /// row's contributions and bias, on paths that split one feature again and again.
    #[test]
    fn contributions_of_many_rows_are_each_rows(seed in 0u64..1000, depth in 1usize..9, dims in 1usize..6, threads in 1usize..4) {
        let mut r = Lcg(seed);
        let n = 400;
        let mut x: Vec<f32> = (0..n * dims).map(|_| (r.next() * 6.0).floor()).collect();
        let y: Vec<f32> = x.chunks_exact(dims).map(|row| ((row.iter().sum::<f32>() + r.next() * 4.0) > 3.0 * dims as f32) as u8 as f32).collect();
        prop_assume!(y.contains(&1.0) && y.contains(&0.0));
        let p = GbdtParams { n_trees: 6, max_depth: depth, threads: 1, min_child_weight: 0.01, ..GbdtParams::default() };
        let m = p.fit(&x, dims, &y).unwrap();
        x[0] = f32::NAN;
        let (many, bias) = m.contributions_many(&x, threads);
        prop_assert_eq!(many.len(), x.len());
        for (row, phi) in x.chunks_exact(dims).zip(many.chunks_exact(dims)) {
            let (one, one_bias) = m.contributions(row);
            prop_assert_eq!(bias, one_bias);
            for (a, b) in phi.iter().zip(&one) {
                prop_assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{:?} vs {:?}", phi, one);
            }
            let total = bias + phi.iter().sum::<f64>();
            prop_assert!((total - m.margin(row)).abs() < 1e-6);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Batch prediction (trees packed into complete arrays, 8 rows in lockstep) gives the
    /// row-by-row walk's probabilities bit for bit: any depth (shallow leaves are padded),
    /// NaN and ±∞ values, row counts that leave a remainder, any thread count.
    #[test]
    fn batch_probabilities_equal_the_row_walk(seed in 0u64..1000, depth in 1usize..9, dims in 1usize..7, rows in 1usize..60, threads in 1usize..4) {
        let mut r = Lcg(seed);
        let n = 400;
        let x: Vec<f32> = (0..n * dims).map(|_| (r.next() * 8.0).floor()).collect();
        let y: Vec<f32> = x.chunks_exact(dims).map(|row| ((row[0] + r.next() * 6.0) > 6.0) as u8 as f32).collect();
        prop_assume!(y.contains(&1.0) && y.contains(&0.0));
        let p = GbdtParams { n_trees: 12, max_depth: depth, threads: 1, min_child_weight: 0.01, ..GbdtParams::default() };
        let m = p.fit(&x, dims, &y).unwrap();
        let specials = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.5, 7.0];
        let mut test: Vec<f32> = x[..rows * dims].to_vec();
        for (i, v) in test.iter_mut().enumerate() {
            if i % 5 == (seed % 5) as usize { *v = specials[i % specials.len()]; }
        }
        let batch = m.probabilities(&test, threads);
        prop_assert_eq!(batch.len(), rows);
        for (row, b) in test.chunks_exact(dims).zip(&batch) {
            prop_assert_eq!(b.to_bits(), m.probability(row).to_bits());
        }
    }
}

#[test]
fn saved_models_predict_identically_and_damaged_ones_are_refused() {
    let (x, y) = xor(1500, 0.02, 3);
    let p = GbdtParams {
        n_trees: 20,
        max_depth: 3,
        ..GbdtParams::default()
    };
    let m = p.fit(&x, 5, &y).unwrap();
    let bytes = m.to_bytes();
    let back = shrike_gbdt::Gbdt::from_bytes(&bytes).unwrap();
    assert_eq!(back.probabilities(&x, 1), m.probabilities(&x, 1));
    assert!(matches!(
        shrike_gbdt::Gbdt::from_bytes(&bytes[3..]),
        Err(GbdtError::Corrupt(_))
    ));
    // A split pointing back to the root would loop forever: refused.
    let mut cyclic = m.clone();
    let split = cyclic.trees[0]
        .nodes
        .iter()
        .position(|n| !n.is_leaf())
        .unwrap();
    cyclic.trees[0].nodes[split].left = 0;
    assert!(shrike_gbdt::Gbdt::from_bytes(&cyclic.to_bytes()).is_err());
    let mut wide = m;
    wide.trees[1].nodes[0].feature = 9;
    assert!(shrike_gbdt::Gbdt::from_bytes(&wide.to_bytes()).is_err());
}
