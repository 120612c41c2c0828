//! Ensembles against ../shared/REFERENCE.md ("Ensembles"): 20,000 × 20 binary train, 20,000
//! test, 2 threads. Random forest (100 trees), bagging (50 full trees), AdaBoost SAMME (100
//! stumps) and stacking (random forest + kNN + logistic regression, logistic meta-learner,
//! 5 folds), each timed as a whole run with its per-member curves (train metrics on every
//! training row, test metrics every step).
//!
//! `cargo bench --bench ensembles` (`RATLAB_BENCH_LIBRARIES=1` adds smartcore's forest,
//! `RATLAB_BENCH_CSV=DIR` writes the rows for `benches/sklearn_reference.py`).

use ratlab::backends::params::Estimator;
use ratlab::backends::build_trainer;
use ratlab::data::generate::generate;
use ratlab::data::{split, GenConfig};
use ratlab::metrics::Metric;
use serde_json::json;
use std::time::Instant;

fn main() {
    let cfg = GenConfig::Classification { n_samples: 40_000, n_features: 20, n_informative: 8, n_classes: 2, class_sep: 0.7, label_noise: 0.05 };
    let d = generate(&cfg, 3);
    let labels = d.all().labels();
    let (tr, te) = split::holdout(d.x.nrows(), 0.5, Some(&labels), 3);
    let (train, test) = (d.subset(&tr), d.subset(&te));
    if let Some(dir) = std::env::var_os("RATLAB_BENCH_CSV") {
        // The same rows for benches/sklearn_reference.py.
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("a directory for the CSV files");
        for (name, set) in [("train", &train), ("test", &test)] {
            let mut out = (0..set.x.ncols()).map(|j| format!("f{j}")).collect::<Vec<_>>().join(",") + ",target\n";
            for (row, t) in set.x.rows().into_iter().zip(&set.y) {
                out += &row.iter().map(|v| v.to_string()).chain([t.to_string()]).collect::<Vec<_>>().join(",");
                out.push('\n');
            }
            std::fs::write(dir.join(format!("ensembles-{name}.csv")), out).expect("writes the CSV");
        }
    }
    let all: Vec<usize> = (0..train.len()).collect();
    println!("ensembles on 20,000 × 20 (train) / 20,000 (test), binary; whole run incl. per-step curves");
    let cases = [
        ("random forest, 100 trees", json!({"algorithm": "random_forest", "params": {"n_estimators": 100}}), "9.9 s, acc 0.9439, AUC 0.9766"),
        ("bagging, 50 full trees", json!({"algorithm": "bagging", "params": {"n_estimators": 50}}), "23.9 s, acc 0.9409, AUC 0.9748"),
        ("AdaBoost, 100 stumps", json!({"algorithm": "adaboost", "params": {"n_estimators": 100}}), "8.5 s, acc 0.8298, AUC 0.9111"),
        (
            "stacking RF+kNN+LR",
            json!({"algorithm": "stacking", "params": {"estimators": [
                {"algorithm": "random_forest", "params": {"n_estimators": 100}},
                {"algorithm": "knn", "backend": "native", "params": {"k": 15}},
                {"algorithm": "logistic_regression", "backend": "native", "params": {"prior": "gaussian"}}]}}),
            "48.8 s, acc 0.9572, AUC 0.9803",
        ),
    ];
    let mut cases = cases.to_vec();
    if std::env::var_os("RATLAB_BENCH_LIBRARIES").is_some() {
        // smartcore's forest takes minutes here; on request only.
        cases.insert(1, ("random forest, smartcore", json!({"algorithm": "random_forest", "backend": "smartcore", "params": {"n_estimators": 100}}), "(library comparison)"));
    }
    for (label, spec, reference) in cases {
        let est = Estimator::parse(&spec, 0).expect("a valid estimator");
        let t0 = Instant::now();
        let mut t = build_trainer(est.backend, &est.params, Some(&train), Some(&test), 0).expect("trains");
        loop {
            let out = t.step().expect("a step");
            match t.staged(&all) {
                Some((ptr, _)) => std::hint::black_box(Metric::Accuracy.compute(&ptr, train.y.view())),
                None => {
                    let p = t.predictor().expect("a model").predict(train.x.view()).unwrap();
                    std::hint::black_box(Metric::Accuracy.compute(&p, train.y.view()))
                }
            };
            if out.done {
                break;
            }
        }
        t.finish();
        let secs = t0.elapsed().as_secs_f64();
        let p = t.predictor().expect("a model").predict(test.x.view()).unwrap();
        let (acc, auc) = (Metric::Accuracy.compute(&p, test.y.view()), Metric::RocAuc.compute(&p, test.y.view()));
        println!("{label:<26} {secs:6.2} s   test accuracy {acc:.4}   AUC {auc:.4}   | reference (its data): {reference}");
    }
}
