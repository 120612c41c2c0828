"""xgboost's pred_contribs on the rows of benches/shap.rs (the generator of
benches/missing_reference.py): 200 rounds, depth 6, eta 0.1, lambda 1, 256 bins on 50,000 rows,
then SHAP values of 10,000 test rows, 3 times, on 2 threads and on 1.

    python benches/shap_reference.py
"""
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(__file__))
import xgboost as xgb  # noqa: E402

from missing_reference import missing_like  # noqa: E402

x, y = missing_like(50_000, 1)
xt, _ = missing_like(10_000, 2)
params = dict(objective="binary:logistic", eta=0.1, max_depth=6, reg_lambda=1.0, min_child_weight=1, max_bin=256,
              tree_method="hist", nthread=2)
bst = xgb.train(params, xgb.QuantileDMatrix(x, y, max_bin=256, nthread=2), 200)
for threads in (2, 1):
    bst.set_param({"nthread": threads})
    d = xgb.DMatrix(xt, nthread=threads)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        bst.predict(d, pred_contribs=True)
        times.append(time.perf_counter() - t0)
    times.sort()
    print(f"xgboost {xgb.__version__} pred_contribs, {threads} thread(s): median {times[1]:.2f} s (of 3: {times[0]:.2f}-{times[2]:.2f} s)")
