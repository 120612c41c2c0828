//! TreeSHAP against xgboost's `pred_contribs` (`benches/shap_reference.py`): gradient boosting
//! of 200 rounds, depth 6, η 0.1 on 50,000 generated rows (`common/missing_like.rs`, 28
//! features, 2% missing, the rows the reference script draws too), then the SHAP values of
//! 10,000 test rows, on 2 threads and on 1.
//!
//! `cargo bench --bench shap`

use ratlab::backends::boosting::BoostingTrainer;
use ratlab::backends::explain::explain;
use ratlab::backends::params::BoostingParams;
use ratlab::backends::saved::SavedModel;
use ratlab::backends::Trainer;
use std::time::Instant;

// Shared with tests/boosting.rs, which also draws the categorical rows this benchmark does not.
#[path = "common/missing_like.rs"]
#[allow(dead_code)]
mod generated;

fn main() {
    let (train, test) = (generated::missing_like(50_000, 1), generated::missing_like(10_000, 2));
    let p = BoostingParams { n_estimators: 200, max_depth: 6, learning_rate: 0.1, lambda: 1.0, max_bin: 256, ..BoostingParams::default() };
    let mut t = BoostingTrainer::new(p, &train, None, 0).expect("valid data");
    while !t.step().expect("a round").done {}
    let model = SavedModel::new(t.model().clone());
    let leaves: usize = t.model().trees.iter().map(|t| t.n_leaves()).sum();
    println!("TreeSHAP: 200 trees of depth 6 ({leaves} leaves), 10,000 rows × 28 features");
    for threads in [2, 1] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("a thread pool");
        let mut times = Vec::new();
        for _ in 0..3 {
            let t0 = Instant::now();
            let c = pool.install(|| explain(&model, test.x.view())).expect("boosting is explained");
            times.push(t0.elapsed().as_secs_f64());
            assert_eq!(c.n_rows(), 10_000);
        }
        times.sort_by(f64::total_cmp);
        println!("  {threads} thread(s): median {:.2} s (of 3: {:.2}–{:.2} s)", times[1], times[0], times[2]);
    }
    println!("  reference: xgboost 3.2 pred_contribs on the same rows: 9.25 s on 2 threads, 16.84 s on 1 (benches/shap_reference.py)");
}
