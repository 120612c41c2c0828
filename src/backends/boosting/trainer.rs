//! Growing the ensemble: the loss's gradients and hessians, xgboost's split criterion, one
//! round of trees per step, running margins for the curves, and early stopping.

use super::model::{sigmoid, Gbdt, Loss};
use crate::backends::native::hist::{self, Binned, Criterion, Cuts, Features, Shape, Tree, Workspace};
use crate::backends::native::pages;
use crate::backends::params::{BoostingParams, Objective};
use crate::backends::saved::SavedModel;
use crate::backends::{Metrics, Prediction, Predictor, StepOut, TrainError, Trainer};
use crate::data::{split, TrainSet};
use ndarray::Array1;
use rayon::prelude::*;

/// xgboost's split criterion on (gradient, hessian) sums.
struct Second {
    lambda: f64,
    alpha: f64,
    gamma: f64,
    min_child_weight: f64,
    eta: f64,
    /// Row statistics carry a third number, 1 per row, so that categorical splits count rows.
    counts: bool,
}

impl Second {
    fn thresholded(&self, g: f64) -> f64 {
        if g > self.alpha {
            g - self.alpha
        } else if g < -self.alpha {
            g + self.alpha
        } else {
            0.0
        }
    }
}

impl Criterion for Second {
    fn width(&self) -> usize {
        if self.counts {
            3
        } else {
            2
        }
    }
    fn count(&self, s: &[f64]) -> f64 {
        if self.counts {
            s[2]
        } else {
            s[1]
        }
    }
    /// The pair score with the L2 penalty λ + `extra_l2` (categorical splits).
    fn pair_score_l2(&self, l: &[f64], r: &[f64], extra_l2: f64) -> f64 {
        let (gl, gr) = (self.thresholded(l[0]), self.thresholded(r[0]));
        let (hl, hr) = (l[1] + self.lambda + extra_l2, r[1] + self.lambda + extra_l2);
        gl * gl / hl + gr * gr / hr
    }
    fn score(&self, s: &[f64]) -> f64 {
        let g = self.thresholded(s[0]);
        g * g / (s[1] + self.lambda)
    }
    fn cover(&self, s: &[f64]) -> f64 {
        s[1]
    }
    fn child_ok(&self, s: &[f64]) -> bool {
        s[1] >= self.min_child_weight && s[1] > 0.0
    }
    fn min_gain(&self, _parent: &[f64]) -> f64 {
        self.gamma.max(1e-10)
    }
    /// G_L²/(H_L+λ) + G_R²/(H_R+λ) with one division (the split scan's hot spot).
    fn pair_score(&self, l: &[f64], r: &[f64]) -> f64 {
        let (gl, gr) = (self.thresholded(l[0]), self.thresholded(r[0]));
        let (hl, hr) = (l[1] + self.lambda, r[1] + self.lambda);
        (gl * gl * hr + gr * gr * hl) / (hl * hr)
    }
    fn leaf(&self, s: &[f64], out: &mut Vec<f64>) {
        out.push(-self.eta * self.thresholded(s[0]) / (s[1] + self.lambda));
    }
    fn leaf_width(&self) -> usize {
        1
    }
    /// G / (H + smoothing): categories in this order make every optimal split a prefix.
    fn cat_key(&self, s: &[f64], smooth: f64) -> Option<f64> {
        Some(s[0] / (s[1] + smooth))
    }
}

/// Margins of a set of rows, kept up to date round by round.
struct Tracked {
    binned: Binned,
    margins: Vec<f64>,
    best: Vec<f64>,
}

impl Tracked {
    fn new(binned: Binned, base: &[f64]) -> Tracked {
        let mut margins = pages::filled(binned.n_rows * base.len(), 0.0);
        margins.chunks_exact_mut(base.len().max(1)).for_each(|m| m.copy_from_slice(base));
        Tracked { binned, best: vec![], margins }
    }
    /// Add tree `tree` (output `k`) to every row's margin by walking it on the binned rows.
    fn add(&mut self, tree: &Tree, k: usize, outputs: usize, skip: Option<&[bool]>) {
        let b = &self.binned;
        if outputs == 1 && skip.is_none() {
            const BLOCK: usize = 4096;
            self.margins.par_chunks_mut(BLOCK).enumerate().for_each(|(i, m)| tree.add_leaf_values_binned(b, i * BLOCK, m));
            return;
        }
        self.margins.par_chunks_mut(outputs).enumerate().with_min_len(1024).for_each(|(r, m)| {
            if skip.is_none_or(|s| !s[r]) {
                m[k] += tree.leaf_of_binned(b, r)[0];
            }
        });
    }
}

/// Native gradient boosting as a step-wise trainer: one round per step.
pub struct BoostingTrainer {
    p: BoostingParams,
    model: Gbdt,
    cuts: Cuts,
    y: Vec<f64>,
    weights: Option<Vec<f64>>,
    /// Training rows the trees are fitted on (sorted); the rest of the set is validation.
    fit_rows: Vec<u32>,
    valid_rows: Vec<usize>,
    /// Training set margins (every row, validation included) and the test set's.
    train: Tracked,
    test: Option<Tracked>,
    n_features: usize,
    stats: Vec<f64>,
    /// The statistics with a row count, when there are categorical features.
    counted: Vec<f64>,
    /// Softmax: every training row's class probabilities at the start of the round (rows ×
    /// classes), which every class's gradients of the round come from.
    probs: Vec<f64>,
    ws: Workspace,
    /// Every training row's leaf node in the last tree, when the tree's values and the next
    /// round's gradients are taken in one pass ([`BoostingTrainer::gradients`]).
    leaf_of: Vec<u16>,
    /// Whether `stats` already holds this round's gradients (taken with the last tree's values).
    stats_ready: bool,
    in_sample: Vec<bool>,
    seed: u64,
    round: usize,
    best: Option<(usize, f64)>,
    stop: bool,
}

impl BoostingTrainer {
    pub fn new(p: BoostingParams, data: &TrainSet, test: Option<&TrainSet>, seed: u64) -> Result<BoostingTrainer, TrainError> {
        let (fit, valid) = Self::fit_split(&p, data, seed)?;
        // Rare categories are grouped by their mean label or target (not for softmax).
        let target = Self::groups_by_target(&p, data.n_classes)?.then(|| data.y.as_slice()).flatten();
        let cuts = Cuts::fit_with(data.x.view(), Some(&fit), p.max_bin, &data.categories, target, p.cat.cat_smooth);
        let binned = cuts.apply(data.x.view());
        let test = test.filter(|t| !t.is_empty()).map(|t| cuts.apply(t.x.view()));
        Self::from_binned(p, cuts, binned, data, test, (fit, valid), seed)
    }

    /// The loss the objective and the number of classes (0: regression) ask for.
    fn loss_of(p: &BoostingParams, k: usize) -> Result<Loss, TrainError> {
        Ok(match (p.objective, k) {
            (Objective::Auto, 0) => Loss::SquaredError,
            (Objective::Auto, 2) => Loss::BinaryLogistic,
            (Objective::Auto, _) => Loss::Softmax,
            (Objective::BinaryLogistic, 2) => Loss::BinaryLogistic,
            (Objective::Softmax, k) if k >= 2 => Loss::Softmax,
            (Objective::SquaredError, 0) => Loss::SquaredError,
            (Objective::PseudoHuber, 0) => Loss::PseudoHuber,
            (o, k) => {
                let what = if k == 0 { "regression".to_string() } else { format!("{k} classes") };
                let fit = match k {
                    0 => "squared_error or pseudo_huber",
                    2 => "binary_logistic or softmax",
                    _ => "softmax",
                };
                return Err(TrainError::Data(format!("objective {o:?} does not fit this data ({what}); use {fit}").to_lowercase()));
            }
        })
    }

    /// Whether rare categories (beyond 254 of a feature) are grouped by their mean target:
    /// for every loss but softmax, which has no one target to order them by.
    pub fn groups_by_target(p: &BoostingParams, n_classes: usize) -> Result<bool, TrainError> {
        Ok(Self::loss_of(p, n_classes)? != Loss::Softmax)
    }

    /// The training rows the trees are fitted on and, with early stopping, the validation rows
    /// held out from them (stratified, seeded): both sorted. Only the targets are read.
    pub fn fit_split(p: &BoostingParams, data: &TrainSet, seed: u64) -> Result<(Vec<usize>, Vec<usize>), TrainError> {
        if data.y.is_empty() {
            return Err(TrainError::Data("the training set is empty".into()));
        }
        let (n, k) = (data.y.len(), data.n_classes);
        let (fit, valid) = if p.early_stopping_rounds > 0 {
            let labels = (k > 0).then(|| data.labels());
            split::holdout(n, p.validation_fraction, labels.as_deref(), hist::mix(seed, 0x7a11d))
        } else {
            ((0..n).collect(), vec![])
        };
        if fit.is_empty() || (p.early_stopping_rounds > 0 && valid.is_empty()) {
            return Err(TrainError::Data(format!("{n} training rows are too few to hold out a validation part for early stopping")));
        }
        Ok((fit, valid))
    }

    /// A trainer on rows already binned by `cuts` (the training set's, and the test set's when
    /// there is one): what [`BoostingTrainer::new`] does after binning, and what a file read in
    /// chunks straight into bin codes trains from. `data` gives the targets, weights and
    /// classes; its matrix is not read. `split` is [`BoostingTrainer::fit_split`]'s.
    pub fn from_binned(p: BoostingParams, cuts: Cuts, binned: Binned, data: &TrainSet, test: Option<Binned>, split: (Vec<usize>, Vec<usize>), seed: u64) -> Result<BoostingTrainer, TrainError> {
        let k = data.n_classes;
        let loss = Self::loss_of(&p, k)?;
        let outputs = if loss == Loss::Softmax { k } else { 1 };
        let n = data.y.len();
        let (fit, valid) = split;
        let w = |i: usize| data.weight(i);
        let wsum: f64 = fit.iter().map(|&i| w(i)).sum();
        let base = match loss {
            Loss::BinaryLogistic => {
                let m = (fit.iter().map(|&i| w(i) * data.y[i]).sum::<f64>() / wsum).clamp(1e-6, 1.0 - 1e-6);
                vec![(m / (1.0 - m)).ln()]
            }
            Loss::Softmax => {
                let mut c = vec![0.0; k];
                for &i in &fit {
                    c[data.y[i] as usize] += w(i);
                }
                c.iter().map(|v| (v / wsum).max(1e-6).ln()).collect()
            }
            Loss::SquaredError => vec![fit.iter().map(|&i| w(i) * data.y[i]).sum::<f64>() / wsum],
            Loss::PseudoHuber => {
                let mut v: Vec<f64> = fit.iter().map(|&i| data.y[i]).collect();
                v.sort_unstable_by(f64::total_cmp);
                vec![v[v.len() / 2]]
            }
        };
        let test = test.map(|t| Tracked::new(t, &base));
        let model = Gbdt { loss, outputs, n_classes: k, base: base.clone(), trees: vec![] };
        Ok(BoostingTrainer {
            n_features: binned.n_features,
            in_sample: vec![false; n],
            stats: pages::filled(n * 2, 0.0),
            counted: Vec::new(),
            probs: if loss == Loss::Softmax { vec![0.0; n * outputs] } else { vec![] },
            train: Tracked::new(binned, &base),
            test,
            y: data.y.to_vec(),
            weights: data.weights.as_ref().map(|w| w.to_vec()),
            fit_rows: fit.iter().map(|&i| i as u32).collect(),
            valid_rows: valid,
            cuts,
            model,
            p,
            ws: Workspace::default(),
            leaf_of: Vec::new(),
            stats_ready: false,
            seed,
            round: 0,
            best: None,
            stop: false,
        })
    }

    /// The fitted model so far.
    pub fn model(&self) -> &Gbdt {
        &self.model
    }

    /// Softmax: the class probabilities of every training row from its margins, once at the
    /// start of a round, so that every class's gradients come from the margins before any of the
    /// round's trees, as xgboost and scikit-learn compute them: the classes' order (their names)
    /// changes nothing.
    fn softmax_probs(&mut self) {
        let out = self.model.outputs;
        self.probs.par_chunks_mut(out * 1024).zip(self.train.margins.par_chunks(out * 1024)).for_each(|(p, m)| {
            for (p, m) in p.chunks_exact_mut(out).zip(m.chunks_exact(out)) {
                let mx = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = m.iter().map(|v| (v - mx).exp()).sum();
                for (p, v) in p.iter_mut().zip(m) {
                    *p = (v - mx).exp() / z;
                }
            }
        });
    }

    /// Gradient and hessian of every fitting row for output `k`, into `self.stats`: blocks of
    /// rows in parallel, each a tight loop for its loss. With `tree` (a single output; every
    /// row's leaf node and the nodes' values), each block first adds the tree to its rows' margins:
    /// one pass over the rows in order instead of a pass over each leaf's scattered rows and
    /// another for the gradients (the same sums, row by row, so the same margins to the bit).
    fn gradients(&mut self, k: usize, tree: Option<(&[u16], &[f64])>) {
        const BLOCK: usize = 8192;
        let out = self.model.outputs;
        let (y, probs) = (&self.y, &self.probs);
        let wts = self.weights.as_deref();
        let loss = self.model.loss;
        self.stats.par_chunks_mut(2 * BLOCK).zip(self.train.margins.par_chunks_mut(BLOCK * out)).enumerate().for_each(|(b, (gh, m))| {
            let start = b * BLOCK;
            let y = &y[start..start + gh.len() / 2];
            if let Some((leaf_of, values)) = tree {
                for (m, &l) in m.iter_mut().zip(&leaf_of[start..]) {
                    *m += values[l as usize];
                }
            }
            let m = &*m;
            match loss {
                Loss::BinaryLogistic => {
                    for ((gh, &m), &y) in gh.chunks_exact_mut(2).zip(m).zip(y) {
                        let p = sigmoid(m);
                        gh[0] = p - y;
                        gh[1] = (p * (1.0 - p)).max(1e-16);
                    }
                }
                Loss::Softmax => {
                    for (i, (gh, &y)) in gh.chunks_exact_mut(2).zip(y).enumerate() {
                        let p = probs[(start + i) * out + k];
                        let t = if y as usize == k { 1.0 } else { 0.0 };
                        gh[0] = p - t;
                        gh[1] = (2.0 * p * (1.0 - p)).max(1e-16);
                    }
                }
                Loss::SquaredError => {
                    for ((gh, &m), &y) in gh.chunks_exact_mut(2).zip(m).zip(y) {
                        gh[0] = m - y;
                        gh[1] = 1.0;
                    }
                }
                Loss::PseudoHuber => {
                    for ((gh, &m), &y) in gh.chunks_exact_mut(2).zip(m).zip(y) {
                        let r = m - y;
                        let s = 1.0 + r * r;
                        gh[0] = r / s.sqrt();
                        gh[1] = 1.0 / (s * s.sqrt());
                    }
                }
            }
            if let Some(w) = wts {
                for (gh, &w) in gh.chunks_exact_mut(2).zip(&w[start..]) {
                    gh[0] *= w;
                    gh[1] *= w;
                }
            }
        });
    }

    /// The objective's loss on the validation rows.
    fn valid_loss(&self) -> f64 {
        let pred = self.model.transform(&self.train.margins, self.valid_rows.iter().copied());
        let y: Array1<f64> = self.valid_rows.iter().map(|&r| self.y[r]).collect();
        match (self.model.loss, &pred) {
            (Loss::PseudoHuber, Prediction::Values(v)) => {
                v.iter().zip(&y).map(|(a, b)| (1.0 + (a - b).powi(2)).sqrt() - 1.0).sum::<f64>() / y.len() as f64
            }
            (Loss::SquaredError, _) => crate::metrics::Metric::Rmse.compute(&pred, y.view()),
            _ => crate::metrics::Metric::LogLoss.compute(&pred, y.view()),
        }
    }

    fn importances_json(&self) -> serde_json::Value {
        let (g, c, w) = self.model.importances(self.n_features);
        serde_json::json!({"gain": g, "cover": c, "weight": w})
    }
}

impl Trainer for BoostingTrainer {
    fn step(&mut self) -> Result<StepOut, TrainError> {
        let out_k = self.model.outputs;
        let r = self.round;
        // Rows of this round: all fitting rows, or a seeded subsample.
        let sampled: Option<Vec<u32>> = (self.p.subsample < 1.0).then(|| {
            let mut rng = split::rng(hist::mix(self.seed, 2 * r as u64 + 1));
            let n = self.fit_rows.len();
            let m = ((n as f64 * self.p.subsample).round() as usize).clamp(1, n);
            let mut pick: Vec<u32> = rand::seq::index::sample(&mut rng, n, m).into_iter().map(|i| self.fit_rows[i]).collect();
            pick.sort_unstable();
            pick
        });
        // Taken out for the round (the trainer is borrowed mutably below), put back at its end.
        let fit_rows = std::mem::take(&mut self.fit_rows);
        let rows: &[u32] = sampled.as_deref().unwrap_or(&fit_rows);
        // Rows the leaf ranges do not cover (unsampled, validation) get the tree walked.
        let partial = rows.len() < self.train.binned.n_rows;
        if partial {
            self.in_sample.iter_mut().for_each(|v| *v = false);
            for &i in rows {
                self.in_sample[i as usize] = true;
            }
        }
        let nf = self.n_features;
        let counts = self.cuts.cats.iter().any(Option::is_some);
        let crit = Second { lambda: self.p.lambda, alpha: self.p.alpha, gamma: self.p.gamma, min_child_weight: self.p.min_child_weight, eta: self.p.learning_rate, counts };
        let shape = Shape { max_depth: self.p.max_depth, max_leaves: self.p.max_leaves, lossguide: self.p.lossguide, cat: self.p.cat };
        let mut leaves = 0usize;
        if self.model.loss == Loss::Softmax {
            self.softmax_probs();
        }
        for k in 0..out_k {
            let feats: Vec<u32> = if self.p.colsample_bytree < 1.0 {
                let mut rng = split::rng(hist::mix(self.seed, 2 * (r * out_k + k) as u64 + 2));
                let m = ((nf as f64 * self.p.colsample_bytree).round() as usize).clamp(1, nf);
                let mut f: Vec<u32> = rand::seq::index::sample(&mut rng, nf, m).into_iter().map(|i| i as u32).collect();
                f.sort_unstable();
                f
            } else {
                (0..nf as u32).collect()
            };
            if !std::mem::take(&mut self.stats_ready) {
                self.gradients(k, None);
            }
            if counts {
                // (g, h, 1) per row: categorical splits need row counts (LightGBM's rules). The
                // 1s are written once, when the buffer is made.
                self.counted.resize(self.stats.len() / 2 * 3, 1.0);
                self.counted.par_chunks_mut(3).zip(self.stats.par_chunks(2)).with_min_len(4096).for_each(|(c, s)| {
                    c[0] = s[0];
                    c[1] = s[1];
                });
            }
            let stats = if counts { &self.counted } else { &self.stats };
            // Fitting rows' margins: with every row fitting and one output, the tree notes each
            // row's leaf node and the next round's gradients are taken in the same pass over the
            // rows as the tree's values; else the values are added from the leaf ranges, in
            // parallel over leaves. Other rows: walk the tree.
            let fused = out_k == 1 && !partial && shape.notes_leaf_nodes();
            let mut leaf_of = std::mem::take(&mut self.leaf_of);
            let noted = if fused { self.train.binned.n_rows } else { 0 };
            if leaf_of.len() != noted {
                leaf_of = pages::filled(noted, 0);
            }
            let (tree, leaf_rows) =
                hist::grow(&self.train.binned, &self.cuts, rows, stats, &crit, &Features::Fixed(feats), &shape, &mut self.ws, fused.then_some(&mut leaf_of[..]));
            if fused {
                let node_values: Vec<f64> = tree.nodes.iter().map(|n| if n.split.is_none() { tree.values[n.leaf as usize] } else { 0.0 }).collect();
                self.gradients(0, Some((&leaf_of, &node_values)));
                self.stats_ready = true;
            } else {
                hist::for_rows_of(&mut self.train.margins, out_k, k, &self.ws.idx, &leaf_rows, |m, li, _| *m += tree.values[*li as usize]);
            }
            self.leaf_of = leaf_of;
            if partial {
                self.train.add(&tree, k, out_k, Some(&self.in_sample));
            }
            if let Some(t) = &mut self.test {
                t.add(&tree, k, out_k, None);
            }
            leaves += tree.n_leaves();
            self.model.trees.push(tree);
        }
        self.fit_rows = fit_rows;
        self.round += 1;
        let mut metrics = Metrics::new();
        metrics.insert("leaves".into(), leaves as f64);
        let mut message = None;
        if self.p.early_stopping_rounds > 0 {
            let v = self.valid_loss();
            metrics.insert(format!("valid.{}", self.model.loss.metric_name()), v);
            if self.best.is_none_or(|(_, b)| v < b) {
                self.best = Some((self.round, v));
                self.train.best.clone_from(&self.train.margins);
                if let Some(t) = &mut self.test {
                    t.best.clone_from(&t.margins);
                }
            } else if let Some((b, bv)) = self.best {
                if self.round - b >= self.p.early_stopping_rounds {
                    self.stop = true;
                    message = Some(format!(
                        "early stopping after round {}: valid {} has not improved for {} rounds; keeping round {b} ({})",
                        self.round,
                        self.model.loss.metric_name(),
                        self.p.early_stopping_rounds,
                        crate::metrics::format_value(bv)
                    ));
                }
            }
        }
        let done = self.stop || self.round >= self.p.n_estimators;
        Ok(StepOut { metrics, x: None, done, message })
    }

    fn predictor(&self) -> Option<&dyn Predictor> {
        Some(&self.model)
    }

    fn total_steps(&self) -> Option<u64> {
        Some(self.p.n_estimators as u64)
    }

    fn staged(&self, train_rows: &[usize]) -> Option<(Prediction, Option<Prediction>)> {
        let train = self.model.transform(&self.train.margins, train_rows.iter().copied());
        let test = self.test.as_ref().map(|t| self.model.transform(&t.margins, 0..t.binned.n_rows));
        Some((train, test))
    }

    fn finish(&mut self) -> bool {
        let Some((b, _)) = self.best else { return false };
        if b == self.round {
            return false;
        }
        self.model.trees.truncate(b * self.model.outputs);
        self.round = b;
        std::mem::swap(&mut self.train.margins, &mut self.train.best);
        if let Some(t) = &mut self.test {
            std::mem::swap(&mut t.margins, &mut t.best);
        }
        true
    }

    fn artifacts(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "kind": "importances",
            "importances": self.importances_json(),
            "rounds": self.round,
            "best_iteration": self.best.map(|(b, _)| b),
        }))
    }

    fn saved(&self) -> Option<SavedModel> {
        Some(SavedModel::new(self.model.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn params() -> BoostingParams {
        BoostingParams { n_estimators: 1, learning_rate: 1.0, max_depth: 1, min_child_weight: 0.0, ..BoostingParams::default() }
    }

    /// One round of squared error on six rows: base = mean(y) = 2, so g = 2 − y and h = 1.
    /// Split x ≤ 3.5 (rows y = 1, 1, 1 | 3, 3, 3): G_L = 3, G_R = −3, H = 3 each. Gain =
    /// 9/4 + 9/4 − 0/7 = 4.5; leaf weights −3/4 and 3/4 (λ = 1, η = 1).
    #[test]
    fn one_round_equals_the_hand_computed_split_and_leaf_weights() {
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]];
        let y = array![1.0, 1.0, 1.0, 3.0, 3.0, 3.0];
        let data = TrainSet::new(x.clone(), y, 0);
        let mut t = BoostingTrainer::new(params(), &data, None, 0).unwrap();
        t.step().unwrap();
        let tree = &t.model().trees[0];
        let s = tree.nodes[0].split.expect("a split");
        assert_eq!((s.feature, s.threshold), (0, 3.5));
        assert!((s.gain - 4.5).abs() < 1e-12, "gain {}", s.gain);
        let Prediction::Values(v) = t.model().predict(x.view()).unwrap() else { panic!() };
        for (p, want) in v.iter().zip([1.25, 1.25, 1.25, 2.75, 2.75, 2.75]) {
            assert!((p - want).abs() < 1e-12, "{p} vs {want}");
        }
    }

    #[test]
    fn lambda_gamma_and_min_child_weight_act_as_the_formulas_say() {
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]];
        let y = array![1.0, 1.0, 1.0, 3.0, 3.0, 3.0];
        let data = TrainSet::new(x.clone(), y, 0);
        // λ = 5: leaf weight −3/(3+5) = −0.375; gain 9/8 + 9/8 = 2.25.
        let mut t = BoostingTrainer::new(BoostingParams { lambda: 5.0, ..params() }, &data, None, 0).unwrap();
        t.step().unwrap();
        let tree = &t.model().trees[0];
        assert!((tree.nodes[0].split.unwrap().gain - 2.25).abs() < 1e-12);
        assert!((tree.values[0] + 0.375).abs() < 1e-12);
        // γ above the gain: no split.
        let mut t = BoostingTrainer::new(BoostingParams { gamma: 4.6, ..params() }, &data, None, 0).unwrap();
        t.step().unwrap();
        assert!(t.model().trees[0].nodes[0].split.is_none());
        // γ just below: the split stays.
        let mut t = BoostingTrainer::new(BoostingParams { gamma: 4.4, ..params() }, &data, None, 0).unwrap();
        t.step().unwrap();
        assert!(t.model().trees[0].nodes[0].split.is_some());
        // min_child_weight 4 > 3 rows per side: the only balanced split is refused; the best
        // allowed one leaves at least 4 rows each side, which six rows cannot: a single leaf.
        let mut t = BoostingTrainer::new(BoostingParams { min_child_weight: 4.0, ..params() }, &data, None, 0).unwrap();
        t.step().unwrap();
        assert!(t.model().trees[0].nodes[0].split.is_none());
    }

    #[test]
    fn alpha_soft_thresholds_the_gradient_sum() {
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0]];
        let y = array![1.0, 1.0, 1.0, 3.0, 3.0, 3.0];
        let data = TrainSet::new(x, y, 0);
        // α = 1: leaf weights −(3−1)/4 = −0.5 and +0.5; gain 4/4 + 4/4 = 2.
        let mut t = BoostingTrainer::new(BoostingParams { alpha: 1.0, ..params() }, &data, None, 0).unwrap();
        t.step().unwrap();
        let tree = &t.model().trees[0];
        assert!((tree.nodes[0].split.unwrap().gain - 2.0).abs() < 1e-12);
        assert!((tree.values[0] + 0.5).abs() < 1e-12 && (tree.values[1] - 0.5).abs() < 1e-12);
    }

    /// Rows with a missing value go the side the training rows with missing values preferred.
    #[test]
    fn missing_values_go_to_the_learned_side() {
        let nan = f64::NAN;
        // Missing rows have high targets, like the right side.
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [nan], [nan]];
        let y = array![1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0];
        let data = TrainSet::new(x, y, 0);
        let mut t = BoostingTrainer::new(params(), &data, None, 0).unwrap();
        t.step().unwrap();
        let s = t.model().trees[0].nodes[0].split.unwrap();
        assert_eq!(s.threshold, 3.5);
        assert!(!s.default_left, "missing rows look like the right side");
        let Prediction::Values(v) = t.model().predict(array![[nan], [6.0]].view()).unwrap() else { panic!() };
        assert_eq!(v[0], v[1]);
        // …and the other way round.
        let x = array![[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [nan], [nan]];
        let y = array![1.0, 1.0, 1.0, 3.0, 3.0, 3.0, 1.0, 1.0];
        let mut t = BoostingTrainer::new(params(), &TrainSet::new(x, y, 0), None, 0).unwrap();
        t.step().unwrap();
        assert!(t.model().trees[0].nodes[0].split.unwrap().default_left);
    }

    /// Softmax boosting learns the same model whatever the classes are called: every class's
    /// gradients come from the round's starting margins. (When class k's came after the trees of
    /// the classes before it, naming the classes in reverse changed the test log loss from
    /// 0.1227 to 0.1286.)
    #[test]
    fn renaming_the_classes_changes_nothing() {
        use crate::data::{generate::generate, GenConfig};
        let cfg = GenConfig::Classification { n_samples: 600, n_features: 6, n_informative: 4, n_classes: 3, class_sep: 1.0, label_noise: 0.05 };
        let data = generate(&cfg, 5).all();
        let mut renamed = data.clone();
        renamed.y.mapv_inplace(|c| 2.0 - c);
        let fit = |set: &TrainSet| {
            let p = BoostingParams { n_estimators: 30, max_depth: 4, ..BoostingParams::default() };
            let mut t = BoostingTrainer::new(p, set, None, 1).unwrap();
            while !t.step().unwrap().done {}
            t
        };
        let (a, b) = (fit(&data), fit(&renamed));
        let (Prediction::Proba(pa), Prediction::Proba(pb)) = (a.model().predict(data.x.view()).unwrap(), b.model().predict(data.x.view()).unwrap()) else { panic!("probabilities") };
        let worst = (0..pa.nrows()).flat_map(|i| (0..3).map(move |c| (i, c))).map(|(i, c)| (pa[[i, c]] - pb[[i, 2 - c]]).abs()).fold(0.0, f64::max);
        assert!(worst < 1e-9, "class probabilities differ by {worst:e} when the classes are renamed");
    }

    /// With every row fitting and one output, each tree notes every row's leaf node (the last
    /// level's rows unpartitioned), and the tree's values and the next round's gradients are
    /// taken in one pass: the running margins stay the model's own, and the gradients are those
    /// of the margins, to the bit.
    #[test]
    fn the_pass_that_adds_a_tree_leaves_the_next_rounds_gradients() {
        use crate::data::{generate::generate, GenConfig};
        let cfg = GenConfig::Classification { n_samples: 3000, n_features: 5, n_informative: 3, n_classes: 2, class_sep: 1.0, label_noise: 0.1 };
        let data = generate(&cfg, 9).all();
        let p = BoostingParams { n_estimators: 12, max_depth: 4, learning_rate: 0.3, ..BoostingParams::default() };
        let mut t = BoostingTrainer::new(p, &data, None, 2).unwrap();
        let all: Vec<usize> = (0..data.len()).collect();
        for _ in 0..12 {
            t.step().unwrap();
            assert!(t.stats_ready, "the gradients come with the tree");
            // Each row's noted leaf node is the leaf the tree sends it to.
            let tree = t.model().trees.last().expect("a tree");
            for (r, &node) in t.leaf_of.iter().enumerate() {
                let n = &tree.nodes[node as usize];
                assert!(n.split.is_none(), "row {r}: node {node} is not a leaf");
                assert_eq!(tree.values[n.leaf as usize], tree.leaf_of_binned(&t.train.binned, r)[0], "row {r}");
            }
            let fused = t.stats.clone();
            t.gradients(0, None);
            assert!(fused == t.stats, "the next round's gradients differ from the margins' own");
            let (Some((Prediction::Proba(run), _)), Ok(Prediction::Proba(model))) = (t.staged(&all), t.model().predict(data.x.view())) else { panic!("probabilities") };
            let worst = run.iter().zip(&model).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            assert!(worst < 1e-12, "running probabilities differ from the model's by {worst:e}");
        }
    }
}
