"""xgboost reference for `shrike bench trees`: the same rows, the same split, the same
hyperparameters (200 trees, depth 6, learning rate 0.1, tree_method="hist", 2 threads).

    shrike bench trees --write /tmp/trees.csv
    python bench/trees_reference.py /tmp/trees.csv
"""
import statistics
import sys
import time

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

data = np.loadtxt(sys.argv[1], delimiter=",", dtype=np.float32)
x, y = data[:, :-1], data[:, -1]
split = len(y) * 4 // 5
times = []
for _ in range(3):
    model = xgb.XGBClassifier(n_estimators=200, max_depth=6, learning_rate=0.1,
                              tree_method="hist", n_jobs=2, random_state=42)
    started = time.perf_counter()
    model.fit(x[:split], y[:split])
    times.append(time.perf_counter() - started)
    auc = roc_auc_score(y[split:], model.predict_proba(x[split:])[:, 1])
    print(f"  fit {times[-1]:.2f} s, held-out ROC-AUC {auc:.4f}")
print(f"xgboost {xgb.__version__}: median fit {statistics.median(times):.2f} s, ROC-AUC {auc:.4f}")
