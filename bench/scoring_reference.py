"""Reference scoring times for the 1M-row part of `shrike bench flow`: isotree (300 trees of
256 rows, ndim 3, 2 threads) and xgboost (200 trees of depth 6, tree_method="hist",
2 threads), fitted on the same session-shaped rows and scoring them repeated to 1M rows.

    shrike bench trees --write /tmp/trees.csv
    python bench/scoring_reference.py /tmp/trees.csv
"""
import statistics
import sys
import time

import numpy as np
import xgboost as xgb
from isotree import IsolationForest

data = np.loadtxt(sys.argv[1], delimiter=",", dtype=np.float32)
x, y = data[:, :-1], data[:, -1]
rows = 1_000_000
big = np.tile(x, (rows // len(x) + 1, 1))[:rows]

forest = IsolationForest(ntrees=300, ndim=3, sample_size=256, nthreads=2,
                         missing_action="impute", random_seed=1).fit(x.astype(np.float64))
big64 = np.ascontiguousarray(big, dtype=np.float64)
started = time.perf_counter()
forest.predict(big64)
print(f"isotree: 300 trees, ndim 3, scoring {rows} rows: {time.perf_counter() - started:.2f} s")

trees = xgb.XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.1,
                          tree_method="hist", n_jobs=2, random_state=42).fit(x, y)
times = []
for _ in range(3):
    started = time.perf_counter()
    trees.predict_proba(big)
    times.append(time.perf_counter() - started)
print(f"xgboost {xgb.__version__}: 200 trees, depth 6, probabilities of {rows} rows: "
      f"{' / '.join(f'{t:.2f}' for t in times)} s, median {statistics.median(times):.2f} s")
