//! Louvain on graphs whose communities are known.

use proptest::prelude::*;
use shrike_graph::{louvain, modularity, Graph, LouvainOptions};
use shrike_types::Rng;

/// `k` cliques of `size` nodes, clique `c` joined to clique `c + 1` by one edge.
fn ring_of_cliques(k: u32, size: u32) -> Graph {
    let mut edges = Vec::new();
    for c in 0..k {
        let base = c * size;
        for a in 0..size {
            for b in a + 1..size {
                edges.push((base + a, base + b, 1.0));
            }
        }
        edges.push((base, ((c + 1) % k) * size + 1, 1.0));
    }
    Graph::from_edges((k * size) as usize, edges)
}

#[test]
fn a_ring_of_cliques_splits_into_its_cliques() {
    let g = ring_of_cliques(10, 6);
    assert_eq!(g.edges(), 10 * 15 + 10);
    let c = louvain(&g, &LouvainOptions::default());
    assert_eq!(c.count, 10, "{c:?}");
    for clique in c.of.chunks(6) {
        assert!(clique.iter().all(|x| *x == clique[0]), "{clique:?}");
    }
    // Each clique: 15 inner edges, and its two ring edges add 2 to its degree sum; m = 160.
    let m: f64 = 160.0;
    let expected = 10.0 * (15.0 / m - (32.0 / (2.0 * m)).powi(2));
    assert!(
        (c.modularity - expected).abs() < 1e-9,
        "{} vs {expected}",
        c.modularity
    );
    assert!((modularity(&g, &c.of, 1.0) - c.modularity).abs() < 1e-12);
}

#[test]
fn a_long_ring_of_small_cliques_shows_the_resolution_limit() {
    // Modularity's known limit (Fortunato & Barthélemy 2007): with more cliques than about
    // √m, merging neighbouring cliques scores higher, and Louvain finds that; a higher
    // resolution separates them again.
    let g = ring_of_cliques(30, 5);
    let c = louvain(&g, &LouvainOptions::default());
    assert!(c.count < 30, "{}", c.count);
    let m: f64 = 330.0;
    let apart = 30.0 * (10.0 / m - (22.0 / (2.0 * m)).powi(2));
    assert!(c.modularity > apart);
    let fine = louvain(
        &g,
        &LouvainOptions {
            resolution: 2.0,
            ..Default::default()
        },
    );
    assert_eq!(fine.count, 30);
}

/// A planted partition: `groups` groups of `size`, edge probability `p_in` inside a group
/// and `p_out` across, weights in [1, 3).
fn planted(groups: u32, size: u32, p_in: f64, p_out: f64, seed: u64) -> (Graph, Vec<u32>) {
    let mut rng = Rng::seed_from_u64(seed);
    let n = groups * size;
    let truth: Vec<u32> = (0..n).map(|i| i / size).collect();
    let mut edges = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            let p = if truth[a as usize] == truth[b as usize] {
                p_in
            } else {
                p_out
            };
            if rng.chance(p) {
                edges.push((a, b, 1.0 + 2.0 * rng.f64()));
            }
        }
    }
    (Graph::from_edges(n as usize, edges), truth)
}

#[test]
fn a_planted_partition_is_recovered() {
    let (g, truth) = planted(8, 40, 0.3, 0.01, 7);
    let c = louvain(&g, &LouvainOptions::default());
    assert_eq!(c.count, 8, "{c:?}");
    // Pairs of nodes: same community in the result iff in the same group (Rand index 1).
    let n = truth.len();
    let mut disagree = 0;
    for a in 0..n {
        for b in a + 1..n {
            disagree += usize::from((truth[a] == truth[b]) != (c.of[a] == c.of[b]));
        }
    }
    assert_eq!(disagree, 0);
    assert!(c.modularity > modularity(&g, &truth, 1.0) - 1e-9);
}

#[test]
fn the_same_seed_gives_the_same_communities_and_weights_matter() {
    let (g, _) = planted(6, 30, 0.2, 0.03, 3);
    let a = louvain(
        &g,
        &LouvainOptions {
            seed: 9,
            ..Default::default()
        },
    );
    let b = louvain(
        &g,
        &LouvainOptions {
            seed: 9,
            ..Default::default()
        },
    );
    assert_eq!(a, b);
    // Two triangles joined by a light edge are two communities.
    let two = |bridge: f64| {
        Graph::from_edges(
            6,
            [
                (0, 1, 1.0),
                (1, 2, 1.0),
                (0, 2, 1.0),
                (3, 4, 1.0),
                (4, 5, 1.0),
                (3, 5, 1.0),
                (2, 3, bridge),
            ],
        )
    };
    let light = louvain(&two(0.1), &LouvainOptions::default());
    assert_eq!(light.of, vec![0, 0, 0, 1, 1, 1]);
    // A bridge far heavier than the triangles pulls its two ends together.
    let heavy = louvain(&two(50.0), &LouvainOptions::default());
    assert_eq!(heavy.of[2], heavy.of[3]);
    assert_ne!(heavy.of[0], heavy.of[2]);
}

#[test]
fn empty_and_edgeless_graphs_are_singletons() {
    let c = louvain(&Graph::from_edges(0, []), &LouvainOptions::default());
    assert_eq!(c.count, 0);
    let c = louvain(&Graph::from_edges(4, []), &LouvainOptions::default());
    assert_eq!(c.of, vec![0, 1, 2, 3]);
    assert_eq!(c.modularity, 0.0);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// On any graph, the result is a valid numbering whose modularity is what it claims and
    /// no worse than leaving every node alone.
    #[test]
    fn louvain_never_does_worse_than_singletons(
        n in 1usize..60,
        raw in proptest::collection::vec((0u32..60, 0u32..60, 0.1f64..5.0), 0..300),
        seed in 0u64..1000,
    ) {
        let edges: Vec<_> = raw.into_iter().map(|(a, b, w)| (a % n as u32, b % n as u32, w)).collect();
        let g = Graph::from_edges(n, edges);
        let c = louvain(&g, &LouvainOptions { seed, ..Default::default() });
        prop_assert_eq!(c.of.len(), n);
        prop_assert!(c.of.iter().all(|x| (*x as usize) < c.count));
        let singletons: Vec<u32> = (0..n as u32).collect();
        prop_assert!((modularity(&g, &c.of, 1.0) - c.modularity).abs() < 1e-9);
        prop_assert!(c.modularity >= modularity(&g, &singletons, 1.0) - 1e-9);
    }
}
