"""The whole process at scale: ratlab, xgboost and LightGBM each read the same CSV, train
gradient boosting and score the test file, in their own process; the script prints each one's
wall time, peak RSS and test AUC side by side.

    python benches/scale_reference.py --rows 1000000 --dir /tmp/scale
    python benches/scale_reference.py --rows 11000000 --dir /tmp/scale --only ratlab --chunk-rows 200000

The data is benches/boosting.rs's HIGGS-like generator (28 features: 21 "low-level" ones and 7
derived from them; a Bernoulli label with interactions and thresholds), drawn with numpy in
chunks and written once per size as DIR/ROWS-train.csv and DIR/ROWS-test.csv (10% as many test
rows). 200 rounds, depth 6, eta 0.1, lambda 1, min_child_weight 1, 256 bins, 2 threads.
ratlab runs `ratlab run` on an experiment written beside the data (`missing: keep`,
`standardize: false`, no train curves: every round's test curves are recorded), found as
$RATLAB or target/release/ratlab; with --chunk-rows N it reads the files N rows at a time
(data.chunk_rows: straight into bin codes, the same model as in memory). Peak RSS is the child's maximum resident set, from
/usr/bin/time.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np


def higgs_like(n, seed, chunk=1_000_000):
    """Rows of the generator in chunks: (x, y) per chunk."""
    rng = np.random.default_rng(seed)
    d, low = 28, 21
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        z = rng.standard_normal((m, low))
        x = np.empty((m, d))
        for j in range(low):
            x[:, j] = [z[:, j], np.abs(z[:, j]) * 1.5, np.sin(z[:, j] * 1.7) * np.pi][j % 3]
        for j in range(low, d):
            a, b = x[:, (j * 5) % low], x[:, (j * 7 + 1) % low]
            x[:, j] = np.sqrt(a * a + b * b) + 0.3 * np.tanh(a * b)
        f = (0.6 * x[:, 0] - 0.5 * x[:, 1] + 0.4 * x[:, 3] * np.sign(x[:, 4]) + 0.8 * (x[:, low] > 2.0)
             - 0.5 * np.minimum(x[:, low + 1], 3.0) + 0.4 * np.cos(x[:, 2]) * x[:, 6] + 0.3 * x[:, 9] * x[:, 10] / 2.0 + 0.7)
        y = (rng.random(m) < 1.0 / (1.0 + np.exp(-f))).astype(int)
        yield x, y


def write(path, n, seed):
    if os.path.exists(path):
        return
    with open(path + ".part", "w") as out:
        out.write(",".join([f"f{j}" for j in range(28)] + ["target"]) + "\n")
        for x, y in higgs_like(n, seed):
            np.savetxt(out, np.column_stack([x, y]), fmt=["%.7g"] * 28 + ["%d"], delimiter=",")
    os.rename(path + ".part", path)


XGB = """
import os, sys, time
import numpy as np, pandas as pd, xgboost as xgb
from sklearn.metrics import roc_auc_score
tr, te = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
ytr, yte = tr.pop("target").values, te.pop("target").values
params = dict(objective="binary:logistic", eta=0.1, max_depth=6, reg_lambda=1.0, min_child_weight=1, max_bin=256,
              tree_method="hist", nthread=2)
dtr = xgb.QuantileDMatrix(tr.values, ytr, max_bin=256, nthread=2)
del tr
bst = xgb.train(params, dtr, 200)
print(roc_auc_score(yte, bst.predict(xgb.DMatrix(te.values, nthread=2))))
"""

LGB = """
import os, sys
import numpy as np, pandas as pd, lightgbm as lgb
from sklearn.metrics import roc_auc_score
tr, te = pd.read_csv(sys.argv[1]), pd.read_csv(sys.argv[2])
ytr, yte = tr.pop("target").values, te.pop("target").values
m = lgb.train(dict(objective="binary", learning_rate=0.1, max_depth=6, num_leaves=64, reg_lambda=1.0, min_child_weight=1,
                   max_bin=256, num_threads=2, verbose=-1), lgb.Dataset(tr.values, ytr, free_raw_data=True), 200)
del tr
print(roc_auc_score(yte, m.predict(te.values)))
"""


def timed(cmd, env=None):
    """Run cmd under /usr/bin/time: (seconds, peak RSS in MB, stdout)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        p = subprocess.run(["/usr/bin/time", "-f", "%e %M", "-o", t.name] + cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            sys.exit(f"{cmd[0]} failed ({p.returncode}):\n{p.stderr[-3000:]}")
        secs, kb = t.read().split()[-2:]
    return float(secs), int(kb) / 1024, p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dir", default="/tmp/scale")
    ap.add_argument("--only", nargs="+", default=["ratlab", "xgboost", "lightgbm"])
    ap.add_argument("--chunk-rows", type=int, default=0, help="ratlab reads the files this many rows at a time")
    ap.add_argument("--generate-only", action="store_true", help="write the CSV files and stop")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    train, test = f"{a.dir}/{a.rows}-train.csv", f"{a.dir}/{a.rows}-test.csv"
    write(train, a.rows, 1)
    write(test, a.rows // 10, 2)
    if a.generate_only:
        return
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    out = {"rows": a.rows, "test_rows": a.rows // 10, "train_csv_bytes": os.path.getsize(train)}
    for tool in a.only:
        if tool == "ratlab":
            exe = os.environ.get("RATLAB", os.path.join(os.path.dirname(__file__), "..", "target", "release", "ratlab"))
            exp = f"{a.dir}/{a.rows}{'c' if a.chunk_rows else ''}.yaml"
            with open(exp, "w") as f:
                f.write(f"""name: scale-{a.rows}
data:
  path: {train}
  target: target
  missing: keep
  standardize: false
  eval_train_rows: 0
{f"  chunk_rows: {a.chunk_rows}" if a.chunk_rows else ""}
  split: {{test_path: {test}}}
metrics: [roc_auc]
runs:
  - name: gb
    algorithm: gradient_boosting
    params: {{n_estimators: 200, max_depth: 6, learning_rate: 0.1, lambda: 1, min_child_weight: 1, max_bin: 256}}
""")
            secs, mb, text = timed([exe, "run", exp, "--out", f"{a.dir}/runs", "--format", "json", "-j", "1"], env)
            auc = json.loads(text)["runs"][0]["metrics"]["roc_auc"]
        else:
            secs, mb, text = timed([sys.executable, "-c", XGB if tool == "xgboost" else LGB, train, test], env)
            auc = float(text.split()[-1])
        if tool == "ratlab" and a.chunk_rows:
            tool = f"ratlab (chunk_rows {a.chunk_rows})"
        out[tool] = {"seconds": secs, "peak_rss_mb": round(mb), "auc": auc}
        print(f"{a.rows:>9} rows  {tool:<9} {secs:8.1f} s  peak RSS {mb:7.0f} MB  test AUC {auc:.5f}", file=sys.stderr)
    json.dump(out, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
