//! The forest's contract through its public API: conventions, determinism, missing
//! values, serialisation and the agreement of its two scoring paths.

use shrike_forest::{c_factor, raw_score, ForestError, ForestParams, IsolationForest};
use shrike_types::Rng;

fn blob(rows: usize, cols: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng::seed_from_u64(seed);
    (0..rows * cols).map(|_| rng.normal()).collect()
}

#[test]
fn c_factor_matches_the_published_values() {
    assert_eq!(c_factor(1), 0.0);
    assert_eq!(c_factor(2), 1.0);
    // c(256) = 2 H(255) - 2·255/256 ≈ 10.2448 (Liu et al.).
    assert!((c_factor(256) - 10.2448).abs() < 1e-3, "{}", c_factor(256));
}

#[test]
fn an_outlier_scores_above_every_inlier() {
    for ndim in [1, 3] {
        let mut data = blob(500, 4, 1);
        data.extend([8.0, -8.0, 8.0, 8.0]);
        let p = ForestParams {
            ndim,
            trees: 100,
            ..ForestParams::default()
        };
        let f = IsolationForest::fit(&data, 4, &p).unwrap();
        let s = f.score(&data).unwrap();
        let outlier = s[500];
        assert!(outlier > 0.6, "ndim {ndim}: outlier score {outlier}");
        assert!(s[..500].iter().all(|v| *v < outlier));
        assert!(s.iter().all(|v| (0.0..=1.0).contains(v)));
        assert!(raw_score(outlier) < 0.0);
    }
}

#[test]
fn batch_scoring_agrees_with_walking_one_row() {
    // The block traversal (ndim 1 to 3) and the per-row walk (and ndim > 3) are two
    // implementations of one definition; blocks of 2048 rows plus a partial one, with
    // missing values, must give every row the same score either way.
    let cols = 6;
    let mut data = blob(2500, cols, 3);
    for (i, v) in data.iter_mut().enumerate() {
        if i % 97 == 0 {
            *v = f64::NAN;
        }
    }
    for ndim in 1..=5 {
        let p = ForestParams {
            ndim,
            trees: 20,
            ..ForestParams::default()
        };
        let forest = IsolationForest::fit(&data, cols, &p).unwrap();
        let batch = forest.score(&data).unwrap();
        for (r, row) in data.chunks_exact(cols).enumerate() {
            let one = forest.score_row(row);
            assert!(
                (batch[r] - one).abs() < 1e-12,
                "ndim {ndim}, row {r}: {} vs {one}",
                batch[r]
            );
        }
        let back = IsolationForest::from_bytes(&forest.to_bytes()).unwrap();
        assert_eq!(
            back.score(&data).unwrap(),
            batch,
            "ndim {ndim} after a round trip"
        );
    }
}

#[test]
fn same_seed_same_forest_whatever_the_threads() {
    let data = blob(300, 5, 2);
    let a = IsolationForest::fit(
        &data,
        5,
        &ForestParams {
            threads: 1,
            ..ForestParams::default()
        },
    )
    .unwrap();
    let b = IsolationForest::fit(
        &data,
        5,
        &ForestParams {
            threads: 3,
            ..ForestParams::default()
        },
    )
    .unwrap();
    assert_eq!(a.score(&data).unwrap(), b.score(&data).unwrap());
    let c = IsolationForest::fit(
        &data,
        5,
        &ForestParams {
            seed: 7,
            ..ForestParams::default()
        },
    )
    .unwrap();
    assert_ne!(a.score(&data).unwrap(), c.score(&data).unwrap());
}

#[test]
fn missing_values_are_imputed_and_infinities_refused() {
    let mut data = blob(200, 3, 3);
    data[4] = f64::NAN;
    let f = IsolationForest::fit(&data, 3, &ForestParams::default()).unwrap();
    let s = f.score_row(&[f64::NAN, f64::NAN, f64::NAN]);
    assert!(s.is_finite() && s < 0.55, "the median row is typical: {s}");
    data[5] = f64::INFINITY;
    assert_eq!(
        IsolationForest::fit(&data, 3, &ForestParams::default()).unwrap_err(),
        ForestError::Infinite { row: 1, col: 2 }
    );
    assert!(matches!(
        f.score(&[1.0, 2.0]),
        Err(ForestError::Shape { expected: 3, .. })
    ));
}

#[test]
fn attribution_points_at_the_deviating_feature() {
    let data = blob(400, 5, 4);
    let f = IsolationForest::fit(&data, 5, &ForestParams::default()).unwrap();
    let imp = f.attribution(&[0.0, 0.0, 9.0, 0.0, 0.0]);
    let top = (0..5).max_by(|a, b| imp[*a].total_cmp(&imp[*b])).unwrap();
    assert_eq!(top, 2, "{imp:?}");
}

/// Attributions of many rows (each leaf's terms summed once, blocks of rows walked
/// together) are each row's, for every hyperplane size (4: the generic layout), over more
/// than one block, with missing values imputed.
#[test]
fn attributions_of_many_rows_are_each_rows() {
    for ndim in 1..=4 {
        let mut data = blob(2300, 5, 6);
        data[7] = f64::NAN;
        let params = ForestParams {
            ndim,
            trees: 40,
            ..ForestParams::default()
        };
        let f = IsolationForest::fit(&data, 5, &params).unwrap();
        let many = f.attributions(&data).unwrap();
        assert_eq!(many.len(), 2300);
        for (row, got) in data.chunks_exact(5).zip(&many) {
            let want = f.attribution(row);
            for (a, b) in got.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                    "ndim {ndim}: {got:?} vs {want:?}"
                );
            }
            assert!(want.iter().any(|v| *v > 0.0));
        }
    }
}

#[test]
fn serialisation_round_trips_and_damage_is_detected() {
    let data = blob(200, 4, 5);
    let f = IsolationForest::fit(&data, 4, &ForestParams::default()).unwrap();
    let bytes = f.to_bytes();
    let g = IsolationForest::from_bytes(&bytes).unwrap();
    assert_eq!(f.score(&data).unwrap(), g.score(&data).unwrap());
    assert!(matches!(
        IsolationForest::from_bytes(&bytes[..bytes.len() / 2]),
        Err(ForestError::Corrupt(_))
    ));
    assert!(matches!(
        IsolationForest::from_bytes(b"garbage"),
        Err(ForestError::Corrupt(_))
    ));
}
