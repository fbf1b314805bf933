//! Replays the committed fuzz corpora and regression inputs through every target on
//! stable: what libFuzzer found once, and the minimised corpus it grew from the real files
//! in ../shared/data, is run again on every CI run. An input that panics fails the test
//! with the file's name.

use std::path::{Path, PathBuf};

use shrike_fuzzing::{run, Target};

/// `fuzz/` of the checkout under test: cargo sets `CARGO_MANIFEST_DIR` when it runs the
/// test, which stays right when one target directory serves two checkouts.
fn fuzz_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn every_committed_input_runs_through_its_target() {
    let root = fuzz_dir();
    let mut total = 0usize;
    for target in Target::ALL {
        let corpus = files(&root.join("corpus").join(target.name()));
        // A target without a corpus would replay nothing and pass: refuse that.
        assert!(
            !corpus.is_empty(),
            "no committed corpus for fuzz target {} (fuzz/corpus/{0}/)",
            target.name()
        );
        let regressions = files(&root.join("regressions").join(target.name()));
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).unwrap();
            let outcome = std::panic::catch_unwind(|| run(target, &data));
            assert!(
                outcome.is_ok(),
                "{} panics on {}",
                target.name(),
                path.display()
            );
            total += 1;
        }
    }
    println!("{total} inputs replayed");
}
