"""xgboost and LightGBM on the generated data with missing cells of tests/boosting.rs
(`missing_like`), the reference that ratlab's gradient boosting with `missing: keep` is held to.

    python benches/missing_reference.py > tests/fixtures/data/missing-reference.json   # the test's
    python benches/missing_reference.py --rows 200000 --test-rows 50000 --csv /tmp/miss

The data come from a counter-based generator (splitmix64 of the cell's number, 53-bit
uniforms, normals as a sum of 12 uniforms minus 6) that uses only exactly rounded arithmetic,
so numpy here and Rust in the test draw bit-identical rows. 28 features, 2% of cells missing
completely at random (43% of rows lack at least one), a binary label from a nonlinear score
plus noise. Configuration: 200 rounds, depth 6, eta 0.1, lambda 1, min_child_weight 1, 256
bins, missing cells left missing. The test's figures are means over `--sets` pairs of training
(seed 2s - 1) and test (seed 2s) sets: a change as small as 255 bins instead of 256 moves one
set's AUC by up to 7e-4 (xgboost's own, measured here), more than the tolerance; the mean of
four is steadier. `--csv DIR` writes the first pair to DIR/missing-{train,test}.csv for
whole-process runs of ratlab (`missing: keep`) and the others.
"""
import argparse
import json
import os
import sys

import numpy as np

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix(key):
    """splitmix64 of each key (uint64 array), wrapping as Rust's wrapping_* do."""
    with np.errstate(over="ignore"):
        z = key + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def uniform(seed, rows, j, k):
    """U[0, 1) of cell (row, column j, draw k): the top 53 bits of splitmix64 of its number."""
    with np.errstate(over="ignore"):
        key = ((np.uint64(seed) * np.uint64(1_000_003) + rows) * np.uint64(64) + np.uint64(j)) * np.uint64(16) + np.uint64(k)
    return (splitmix(key) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def missing_like(n, seed, d=28, missing=0.02, mnar=False):
    rows = np.arange(n, dtype=np.uint64)
    low = d * 3 // 4
    x = np.zeros((n, d))

    def normal(j):
        s = np.zeros(n)
        for k in range(12):
            s = s + uniform(seed, rows, j, k)
        return s - 6.0

    for j in range(low):
        z = normal(j)
        x[:, j] = (z, np.abs(z) * 1.5, z * z - 1.0)[j % 3]
    for j in range(low, d):
        a, b = x[:, (j * 5) % low], x[:, (j * 7 + 1) % low]
        x[:, j] = np.sqrt(a * a + b * b) + 0.3 * np.clip(a * b, -1.0, 1.0)
    f = (1.2 * x[:, 0] - 1.0 * x[:, 1] + 0.8 * x[:, 3] * np.sign(x[:, 4]) + 1.6 * (x[:, low] > 2.0)
         - 1.0 * np.minimum(x[:, low + 1], 3.0) + 0.8 * x[:, 2] * x[:, 6] / 2.0 + 0.6 * x[:, 9] * x[:, 10] + 1.4)
    s = np.zeros(n)
    for k in range(4):
        s = s + uniform(seed, rows, d, k)
    y = (f + (s - 2.0) * 1.7 > 0.0).astype(np.float64)
    for j in range(d):
        p = np.where(x[:, j] > 1.0, 4.0 * missing, 0.5 * missing) if mnar else missing
        x[uniform(seed, rows, j, 15) < p, j] = np.nan
    return x, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--test-rows", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--sets", type=int, default=4)
    ap.add_argument("--csv")
    ap.add_argument("--missing", type=float, default=0.02)
    ap.add_argument("--mnar", action="store_true")
    a = ap.parse_args()
    sets = [(missing_like(a.rows, 2 * s - 1, missing=a.missing, mnar=a.mnar), missing_like(a.test_rows, 2 * s, missing=a.missing, mnar=a.mnar))
            for s in range(1, a.sets + 1)]
    (x, y), (xt, yt) = sets[0]
    if a.csv:
        import pandas as pd
        os.makedirs(a.csv, exist_ok=True)
        names = [f"x{j}" for j in range(x.shape[1])]
        for part, (xs, ys) in (("train", (x, y)), ("test", (xt, yt))):
            df = pd.DataFrame(xs, columns=names)
            df["target"] = ys.astype(int)
            df.to_csv(f"{a.csv}/missing-{part}.csv", index=False, float_format="%.17g")
    from sklearn.metrics import log_loss, roc_auc_score
    out = {"rows": a.rows, "test_rows": a.test_rows, "rounds": a.rounds, "sets": a.sets,
           "missing_cells": float(np.isnan(x).mean()), "rows_with_missing": float(np.isnan(x).any(axis=1).mean()),
           "first_cells": [x[0, :4].tolist(), xt[0, :4].tolist()], "positives": float(y.mean())}
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xgboost as xgb

    def scored(version, fit_predict):
        per = [(roc_auc_score(yt, p), log_loss(yt, p)) for (x, y), (xt, yt) in sets for p in [fit_predict(x, y, xt)]]
        return {"version": version, "auc": float(np.mean([a for a, _ in per])), "log_loss": float(np.mean([l for _, l in per])),
                "per_set": [{"auc": a, "log_loss": l} for a, l in per]}

    for bins in (256, 255):
        params = dict(objective="binary:logistic", eta=0.1, max_depth=6, reg_lambda=1.0, min_child_weight=1,
                      max_bin=bins, tree_method="hist", nthread=2)

        def xgb_fit(x, y, xt):
            bst = xgb.train(params, xgb.QuantileDMatrix(x, y, max_bin=bins, nthread=2), a.rounds)
            return bst.predict(xgb.DMatrix(xt, nthread=2))
        out["xgboost" if bins == 256 else "xgboost_255_bins"] = scored(xgb.__version__, xgb_fit)
    try:
        import lightgbm as lgb

        def lgb_fit(x, y, xt):
            m = lgb.train(dict(objective="binary", learning_rate=0.1, max_depth=6, num_leaves=64, reg_lambda=1.0,
                               min_child_weight=1, min_data_in_leaf=0, max_bin=256, num_threads=2, verbose=-1),
                          lgb.Dataset(x, y), a.rounds)
            return m.predict(xt)
        out["lightgbm"] = scored(lgb.__version__, lgb_fit)
    except ImportError:
        pass
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
