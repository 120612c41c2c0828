"""xgboost's own trees and SHAP values for the TreeSHAP agreement test (tests/shap.rs).

    python scripts/shap_fixtures.py    # writes tests/fixtures/shap/xgboost.json

A small binary case: 8 features (so the brute-force definition stays cheap too), 10% of cells
missing, 12 rounds of depth 4. The fixture holds the trees as xgboost dumps them (with covers),
the base margin, the rows (float32 values, as xgboost reads them) and `pred_contribs`.
"""
import json
import os

import numpy as np
import xgboost as xgb

rng = np.random.default_rng(7)
n, d = 300, 8
x = rng.normal(size=(n, d)).astype(np.float32)
y = ((x[:, 0] + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] + 0.3 * rng.normal(size=n)) > 0).astype(np.float32)
x[rng.random(x.shape) < 0.1] = np.nan
dm = xgb.DMatrix(x, y)
bst = xgb.train(dict(objective="binary:logistic", max_depth=4, eta=0.3, tree_method="hist", max_bin=64, nthread=1), dm, 12)
rows = x[:40]
dr = xgb.DMatrix(rows)
contribs = bst.predict(dr, pred_contribs=True)
margin = bst.predict(dr, output_margin=True)
leaf_sum = bst.predict(xgb.DMatrix(rows, base_margin=np.zeros(len(rows))), output_margin=True)
out = {
    "xgboost": xgb.__version__,
    "base_margin": float(np.mean(margin - leaf_sum)),
    "trees": [json.loads(t) for t in bst.get_dump(dump_format="json", with_stats=True)],
    "rows": [[None if np.isnan(v) else float(v) for v in r] for r in rows],
    "contribs": contribs.astype(float).tolist(),
    "margin": margin.astype(float).tolist(),
}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "shap", "xgboost.json")
with open(path, "w") as f:
    json.dump(out, f)
print(f"{path}: {len(out['trees'])} trees, {len(rows)} rows, base margin {out['base_margin']:.6f}")
