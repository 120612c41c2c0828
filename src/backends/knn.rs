//! k-nearest neighbours: classification by (weighted) vote and regression by (weighted) mean
//! over the k nearest training rows, searched with ratlab's kd-tree or brute force (native),
//! linfa-nn's kd-tree, ball tree or linear search (linfa has no kNN model: the vote is ours), or
//! smartcore's own kNN classifier/regressor. Plus the curse-of-dimensionality study
//! ([`ScalingTrainer`]): how much of the data a kd-tree must touch as the dimension grows.
//!
//! Weights: `uniform`, or `distance` (1/d; a query that coincides with training rows takes
//! only those, as scikit-learn does).

use super::native::kdtree::{Brute, KdTree, Metric, Neighbour, QueryStats};
use super::params::{KnnIndex, KnnParams, KnnScalingParams};
use super::{Backend, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::TrainSet;
use crate::metrics::Metrics;
use ndarray::{Array1, Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::time::Instant;

/// The search structure behind a native or linfa model.
enum Index {
    Tree(KdTree),
    Brute(Brute),
    Linfa(LinfaIndex),
    Smartcore(SmartcoreKnn),
}

/// A linfa-nn index borrows the points it was built from.
type LinfaNn<'a> = Box<dyn linfa_nn::NearestNeighbourIndex<f64> + Send + Sync + 'a>;

self_cell::self_cell!(
    /// A linfa-nn index with the training points it borrows: built once at fit, as the native
    /// indices are, so that fit and predict times compare like with like across backends.
    struct LinfaIndex {
        owner: Array2<f64>,
        #[covariant]
        dependent: LinfaNn,
    }
);

impl LinfaIndex {
    fn build(data: Array2<f64>, kind: linfa_nn::CommonNearestNeighbour, leaf: usize, metric: Metric) -> Result<LinfaIndex, TrainError> {
        use linfa_nn::distance::{L1Dist, L2Dist, LInfDist, LpDist};
        use linfa_nn::NearestNeighbour;
        LinfaIndex::try_new(data, |data| {
            match metric {
                Metric::Euclidean => kind.from_batch_with_leaf_size(data, leaf, L2Dist),
                Metric::Manhattan => kind.from_batch_with_leaf_size(data, leaf, L1Dist),
                Metric::Chebyshev => kind.from_batch_with_leaf_size(data, leaf, LInfDist),
                Metric::Minkowski(p) => kind.from_batch_with_leaf_size(data, leaf, LpDist::new(p)),
            }
            .map_err(|e| TrainError::backend("linfa", e))
        })
    }
}

/// A fitted smartcore model behind a closure (its types carry the distance as a parameter).
type ScPredict<T> = Box<dyn Fn(&smartcore::linalg::basic::matrix::DenseMatrix<f64>) -> Result<Vec<T>, String> + Send + Sync>;

enum SmartcoreKnn {
    Classifier(ScPredict<i64>),
    Regressor(ScPredict<f64>),
}

/// A fitted kNN model.
pub struct KnnModel {
    params: KnnParams,
    index: Index,
    y: Vec<f64>,
    n_classes: usize,
    /// Which index `auto` chose, for the run's messages.
    pub chosen: &'static str,
}

impl KnnModel {
    /// Build the index for the training rows.
    pub fn fit(params: KnnParams, backend: Backend, data: &TrainSet) -> Result<KnnModel, TrainError> {
        if data.is_empty() {
            return Err(TrainError::Data("the training set is empty".into()));
        }
        let (n, d) = data.x.dim();
        let flat: Vec<f64> = data.x.iter().copied().collect();
        let y = data.y.to_vec();
        let (index, chosen) = match backend {
            Backend::Native => match params.index {
                KnnIndex::Brute => (Index::Brute(Brute::new(&flat, d, params.metric)), "brute"),
                KnnIndex::KdTree => (Index::Tree(KdTree::build(&flat, d, params.leaf_size, params.metric)), "kdtree"),
                _ => {
                    // Auto: keep the tree unless a probe shows it touches most of the data.
                    let tree = KdTree::build(&flat, d, params.leaf_size, params.metric);
                    let probes = n.min(64);
                    let step = (n / probes).max(1);
                    let mut st = QueryStats::default();
                    for i in (0..n).step_by(step).take(probes) {
                        st += tree.knn(&flat[i * d..(i + 1) * d], params.k).1;
                    }
                    if st.distance_evals as f64 / probes as f64 > 0.3 * n as f64 {
                        (Index::Brute(Brute::new(&flat, d, params.metric)), "brute (auto: the kd-tree could not prune here)")
                    } else {
                        (Index::Tree(tree), "kdtree (auto)")
                    }
                }
            },
            Backend::Linfa => {
                let kind = match params.index {
                    KnnIndex::BallTree => linfa_nn::CommonNearestNeighbour::BallTree,
                    KnnIndex::Brute => linfa_nn::CommonNearestNeighbour::LinearSearch,
                    _ => linfa_nn::CommonNearestNeighbour::KdTree,
                };
                (Index::Linfa(LinfaIndex::build(data.x.clone(), kind, params.leaf_size, params.metric)?), "linfa-nn")
            }
            _ => (Index::Smartcore(smartcore_fit(&params, data)?), "smartcore"),
        };
        Ok(KnnModel { params, index, y, n_classes: data.n_classes, chosen })
    }

    fn neighbours(&self, x: ArrayView2<'_, f64>) -> Result<Vec<Vec<Neighbour>>, TrainError> {
        let k = self.params.k;
        let rows: Vec<Vec<f64>> = x.rows().into_iter().map(|r| r.to_vec()).collect();
        match &self.index {
            Index::Tree(t) => Ok(rows.par_iter().map(|q| t.knn(q, k).0).collect()),
            Index::Brute(b) => Ok(rows.par_iter().map(|q| b.knn(q, k).0).collect()),
            Index::Linfa(idx) => {
                let (idx, metric) = (idx.borrow_dependent(), self.params.metric);
                rows.par_iter()
                    .map(|q| {
                        let found = idx.k_nearest(ndarray::ArrayView1::from(q.as_slice()), k).map_err(|e| TrainError::backend("linfa", e))?;
                        Ok(found
                            .into_iter()
                            .map(|(p, i)| {
                                let dist = match p.as_slice() {
                                    Some(p) => metric.rdist(q, p),
                                    None => metric.rdist(q, &p.to_vec()),
                                };
                                Neighbour { index: i, distance: metric.finish(dist) }
                            })
                            .collect())
                    })
                    .collect()
            }
            Index::Smartcore(_) => Err(TrainError::Data("smartcore predicts directly".into())),
        }
    }

    /// Predict a batch: class probabilities or values.
    pub fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        if let Index::Smartcore(m) = &self.index {
            let dm = super::smartcore::to_dense(&x.to_owned())?;
            return Ok(match m {
                SmartcoreKnn::Classifier(f) => {
                    // smartcore returns labels only: one-hot probabilities.
                    let labels = f(&dm).map_err(|e| TrainError::backend("smartcore", e))?;
                    let mut p = Array2::zeros((labels.len(), self.n_classes));
                    for (i, l) in labels.iter().enumerate() {
                        p[[i, *l as usize]] = 1.0;
                    }
                    Prediction::Proba(p)
                }
                SmartcoreKnn::Regressor(f) => Prediction::Values(Array1::from(f(&dm).map_err(|e| TrainError::backend("smartcore", e))?)),
            });
        }
        let nbrs = self.neighbours(x)?;
        let weight = |nb: &[Neighbour]| -> Vec<f64> {
            if !self.params.distance_weights {
                return vec![1.0; nb.len()];
            }
            if nb.iter().any(|n| n.distance == 0.0) {
                return nb.iter().map(|n| f64::from(u8::from(n.distance == 0.0))).collect();
            }
            nb.iter().map(|n| 1.0 / n.distance).collect()
        };
        if self.n_classes > 0 {
            let mut p = Array2::zeros((nbrs.len(), self.n_classes));
            for (i, nb) in nbrs.iter().enumerate() {
                let w = weight(nb);
                let total: f64 = w.iter().sum();
                for (n, wi) in nb.iter().zip(&w) {
                    p[[i, self.y[n.index] as usize]] += wi / total;
                }
            }
            Ok(Prediction::Proba(p))
        } else {
            Ok(Prediction::Values(Array1::from_iter(nbrs.iter().map(|nb| {
                let w = weight(nb);
                nb.iter().zip(&w).map(|(n, wi)| wi * self.y[n.index]).sum::<f64>() / w.iter().sum::<f64>()
            }))))
        }
    }
}

fn smartcore_fit(p: &KnnParams, data: &TrainSet) -> Result<SmartcoreKnn, TrainError> {
    use smartcore::algorithm::neighbour::KNNAlgorithmName;
    use smartcore::linalg::basic::matrix::DenseMatrix;
    use smartcore::metrics::distance::{euclidian::Euclidian, manhattan::Manhattan, minkowski::Minkowski};
    use smartcore::neighbors::knn_classifier::{KNNClassifier, KNNClassifierParameters};
    use smartcore::neighbors::knn_regressor::{KNNRegressor, KNNRegressorParameters};
    use smartcore::neighbors::KNNWeightFunction;
    let x = super::smartcore::to_dense(&data.x)?;
    let algo = if p.index == KnnIndex::Brute { KNNAlgorithmName::LinearSearch } else { KNNAlgorithmName::CoverTree };
    let weight = if p.distance_weights { KNNWeightFunction::Distance } else { KNNWeightFunction::Uniform };
    macro_rules! fit {
        ($dist:expr) => {{
            if data.n_classes > 0 {
                let y: Vec<i64> = data.labels().into_iter().map(|v| v as i64).collect();
                let params = KNNClassifierParameters::default().with_k(p.k).with_algorithm(algo.clone()).with_weight(weight.clone()).with_distance($dist);
                let m = KNNClassifier::fit(&x, &y, params).map_err(|e| TrainError::backend("smartcore", e))?;
                SmartcoreKnn::Classifier(Box::new(move |q: &DenseMatrix<f64>| m.predict(q).map_err(|e| e.to_string())))
            } else {
                let y: Vec<f64> = data.y.to_vec();
                let params = KNNRegressorParameters::default().with_k(p.k).with_algorithm(algo.clone()).with_weight(weight.clone()).with_distance($dist);
                let m = KNNRegressor::fit(&x, &y, params).map_err(|e| TrainError::backend("smartcore", e))?;
                SmartcoreKnn::Regressor(Box::new(move |q: &DenseMatrix<f64>| m.predict(q).map_err(|e| e.to_string())))
            }
        }};
    }
    Ok(match p.metric {
        Metric::Euclidean => fit!(Euclidian::new()),
        Metric::Manhattan => fit!(Manhattan::new()),
        Metric::Minkowski(pp) => fit!(Minkowski::new(pp as u16)),
        Metric::Chebyshev => return Err(TrainError::Data("smartcore has no Chebyshev distance".into())),
    })
}

/// kNN as a one-step trainer (building the index is the fit).
pub struct KnnTrainer {
    model: KnnModel,
    done: bool,
}

impl KnnTrainer {
    pub fn new(params: KnnParams, backend: Backend, data: &TrainSet) -> Result<KnnTrainer, TrainError> {
        Ok(KnnTrainer { model: KnnModel::fit(params, backend, data)?, done: false })
    }
}

impl Trainer for KnnTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let first = !self.done;
        self.done = true;
        Ok(StepOut { done: true, message: first.then(|| format!("index: {}", self.model.chosen)), ..StepOut::default() })
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(self)
    }
    fn total_steps(&self) -> Option<u64> {
        Some(1)
    }
}

impl Predictor for KnnTrainer {
    fn predict(&self, x: ArrayView2<'_, f64>) -> Result<Prediction, TrainError> {
        self.model.predict(x)
    }
}

/// Points for the scaling study: uniform in the unit cube, or 100 Gaussian clusters (σ = 0.05)
/// around uniform centres.
pub fn study_points(n: usize, d: usize, clustered: bool, seed: u64) -> Vec<f64> {
    let mut r = crate::data::split::rng(seed);
    if !clustered {
        return (0..n * d).map(|_| r.gen::<f64>()).collect();
    }
    let mut cr = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0xC1u64);
    let centers: Vec<f64> = (0..100 * d).map(|_| cr.gen::<f64>()).collect();
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let c = r.gen_range(0..100);
        for j in 0..d {
            let z: f64 = rand_distr::Distribution::sample(&rand_distr::StandardNormal, &mut r);
            out.push(centers[c * d + j] + 0.05 * z);
        }
    }
    out
}

/// The curse of dimensionality, one dimension per step: query time of the kd-tree and of
/// brute force, the speed-up, and how many nodes and distances a query touches.
pub struct ScalingTrainer {
    p: KnnScalingParams,
    seed: u64,
    next: usize,
}

impl ScalingTrainer {
    pub fn new(p: KnnScalingParams, seed: u64) -> Self {
        ScalingTrainer { p, seed, next: 0 }
    }
}

impl Trainer for ScalingTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let Some(&d) = self.p.dims.get(self.next) else {
            return Ok(StepOut { done: true, ..StepOut::default() });
        };
        self.next += 1;
        let d = d as usize;
        let (n, nq, k) = (self.p.n_points, self.p.n_queries, self.p.k);
        let pts = study_points(n, d, self.p.clustered, self.seed);
        let qs = study_points(nq, d, self.p.clustered, self.seed + 1);
        let t = Instant::now();
        let tree = KdTree::build(&pts, d, self.p.leaf_size, Metric::Euclidean);
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let t = Instant::now();
        let (tres, st) = tree.knn_batch(&qs, k, false);
        let tree_us = t.elapsed().as_secs_f64() * 1e6 / nq as f64;
        let brute = Brute::new(&pts, d, Metric::Euclidean);
        let t = Instant::now();
        let bres = brute.knn_batch(&qs, k, false);
        let brute_us = t.elapsed().as_secs_f64() * 1e6 / nq as f64;
        let exact = tres.iter().zip(&bres).all(|(a, b)| a.iter().map(|x| x.index).eq(b.iter().map(|x| x.index)));
        if !exact {
            return Err(TrainError::Data(format!("d = {d}: the kd-tree disagreed with brute force (a bug: please report it)")));
        }
        let mut m = Metrics::new();
        m.insert("tree_query_us".into(), tree_us);
        m.insert("brute_query_us".into(), brute_us);
        m.insert("speedup".into(), brute_us / tree_us);
        m.insert("nodes_visited".into(), st.nodes_visited as f64 / nq as f64);
        m.insert("distance_evals".into(), st.distance_evals as f64 / nq as f64);
        m.insert("fraction_scanned".into(), st.distance_evals as f64 / nq as f64 / n as f64);
        m.insert("build_ms".into(), build_ms);
        let done = self.next >= self.p.dims.len();
        let message = (brute_us < tree_us).then(|| format!("d = {d}: brute force beats the kd-tree ({brute_us:.0} µs vs {tree_us:.0} µs per query)"));
        Ok(StepOut { metrics: m, x: Some(d as f64), done, message })
    }
    fn predictor(&self) -> Option<&dyn Predictor> {
        None
    }
    fn total_steps(&self) -> Option<u64> {
        Some(self.p.dims.len() as u64)
    }
}
