"""LightGBM (categorical_feature) and xgboost (enable_categorical) on the generated rows of
`categorical_like` (benches/common/missing_like.rs draws the same, bit for bit): a category
column of 1,000 (and of 200) levels with skewed frequencies and 1% missing, a 30-level one, and
6 numbers.

    python benches/categorical_reference.py > tests/fixtures/data/categorical-reference.json
    python benches/categorical_reference.py --rows 200000 --test-rows 50000 --csv /tmp/cat

200 rounds, depth 6 (LightGBM: 64 leaves), eta 0.1, lambda 1, 256 bins; each library with its
defaults for categories (LightGBM max_cat_to_onehot 4, cat_smooth 10, min_data_per_group 100;
xgboost max_cat_to_onehot 4). Times are the whole process as ratlab's (read the CSV, train,
score the test file) when --csv is given. `--csv DIR` writes DIR/catLEVELS-{train,test}.csv, cat_a as
text (k0..k999) and cat_b as integers.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from missing_reference import uniform  # noqa: E402


def normal(seed, rows, j):
    s = np.zeros(len(rows))
    for k in range(12):
        s = s + uniform(seed, rows, j, k)
    return s - 6.0


def categorical_like(n, seed, levels=1000):
    rows = np.arange(n, dtype=np.uint64)
    a = np.floor(levels * uniform(seed, rows, 0, 0) * uniform(seed, rows, 0, 1))
    b = np.floor(30.0 * uniform(seed, rows, 1, 0))
    num = [normal(seed, rows, 2 + j) for j in range(6)]
    f = (1.0 * normal(7777, a.astype(np.uint64), 0) + 0.7 * normal(7777, b.astype(np.uint64), 1) + 0.8 * num[0] - 0.6 * num[1]
         + 0.5 * num[2] * num[3])
    y = (f + (uniform(seed, rows, 9, 0) - 0.5) * 3.0 > 0.0).astype(np.float64)
    a = np.where(uniform(seed, rows, 0, 15) < 0.01, np.nan, a)
    return np.column_stack([a, b] + num), y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--test-rows", type=int, default=10_000)
    ap.add_argument("--csv")
    ap.add_argument("--levels", type=int, nargs="+", default=[1000, 200])
    a = ap.parse_args()
    full = {}
    for levels in a.levels:
        full[str(levels)] = case(a, levels)
    json.dump(full, sys.stdout, indent=2)
    print()


def case(a, levels):
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import lightgbm as lgb
    import pandas as pd
    import xgboost as xgb
    from sklearn.metrics import log_loss, roc_auc_score
    x, y = categorical_like(a.rows, 1, levels)
    xt, yt = categorical_like(a.test_rows, 2, levels)
    out = {"rows": a.rows, "test_rows": a.test_rows, "first_cells": [x[0].tolist(), xt[0].tolist()], "positives": float(y.mean())}
    names = ["cat_a", "cat_b"] + [f"x{j}" for j in range(6)]

    def frame(xs, ys):
        df = pd.DataFrame(xs, columns=names)
        df["cat_a"] = ["" if np.isnan(v) else f"k{int(v)}" for v in xs[:, 0]]
        df["cat_b"] = xs[:, 1].astype(int)
        df["target"] = ys.astype(int)
        return df

    if a.csv:
        os.makedirs(a.csv, exist_ok=True)
        frame(x, y).to_csv(f"{a.csv}/cat{levels}-train.csv", index=False, float_format="%.17g")
        frame(xt, yt).to_csv(f"{a.csv}/cat{levels}-test.csv", index=False, float_format="%.17g")

    def load(part):
        if not a.csv:
            return (x, y) if part == "train" else (xt, yt)
        df = pd.read_csv(f"{a.csv}/cat{levels}-{part}.csv", keep_default_na=True)
        codes = df["cat_a"].str[1:].astype(float)
        return np.column_stack([codes.values, df["cat_b"].values] + [df[f"x{j}"].values for j in range(6)]), df["target"].values

    def run(name, fit_predict):
        t0 = time.perf_counter()
        (tx, ty), (sx, sy) = load("train"), load("test")
        p = fit_predict(tx, ty, sx)
        out[name] = {"auc": roc_auc_score(sy, p), "log_loss": log_loss(sy, p), "seconds": time.perf_counter() - t0}

    def lgb_fit(tx, ty, sx):
        m = lgb.train(dict(objective="binary", learning_rate=0.1, max_depth=6, num_leaves=64, reg_lambda=1.0, min_child_weight=1,
                           max_bin=256, num_threads=2, verbose=-1), lgb.Dataset(tx, ty, categorical_feature=[0, 1]), 200)
        return m.predict(sx)
    run("lightgbm", lgb_fit)

    def xgb_fit(tx, ty, sx):
        def df(m):
            d = pd.DataFrame(m, columns=names)
            for c, k in (("cat_a", levels), ("cat_b", 30)):
                d[c] = pd.Categorical.from_codes(np.where(np.isnan(d[c].values), -1, d[c].values).astype(int), categories=np.arange(k))
            return d
        bst = xgb.train(dict(objective="binary:logistic", eta=0.1, max_depth=6, reg_lambda=1.0, min_child_weight=1, max_bin=256,
                             tree_method="hist", nthread=2), xgb.DMatrix(df(tx), ty, enable_categorical=True), 200)
        return bst.predict(xgb.DMatrix(df(sx), enable_categorical=True))
    run("xgboost", xgb_fit)
    out["versions"] = {"lightgbm": lgb.__version__, "xgboost": xgb.__version__}
    return out


if __name__ == "__main__":
    main()
