//! Native gradient boosting and the native CART tree: the same result whatever the thread count,
//! early stopping keeps the best round, agreement with linfa-trees and smartcore on untied data,
//! and boosting on the bundled datasets against a brute-force check of its margins.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use ratlab::backends::boosting::BoostingTrainer;
use ratlab::backends::native::cart::CartTrainer;
use ratlab::backends::params::{BoostingParams, CartParams, MaxFeatures, TreeParams};
use ratlab::backends::tree::TreeTrainer;
use ratlab::backends::{Backend, Prediction, Predictor, Task, Trainer};
use ratlab::data::TrainSet;
use ratlab::metrics::Metric;

#[path = "../benches/common/missing_like.rs"]
mod generated;
use generated::{categorical_like, missing_like};

fn gb(n: usize) -> BoostingParams {
    BoostingParams { n_estimators: n, max_depth: 4, ..BoostingParams::default() }
}

/// Continuous features (no ties), a nonlinear binary target, and missing cells.
fn synthetic(n: usize, seed: u64, missing: bool) -> TrainSet {
    let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut x = Array2::zeros((n, 6));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        for j in 0..6 {
            x[[i, j]] = r.gen::<f64>() * 4.0 - 2.0;
        }
        let f = x[[i, 0]] * x[[i, 1]] + (x[[i, 2]] > 0.5) as i32 as f64 - 0.5 * x[[i, 3]];
        y[i] = (f + 0.3 * (r.gen::<f64>() - 0.5) > 0.0) as i32 as f64;
        if missing && r.gen::<f64>() < 0.1 {
            x[[i, r.gen_range(0..6)]] = f64::NAN;
        }
    }
    TrainSet::new(x, y, 2)
}

fn fit_all(t: &mut dyn Trainer) {
    while !t.step().unwrap().done {}
    t.finish();
}

fn proba(p: Prediction) -> Array2<f64> {
    match p {
        Prediction::Proba(a) => a,
        Prediction::Values(_) => panic!("expected probabilities"),
    }
}

#[test]
fn boosting_and_forests_are_identical_on_one_and_two_threads() {
    let data = synthetic(3000, 1, true);
    let test = synthetic(500, 2, true);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let mut p = gb(20);
            p.subsample = 0.8;
            p.colsample_bytree = 0.7;
            let mut t = BoostingTrainer::new(p, &data, Some(&test), 5).unwrap();
            fit_all(&mut t);
            let est = ratlab::backends::params::Estimator::parse(&serde_json::json!({"algorithm": "random_forest", "params": {"n_estimators": 8}}), 0).unwrap();
            let mut rf = ratlab::backends::build_trainer(Backend::Native, &est.params, Some(&data), None, 5).unwrap();
            fit_all(rf.as_mut());
            (t.model().clone(), proba(rf.predictor().unwrap().predict(test.x.view()).unwrap()))
        })
    };
    let (m1, rf1) = run(1);
    let (m2, rf2) = run(2);
    assert_eq!(m1, m2, "boosted trees differ between 1 and 2 threads");
    assert_eq!(rf1, rf2, "forest predictions differ between 1 and 2 threads");
}

#[test]
fn staged_margins_equal_a_fresh_prediction_over_all_trees() {
    // The curves come from running margins; they must be the model's own predictions, bit for bit.
    let data = synthetic(2000, 3, true);
    let test = synthetic(400, 4, true);
    let mut t = BoostingTrainer::new(gb(15), &data, Some(&test), 0).unwrap();
    fit_all(&mut t);
    let rows: Vec<usize> = (0..data.len()).collect();
    let (ptr, pte) = t.staged(&rows).unwrap();
    assert_eq!(proba(ptr), proba(t.model().predict(data.x.view()).unwrap()));
    assert_eq!(proba(pte.unwrap()), proba(t.model().predict(test.x.view()).unwrap()));
}

#[test]
fn early_stopping_keeps_the_best_round() {
    let data = synthetic(1500, 5, false);
    let test = synthetic(300, 6, false);
    let mut p = gb(300);
    p.learning_rate = 0.5;
    p.max_depth = 6;
    p.early_stopping_rounds = 5;
    p.validation_fraction = 0.2;
    let mut t = BoostingTrainer::new(p, &data, Some(&test), 0).unwrap();
    let mut losses = Vec::new();
    loop {
        let out = t.step().unwrap();
        losses.push(out.metrics["valid.log_loss"]);
        if out.done {
            assert!(out.message.unwrap_or_default().contains("early stopping"));
            break;
        }
    }
    assert!(losses.len() < 300, "a deep, fast learner overfits and stops early");
    let best = losses.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i + 1).unwrap();
    assert_eq!(losses.len(), best + 5, "stops 5 rounds after the best");
    assert!(t.finish(), "the model is rewound to the best round");
    assert_eq!(t.model().trees.len(), best);
    let rows: Vec<usize> = (0..data.len()).collect();
    let (ptr, _) = t.staged(&rows).unwrap();
    assert_eq!(proba(ptr), proba(t.model().predict(data.x.view()).unwrap()), "the kept margins are the kept model's");
}

#[test]
fn softmax_boosting_learns_the_bundled_datasets() {
    for (name, min_acc) in [("iris", 0.9), ("wine", 0.9)] {
        let d = crate::bundled(name, Task::Classification);
        let (tr, te) = ratlab::data::split::holdout(d.len(), 0.3, Some(&d.labels()), 0);
        let (train, test) = (d.subset(&tr), d.subset(&te));
        let mut t = BoostingTrainer::new(gb(50), &train, None, 0).unwrap();
        fit_all(&mut t);
        let p = t.model().predict(test.x.view()).unwrap();
        let acc = Metric::Accuracy.compute(&p, test.y.view());
        assert!(acc >= min_acc, "{name}: test accuracy {acc}");
        // Probabilities sum to one (softmax over 3 class margins).
        for row in proba(p).rows() {
            assert!((row.sum() - 1.0).abs() < 1e-12);
        }
    }
}

#[test]
fn squared_error_boosting_fits_a_regression_target() {
    let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(9);
    let n = 2000;
    let x = Array2::from_shape_fn((n, 3), |_| r.gen::<f64>() * 6.0 - 3.0);
    let y: Array1<f64> = x.rows().into_iter().map(|row| row[0].sin() * 2.0 + row[1] * row[1] * 0.5).collect();
    let data = TrainSet::new(x.clone(), y.clone(), 0);
    let mut t = BoostingTrainer::new(gb(100), &data, None, 0).unwrap();
    fit_all(&mut t);
    let r2 = Metric::R2.compute(&t.model().predict(x.view()).unwrap(), y.view());
    assert!(r2 > 0.98, "train R² {r2}");
}

fn cart(depth: Option<usize>, entropy: bool) -> CartParams {
    CartParams { tree: TreeParams { entropy, max_depth: depth, min_samples_split: 2, min_samples_leaf: 1 }, max_features: MaxFeatures::All, max_bin: 256, cat: Default::default() }
}

#[test]
fn the_native_tree_agrees_with_linfa_trees_and_smartcore_on_untied_data() {
    // 200 rows of continuous values: every feature has fewer distinct values than bins, so the
    // histogram tree tries every split an exact CART tries; without ties the trees agree.
    let data = synthetic(200, 11, false);
    let mut native = CartTrainer::new(&cart(Some(3), false), &data, 0).unwrap();
    native.step().unwrap();
    let pn = ratlab::backends::ensemble::votes(&native.predict(data.x.view()).unwrap());
    for backend in [Backend::Smartcore, Backend::Linfa] {
        let mut other = TreeTrainer::new(cart(Some(3), false).tree, backend, &data).unwrap();
        other.step().unwrap();
        let po = ratlab::backends::ensemble::votes(&other.predict(data.x.view()).unwrap());
        assert_eq!(pn, po, "native and {backend} trees classify the training rows differently");
    }
    // Fully grown, the native tree fits the training rows exactly, with Gini and entropy.
    for entropy in [false, true] {
        let mut full = CartTrainer::new(&cart(None, entropy), &data, 0).unwrap();
        full.step().unwrap();
        assert_eq!(Metric::Accuracy.compute(&full.predict(data.x.view()).unwrap(), data.y.view()), 1.0);
    }
}

#[test]
fn sample_weights_act_like_repeated_rows() {
    // Weight 2 on a row is the same tree as the row appearing twice.
    let data = synthetic(120, 12, false);
    let mut weighted = data.clone();
    let w: Array1<f64> = (0..data.len()).map(|i| if i % 3 == 0 { 2.0 } else { 1.0 }).collect();
    weighted.weights = Some(w);
    let rows: Vec<usize> = (0..data.len()).flat_map(|i| if i % 3 == 0 { vec![i, i] } else { vec![i] }).collect();
    let repeated = data.subset(&rows);
    let p = cart(Some(4), false);
    let a = CartTrainer::new(&p, &weighted, 0).unwrap();
    let b = CartTrainer::new(&p, &repeated, 0).unwrap();
    assert_eq!(a.predict(data.x.view()).unwrap().rounded_probabilities(), b.predict(data.x.view()).unwrap().rounded_probabilities());
}

trait ProbaForTest {
    fn rounded_probabilities(self) -> Vec<f64>;
}
impl ProbaForTest for Prediction {
    fn rounded_probabilities(self) -> Vec<f64> {
        proba(self).iter().map(|v| (v * 1e9).round() / 1e9).collect()
    }
}

#[test]
fn missing_values_cost_nothing_against_xgboost() {
    // benches/missing_reference.py writes the figures of xgboost 3.2 `hist` (and LightGBM) on
    // the same generated rows: 200 rounds, depth 6, η 0.1, λ 1, 256 bins, missing cells kept.
    let reference: serde_json::Value = serde_json::from_str(include_str!("fixtures/data/missing-reference.json")).unwrap();
    // Means over several pairs of sets: one set's figures move by more than the tolerance with
    // any change of binning (xgboost's own, 255 bins against 256), a mean of four less so.
    let num = |k: &str| reference[k].as_u64().unwrap() as usize;
    let (n, n_test, sets) = (num("rows"), num("test_rows"), num("sets"));
    let p = BoostingParams { n_estimators: num("rounds"), max_depth: 6, learning_rate: 0.1, lambda: 1.0, max_bin: 256, ..BoostingParams::default() };
    let (mut auc, mut ll) = (0.0, 0.0);
    for s in 1..=sets as u64 {
        let (data, test) = (missing_like(n, 2 * s - 1), missing_like(n_test, 2 * s));
        if s == 1 {
            // The same rows as numpy's: the first cells of each set, to the bit.
            for (set, first) in [(&data, &reference["first_cells"][0]), (&test, &reference["first_cells"][1])] {
                let want: Vec<f64> = first.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                assert_eq!(set.x.row(0).iter().take(4).copied().collect::<Vec<_>>(), want);
            }
            let missing = data.x.iter().filter(|v| v.is_nan()).count() as f64 / data.x.len() as f64;
            assert!((missing - reference["missing_cells"].as_f64().unwrap()).abs() < 1e-12);
        }
        let mut t = BoostingTrainer::new(p.clone(), &data, None, 0).unwrap();
        fit_all(&mut t);
        let pred = t.model().predict(test.x.view()).unwrap();
        let (a, l) = (Metric::RocAuc.compute(&pred, test.y.view()), Metric::LogLoss.compute(&pred, test.y.view()));
        eprintln!("set {s}: test AUC {a:.5}, log loss {l:.5}; xgboost {}", reference["xgboost"]["per_set"][s as usize - 1]);
        auc += a / sets as f64;
        ll += l / sets as f64;
    }
    let (xa, xl) = (reference["xgboost"]["auc"].as_f64().unwrap(), reference["xgboost"]["log_loss"].as_f64().unwrap());
    assert!((auc - xa).abs() <= 3e-4, "mean test AUC {auc:.5} against xgboost's {xa:.5}");
    assert!((ll - xl).abs() <= 1e-3, "mean test log loss {ll:.5} against xgboost's {xl:.5}");
}

#[test]
fn a_split_can_set_the_missing_rows_apart_from_every_present_value() {
    // The label is whether the cell is missing; the present values all fall in the top bin (one
    // distinct value), so no threshold separates anything: only the missing-apart split does.
    let n = 400;
    let x = Array2::from_shape_fn((n, 1), |(i, _)| if i % 4 == 0 { f64::NAN } else { 1.0 });
    let y: Array1<f64> = (0..n).map(|i| (i % 4 == 0) as i32 as f64).collect();
    let data = TrainSet::new(x.clone(), y.clone(), 2);
    let mut t = BoostingTrainer::new(gb(20), &data, None, 0).unwrap();
    fit_all(&mut t);
    let tree = &t.model().trees[0];
    let split = tree.nodes[0].split.expect("the first tree splits the missing rows off");
    assert!(!split.default_left && split.threshold == f64::MAX, "every present value left, missing right: {split:?}");
    assert_eq!(Metric::Accuracy.compute(&t.model().predict(x.view()).unwrap(), y.view()), 1.0);
    // model.json keeps it (JSON has no infinity) and the model read back predicts the same.
    let back: ratlab::backends::boosting::Gbdt = serde_json::from_str(&serde_json::to_string(t.model()).unwrap()).unwrap();
    assert_eq!(&back, t.model());
}

#[test]
fn native_categories_match_lightgbm_and_xgboost_and_beat_codes_as_numbers() {
    // benches/categorical_reference.py: LightGBM's categorical_feature and xgboost's
    // enable_categorical on the same rows (a column of 200 or 1,000 skewed levels with 1%
    // missing, a 30-level one, 6 numbers), 200 rounds of depth 6.
    let reference: serde_json::Value = serde_json::from_str(include_str!("fixtures/data/categorical-reference.json")).unwrap();
    let p = BoostingParams { n_estimators: 200, max_depth: 6, learning_rate: 0.1, lambda: 1.0, max_bin: 256, ..BoostingParams::default() };
    let fit = |data: &TrainSet| {
        let mut t = BoostingTrainer::new(p.clone(), data, None, 0).unwrap();
        fit_all(&mut t);
        t.model().clone()
    };
    for levels in [200usize, 1000] {
        let r = &reference[levels.to_string()];
        let num = |k: &str| r[k].as_u64().unwrap() as usize;
        let (mut data, mut test) = (categorical_like(num("rows"), 1, levels), categorical_like(num("test_rows"), 2, levels));
        for (set, first) in [(&data, &r["first_cells"][0]), (&test, &r["first_cells"][1])] {
            let want: Vec<f64> = first.as_array().unwrap().iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect();
            assert_eq!(set.x.row(0).to_vec(), want, "the reference script's rows");
        }
        let auc = |m: &ratlab::backends::boosting::Gbdt, t: &TrainSet| Metric::RocAuc.compute(&m.predict(t.x.view()).unwrap(), t.y.view());
        // The codes as numbers (thresholds on an arbitrary order), then as categories.
        let numeric = auc(&fit(&data), &test);
        data.categories = vec![levels, 30, 0, 0, 0, 0, 0, 0];
        test.categories = data.categories.clone();
        let model = fit(&data);
        let native = auc(&model, &test);
        let (lgb, xgb) = (r["lightgbm"]["auc"].as_f64().unwrap(), r["xgboost"]["auc"].as_f64().unwrap());
        eprintln!("{levels} levels, test AUC: ratlab native {native:.4}, codes as numbers {numeric:.4}; LightGBM {lgb:.4}, xgboost {xgb:.4}");
        // The goal: within 0.002 of the better of the two. 200 levels fit the 254 category
        // bins; of 1,000 the 238 most frequent get bins and the rest (40% of the rows here) are
        // grouped by their mean label (one shared bin for them fell 0.025 behind).
        assert!(native >= lgb.max(xgb) - 0.002, "{levels} levels: AUC {native:.4} against LightGBM {lgb:.4} and xgboost {xgb:.4}");
        assert!(native > numeric + 0.005, "{levels} levels: category sets beat thresholds on codes: {native:.4} against {numeric:.4}");
        // Read back, the model walks the same category sets on raw codes; an unseen code goes
        // the missing way.
        let back: ratlab::backends::boosting::Gbdt = serde_json::from_str(&serde_json::to_string(&model).unwrap()).unwrap();
        assert!(back.trees.iter().any(|t| !t.cat_sets.is_empty()), "category splits are kept");
        assert_eq!(auc(&back, &test), native);
        let mut unseen = test.x.slice(ndarray::s![..50, ..]).to_owned();
        let mut missing = unseen.clone();
        unseen.column_mut(0).fill(5000.0);
        missing.column_mut(0).fill(f64::NAN);
        assert_eq!(back.margins(unseen.view()), back.margins(missing.view()));
    }
}

/// The bundled experiments/categorical.yaml as a user runs it: native category splits beat the
/// same data one-hot encoded and as ordinal codes (300 cities with unordered effects); the saved
/// model carries the category maps, so `predict` on new rows encodes the cities as training did,
/// and a city never seen in training goes the way of a missing one.
#[test]
fn native_categories_beat_onehot_and_ordinal_and_predict_maps_unseen_ones_to_missing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("runs");
    let auc = |enc: &str| -> (f64, std::path::PathBuf) {
        let mut c = crate::cmd();
        c.args(["run", "experiments/categorical.yaml", "--run", "boosting", "--format", "json", "--out", out.join(enc).to_str().unwrap(), "--set"]);
        c.arg(format!("data.encoding={enc}"));
        if enc != "native" {
            c.args(["--set", "data.categorical=[]"]);
        }
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{enc}: {}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (v["runs"][0]["metrics"]["roc_auc"].as_f64().unwrap(), v["runs"][0]["dir"].as_str().unwrap().into())
    };
    let native = auc("native");
    let run = native.1.clone();
    let (onehot, ordinal) = (auc("onehot").0, auc("ordinal").0);
    assert!(native.0 > onehot + 0.01 && native.0 > ordinal + 0.01, "native {} onehot {onehot} ordinal {ordinal}", native.0);

    let model: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(run.join("model.json")).unwrap()).unwrap();
    let features = model["data"]["encoder"]["features"].as_array().unwrap();
    assert_eq!(features[0][0], "city");
    assert!(features[0][1]["categories"]["cats"].as_array().unwrap().len() > 250, "the city map is saved");
    let rows = dir.path().join("new.csv");
    std::fs::write(&rows, "city,store,price,age,visits,discount\nc3,7,0.5,0.1,-0.2,1.0\n,7,0.5,0.1,-0.2,1.0\nnowhere,7,0.5,0.1,-0.2,1.0\nc250,7,0.5,0.1,-0.2,1.0\n").unwrap();
    let o = crate::cmd().args(["predict", run.to_str().unwrap(), "--data", rows.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let p: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(p.len(), 4, "{text}");
    assert_eq!(p[1], p[2], "an unseen city goes the missing way:\n{text}");
    assert_ne!(p[0], p[1], "a known city has its own effect:\n{text}");
}
