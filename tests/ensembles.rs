//! Ensembles on the bundled datasets: bagging's out-of-bag score tracks its test score,
//! AdaBoost and stacking beat their base learners, nested estimators are validated, and a
//! saved model predicts exactly what the trained one did (`ratlab predict`).

use ratlab::backends::params::Estimator;
use ratlab::backends::{build_trainer, Task};
use ratlab::data::TrainSet;
use ratlab::metrics::Metric;
use serde_json::json;

fn split(name: &str) -> (TrainSet, TrainSet) {
    let d = crate::standardized(crate::bundled(name, Task::Classification));
    let (tr, te) = ratlab::data::split::holdout(d.len(), 0.3, Some(&d.labels()), 1);
    (d.subset(&tr), d.subset(&te))
}

/// Train an estimator given as JSON; returns its test accuracy and last step's metrics.
fn accuracy(spec: serde_json::Value, train: &TrainSet, test: &TrainSet) -> (f64, ratlab::metrics::Metrics) {
    let est = Estimator::parse(&spec, 0).unwrap_or_else(|e| panic!("{spec}: {e}"));
    let mut t = build_trainer(est.backend, &est.params, Some(train), Some(test), 3).unwrap();
    let last = loop {
        let out = t.step().unwrap();
        if out.done {
            break out.metrics;
        }
    };
    t.finish();
    (Metric::Accuracy.compute(&t.predictor().unwrap().predict(test.x.view()).unwrap(), test.y.view()), last)
}

#[test]
fn bagging_out_of_bag_score_is_close_to_its_test_score() {
    let (train, test) = split("breast_cancer");
    let (acc, last) = accuracy(json!({"algorithm": "bagging", "params": {"n_estimators": 40, "oob_score": true}}), &train, &test);
    let oob = last["oob_score"];
    assert!((oob - acc).abs() < 0.04, "OOB {oob} vs test {acc}");
    let (acc, last) = accuracy(json!({"algorithm": "random_forest", "params": {"n_estimators": 60, "oob_score": true}}), &train, &test);
    assert!((last["oob_score"] - acc).abs() < 0.04, "forest OOB {} vs test {acc}", last["oob_score"]);
}

#[test]
fn adaboost_beats_its_stump_and_stacking_beats_its_members() {
    for name in ["breast_cancer", "wine"] {
        let (train, test) = split(name);
        let (stump, _) = accuracy(json!({"algorithm": "decision_tree", "backend": "native", "params": {"max_depth": 1}}), &train, &test);
        let (ada, _) = accuracy(json!({"algorithm": "adaboost", "params": {"n_estimators": 50}}), &train, &test);
        assert!(ada > stump + 0.02, "{name}: AdaBoost {ada} vs stump {stump}");
    }
    let (train, test) = split("breast_cancer");
    let members = [
        json!({"algorithm": "decision_tree", "backend": "native", "params": {"max_depth": 2}}),
        json!({"algorithm": "knn", "backend": "native", "params": {"k": 1}}),
    ];
    let accs: Vec<f64> = members.iter().map(|m| accuracy(m.clone(), &train, &test).0).collect();
    let best_member = accs.iter().copied().fold(0.0, f64::max);
    let (stack, last) = accuracy(json!({"algorithm": "stacking", "params": {"estimators": members}}), &train, &test);
    assert_eq!(last["estimators"], 2.0);
    // On 171 test rows two rows are noise (a change of the trees' bin boundaries moved the
    // members and the stack by that much): stacking is within them of its best member.
    let rows = test.len() as f64;
    assert!(stack >= best_member - 2.0 / rows, "stacking {stack} vs its members {accs:?}");
}

#[test]
fn random_forests_of_three_backends_agree_on_accuracy() {
    let (train, test) = split("wine");
    let mut accs = vec![];
    for backend in ["native", "smartcore", "linfa"] {
        let (acc, _) = accuracy(json!({"algorithm": "random_forest", "backend": backend, "params": {"n_estimators": 50}}), &train, &test);
        accs.push(acc);
    }
    for a in &accs {
        assert!(*a >= 0.9, "forest accuracies on wine: {accs:?}");
    }
}

#[test]
fn nested_estimators_are_validated_with_what_is_allowed() {
    let bad = [
        (json!({"algorithm": "bagging", "params": {"estimator": {"algorithm": "nope"}}}), "unknown algorithm 'nope'"),
        (json!({"algorithm": "adaboost", "params": {"estimator": {"algorithm": "knn"}}}), "takes no sample weights"),
        (json!({"algorithm": "bagging", "params": {"estimator": {"algorithm": "decision_tree", "params": {"depth": 3}}}}), "unknown parameter 'depth'"),
        (
            json!({"algorithm": "bagging", "params": {"estimator": {"algorithm": "bagging", "params": {"estimator": {"algorithm": "bagging", "params": {"estimator": {"algorithm": "bagging"}}}}}}}),
            "nest 3 deep at most",
        ),
    ];
    for (spec, want) in bad {
        let e = Estimator::parse(&spec, 0).expect_err("invalid");
        assert!(e.contains(want), "{spec}: {e}");
    }
}

#[test]
fn predict_reproduces_the_trained_models_predictions_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.yaml");
    std::fs::write(
        &exp,
        format!(
            "name: saved\nseed: 4\ndata: {{path: {}, target: target, split: {{test: 0.3}}}}\nmetrics: [accuracy, log_loss]\nruns:\n  - {{name: gb, algorithm: gradient_boosting, params: {{n_estimators: 30}}}}\n  - {{name: rf, algorithm: random_forest, params: {{n_estimators: 10}}}}\n  - {{name: ada, algorithm: adaboost, params: {{n_estimators: 10}}}}\n  - name: stack\n    algorithm: stacking\n    params: {{estimators: [{{algorithm: decision_tree, backend: native, params: {{max_depth: 3}}}}, {{algorithm: logistic_regression, backend: native, params: {{prior: gaussian}}}}]}}\n",
            crate::root().join("datasets/wine.csv").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("runs");
    crate::cmd().args(["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()]).assert().success();
    let mut dirs: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    dirs.sort();
    assert_eq!(dirs.len(), 4);
    for d in dirs {
        let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap();
        assert!(d.join("model.json").is_file(), "{} saved no model", d.display());
        let preds = dir.path().join("p.csv");
        crate::cmd().args(["predict", d.to_str().unwrap(), "--data", crate::root().join("datasets/wine.csv").to_str().unwrap(), "--out", preds.to_str().unwrap()]).assert().success();
        let text = std::fs::read_to_string(&preds).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header, ["prediction", "proba_0", "proba_1", "proba_2"]);
        assert_eq!(lines.count(), 178, "a prediction per row of the file");
        // The saved model scores the test rows exactly as the run did: its test log-loss,
        // recomputed from the written probabilities of the run's test rows (seed 4), is the
        // recorded one to the last bit.
        let rows: Vec<Vec<f64>> = text.lines().skip(1).map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect()).collect();
        let wine = crate::bundled("wine", Task::Classification);
        let (_, te) = ratlab::data::split::holdout(wine.len(), 0.3, Some(&wine.labels()), 4);
        let p = ndarray::Array2::from_shape_fn((te.len(), 3), |(i, c)| rows[te[i]][c]);
        let y = wine.y.select(ndarray::Axis(0), &te);
        let ll = Metric::LogLoss.compute(&ratlab::backends::Prediction::Proba(p), y.view());
        assert_eq!(ll, summary["metrics"]["log_loss"].as_f64().unwrap(), "{}", d.display());
    }
}

#[test]
fn predict_says_which_columns_are_missing() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.yaml");
    std::fs::write(&exp, format!("name: m\ndata: {{path: {}, target: target}}\nruns:\n  - {{name: t, algorithm: decision_tree, backend: native}}\n", crate::root().join("datasets/iris.csv").display())).unwrap();
    let out = dir.path().join("runs");
    crate::cmd().args(["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()]).assert().success();
    let run = std::fs::read_dir(&out).unwrap().next().unwrap().unwrap().path();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "sepal_length_cm,target\n5.1,setosa\n").unwrap();
    crate::cmd()
        .args(["predict", run.to_str().unwrap(), "--data", bad.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("lacks column(s)").and(predicates::str::contains("'sepal_width_cm'")));
}

use predicates::prelude::PredicateBooleanExt;
