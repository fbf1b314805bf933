"""isotree and scikit-learn on the same ADBench datasets and the same synthetic speed recipe
as `shrike bench forest`, for a side-by-side table.

    python bench/forest_reference.py ../shared/data/adbench-classical [seeds] [score_rows]

seeds = 0 skips the quality table and only measures speed.

Run it with a throwaway venv outside the repository (pip install isotree scikit-learn numpy).
Scores are ROC-AUC of the anomaly score (isotree: decision_function, higher = anomalous;
scikit-learn: -score_samples), averaged over seeds 0..seeds-1, 300 trees, sample size 256.
"""

import glob
import os
import statistics
import sys
import time
import warnings

import numpy as np
from isotree import IsolationForest as IsoTree
from sklearn.ensemble import IsolationForest as SkForest
from sklearn.metrics import roc_auc_score


def synthetic(rows, seed):
    """Same recipe as shrike's: 60 features from 5 latent factors plus noise; 1% of rows
    shifted by ±4 on 3 random features (different draws: numpy's generator, not shrike's)."""
    rng = np.random.default_rng(seed)
    loadings = rng.standard_normal((60, 5))
    z = rng.standard_normal((rows, 5))
    x = z @ loadings.T + 0.5 * rng.standard_normal((rows, 60))
    y = rng.random(rows) < 0.01
    for i in np.flatnonzero(y):
        cols = rng.integers(0, 60, 3)
        x[i, cols] += np.where(rng.random(3) < 0.5, 4.0, -4.0)
    return x, y


def main():
    # Both libraries warn when a dataset has fewer rows than the sample size; shrike does not warn.
    warnings.filterwarnings("ignore", category=UserWarning)
    data_dir = sys.argv[1]
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    score_rows = int(sys.argv[3]) if len(sys.argv) > 3 else 1_000_000
    if seeds > 0:
        quality(data_dir, seeds)
    speed(score_rows)


def quality(data_dir, seeds):
    print("dataset\trows\tcols\tisotree_ndim1\tisotree_ndim3\tsklearn")
    files = sorted(glob.glob(os.path.join(data_dir, "*.npz")))
    # per_seed[k][seed]: mean over datasets of one seed's ROC-AUC, for isotree ndim 1 and 3
    # and scikit-learn; their spread is the noise floor of the comparison.
    per_seed = np.zeros((3, seeds))
    for f in files:
        d = np.load(f)
        x, y = d["X"].astype(np.float64), d["y"].astype(int)
        aucs = []
        for k, ndim in enumerate((1, 3)):
            a = []
            for seed in range(seeds):
                m = IsoTree(ntrees=300, ndim=ndim, sample_size=256, missing_action="impute",
                            random_seed=seed, nthreads=-1)
                a.append(roc_auc_score(y, m.fit(x).decision_function(x)))
            per_seed[k] += np.array(a) / len(files)
            aucs.append(np.mean(a))
        a = []
        for seed in range(seeds):
            m = SkForest(n_estimators=300, max_samples=256, random_state=seed, n_jobs=-1)
            a.append(roc_auc_score(y, -m.fit(x).score_samples(x)))
        per_seed[2] += np.array(a) / len(files)
        aucs.append(np.mean(a))
        name = os.path.basename(f)[:-4]
        print(f"{name}\t{len(y)}\t{x.shape[1]}\t{aucs[0]:.4f}\t{aucs[1]:.4f}\t{aucs[2]:.4f}", flush=True)
    mean = per_seed.mean(axis=1)
    se = per_seed.std(axis=1, ddof=1) / np.sqrt(seeds) if seeds > 1 else np.zeros(3)
    print(f"MEAN\t\t\t{mean[0]:.4f}\t{mean[1]:.4f}\t{mean[2]:.4f}")
    print(f"STDERR\t\t\t{se[0]:.4f}\t{se[1]:.4f}\t{se[2]:.4f}")



def speed(score_rows):
    train, _ = synthetic(100_000, 1)
    test, labels = synthetic(score_rows, 2)
    fits, scores = [], []
    for run in range(3):
        m = IsoTree(ntrees=300, ndim=3, sample_size=256, missing_action="impute", random_seed=run,
                    nthreads=-1)
        t = time.perf_counter()
        m.fit(train)
        fit = time.perf_counter() - t
        t = time.perf_counter()
        s = m.decision_function(test)
        score = time.perf_counter() - t
        auc = roc_auc_score(labels, s)
        print(f"isotree run {run + 1}: train 100000 x 60 in {fit:.3f} s; score {score_rows} rows in "
              f"{score:.3f} s ({score_rows / score:.0f} rows/s); ROC-AUC {auc:.4f}", flush=True)
        fits.append(fit)
        scores.append(score)
    print(f"isotree median: train {statistics.median(fits):.3f} s, score {statistics.median(scores):.3f} s")


if __name__ == "__main__":
    main()
