//! What each algorithm family asks of the rest of the experiment: an ensemble's members must
//! fit the task, `missing: keep` needs models that learn from NaN, linfa-trees grows
//! classification trees only; and, once the data is read, k-NN's `k` and PCA's components
//! must fit the rows and features there are, and the dense solvers must not be asked for more
//! features than they can afford.

use super::{pos, Checker, Plan, RunPlan};
use crate::backends::{Algorithm, Backend, Task};
use crate::data::{DataConfig, Missing};
use crate::error::{quote, InputError, Pos};
use crate::experiments::spec::ExperimentSpec;

impl Checker {
    /// A data setting (`field`, at `at`) that run `r` cannot take: why, which run it is, and
    /// the setting to `fix` it with.
    fn data_refuses_run(&mut self, at: Option<Pos>, field: &str, why: &str, r: &RunPlan, fix: &str) {
        self.err(at, field, format!("{why}; run {} is {} on {}: use {fix} for it", quote(&r.name), r.algorithm, r.backend));
    }

    /// The checks between runs and the rest of the file, once every run and the data section
    /// are read.
    pub(super) fn families(&mut self, spec: &ExperimentSpec, runs: &[RunPlan], task: Option<Task>, data: Option<&DataConfig>) {
        // Nested estimators must fit the task, and `missing: keep` needs models that take NaN.
        let keep_missing = data.is_some_and(|d| d.missing == Missing::Keep);
        let native_codes = data.is_some_and(|d| d.encoding == crate::data::Encoding::Native);
        for r in runs {
            let at = spec.runs.value[r.spec_index].value.params.as_ref().map(pos).or(Some(pos(&spec.runs.value[r.spec_index].value.algorithm)));
            let mut inner = Vec::new();
            r.params.members(&mut inner);
            for e in &inner {
                if let Some(t) = task {
                    if !e.algorithm.tasks().contains(&t) {
                        self.err(at, &format!("runs[{}].params", r.spec_index), format!(
                            "the member {} does not do {}; a member must fit the experiment's task",
                            e.algorithm,
                            t.as_str()
                        ));
                    }
                }
            }
            let handles_nan = |a: Algorithm, b: Backend| {
                b == Backend::Native && matches!(a, Algorithm::GradientBoosting | Algorithm::DecisionTree | Algorithm::RandomForest | Algorithm::Bagging | Algorithm::AdaBoost)
            };
            if keep_missing && !(handles_nan(r.algorithm, r.backend) && inner.iter().all(|e| handles_nan(e.algorithm, e.backend))) {
                let at = spec.data.as_ref().and_then(|d| d.value.missing.as_ref()).map(pos);
                self.data_refuses_run(at, "data.missing", "keep leaves empty cells missing, which only native gradient_boosting, decision_tree and random_forest (and bagging or adaboost of them) learn from", r, "missing: mean or drop");
            }
        }
        // Category codes are categories only to the native tree models.
        for r in runs.iter().filter(|_| native_codes) {
            if !(r.backend == Backend::Native && matches!(r.algorithm, Algorithm::GradientBoosting | Algorithm::DecisionTree | Algorithm::RandomForest)) {
                let at = spec.data.as_ref().and_then(|d| d.value.encoding.as_ref()).map(pos);
                self.data_refuses_run(at, "data.encoding", "native gives category codes that only native gradient_boosting, decision_tree and random_forest split by sets of categories", r, "encoding: onehot or ordinal");
            }
        }
        // Chunks of a file go straight into bin codes, which only native boosting trains from.
        if let Some(at) = spec.data.as_ref().and_then(|d| d.value.chunk_rows.as_ref()).map(pos) {
            for r in runs {
                if !(r.backend == Backend::Native && r.algorithm == Algorithm::GradientBoosting) {
                    self.data_refuses_run(Some(at), "data.chunk_rows", "reads the file a chunk at a time straight into bin codes, which only native gradient_boosting trains from", r, "a separate experiment without chunk_rows");
                } else if r.sweep.is_some() || r.train_sizes.is_some() || !r.preprocess.is_empty() {
                    let what = if r.sweep.is_some() { "sweep" } else if r.train_sizes.is_some() { "train_sizes" } else { "preprocess" };
                    self.err(Some(at), "data.chunk_rows", format!("reads the file straight into bin codes, but run {} asks for {what}, which needs the rows in memory; leave {what} out or chunk_rows", quote(&r.name)));
                }
            }
        }
        if task == Some(Task::Regression) {
            for r in runs {
                if r.algorithm == Algorithm::DecisionTree && r.backend == Backend::Linfa {
                    let at = spec.runs.value[r.spec_index].value.backend.as_ref().map(pos);
                    self.err(at, &format!("runs[{}].backend", r.spec_index), "linfa-trees has classification trees only; use backend: smartcore for regression trees");
                }
            }
        }
    }
}

impl Plan {
    /// A k-NN `k` above the training rows, more PCA components than features, or data too wide
    /// for a backend's dense solver: what only the data's size shows.
    pub(super) fn check_params_against_data(&self, train: usize, features: usize, classes: usize) -> Result<(), InputError> {
        for r in &self.runs {
            if let Some(why) = too_wide(r.backend, &r.params, features, classes) {
                let member = !matches!(r.params, crate::backends::AlgoParams::Logistic(_) | crate::backends::AlgoParams::Pca(_));
                let field = format!("runs[{}].{}", r.spec_index, if member { "params" } else { "backend" });
                return Err(self.locate(InputError::new(why).field(field)));
            }
            let at = format!("runs[{}].params", r.spec_index);
            match &r.params {
                crate::backends::AlgoParams::Knn(k) if k.k > train => {
                    return Err(self.locate(
                        InputError::new(format!("k = {} is more than the {train} training rows; a neighbour vote needs k ≤ the rows it votes among", k.k)).field(format!("{at}.k")),
                    ));
                }
                crate::backends::AlgoParams::Pca(pc) if pc.n_components >= 1.0 && pc.n_components as usize > features => {
                    return Err(self.locate(
                        InputError::new(format!("{} components asked of {features} features; PCA finds at most as many components as features (or give a variance fraction such as 0.95)", pc.n_components)).field(format!("{at}.n_components")),
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Why an estimator (or one inside it) cannot take data `features` wide: the size guards of
/// the solvers that are cubic in the features. An ensemble's members see the same columns;
/// stacking's final estimator sees the members' outputs side by side (then the rows, with
/// `passthrough`).
fn too_wide(backend: Backend, params: &crate::backends::AlgoParams, features: usize, classes: usize) -> Option<String> {
    use crate::backends::AlgoParams;
    let own = match params {
        AlgoParams::Logistic(p) if backend == Backend::Native => crate::backends::native::logistic::width_limit(p, features, classes),
        AlgoParams::Pca(_) => crate::backends::pca::width_limit(backend, features),
        _ => None,
    };
    let inner = |e: &crate::backends::params::Estimator, width: usize| {
        too_wide(e.backend, &e.params, width, classes).map(|why| format!("the member {} on {}: {why}", e.algorithm, e.backend))
    };
    own.or_else(|| match params {
        AlgoParams::Bagging(b) => inner(&b.estimator, features),
        AlgoParams::AdaBoost(a) => inner(&a.estimator, features),
        AlgoParams::Stacking(s) => s.estimators.iter().find_map(|e| inner(e, features)).or_else(|| {
            let stacked = s.estimators.len() * classes.max(1) + if s.passthrough { features } else { 0 };
            inner(&s.final_estimator, stacked)
        }),
        _ => None,
    })
}
