"""scikit-learn on the exact rows of benches/ensembles.rs (the configurations of
../shared/REFERENCE.md, "Ensembles"), 2 threads where the estimator takes n_jobs.

    RATLAB_BENCH_CSV=/tmp/ens cargo bench --bench ensembles
    python benches/sklearn_reference.py /tmp/ens
"""
import sys
import time

import pandas as pd
from sklearn.ensemble import AdaBoostClassifier, BaggingClassifier, RandomForestClassifier, StackingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.tree import DecisionTreeClassifier

d = sys.argv[1]
tr = pd.read_csv(f"{d}/ensembles-train.csv")
te = pd.read_csv(f"{d}/ensembles-test.csv")
ytr, yte = tr.pop("target").values, te.pop("target").values
models = {
    "random forest, 100 trees": RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0),
    "bagging, 50 full trees": BaggingClassifier(DecisionTreeClassifier(), n_estimators=50, n_jobs=2, random_state=0),
    "AdaBoost, 100 stumps": AdaBoostClassifier(DecisionTreeClassifier(max_depth=1), n_estimators=100, random_state=0),
    "stacking RF+kNN+LR": StackingClassifier(
        [("rf", RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=0)),
         ("knn", KNeighborsClassifier(n_neighbors=15)), ("lr", LogisticRegression())],
        final_estimator=LogisticRegression(), cv=5, n_jobs=2),
}
for name, m in models.items():
    t0 = time.perf_counter()
    m.fit(tr.values, ytr)
    secs = time.perf_counter() - t0
    p = m.predict_proba(te.values)[:, 1]
    print(f"{name:<26} {secs:6.2f} s   test accuracy {accuracy_score(yte, p > 0.5):.4f}   AUC {roc_auc_score(yte, p):.4f}")
