//! Logistic-regression fit times on 100,000 × 20 (binary), beside the scikit-learn figures in
//! ../shared/REFERENCE.md. Run with `make bench` (or `cargo bench --bench logreg`).

use ratlab::backends::params::{LogisticParams, Prior};
use ratlab::backends::{linfa::LinfaLogistic, native::logistic::NativeLogistic, smartcore::SmartcoreLogistic, Trainer};
use ratlab::data::{generate::generate, split, GenConfig, Scaler};
use ratlab::metrics::Metric;
use std::time::Instant;

fn main() {
    let cfg = GenConfig::Classification { n_samples: 120_000, n_features: 20, n_informative: 10, n_classes: 2, class_sep: 0.5, label_noise: 0.05 };
    let d = generate(&cfg, 1);
    let labels = d.all().labels();
    let (tr, te) = split::holdout(d.x.nrows(), 20_000.0 / 120_000.0, Some(&labels), 1);
    let (mut train, mut test) = (d.subset(&tr), d.subset(&te));
    let s = Scaler::fit(&train.x);
    s.apply(&mut train.x);
    s.apply(&mut test.x);
    println!("logistic regression, {} × {} train, {} test (binary); median of 3 fits", train.len(), train.x.ncols(), test.len());
    println!("{:<34} {:>10} {:>10} {:>10}", "model", "fit", "test acc", "test ll");
    let p = |prior, strength, max_iter| LogisticParams { prior, strength, max_iter, tol: 1e-8, fit_intercept: true };
    type Make = Box<dyn Fn(&ratlab::data::TrainSet) -> Box<dyn Trainer>>;
    let cases: Vec<(&str, Make)> = vec![
        ("native, no prior (Newton)", Box::new(move |t| Box::new(NativeLogistic::new(p(Prior::None, 0.0, 100), t).unwrap()))),
        ("native, gaussian λ=1 (Newton)", Box::new(move |t| Box::new(NativeLogistic::new(p(Prior::Gaussian, 1.0, 100), t).unwrap()))),
        ("native, laplace λ=1 (prox-Newton)", Box::new(move |t| Box::new(NativeLogistic::new(p(Prior::Laplace, 1.0, 100), t).unwrap()))),
        ("native, laplace λ=100", Box::new(move |t| Box::new(NativeLogistic::new(p(Prior::Laplace, 100.0, 100), t).unwrap()))),
        ("linfa, gaussian λ=1 (L-BFGS)", Box::new(move |t| Box::new(LinfaLogistic::new(p(Prior::Gaussian, 1.0, 1000), t).unwrap()))),
        ("smartcore, gaussian λ=1 (L-BFGS)", Box::new(move |t| Box::new(SmartcoreLogistic::new(p(Prior::Gaussian, 1.0, 1000), t).unwrap()))),
    ];
    for (name, make) in cases {
        let mut times = Vec::new();
        let mut result = (0.0, 0.0);
        for _ in 0..3 {
            let t0 = Instant::now();
            let mut m = make(&train);
            while !m.step().expect("fit").done {}
            times.push(t0.elapsed().as_secs_f64());
            let pred = m.predictor().expect("model").predict(test.x.view()).unwrap();
            result = (Metric::Accuracy.compute(&pred, test.y.view()), Metric::LogLoss.compute(&pred, test.y.view()));
        }
        times.sort_by(f64::total_cmp);
        println!("{name:<34} {:>8.0}ms {:>10.4} {:>10.5}", times[1] * 1e3, result.0, result.1);
    }
    println!("reference (scikit-learn 1.9.1, same shape, ../shared/REFERENCE.md): lbfgs 376 ms, newton-cholesky 218 ms, L1 liblinear 298 ms, saga 1.70 s");
}
