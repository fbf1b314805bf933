use proptest::prelude::*;
use shrike_types::{math, Rng};

use super::*;
use crate::net::{fast_exp, fast_tanh};

/// Rows on a curved two-dimensional manifold in `dims` dimensions, plus noise.
fn manifold(n: usize, dims: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(n * dims);
    for _ in 0..n {
        let (a, b) = (rng.f64(), rng.f64());
        for j in 0..dims {
            let v = match j % 3 {
                0 => a,
                1 => b * b,
                _ => 0.5 * (a + b) + 0.1 * math::sin(j as f64 * a),
            };
            out.push((v + 0.02 * rng.normal()) as f32);
        }
    }
    out
}

fn small() -> FlowParams {
    FlowParams {
        blocks: 2,
        hidden: 6,
        epochs: 0,
        ..FlowParams::default()
    }
}

#[test]
fn analytic_gradients_match_finite_differences() {
    let d = 5;
    let data = manifold(40, d, 1);
    let mut flow = small().fit(&data, d).unwrap();
    // Move away from the identity-like start so that every term matters.
    let mut rng = Rng::seed_from_u64(9);
    flow.params
        .iter_mut()
        .for_each(|p| *p += (rng.f64() as f32 - 0.5) * 2.0);
    let x = flow.scale(&data);
    let n = x.len() / d;
    let mut work = Work::default();
    let loss = |f: &Flow| {
        let mut w = Work::default();
        f.net().train_part(&x, n, &mut w) / n as f64
    };
    flow.net().train_part(&x, n, &mut work);
    let analytic = work.grad.clone();
    let mut checked = 0;
    for (i, a) in analytic.iter().enumerate() {
        let eps = 4e-3f32;
        let keep = flow.params[i];
        flow.params[i] = keep + eps;
        let up = loss(&flow);
        flow.params[i] = keep - eps;
        let down = loss(&flow);
        flow.params[i] = keep;
        let numeric = (up - down) / (2.0 * f64::from(eps));
        let a = f64::from(*a);
        let scale = a.abs().max(numeric.abs());
        if scale > 0.02 {
            checked += 1;
            assert!(
                (a - numeric).abs() <= 0.03 * scale + 2e-3,
                "parameter {i}: analytic {a} vs numeric {numeric}"
            );
        }
    }
    assert!(
        checked > flow.params.len() / 4,
        "only {checked} gradients were large enough to check"
    );
}

#[test]
fn training_lowers_the_loss_and_separates_off_manifold_rows() {
    let d = 12;
    let train = manifold(4_000, d, 2);
    let p = FlowParams {
        epochs: 12,
        ..FlowParams::default()
    };
    let flow = p.fit(&train, d).unwrap();
    assert_eq!(flow.history.len(), 12);
    assert!(
        flow.history[11] < flow.history[0] - 5.0,
        "loss {:?}",
        flow.history
    );
    // Inliers from the same manifold against rows whose coordinates are shuffled between
    // rows (same marginals, broken structure).
    let inliers = manifold(500, d, 3);
    let mut rng = Rng::seed_from_u64(4);
    let mut outliers = manifold(500, d, 5);
    for j in 0..d {
        for i in (1..500).rev() {
            let k = rng.below(i as u64 + 1) as usize;
            outliers.swap(i * d + j, k * d + j);
        }
    }
    let si = flow.score(&inliers, 2).unwrap();
    let so = flow.score(&outliers, 2).unwrap();
    let wins = so
        .iter()
        .map(|o| si.iter().filter(|i| o > *i).count())
        .sum::<usize>();
    let auc = wins as f64 / (si.len() * so.len()) as f64;
    assert!(auc > 0.9, "ROC-AUC {auc}");
}

#[test]
fn the_result_does_not_depend_on_the_thread_count() {
    let d = 7;
    let data = manifold(700, d, 6);
    let p = FlowParams {
        epochs: 2,
        hidden: 16,
        ..FlowParams::default()
    };
    let one = FlowParams { threads: 1, ..p }.fit(&data, d).unwrap();
    let two = FlowParams { threads: 2, ..p }.fit(&data, d).unwrap();
    assert_eq!(one.params, two.params);
    assert_eq!(one.score(&data, 1).unwrap(), two.score(&data, 3).unwrap());
}

#[test]
fn saved_flows_load_identically_and_damaged_ones_are_refused() {
    let d = 4;
    let data = manifold(300, d, 7);
    let flow = FlowParams {
        epochs: 1,
        ..FlowParams::default()
    }
    .fit(&data, d)
    .unwrap();
    let bytes = flow.to_bytes();
    let back = Flow::from_bytes(&bytes).unwrap();
    assert_eq!(back, flow);
    assert!(matches!(
        Flow::from_bytes(&bytes[1..]),
        Err(FlowError::Corrupt(_))
    ));
    assert!(Flow::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    let mut broken = flow.clone();
    broken.perms[0][0] = broken.perms[0][1];
    assert!(Flow::from_bytes(&broken.to_bytes()).is_err());
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let p = FlowParams::default();
    assert!(matches!(
        p.fit(&[1.0, 2.0], 1),
        Err(FlowError::TooFewFeatures(1))
    ));
    assert!(matches!(
        p.fit(&[1.0, 2.0, 3.0], 2),
        Err(FlowError::Shape { .. })
    ));
    assert!(matches!(
        FlowParams { batch: 0, ..p }.fit(&[1.0, 2.0], 2),
        Err(FlowError::Parameter(_))
    ));
}

#[test]
fn missing_and_out_of_range_values_are_scored() {
    let d = 3;
    let data = manifold(300, d, 8);
    let flow = small().fit(&data, d).unwrap();
    let s = flow.score(&[f32::NAN, 1e30, -1e30], 1).unwrap();
    assert!(s[0].is_finite());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    /// The per-feature terms of a row add up to its score.
    #[test]
    fn contributions_sum_to_the_score(seed in 0u64..1_000, d in 2usize..9, epochs in 0usize..3) {
        let data = manifold(200, d, seed);
        let flow = FlowParams { blocks: 3, hidden: 8, epochs, seed, ..FlowParams::default() }
            .fit(&data, d)
            .unwrap();
        let rows = &data[..20 * d];
        let scores = flow.score(rows, 1).unwrap();
        let parts = flow.contributions(rows).unwrap();
        for (r, s) in scores.iter().enumerate() {
            let sum: f32 = parts[r * d..(r + 1) * d].iter().sum();
            prop_assert!((sum - s).abs() <= 1e-3 * s.abs().max(1.0), "{} vs {}", sum, s);
        }
        // The latent vectors give the same score's quadratic part.
        let z = flow.encode(rows, 1).unwrap();
        prop_assert_eq!(z.len(), rows.len());
    }
}

#[test]
fn fast_exp_and_tanh_are_accurate() {
    let mut x = -87.0f32;
    while x < 88.0 {
        let (want, got) = (math::expf(x), fast_exp(x));
        assert!(
            (got - want).abs() <= 3e-7 * want,
            "exp({x}): {got} vs {want}"
        );
        let (want, got) = (math::tanh(f64::from(x)) as f32, fast_tanh(x));
        assert!((got - want).abs() <= 1e-6, "tanh({x}): {got} vs {want}");
        x += 0.0137;
    }
}
