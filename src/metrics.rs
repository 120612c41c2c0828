//! Evaluation metrics, named as in the experiment file's `metrics:` list. Definitions follow
//! scikit-learn's (log-loss clips probabilities to [1e-15, 1 − 1e-15]; ROC AUC is the
//! Mann–Whitney statistic, macro one-vs-rest for more than two classes) so figures compare.

use crate::data::Task;
use ndarray::{Array1, Array2, ArrayView1};
use std::collections::BTreeMap;

/// Metric name → value. Step metrics are prefixed by the set they were measured on
/// (`train.log_loss`, `test.accuracy`); optimizer figures have no prefix (`objective`).
pub type Metrics = BTreeMap<String, f64>;

/// A model's output on a batch of rows.
#[derive(Debug, Clone)]
pub enum Prediction {
    /// Class probabilities, one row per sample, one column per class.
    Proba(Array2<f64>),
    /// Regression values.
    Values(Array1<f64>),
}

impl Prediction {
    /// Hard class labels as probabilities (1 on the label): the output of backends that
    /// predict labels only. Labels outside `0..k` get a zero row.
    pub fn one_hot(labels: impl IntoIterator<Item = usize>, rows: usize, k: usize) -> Prediction {
        let mut p = Array2::zeros((rows, k));
        for (i, l) in labels.into_iter().enumerate().take(rows) {
            if l < k {
                p[[i, l]] = 1.0;
            }
        }
        Prediction::Proba(p)
    }
}


/// A metric users can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Accuracy,
    LogLoss,
    F1,
    RocAuc,
    Rmse,
    Mae,
    R2,
}

/// What a search ranks its trials by (and prunes on): one of the experiment's [`Metric`]s, or a
/// figure a language-model run reports on its test part (a LoRA-rank search ranks by `loss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    Metric(Metric),
    /// A language model's test figure: its name and whether larger is better.
    Lm(&'static str, bool),
}

/// The figures a language-model run reports that a search may rank by.
pub const LM_OBJECTIVES: [(&str, bool); 5] =
    [("loss", false), ("bits_per_byte", false), ("exact_match", true), ("preference_accuracy", true), ("reward_margin", true)];

impl Objective {
    /// A figure by name: one of the [`Metric`]s, or a language model's.
    pub fn parse(name: &str) -> Option<Objective> {
        Metric::parse(name).map(Objective::Metric).or_else(|| Objective::lm(name))
    }
    /// A language model's figure by name.
    pub fn lm(name: &str) -> Option<Objective> {
        LM_OBJECTIVES.iter().find(|(n, _)| *n == name).map(|&(n, h)| Objective::Lm(n, h))
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Objective::Metric(m) => m.as_str(),
            Objective::Lm(n, _) => n,
        }
    }
    pub fn higher_is_better(self) -> bool {
        match self {
            Objective::Metric(m) => m.higher_is_better(),
            Objective::Lm(_, h) => h,
        }
    }
    /// Whether value `a` beats `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }
}

impl Metric {
    pub const ALL: [Metric; 7] = [Metric::Accuracy, Metric::LogLoss, Metric::F1, Metric::RocAuc, Metric::Rmse, Metric::Mae, Metric::R2];
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Accuracy => "accuracy",
            Metric::LogLoss => "log_loss",
            Metric::F1 => "f1",
            Metric::RocAuc => "roc_auc",
            Metric::Rmse => "rmse",
            Metric::Mae => "mae",
            Metric::R2 => "r2",
        }
    }
    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
    pub fn task(self) -> Task {
        match self {
            Metric::Accuracy | Metric::LogLoss | Metric::F1 | Metric::RocAuc => Task::Classification,
            Metric::Rmse | Metric::Mae | Metric::R2 => Task::Regression,
        }
    }
    /// True when larger is better (for highlighting the best run).
    /// Whether value `a` of this metric beats `b`.
    pub fn better(self, a: f64, b: f64) -> bool {
        if self.higher_is_better() {
            a > b
        } else {
            a < b
        }
    }
    pub fn higher_is_better(self) -> bool {
        matches!(self, Metric::Accuracy | Metric::F1 | Metric::RocAuc | Metric::R2)
    }
    /// The metrics reported when an experiment lists none.
    pub fn defaults(task: Task) -> Vec<Metric> {
        match task {
            Task::Classification => vec![Metric::Accuracy, Metric::LogLoss],
            Task::Regression => vec![Metric::Rmse, Metric::R2],
        }
    }

    /// Compute this metric for a prediction against targets `y` (class indices for
    /// classification). Returns NaN when the prediction kind does not fit.
    pub fn compute(self, pred: &Prediction, y: ArrayView1<'_, f64>) -> f64 {
        match (self, pred) {
            (Metric::Accuracy, Prediction::Proba(p)) => {
                let hits = p.rows().into_iter().zip(y).filter(|(row, &t)| argmax(row) == t as usize).count();
                hits as f64 / y.len().max(1) as f64
            }
            (Metric::LogLoss, Prediction::Proba(p)) => {
                let eps = 1e-15;
                let s: f64 = p.rows().into_iter().zip(y).map(|(row, &t)| -row[t as usize].clamp(eps, 1.0 - eps).ln()).sum();
                s / y.len().max(1) as f64
            }
            (Metric::F1, Prediction::Proba(p)) => {
                let k = p.ncols();
                let pred: Vec<usize> = p.rows().into_iter().map(|r| argmax(&r)).collect();
                let mut f1s = Vec::new();
                for c in 0..k {
                    let tp = pred.iter().zip(y).filter(|(&a, &t)| a == c && t as usize == c).count() as f64;
                    let fp = pred.iter().zip(y).filter(|(&a, &t)| a == c && t as usize != c).count() as f64;
                    let fn_ = pred.iter().zip(y).filter(|(&a, &t)| a != c && t as usize == c).count() as f64;
                    if tp + fp + fn_ > 0.0 {
                        f1s.push(2.0 * tp / (2.0 * tp + fp + fn_));
                    }
                }
                f1s.iter().sum::<f64>() / f1s.len().max(1) as f64
            }
            (Metric::RocAuc, Prediction::Proba(p)) => {
                let k = p.ncols();
                let classes: Vec<usize> = if k == 2 { vec![1] } else { (0..k).collect() };
                let aucs: Vec<f64> = classes
                    .iter()
                    .filter_map(|&c| {
                        let scores: Vec<f64> = p.column(c).to_vec();
                        let pos: Vec<bool> = y.iter().map(|&t| t as usize == c).collect();
                        auc(&scores, &pos)
                    })
                    .collect();
                if aucs.is_empty() {
                    f64::NAN
                } else {
                    aucs.iter().sum::<f64>() / aucs.len() as f64
                }
            }
            (Metric::Rmse, Prediction::Values(v)) => (sq_err(v, y) / y.len().max(1) as f64).sqrt(),
            (Metric::Mae, Prediction::Values(v)) => {
                v.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f64>() / y.len().max(1) as f64
            }
            (Metric::R2, Prediction::Values(v)) => {
                let mean = y.mean().unwrap_or(0.0);
                let tot: f64 = y.iter().map(|t| (t - mean).powi(2)).sum();
                1.0 - sq_err(v, y) / tot
            }
            _ => f64::NAN,
        }
    }
}

/// A metric value as ratlab prints it in tables, lists and charts: whole numbers plainly, four
/// decimals in the usual range, scientific notation outside it.
pub fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e12 {
        format!("{}", v as i64)
    } else if v.abs() >= 1e-3 && v.abs() < 1e6 {
        format!("{v:.4}")
    } else {
        format!("{v:.3e}")
    }
}

fn sq_err(v: &Array1<f64>, y: ArrayView1<'_, f64>) -> f64 {
    v.iter().zip(y).map(|(a, b)| (a - b).powi(2)).sum()
}

/// Index of the largest value (first on ties).
pub fn argmax(row: &ArrayView1<'_, f64>) -> usize {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best
}

/// Area under the ROC curve: the share of (positive, negative) pairs ranked the right way, ties
/// counting half (the Mann–Whitney U). `None` without both classes.
pub fn auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    // The positives' and the negatives' scores, each sorted (radix sorts of plain f64: the
    // runner scores the test set every round, and this is about twice as fast as sorting
    // (score, label) pairs); then one merge counts, for each positive, the negatives below it
    // and half those tied with it: twice the Mann–Whitney U, an exact integer, so the value is
    // the same to the bit as the rank-sum formula's. The two sorts run side by side.
    let (mut pos, mut neg) = (Vec::with_capacity(n_pos), Vec::with_capacity(n_neg));
    for (&s, &p) in scores.iter().zip(positive) {
        if p {
            pos.push(s);
        } else {
            neg.push(s);
        }
    }
    rayon::join(|| radsort::sort(&mut pos), || radsort::sort(&mut neg));
    let (mut below, mut twice_u, mut i) = (0usize, 0u64, 0usize);
    while i < pos.len() {
        let v = pos[i];
        let mut j = i + 1;
        while j < pos.len() && pos[j] == v {
            j += 1;
        }
        while below < neg.len() && neg[below] < v {
            below += 1;
        }
        let mut upto = below;
        while upto < neg.len() && neg[upto] == v {
            upto += 1;
        }
        twice_u += (j - i) as u64 * (2 * below + (upto - below)) as u64;
        i = j;
    }
    Some(twice_u as f64 / 2.0 / (n_pos * n_neg) as f64)
}

/// Whether a reported figure measures wall-clock speed (`tokens_per_s`, `build_ms`,
/// `tree_query_us`, kNN's `speedup`): it differs from run to run by nature, so
/// `rerun --check` leaves it out of the bit-for-bit comparison.
pub fn is_timing(key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key);
    name.ends_with("_per_s") || name.ends_with("_ms") || name.ends_with("_us") || name == "speedup"
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn classification_metrics_match_hand_computed_values() {
        let p = Prediction::Proba(array![[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.8, 0.2]]);
        let y = array![0.0, 0.0, 1.0, 1.0];
        assert_eq!(Metric::Accuracy.compute(&p, y.view()), 0.5);
        let ll = -(0.9f64.ln() + 0.4f64.ln() + 0.7f64.ln() + 0.2f64.ln()) / 4.0;
        assert!((Metric::LogLoss.compute(&p, y.view()) - ll).abs() < 1e-15);
        // scores for class 1: 0.1, 0.6 (neg), 0.7, 0.2 (pos): pairs won 0.7>0.1,0.7>0.6,0.2>0.1 = 3/4
        assert!((Metric::RocAuc.compute(&p, y.view()) - 0.75).abs() < 1e-15);
    }

    #[test]
    fn auc_equals_the_pair_count_with_ties_counting_half() {
        // Scores on a coarse grid (many ties, within and across classes), negative ones too.
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let (scores, pos): (Vec<f64>, Vec<bool>) = (0..3000).map(|_| ((next() % 41) as f64 / 8.0 - 2.0, next() % 3 == 0)).unzip();
        let mut twice_u = 0u64;
        for (a, _) in scores.iter().zip(&pos).filter(|p| *p.1) {
            for (b, _) in scores.iter().zip(&pos).filter(|p| !*p.1) {
                twice_u += if a > b { 2 } else if a == b { 1 } else { 0 };
            }
        }
        let (np, nn) = (pos.iter().filter(|p| **p).count(), pos.iter().filter(|p| !**p).count());
        assert_eq!(auc(&scores, &pos), Some(twice_u as f64 / 2.0 / (np * nn) as f64));
        assert_eq!(auc(&scores, &vec![true; scores.len()]), None, "one class only");
        assert_eq!(auc(&[0.5, 0.5], &[true, false]), Some(0.5), "a tie is half a win");
    }

    #[test]
    fn regression_metrics_match_hand_computed_values() {
        let p = Prediction::Values(array![1.0, 2.0, 4.0]);
        let y = array![1.0, 3.0, 3.0];
        assert!((Metric::Rmse.compute(&p, y.view()) - (2.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((Metric::Mae.compute(&p, y.view()) - 2.0 / 3.0).abs() < 1e-15);
        // mean 7/3; tot = (16+4+4)/9 = 24/9; r2 = 1 - 2/(24/9) = 0.25
        assert!((Metric::R2.compute(&p, y.view()) - 0.25).abs() < 1e-12);
    }
}
