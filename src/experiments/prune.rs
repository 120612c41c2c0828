//! Pruning a search's trials: a trial whose intermediate metric lags the trials before it at
//! the same step is stopped early. `median` stops it when it is worse than the median of the
//! earlier trials at that step (after `warmup` steps); `halving` (successive halving, η = 3)
//! checks at rungs `warmup · 3^k` and keeps only the best third. The earlier trials are those of
//! earlier batches (the runner runs a pruned search in fixed batches), so the decisions do not
//! depend on `-j`.

use std::collections::BTreeMap;

/// Which rule a search prunes by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    Median,
    Halving,
}

impl Rule {
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Median => "median",
            Rule::Halving => "halving",
        }
    }
}

/// `prune: {rule, warmup}` of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneSpec {
    pub rule: Rule,
    /// Steps before any decision (and the first rung of halving).
    pub warmup: u64,
}

/// Earlier trials a median needs before it prunes anything.
const MIN_EARLIER: usize = 2;
/// Successive halving keeps the best 1/η at each rung.
const ETA: u64 = 3;

/// One trial's pruner: the rule, the step metric it watches, and the earlier trials' curves of
/// it (step → value).
#[derive(Debug, Clone)]
pub struct Pruner {
    pub spec: PruneSpec,
    pub key: String,
    pub higher_is_better: bool,
    pub history: Vec<BTreeMap<u64, f64>>,
}

impl Pruner {
    /// Why the trial stops at `step` with value `v` of the watched metric, or `None` to go on.
    pub fn check(&self, step: u64, v: f64) -> Option<String> {
        if step < self.spec.warmup || !v.is_finite() {
            return None;
        }
        let earlier: Vec<f64> = self.history.iter().filter_map(|h| h.get(&step)).copied().filter(|x| x.is_finite()).collect();
        let worse = |a: f64, b: f64| if self.higher_is_better { a < b } else { a > b };
        match self.spec.rule {
            Rule::Median => {
                if earlier.len() < MIN_EARLIER {
                    return None;
                }
                let mut s = earlier.clone();
                s.sort_by(f64::total_cmp);
                let m = if s.len() % 2 == 1 { s[s.len() / 2] } else { (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0 };
                worse(v, m).then(|| {
                    format!("pruned at step {step}: {} {} is worse than the median {} of {} earlier trial(s) there", self.key, fmt(v), fmt(m), earlier.len())
                })
            }
            Rule::Halving => {
                // Rungs: warmup, warmup·η, warmup·η², …
                let mut rung = self.spec.warmup.max(1);
                while rung < step {
                    rung = rung.saturating_mul(ETA);
                }
                if rung != step || earlier.is_empty() {
                    return None;
                }
                let n = earlier.len() + 1;
                let keep = n.div_ceil(ETA as usize);
                let better = earlier.iter().filter(|&&x| worse(v, x)).count();
                (better >= keep).then(|| format!("pruned at rung step {step}: {} {} is not in the best {keep} of {n} trial(s) there", self.key, fmt(v)))
            }
        }
    }
}

fn fmt(v: f64) -> String {
    crate::metrics::format_value(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pruner(rule: Rule, warmup: u64, higher: bool, curves: &[&[f64]]) -> Pruner {
        let history = curves.iter().map(|c| c.iter().enumerate().map(|(i, v)| (i as u64 + 1, *v)).collect()).collect();
        Pruner { spec: PruneSpec { rule, warmup }, key: "test.accuracy".into(), higher_is_better: higher, history }
    }

    #[test]
    fn median_prunes_a_curve_below_the_earlier_median_after_warmup() {
        // Earlier trials at step 3: 0.70, 0.80, 0.90 → median 0.80 (accuracy: higher is better).
        let p = pruner(Rule::Median, 3, true, &[&[0.5, 0.6, 0.7, 0.75], &[0.6, 0.7, 0.8, 0.85], &[0.7, 0.8, 0.9, 0.95]]);
        assert_eq!(p.check(2, 0.1), None, "no decision during warmup");
        assert_eq!(p.check(3, 0.81), None, "above the median goes on");
        assert_eq!(p.check(3, 0.80), None, "at the median goes on");
        let why = p.check(3, 0.79).expect("below the median stops");
        assert!(why.contains("step 3") && why.contains("median 0.8000") && why.contains("3 earlier"), "{why}");
        // Step 4: median 0.85 of 0.75, 0.85, 0.95; an even count takes the mean of the middle two.
        assert!(p.check(4, 0.84).is_some() && p.check(4, 0.86).is_none());
        let even = pruner(Rule::Median, 1, true, &[&[0.7], &[0.9]]);
        assert!(even.check(1, 0.79).is_some() && even.check(1, 0.81).is_none());
        // A loss (lower is better) prunes the other way.
        let l = pruner(Rule::Median, 1, false, &[&[0.3], &[0.5]]);
        assert!(l.check(1, 0.45).is_some() && l.check(1, 0.35).is_none());
        // Too few earlier trials: no decision; a step no earlier trial reached: no decision.
        assert_eq!(pruner(Rule::Median, 1, true, &[&[0.9]]).check(1, 0.1), None);
        assert_eq!(p.check(9, 0.0), None);
    }

    #[test]
    fn halving_keeps_the_best_third_at_each_rung_only() {
        let curves: Vec<Vec<f64>> = (0..5).map(|i| vec![0.5 + 0.05 * i as f64; 12]).collect();
        let refs: Vec<&[f64]> = curves.iter().map(Vec::as_slice).collect();
        // Earlier values 0.50 … 0.70; with this trial 6 in all, keep the best 2.
        let p = pruner(Rule::Halving, 1, true, &refs);
        assert_eq!(p.check(2, 0.1), None, "step 2 is no rung (rungs 1, 3, 9)");
        assert!(p.check(3, 0.66).is_none(), "second best of 6 stays");
        assert!(p.check(3, 0.62).is_some(), "third best of 6 goes");
        assert!(p.check(9, 0.75).is_none());
        assert!(p.check(1, 0.55).is_some());
    }
}
