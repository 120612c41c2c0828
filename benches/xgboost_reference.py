"""xgboost (and LightGBM, when installed) on the exact rows of benches/boosting.rs.

    RATLAB_BENCH_CSV=/tmp/gb cargo bench --bench boosting
    python benches/xgboost_reference.py /tmp/gb

Same configuration as ../shared/REFERENCE.md: 200 rounds, depth 6, eta 0.1, lambda 1,
min_child_weight 1, 256 bins, 2 threads. Prints binning (DMatrix construction), training,
and the whole run with per-round evaluation on the test set (as ratlab's curves), plus the
test AUC and log-loss.
"""
import os
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
d = sys.argv[1]
for case in sorted({f.rsplit("-", 1)[0] for f in os.listdir(d) if f.endswith(".csv")}):
    t0 = time.perf_counter()
    tr = pd.read_csv(f"{d}/{case}-train.csv")
    te = pd.read_csv(f"{d}/{case}-test.csv")
    read = time.perf_counter() - t0
    ytr, yte = tr.pop("target").values, te.pop("target").values
    params = dict(objective="binary:logistic", eta=0.1, max_depth=6, reg_lambda=1.0, min_child_weight=1,
                  max_bin=256, tree_method="hist", nthread=2, eval_metric=["logloss", "auc"])
    for curves in (False, True):
        t0 = time.perf_counter()
        dtr = xgb.QuantileDMatrix(tr.values, ytr, max_bin=256, nthread=2)
        dte = xgb.DMatrix(te.values, yte, nthread=2)
        t1 = time.perf_counter()
        evals = [(dte, "test")] if curves else []
        bst = xgb.train(params, dtr, 200, evals=evals, verbose_eval=False)
        t2 = time.perf_counter()
        p = bst.predict(dte)
        print(f"{case:<10} xgboost {'with per-round test curves' if curves else 'training only          '}: "
              f"binning {t1 - t0:5.2f} s  training {t2 - t1:6.2f} s  total {t2 - t0:6.2f} s  "
              f"test AUC {roc_auc_score(yte, p):.4f}  log-loss {log_loss(yte, p):.4f}  (CSV read {read:.1f} s)")
