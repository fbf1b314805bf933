//! DBSCAN against a brute-force reference, HDBSCAN on planted structure, k-means as a
//! Lloyd fixed point, the 2-D projection and hull, and the invariants they must keep
//! (permutation, duplicates, scale, thread count).

use proptest::prelude::*;
use shrike_cluster::{
    convex_hull, dbscan, hdbscan, kmeans, pca_2d, standardize, DbscanParams, HdbscanParams,
    KmeansParams,
};
use shrike_types::math;

/// A small deterministic generator (tests must not depend on a crate's RNG stream).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.next().max(1e-300), self.next());
        (-2.0 * math::ln(u)).sqrt() * math::cos(2.0 * std::f64::consts::PI * v)
    }
}

/// Gaussian blobs: `(centre, spread, count)` in `dims` dimensions, plus uniform noise.
fn blobs(spec: &[(f64, f64, usize)], noise: usize, dims: usize, seed: u64) -> (Vec<f64>, Vec<i32>) {
    let mut rng = Lcg(seed);
    let mut x = Vec::new();
    let mut truth = Vec::new();
    for (b, (centre, spread, count)) in spec.iter().enumerate() {
        for _ in 0..*count {
            for d in 0..dims {
                let c = if d % 2 == 0 { *centre } else { -centre };
                x.push(c + spread * rng.normal());
            }
            truth.push(b as i32);
        }
    }
    for _ in 0..noise {
        for _ in 0..dims {
            x.push(rng.next() * 200.0 - 100.0);
        }
        truth.push(-1);
    }
    (x, truth)
}

/// The partition a labelling induces, as "same cluster" for every pair (noise: alone).
fn same_partition(a: &[Option<u32>], b: &[Option<u32>]) -> bool {
    a.len() == b.len()
        && (0..a.len()).all(|i| {
            (0..a.len()).all(|j| {
                let sa = a[i].is_some() && a[i] == a[j];
                let sb = b[i].is_some() && b[i] == b[j];
                sa == sb && a[i].is_none() == b[i].is_none()
            })
        })
}

/// Straightforward DBSCAN: core by counting, cores joined by flood fill, border rows to
/// their nearest core row (ties to the lower index).
fn reference_dbscan(x: &[f64], dims: usize, eps: f64, min_samples: usize) -> Vec<Option<u32>> {
    let n = x.len() / dims;
    let d = |i: usize, j: usize| -> f64 {
        (0..dims)
            .map(|k| (x[i * dims + k] - x[j * dims + k]).powi(2))
            .sum::<f64>()
    };
    let eps2 = eps * eps;
    let core: Vec<bool> = (0..n)
        .map(|i| (0..n).filter(|j| d(i, *j) <= eps2).count() >= min_samples)
        .collect();
    let mut comp = vec![usize::MAX; n];
    for s in 0..n {
        if !core[s] || comp[s] != usize::MAX {
            continue;
        }
        comp[s] = s;
        let mut stack = vec![s];
        while let Some(i) = stack.pop() {
            for j in 0..n {
                if core[j] && comp[j] == usize::MAX && d(i, j) <= eps2 {
                    comp[j] = s;
                    stack.push(j);
                }
            }
        }
    }
    let raw: Vec<Option<usize>> = (0..n)
        .map(|i| {
            if core[i] {
                Some(comp[i])
            } else {
                (0..n)
                    .filter(|j| core[*j] && d(i, *j) <= eps2)
                    .min_by(|a, b| d(i, *a).total_cmp(&d(i, *b)).then(a.cmp(b)))
                    .map(|j| comp[j])
            }
        })
        .collect();
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

#[test]
fn dbscan_recovers_separated_blobs_and_leaves_scattered_rows_as_noise() {
    let (x, truth) = blobs(
        &[(10.0, 0.3, 40), (-10.0, 0.3, 60), (30.0, 0.3, 25)],
        15,
        6,
        7,
    );
    let labels = dbscan(
        &x,
        6,
        &DbscanParams {
            eps: 2.0,
            min_samples: 5,
            threads: 2,
        },
    )
    .unwrap();
    let expected: Vec<Option<u32>> = truth
        .iter()
        .map(|t| (*t >= 0).then_some(*t as u32))
        .collect();
    assert!(same_partition(&labels, &expected), "{labels:?}");
    // Labels are numbered by first row.
    assert_eq!(labels[0], Some(0));
    assert_eq!(labels[40], Some(1));
}

/// Dense clusters of thousands of rows, a sparse cloud that bridges some of them and
/// scattered noise: the rows a k-d subtree already joined are skipped (step 2), and the
/// result is still exactly the reference's.
#[test]
fn dbscan_on_dense_clusters_equals_the_reference() {
    for seed in 1..4 {
        let (x, _) = blobs(
            &[
                (2.0, 0.5, 700),
                (-2.0, 0.5, 500),
                (0.0, 1.5, 200),
                (9.0, 0.05, 200),
            ],
            100,
            4,
            seed,
        );
        let params = DbscanParams {
            eps: 0.45,
            min_samples: 6,
            threads: 2,
        };
        let got = dbscan(&x, 4, &params).unwrap();
        assert_eq!(got, reference_dbscan(&x, 4, 0.45, 6), "seed {seed}");
        assert!(
            got.iter().flatten().max() > Some(&0),
            "seed {seed}: one cluster only"
        );
    }
}

/// Rows that span fewer directions than they have columns (three rows in 3-D, and rows on
/// a plane in 6-D): the principal axes past their rank must not cut real neighbours away.
#[test]
fn dbscan_on_rows_of_lower_rank_than_their_columns_equals_the_reference() {
    let three = [0.0, 4.0, 0.0, 3.0, 1.0, 3.5, 2.5, 1.0, 2.5];
    let params = DbscanParams {
        eps: 1.2712932586814492,
        min_samples: 1,
        threads: 1,
    };
    let got = dbscan(&three, 3, &params).unwrap();
    assert_eq!(got, vec![Some(0), Some(1), Some(1)]);

    let mut plane = Vec::new();
    for i in 0..40 {
        for j in 0..40 {
            let (u, v) = (i as f64 * 0.25, j as f64 * 0.5);
            plane.extend([u, v, u + v, u - v, 2.0 * u, 0.5 * v]);
        }
    }
    let params = DbscanParams {
        eps: 0.9,
        min_samples: 3,
        threads: 2,
    };
    assert_eq!(
        dbscan(&plane, 6, &params).unwrap(),
        reference_dbscan(&plane, 6, 0.9, 3)
    );
}

#[test]
fn dbscan_merges_identical_rows_into_one_weighted_point() {
    // 6 identical rows form a cluster on their own (weight 6 >= 5); 4 identical do not.
    let mut x = [1.0, 2.0].repeat(6);
    x.extend([50.0, 50.0].repeat(4));
    let labels = dbscan(
        &x,
        2,
        &DbscanParams {
            eps: 0.1,
            min_samples: 5,
            threads: 1,
        },
    )
    .unwrap();
    assert_eq!(labels[..6], [Some(0); 6]);
    assert_eq!(labels[6..], [None; 4]);
}

#[test]
fn hdbscan_separates_clusters_of_different_density_that_one_eps_cannot() {
    // A tight cluster, a loose one, and noise: no single DBSCAN eps gets both right.
    let (x, truth) = blobs(&[(10.0, 0.05, 50), (-10.0, 2.0, 80)], 10, 4, 11);
    let labels = hdbscan(
        &x,
        4,
        &HdbscanParams {
            min_cluster_size: 10,
            min_samples: 5,
            ..Default::default()
        },
    )
    .unwrap();
    let (tight, loose) = (labels[0], labels[60]);
    assert!(
        tight.is_some() && loose.is_some() && tight != loose,
        "{labels:?}"
    );
    for (i, t) in truth.iter().enumerate() {
        match t {
            0 => assert_eq!(labels[i], tight, "row {i}"),
            1 => assert!(
                labels[i] == loose || labels[i].is_none(),
                "row {i}: {:?}",
                labels[i]
            ),
            _ => {}
        }
    }
    let loose_kept = (50..130).filter(|i| labels[*i] == loose).count();
    assert!(loose_kept >= 70, "only {loose_kept} of 80 loose rows kept");
    let noise_kept = (130..140).filter(|i| labels[*i].is_some()).count();
    assert!(noise_kept <= 2, "{noise_kept} noise rows clustered");
    for eps in [0.3, 3.0] {
        let d = dbscan(
            &x,
            4,
            &DbscanParams {
                eps,
                min_samples: 5,
                threads: 1,
            },
        )
        .unwrap();
        let expected: Vec<Option<u32>> = truth
            .iter()
            .map(|t| (*t >= 0).then_some(*t as u32))
            .collect();
        assert!(
            !same_partition(&d, &expected),
            "eps {eps} unexpectedly recovered both"
        );
    }
}

#[test]
fn hdbscan_selection_epsilon_keeps_a_campaign_of_duplicate_groups_whole() {
    // Ten groups of 10 identical rows, the groups 0.01 apart, and a far cluster.
    let mut x = Vec::new();
    for g in 0..10 {
        for _ in 0..10 {
            x.extend([g as f64 * 0.01, 0.0]);
        }
    }
    let (far, _) = blobs(&[(40.0, 1.0, 30)], 0, 2, 3);
    x.extend(far);
    let leafy = hdbscan(&x, 2, &HdbscanParams::default()).unwrap();
    let groups: std::collections::BTreeSet<_> = leafy[..100].iter().collect();
    assert!(
        groups.len() > 1,
        "without epsilon each duplicate group is its own cluster"
    );
    let merged = hdbscan(
        &x,
        2,
        &HdbscanParams {
            cluster_selection_epsilon: 0.5,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(merged[..100].iter().all(|l| *l == Some(0)), "{merged:?}");
    assert!(merged[100..].iter().all(|l| l.is_some() && *l != Some(0)));
}

#[test]
fn standardize_gives_unit_variance_and_drops_constant_columns() {
    let x = vec![1.0, 5.0, 3.0, 2.0, 5.0, 6.0, 3.0, 5.0, 9.0];
    let (z, kept) = standardize(&x, 3).unwrap();
    assert_eq!(kept, vec![0, 2]);
    for c in 0..2 {
        let col: Vec<f64> = z.chunks(2).map(|r| r[c]).collect();
        let mean = col.iter().sum::<f64>() / 3.0;
        let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
        assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-12);
    }
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    assert!(dbscan(&[1.0, 2.0, 3.0], 2, &DbscanParams::default()).is_err());
    assert!(dbscan(&[1.0, f64::NAN], 2, &DbscanParams::default()).is_err());
    assert!(dbscan(
        &[1.0, 2.0],
        2,
        &DbscanParams {
            eps: 0.0,
            ..Default::default()
        }
    )
    .is_err());
    assert!(hdbscan(
        &[1.0, 2.0],
        2,
        &HdbscanParams {
            min_cluster_size: 1,
            ..Default::default()
        }
    )
    .is_err());
    assert_eq!(hdbscan(&[], 2, &HdbscanParams::default()).unwrap(), vec![]);
    assert_eq!(dbscan(&[], 2, &DbscanParams::default()).unwrap(), vec![]);
}

fn rows() -> impl Strategy<Value = (Vec<f64>, usize)> {
    (1usize..4).prop_flat_map(|dims| {
        // Coarse values make ties and duplicates frequent.
        (
            proptest::collection::vec(0i32..12, dims..dims * 90),
            Just(dims),
        )
            .prop_map(|(v, d)| {
                let n = v.len() / d * d;
                (v[..n].iter().map(|x| *x as f64 * 0.5).collect(), d)
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn dbscan_equals_the_brute_force_reference((x, dims) in rows(), eps in 0.4f64..3.0, min_samples in 1usize..7, threads in 1usize..3) {
        let got = dbscan(&x, dims, &DbscanParams { eps, min_samples, threads }).unwrap();
        let want = reference_dbscan(&x, dims, eps, min_samples);
        prop_assert_eq!(got, want);
    }

    #[test]
    fn hdbscan_does_not_depend_on_row_order((x, dims) in rows(), rot in 0usize..1000) {
        let p = HdbscanParams { min_cluster_size: 4, min_samples: 3, cluster_selection_epsilon: 0.0, threads: 1 };
        let a = hdbscan(&x, dims, &p).unwrap();
        let n = x.len() / dims;
        let r = rot % n.max(1);
        let mut y = x[r * dims..].to_vec();
        y.extend_from_slice(&x[..r * dims]);
        let b = hdbscan(&y, dims, &p).unwrap();
        let mut b_back = b[n - r..].to_vec();
        b_back.extend_from_slice(&b[..n - r]);
        prop_assert!(same_partition(&a, &b_back), "{:?} vs {:?}", a, b_back);
    }
}

#[test]
fn kmeans_recovers_separated_blobs_whatever_the_thread_count() {
    let (x, truth) = blobs(
        &[(0.0, 1.0, 400), (20.0, 1.0, 300), (-20.0, 2.0, 200)],
        0,
        4,
        7,
    );
    let p = KmeansParams {
        k: 3,
        threads: 1,
        ..KmeansParams::default()
    };
    let one = kmeans(&x, 4, &p).unwrap();
    let two = kmeans(&x, 4, &KmeansParams { threads: 2, ..p }).unwrap();
    assert_eq!(one, two, "threads must not change the result");
    let got: Vec<Option<u32>> = one.labels.iter().map(|l| Some(*l)).collect();
    let want: Vec<Option<u32>> = truth.iter().map(|t| Some(*t as u32)).collect();
    assert!(same_partition(&got, &want));
    assert!(one.iterations < 80);
}

#[test]
fn kmeans_rejects_impossible_parameters() {
    let x = [0.0, 1.0, 2.0];
    assert!(kmeans(
        &x,
        1,
        &KmeansParams {
            k: 4,
            ..KmeansParams::default()
        }
    )
    .is_err());
    assert!(kmeans(
        &x,
        1,
        &KmeansParams {
            k: 0,
            ..KmeansParams::default()
        }
    )
    .is_err());
    assert!(kmeans(
        &[f64::NAN, 1.0],
        1,
        &KmeansParams {
            k: 1,
            ..KmeansParams::default()
        }
    )
    .is_err());
}

#[test]
fn pca_orders_rows_along_their_main_direction_and_scales_to_unit_square() {
    // Rows on a line in 3-D, with a small orthogonal wobble.
    let x: Vec<f64> = (0..50)
        .flat_map(|i| {
            let t = i as f64;
            let w = if i % 2 == 0 { 0.1 } else { -0.1 };
            [t, 2.0 * t + w, -t]
        })
        .collect();
    let p = pca_2d(&x, 3).unwrap();
    assert!(p
        .iter()
        .all(|q| (0.0..=1.0).contains(&q[0]) && (0.0..=1.0).contains(&q[1])));
    let first: Vec<f64> = p.iter().map(|q| q[0]).collect();
    let increasing = first.windows(2).all(|w| w[1] > w[0]);
    let decreasing = first.windows(2).all(|w| w[1] < w[0]);
    assert!(
        increasing || decreasing,
        "the first axis follows the line: {first:?}"
    );
    assert_eq!(pca_2d(&x, 3).unwrap(), p, "deterministic");
}

#[test]
fn hull_keeps_only_the_corners() {
    let mut pts = vec![
        [0.0, 0.0],
        [1.0, 0.0],
        [1.0, 1.0],
        [0.0, 1.0],
        [0.5, 0.5],
        [0.5, 0.0],
        [0.2, 0.7],
    ];
    pts.reverse();
    let h = convex_hull(&pts);
    assert_eq!(h, vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
    assert_eq!(convex_hull(&[[1.0, 1.0], [1.0, 1.0]]), vec![[1.0, 1.0]]);
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Hamerly's bounds skip distance computations, never correctness: once converged,
    /// every row is with a nearest centre and every centre is its members' mean.
    #[test]
    fn kmeans_converges_to_a_lloyd_fixed_point((x, dims) in rows(), k in 1usize..6, seed in 0u64..50, threads in 1usize..3) {
        let n = x.len() / dims;
        prop_assume!(n >= k);
        let p = KmeansParams { k, n_init: 2, max_iter: 300, seed, tol: 0.0, threads };
        let km = kmeans(&x, dims, &p).unwrap();
        prop_assume!(km.iterations < 300);
        let c = |j: usize| &km.centroids[j * dims..(j + 1) * dims];
        let mut inertia = 0.0;
        for (i, row) in x.chunks_exact(dims).enumerate() {
            let own = dist2(row, c(km.labels[i] as usize));
            let best = (0..k).map(|j| dist2(row, c(j))).fold(f64::INFINITY, f64::min);
            prop_assert!(own <= best + 1e-9, "row {} is {} from its centre, {} from the nearest", i, own, best);
            inertia += own;
        }
        prop_assert!((inertia - km.inertia).abs() <= 1e-6 * (1.0 + inertia));
        for j in 0..k {
            let members: Vec<&[f64]> = x.chunks_exact(dims).zip(&km.labels).filter(|(_, l)| **l as usize == j).map(|(r, _)| r).collect();
            if members.is_empty() {
                continue;
            }
            for d in 0..dims {
                let mean = members.iter().map(|r| r[d]).sum::<f64>() / members.len() as f64;
                prop_assert!((mean - c(j)[d]).abs() < 1e-9, "centre {} is not its members' mean", j);
            }
        }
    }
}
