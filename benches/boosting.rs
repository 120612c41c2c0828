//! Gradient boosting against ../shared/REFERENCE.md ("Gradient boosting"): 200 rounds, depth 6,
//! η 0.1, λ 1, min_child_weight 1, 256 bins, on seeded synthetic data of the reference's shapes
//! (1,000,000 × 28 binary with 100,000 test rows, HIGGS-like; and 100,000 × 20 with 20,000).
//!
//! The figure is a run's whole training wall time as the runner pays it: binning, the rounds,
//! and every round's train (10,000-row subsample) and test metrics (accuracy, log-loss, AUC)
//! for the curves. Peak memory is the process's high-water mark.
//!
//! `cargo bench --bench boosting`. `RATLAB_BENCH_SMALL=1` runs only the 100k case,
//! `RATLAB_BENCH_LARGE=1` only the 1M one; `RATLAB_BENCH_THREADS=2,1` picks thread counts,
//! `RATLAB_BENCH_ROUNDS` the rounds, `RATLAB_BENCH_CSV=DIR` writes the rows for
//! `benches/xgboost_reference.py`.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use ratlab::backends::boosting::BoostingTrainer;
use ratlab::backends::params::{BoostingParams, Objective};
use ratlab::backends::Trainer;
use ratlab::data::{split, TrainSet};
use ratlab::metrics::Metric;
use rayon::prelude::*;
use std::time::Instant;

/// HIGGS-like data: 21 "low-level" features (Gaussian, some heavy-tailed or angular) and 7
/// "high-level" ones derived from them nonlinearly; the label is Bernoulli(σ(f(x))) with f
/// mixing linear terms, interactions and thresholds. Returns the rows and the true P(y = 1).
fn higgs_like(n: usize, d: usize, seed: u64) -> (Array2<f64>, Array1<f64>, Vec<f64>) {
    let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    let low = d * 3 / 4;
    let mut x = Array2::zeros((n, d));
    let mut y = Array1::zeros(n);
    let mut p = Vec::with_capacity(n);
    for i in 0..n {
        for j in 0..low {
            let z: f64 = StandardNormal.sample(&mut r);
            x[[i, j]] = match j % 3 {
                0 => z,
                1 => z.abs() * 1.5,               // a transverse momentum
                _ => (z * 1.7).sin() * std::f64::consts::PI, // an angle
            };
        }
        for j in low..d {
            let a = x[[i, (j * 5) % low]];
            let b = x[[i, (j * 7 + 1) % low]];
            x[[i, j]] = (a * a + b * b).sqrt() + 0.3 * (a * b).tanh();
        }
        let f = 0.6 * x[[i, 0]] - 0.5 * x[[i, 1]] + 0.4 * x[[i, 3]] * x[[i, 4]].signum()
            + 0.8 * (x[[i, low]] > 2.0) as i32 as f64
            - 0.5 * x[[i, low + 1]].min(3.0)
            + 0.4 * (x[[i, 2]]).cos() * x[[i, 6]]
            + 0.3 * x[[i, 9]] * x[[i, 10]] / 2.0
            + 0.7;
        let q = 1.0 / (1.0 + (-f).exp());
        p.push(q);
        y[i] = (r.gen::<f64>() < q) as i32 as f64;
    }
    (x, y, p)
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn params() -> BoostingParams {
    BoostingParams {
        objective: Objective::BinaryLogistic,
        n_estimators: std::env::var("RATLAB_BENCH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200),
        learning_rate: 0.1,
        ..BoostingParams::default()
    }
}

fn case(label: &str, n: usize, n_test: usize, d: usize, reference: &str) {
    let (x, y, _) = higgs_like(n, d, 1);
    let (xt, yt, pt) = higgs_like(n_test, d, 2);
    let bayes = Metric::RocAuc.compute(
        &ratlab::backends::Prediction::Proba(Array2::from_shape_fn((n_test, 2), |(i, c)| if c == 1 { pt[i] } else { 1.0 - pt[i] })),
        yt.view(),
    );
    if let Some(dir) = std::env::var_os("RATLAB_BENCH_CSV") {
        // The same rows for benches/xgboost_reference.py.
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("a directory for the CSV files");
        for (name, x, y) in [("train", &x, &y), ("test", &xt, &yt)] {
            let mut out = String::with_capacity(x.nrows() * x.ncols() * 12);
            out.push_str(&(0..x.ncols()).map(|j| format!("f{j}")).chain(["target".to_string()]).collect::<Vec<_>>().join(","));
            out.push('\n');
            for (row, t) in x.rows().into_iter().zip(y) {
                for v in row {
                    out.push_str(&format!("{v},"));
                }
                out.push_str(&format!("{t}\n"));
            }
            std::fs::write(dir.join(format!("{}-{name}.csv", label.replace(' ', ""))), out).expect("writes the CSV");
        }
    }
    let train = TrainSet::new(x, y, 2);
    let test = TrainSet::new(xt, yt, 2);
    let labels = train.labels();
    let (_, eval) = split::holdout(n, 10_000.0 / n as f64, Some(&labels), 7);
    let eval_y = train.y.select(ndarray::Axis(0), &eval);
    let metrics = [Metric::Accuracy, Metric::LogLoss, Metric::RocAuc];
    let threads: Vec<usize> = match std::env::var("RATLAB_BENCH_THREADS") {
        Ok(t) => t.split(',').filter_map(|v| v.trim().parse().ok()).collect(),
        Err(_) => vec![2, 1],
    };
    for threads in threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
        let (secs, bin_secs, auc, ll) = pool.install(|| {
            let t0 = Instant::now();
            let mut tr = BoostingTrainer::new(params(), &train, Some(&test), 0).expect("valid data");
            let bin_secs = t0.elapsed().as_secs_f64();
            let mut last;
            loop {
                let out = tr.step().expect("a round");
                // As the runner does: train and test metrics side by side.
                let (ptr, pte) = tr.staged(&eval).expect("boosting tracks its predictions");
                let pte = pte.expect("a test set");
                // (The runner computes each set's metrics in parallel too.)
                let (_, l): (Vec<f64>, Vec<f64>) = rayon::join(
                    || metrics.par_iter().map(|m| m.compute(&ptr, eval_y.view())).collect(),
                    || metrics.par_iter().map(|m| m.compute(&pte, test.y.view())).collect(),
                );
                last = (l[2], l[1]);
                if out.done {
                    break;
                }
            }
            (t0.elapsed().as_secs_f64(), bin_secs, last.0, last.1)
        });
        println!(
            "{label:<14} {threads} thr: total {secs:6.2} s (binning {bin_secs:4.2} s)  test AUC {auc:.4}  log-loss {ll:.4}  (Bayes AUC {bayes:.4})  peak RSS {:.0} MB",
            peak_rss_mb()
        );
    }
    println!("{:<14} reference: {reference}", "");
}

fn main() {
    println!("gradient boosting: 200 rounds, depth 6, η 0.1, λ 1, 256 bins; whole run incl. per-round curves");
    if std::env::var_os("RATLAB_BENCH_LARGE").is_none() {
        case("100k × 20", 100_000, 20_000, 20, "xgboost hist 2.84 s total (2.59 s training), AUC 0.9815 on its data");
    }
    if std::env::var_os("RATLAB_BENCH_SMALL").is_none() {
        case("1M × 28", 1_000_000, 100_000, 28, "xgboost hist 43.2 s total (38.3 s training, busy machine), AUC 0.8024; LightGBM 59.1 s");
    }
}
