//! Seeded train/test splits and k-fold assignments, stratified by class when asked, so that
//! the same seed always gives the same rows on every machine.

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

/// The one RNG ratlab seeds everywhere: portable and stable across versions.
pub fn rng(seed: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed)
}

/// Row indices grouped by class, each group shuffled.
fn shuffled_groups(n: usize, labels: Option<&[usize]>, r: &mut Xoshiro256PlusPlus) -> Vec<Vec<usize>> {
    match labels {
        Some(l) => {
            let k = l.iter().copied().max().map_or(0, |m| m + 1);
            let mut groups = vec![Vec::new(); k];
            for (i, &c) in l.iter().enumerate() {
                groups[c].push(i);
            }
            for g in &mut groups {
                g.shuffle(r);
            }
            groups.retain(|g| !g.is_empty());
            groups
        }
        None => {
            let mut all: Vec<usize> = (0..n).collect();
            all.shuffle(r);
            vec![all]
        }
    }
}

/// Split `0..n` into (train, test) with about `test·n` test rows; stratified keeps each class's
/// share (and at least one training row per class). Both parts are sorted.
pub fn holdout(n: usize, test: f64, labels: Option<&[usize]>, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut r = rng(seed);
    let (mut tr, mut te) = (Vec::new(), Vec::new());
    for g in shuffled_groups(n, labels, &mut r) {
        let mut k = (g.len() as f64 * test).round() as usize;
        k = k.min(g.len().saturating_sub(1));
        te.extend_from_slice(&g[..k]);
        tr.extend_from_slice(&g[k..]);
    }
    // Radix sorts: a million shuffled indices sort several times faster than by comparison.
    radsort::sort(&mut tr);
    radsort::sort(&mut te);
    (tr, te)
}

/// `k` folds of `0..n` as (train, test) pairs; stratified deals each class round-robin.
pub fn kfold(n: usize, k: usize, labels: Option<&[usize]>, seed: u64) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut r = rng(seed);
    let mut fold_of = vec![0usize; n];
    let mut pos = 0usize;
    for g in shuffled_groups(n, labels, &mut r) {
        for i in g {
            fold_of[i] = pos % k;
            pos += 1;
        }
    }
    (0..k)
        .map(|f| {
            let te: Vec<usize> = (0..n).filter(|&i| fold_of[i] == f).collect();
            let tr: Vec<usize> = (0..n).filter(|&i| fold_of[i] != f).collect();
            (tr, te)
        })
        .collect()
}

/// An order of `0..n` for nested learning-curve subsets: with labels, classes are interleaved
/// so every prefix of length ≥ number of classes holds every class.
pub fn nested_order(n: usize, labels: Option<&[usize]>, seed: u64) -> Vec<usize> {
    let mut r = rng(seed ^ 0x5eed_1ea2);
    let groups = shuffled_groups(n, labels, &mut r);
    // Proportional interleaving: repeatedly take from the group furthest behind its share.
    let total: usize = groups.iter().map(Vec::len).sum();
    let mut taken = vec![0usize; groups.len()];
    let mut out = Vec::with_capacity(total);
    // Every class first, so small prefixes contain all of them.
    for (gi, g) in groups.iter().enumerate() {
        if let Some(&i) = g.first() {
            out.push(i);
            taken[gi] = 1;
        }
    }
    while out.len() < total {
        let t = out.len() as f64 + 1.0;
        let gi = (0..groups.len())
            .filter(|&g| taken[g] < groups[g].len())
            .max_by(|&a, &b| {
                let da = t * groups[a].len() as f64 / total as f64 - taken[a] as f64;
                let db = t * groups[b].len() as f64 / total as f64 - taken[b] as f64;
                da.total_cmp(&db).then(b.cmp(&a))
            })
            .expect("some group has rows left");
        out.push(groups[gi][taken[gi]]);
        taken[gi] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stratified_holdout_keeps_class_shares_and_is_seeded() {
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i % 4 == 0)).collect();
        let (tr, te) = holdout(100, 0.2, Some(&labels), 3);
        assert_eq!(tr.len() + te.len(), 100);
        assert_eq!(te.iter().filter(|&&i| labels[i] == 1).count(), 5);
        assert_eq!(te.len(), 20);
        assert_eq!(holdout(100, 0.2, Some(&labels), 3), (tr.clone(), te.clone()));
        assert_ne!(holdout(100, 0.2, Some(&labels), 4).1, te);
    }

    #[test]
    fn kfold_partitions_every_row_once() {
        let labels: Vec<usize> = (0..53).map(|i| i % 3).collect();
        let folds = kfold(53, 5, Some(&labels), 1);
        let mut seen = vec![0; 53];
        for (tr, te) in &folds {
            assert_eq!(tr.len() + te.len(), 53);
            for &i in te {
                seen[i] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
    }

    #[test]
    fn nested_order_prefixes_hold_every_class() {
        let labels: Vec<usize> = (0..90).map(|i| if i < 60 { 0 } else if i < 80 { 1 } else { 2 }).collect();
        let o = nested_order(90, Some(&labels), 9);
        let mut s = o.clone();
        s.sort_unstable();
        assert_eq!(s, (0..90).collect::<Vec<_>>());
        let first: std::collections::BTreeSet<usize> = o[..3].iter().map(|&i| labels[i]).collect();
        assert_eq!(first.len(), 3);
    }
}
