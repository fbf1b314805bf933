//! Quality on real anomaly-detection data: the ADBench classical datasets in
//! `../shared/data/adbench-classical` (or `$SHRIKE_SHARED_DATA/adbench-classical`).
//! The full side-by-side comparison with isotree and scikit-learn is `shrike bench forest`
//! (docs/FOREST.md); this test pins a floor on a few small datasets.

use std::path::PathBuf;

use shrike_forest::dataset::{roc_auc, Dataset};
use shrike_forest::{ForestParams, IsolationForest};

fn data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join("adbench-classical");
    dir.is_dir().then_some(dir)
}

#[test]
fn forest_separates_anomalies_on_adbench() {
    let Some(dir) = data_dir() else {
        println!("skipped: adbench-classical not found (set SHRIKE_SHARED_DATA)");
        return;
    };
    // (dataset, floor for ndim 1, floor for ndim 3): published isolation-forest AUCs on
    // these sets are about 0.98, 0.99, 0.93 and 0.80; the floors leave room for seeds.
    for (name, floor1, floor3) in [
        ("4_breastw", 0.95, 0.95),
        ("42_WBC", 0.95, 0.95),
        ("6_cardio", 0.88, 0.88),
        ("38_thyroid", 0.93, 0.90),
    ] {
        let ds = Dataset::load_npz(&dir.join(format!("{name}.npz"))).unwrap();
        assert_eq!(ds.x.len(), ds.rows() * ds.cols);
        for (ndim, floor) in [(1, floor1), (3, floor3)] {
            let p = ForestParams {
                ndim,
                seed: 1,
                ..ForestParams::default()
            };
            let f = IsolationForest::fit(&ds.x, ds.cols, &p).unwrap();
            let auc = roc_auc(&f.score(&ds.x).unwrap(), &ds.y).unwrap();
            println!("{name} ndim {ndim}: ROC-AUC {auc:.4}");
            assert!(auc >= floor, "{name} ndim {ndim}: AUC {auc:.4} < {floor}");
        }
    }
}
