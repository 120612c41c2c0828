//! SHAP values of tree models: xgboost's own `pred_contribs` on xgboost's own trees, the
//! Shapley definition over every subset on a trained tree, and local accuracy (contributions
//! plus bias add up to the output) for boosting, trees and forests, trained or read back.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use ratlab::backends::explain::explain;
use ratlab::backends::native::hist::{Node, Split, Tree};
use ratlab::backends::native::shap::{self, ShapBuffer};
use ratlab::backends::params::Estimator;
use ratlab::backends::{build_trainer, Backend, Prediction, Predictor};
use ratlab::data::TrainSet;
use serde_json::Value;

/// One of xgboost's dumped trees (JSON, with stats) as a ratlab tree. xgboost goes left when
/// `x < condition` (float32); ratlab when `x ≤ threshold`, so the threshold is the largest f64
/// below the condition.
fn xgb_tree(dump: &Value) -> Tree {
    fn walk(n: &Value, nodes: &mut Vec<Node>, values: &mut Vec<f64>, at: usize) {
        nodes[at].cover = n["cover"].as_f64().unwrap() as f32 as f64;
        if let Some(leaf) = n["leaf"].as_f64() {
            nodes[at].leaf = values.len() as u32;
            values.push(leaf as f32 as f64);
            return;
        }
        let kids = n["children"].as_array().unwrap();
        let child = |id: &Value| kids.iter().find(|c| c["nodeid"] == *id).unwrap();
        let (yes, no) = (child(&n["yes"]), child(&n["no"]));
        let (l, r) = (nodes.len(), nodes.len() + 1);
        nodes.push(Node { split: None, leaf: 0, cover: 0.0 });
        nodes.push(Node { split: None, leaf: 0, cover: 0.0 });
        let cond = n["split_condition"].as_f64().unwrap() as f32 as f64;
        nodes[at].split = Some(Split {
            feature: n["split"].as_str().unwrap().trim_start_matches('f').parse().unwrap(),
            threshold: cond.next_down(),
            bin: 0,
            default_left: n["missing"] == n["yes"],
            left: l as u32,
            right: r as u32,
            gain: n["gain"].as_f64().unwrap(),
            cats: None,
        });
        walk(yes, nodes, values, l);
        walk(no, nodes, values, r);
    }
    let mut nodes = vec![Node { split: None, leaf: 0, cover: 0.0 }];
    let mut values = vec![];
    walk(dump, &mut nodes, &mut values, 0);
    let mut t = Tree::empty(1);
    (t.nodes, t.values) = (nodes, values);
    t
}

#[test]
fn tree_shap_gives_xgboost_pred_contribs_on_xgboosts_own_trees() {
    // scripts/shap_fixtures.py: 12 trees of depth 4 over 8 features, 10% missing cells.
    let fx: Value = serde_json::from_str(include_str!("fixtures/shap/xgboost.json")).unwrap();
    let trees: Vec<Tree> = fx["trees"].as_array().unwrap().iter().map(xgb_tree).collect();
    let base = fx["base_margin"].as_f64().unwrap();
    let mut buf = ShapBuffer::new(trees.iter().map(Tree::depth).max().unwrap());
    let mut worst = 0.0f64;
    for (i, row) in fx["rows"].as_array().unwrap().iter().enumerate() {
        let row: Vec<f64> = row.as_array().unwrap().iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
        let mut phi = vec![0.0; row.len()];
        let mut bias = base;
        let mut margin = base;
        for t in &trees {
            shap::add_tree_shap(t, 0, &row, &mut phi, &mut buf);
            bias += shap::expected_value(t, 0);
            margin += t.leaf_of(&row)[0];
        }
        let want: Vec<f64> = fx["contribs"][i].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        // The walk takes xgboost's paths: the same margin, to float32 rounding.
        assert!((margin - fx["margin"][i].as_f64().unwrap()).abs() < 1e-5, "row {i}: margin {margin}");
        for (j, w) in want.iter().enumerate() {
            let got = if j < phi.len() { phi[j] } else { bias };
            worst = worst.max((got - w).abs());
            // xgboost sums in float32: agreement to about 1e-6 of the values' size.
            assert!((got - w).abs() < 2e-5, "row {i}, column {j}: ratlab {got}, xgboost {w}");
        }
    }
    eprintln!("largest difference from xgboost's pred_contribs: {worst:.2e}");
}

/// Rows over 8 features with a nonlinear binary label and a few missing cells.
fn data(n: usize, seed: u64) -> TrainSet {
    let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let x = Array2::from_shape_fn((n, 8), |_| if r.gen::<f64>() < 0.05 { f64::NAN } else { r.gen::<f64>() * 4.0 - 2.0 });
    let y: Array1<f64> = x.rows().into_iter().map(|v| ((v[0].max(-9.0) * v[1].max(-9.0) + v[2].min(9.0) - 0.5 * v[3].min(9.0)) > 0.0) as i32 as f64).collect();
    TrainSet::new(x, y, 2)
}

fn fitted(algorithm: &str, params: Value, d: &TrainSet) -> ratlab::backends::saved::SavedModel {
    let est = Estimator::parse(&serde_json::json!({"algorithm": algorithm, "params": params}), 0).unwrap();
    let mut t = build_trainer(Backend::Native, &est.params, Some(d), None, 3).unwrap();
    while !t.step().unwrap().done {}
    t.finish();
    t.saved().expect("native tree models are saved")
}

#[test]
fn a_trained_trees_shap_values_are_the_shapley_definition_over_every_subset() {
    let d = data(400, 1);
    let model = fitted("decision_tree", serde_json::json!({"max_depth": 5}), &d);
    let tree = &model.downcast_ref::<ratlab::backends::native::hist::TreeModel>().unwrap().tree;
    let c = explain(&model, d.x.view()).unwrap();
    let fact = |n: usize| (1..=n).map(|v| v as f64).product::<f64>();
    for r in 0..25 {
        let row: Vec<f64> = d.x.row(r).to_vec();
        let mut want = [0.0; 8];
        for mask in 0u32..256 {
            let known: Vec<bool> = (0..8).map(|j| mask >> j & 1 == 1).collect();
            let s = known.iter().filter(|&&k| k).count();
            let base = shap::conditional_expectation(tree, 1, &row, &known);
            for i in (0..8).filter(|&i| !known[i]) {
                let mut with = known.clone();
                with[i] = true;
                want[i] += fact(s) * fact(7 - s) / fact(8) * (shap::conditional_expectation(tree, 1, &row, &with) - base);
            }
        }
        for (j, w) in want.iter().enumerate() {
            assert!((c.row(r, 0)[j] - w).abs() < 1e-12, "row {r}, feature {j}: {} against {w}", c.row(r, 0)[j]);
        }
    }
}

/// Each row's contributions plus bias against the model's own output for it.
fn assert_adds_up(model: &ratlab::backends::saved::SavedModel, x: &Array2<f64>, output: impl Fn(&Prediction, usize, usize) -> f64) {
    let c = explain(model, x.view()).unwrap();
    let p = model.predict(x.view()).unwrap();
    for r in 0..x.nrows() {
        for (o, &class) in c.classes.iter().enumerate() {
            let sum: f64 = c.row(r, o).iter().sum();
            let want = output(&p, r, class);
            assert!((sum - want).abs() < 1e-6, "row {r}, class {class}: contributions add up to {sum}, the output is {want}");
        }
    }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

#[test]
fn contributions_add_up_to_each_models_output() {
    let d = data(600, 2);
    let test = data(200, 3);
    let proba = |p: &Prediction, r: usize, c: usize| match p {
        Prediction::Proba(a) => a[[r, c]],
        Prediction::Values(v) => v[r],
    };
    // Boosting: the log-odds margin.
    let gb = fitted("gradient_boosting", serde_json::json!({"n_estimators": 30, "max_depth": 4}), &d);
    assert_adds_up(&gb, &test.x, |p, r, c| logit(proba(p, r, c)));
    // A tree, a forest (features drawn per split) and bagged trees on feature subsets:
    // probabilities of the positive class.
    let tree = fitted("decision_tree", serde_json::json!({"max_depth": 6}), &d);
    assert_adds_up(&tree, &test.x, proba);
    let forest = fitted("random_forest", serde_json::json!({"n_estimators": 12, "max_depth": 6}), &d);
    assert_adds_up(&forest, &test.x, proba);
    let bagged = fitted("bagging", serde_json::json!({"n_estimators": 8, "max_features": 0.5}), &d);
    assert_adds_up(&bagged, &test.x, proba);
    // Softmax boosting and a three-class tree: every class.
    let iris = crate::bundled("iris", ratlab::backends::Task::Classification);
    let soft = fitted("gradient_boosting", serde_json::json!({"n_estimators": 10}), &iris);
    let c = explain(&soft, iris.x.view()).unwrap();
    assert_eq!(c.classes, vec![0, 1, 2]);
    let margins = soft.downcast_ref::<ratlab::backends::boosting::Gbdt>().unwrap().margins(iris.x.view());
    for r in 0..iris.len() {
        for k in 0..3 {
            assert!((c.row(r, k).iter().sum::<f64>() - margins[r * 3 + k]).abs() < 1e-9);
        }
    }
    let tree3 = fitted("decision_tree", serde_json::json!({"max_depth": 3}), &iris);
    assert_adds_up(&tree3, &iris.x, proba);
    // A model that is not a tree says so.
    let lr = {
        let est = Estimator::parse(&serde_json::json!({"algorithm": "logistic_regression"}), 0).unwrap();
        let mut t = build_trainer(Backend::Native, &est.params, Some(&d.subset(&(0..200).collect::<Vec<_>>())), None, 0);
        t.as_mut().ok().and_then(|t| {
            while !t.step().ok()?.done {}
            t.saved()
        })
    };
    if let Some(lr) = lr {
        assert!(explain(&lr, test.x.view()).unwrap_err().contains("gradient boosting, decision trees"));
    }
}

#[test]
fn predict_contributions_names_the_columns_and_adds_up_to_each_rows_margin() {
    let dir = tempfile::tempdir().unwrap();
    let exp = dir.path().join("exp.yaml");
    let data = crate::root().join("datasets/breast_cancer.csv");
    std::fs::write(
        &exp,
        format!(
            "name: shap\nseed: 2\ndata: {{path: {}, target: target, split: {{test: 0.3}}}}\nmetrics: [accuracy]\nruns:\n  - {{name: gb, algorithm: gradient_boosting, params: {{n_estimators: 20}}}}\n  - {{name: rf, algorithm: random_forest, params: {{n_estimators: 5}}}}\n  - {{name: lr, algorithm: logistic_regression, backend: native, params: {{prior: gaussian}}}}\n",
            data.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("runs");
    crate::cmd().args(["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()]).assert().success();
    let run = |name: &str| std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().ends_with(&format!("-{name}"))).unwrap();
    let csv = |path: &std::path::Path| -> (Vec<String>, Vec<Vec<f64>>) {
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap().split(',').map(str::to_string).collect();
        (header, lines.map(|l| l.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect()).collect())
    };
    for (name, margin) in [("gb", true), ("rf", false)] {
        let (c, p) = (dir.path().join("c.csv"), dir.path().join("p.csv"));
        let d = run(name);
        crate::cmd().args(["predict", d.to_str().unwrap(), "--data", data.to_str().unwrap(), "--contributions", "--out", c.to_str().unwrap()]).assert().success();
        crate::cmd().args(["predict", d.to_str().unwrap(), "--data", data.to_str().unwrap(), "--out", p.to_str().unwrap()]).assert().success();
        let ((head, shap), (_, pred)) = (csv(&c), csv(&p));
        assert_eq!(head.len(), 31, "{name}: 30 features and the bias");
        assert_eq!((head[23].as_str(), head[30].as_str()), ("worst_area", "bias"), "{name}: columns by name");
        assert_eq!(shap.len(), 569);
        for (s, q) in shap.iter().zip(&pred) {
            let want = if margin { (q[2] / q[1]).ln() } else { q[2] };
            let sum: f64 = s.iter().sum();
            assert!((sum - want).abs() < 1e-6, "{name}: contributions add up to {sum}, the output is {want}");
        }
        // The run's importance panel has mean |SHAP| over the test rows.
        let events = std::fs::read_to_string(d.join("events.jsonl")).unwrap();
        let finished: serde_json::Value = serde_json::from_str(events.lines().rev().find(|l| l.contains("\"finished\"")).unwrap()).unwrap();
        let shap = &finished["artifacts"]["shap"];
        assert_eq!((shap["mean_abs"].as_array().unwrap().len(), shap["rows"].as_u64()), (30, Some(171)), "{name}: {shap}");
    }
    let o = crate::cmd().args(["predict", run("lr").to_str().unwrap(), "--data", data.to_str().unwrap(), "--contributions"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("SHAP values are computed for gradient boosting"), "{}", String::from_utf8_lossy(&o.stderr));
    // The SHAP summary plot of a run: its test rows rebuilt from the recorded experiment.
    for (name, file) in [("gb", "shap.png"), ("rf", "shap.svg")] {
        let fig = dir.path().join(file);
        let o = crate::cmd().args(["plot", run(name).to_str().unwrap(), "--shap", "--out", fig.to_str().unwrap()]).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success() && err.contains("20 features of 171 test rows"), "{name}: {err}");
        let bytes = std::fs::read(&fig).unwrap();
        if file.ends_with("png") {
            assert_eq!(&bytes[1..4], b"PNG");
        } else {
            let svg = String::from_utf8(bytes).unwrap();
            assert!(svg.contains("worst_area") || svg.contains("worst_perimeter"), "features by name");
            assert!(svg.matches("<circle").count() >= 20 * 171, "a dot per row and feature");
        }
    }
    let o = crate::cmd().args(["plot", run("lr").to_str().unwrap(), "--shap", "--out", dir.path().join("x.png").to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
}
