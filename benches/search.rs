//! Trials per second of a search: a 48-trial grid of logistic regressions (4 priors ×
//! strengths × iteration budgets) on 20,000 × 20 generated rows, run whole with `-j 1` and
//! `-j 2` (what `ratlab run EXP -j N` does, minus the console), every trial recorded. The
//! trials are single-threaded, so two jobs on two cores should come close to twice as fast.
//!
//! `cargo bench --bench search`.

use ratlab::experiments::plan;
use ratlab::experiments::events::{Collect, Sink, Tee};
use ratlab::experiments::runner::run_plan_jobs;
use ratlab::experiments::store::StoreSink;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

const EXPERIMENT: &str = "name: bench-search
seed: 1
data:
  generate: {kind: classification, n_samples: 20000, n_features: 20, n_informative: 8, class_sep: 0.8}
  split: {test: 0.25}
metrics: [accuracy, log_loss]
runs:
  - name: lr
    algorithm: logistic_regression
    search:
      space:
        prior: [none, gaussian, laplace]
        strength: [0.01, 0.1, 1.0, 10.0]
        max_iter: [25, 50, 100, 200]
";

fn main() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("bench-search.yaml");
    std::fs::write(&path, EXPERIMENT).expect("written");
    let plan = plan::load(&path, &[]).expect("a valid experiment");
    let prepared = plan.prepare().expect("generated data");
    let n = plan.runs.len();
    println!("search: {n}-trial grid of logistic regressions, 20,000 × 20 (15,000 train), every trial recorded");
    let mut base = None;
    for jobs in [1, 2] {
        let out = dir.path().join(format!("runs-{jobs}"));
        let mut store = StoreSink::new(&out, String::new());
        let mut collect = Collect::default();
        let t = Instant::now();
        let summaries = {
            let mut tee = Tee(vec![&mut store as &mut dyn Sink, &mut collect]);
            run_plan_jobs(&plan, prepared.as_ref(), None, jobs, &mut tee, &AtomicBool::new(false))
        };
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(summaries.len(), n);
        let speedup = base.map(|b: f64| format!("  ({:.2}× -j 1)", b / secs)).unwrap_or_default();
        println!("  -j {jobs}: {secs:6.2} s  {:6.1} trials/s{speedup}", n as f64 / secs);
        base.get_or_insert(secs);
    }
}
