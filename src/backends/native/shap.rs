//! TreeSHAP: each feature's exact Shapley value for one row's output of one tree, path-dependent
//! (the tree's own covers stand in for the data distribution), by Lundberg et al. 2018,
//! Algorithm 2, in O(leaves · depth²) per row instead of the 2^features of the definition.
//!
//! The output of a tree for a row, given a set S of known features, is the expectation of the
//! tree's value when the features outside S are unknown: at a split on a known feature the row
//! goes its way, at a split on an unknown one both ways, weighted by the children's covers. A
//! feature's Shapley value averages its marginal contribution E[f | S ∪ {i}] − E[f | S] over
//! the orders features join in. The contributions plus the bias (the cover-weighted mean of the
//! leaves, E[f | ∅]) add up to the row's output.
//!
//! Algorithm 2 walks every root-to-leaf path once, carrying for the path's distinct features
//! the fraction of "zero" (unknown: the cover share) and "one" (known: 1 if the row goes this
//! way, else 0) flow, and the permutation weights of each subset size (`pweight`), extended as
//! the walk goes down and unwound when a feature repeats on the path.

use super::hist::Tree;

/// One distinct feature on the current path.
#[derive(Clone, Copy, Default)]
struct PathElement {
    /// The feature (−1 for the root's placeholder).
    feature: i64,
    /// Share of the flow that reaches here when the feature is unknown (covers).
    zero: f64,
    /// Share when the feature is known: 1 if the row's value leads here, else 0.
    one: f64,
    /// Permutation weight of subsets of this size.
    pweight: f64,
}

/// 1/n for the small counts the path arithmetic divides by (a multiplication is several times
/// cheaper than a division, and these run O(leaves · depth²) times a row).
#[inline]
fn inv(n: usize) -> f64 {
    const N: usize = 128;
    const TABLE: [f64; N] = {
        let mut t = [f64::INFINITY; N];
        let mut i = 1;
        while i < N {
            t[i] = 1.0 / i as f64;
            i += 1;
        }
        t
    };
    if n < N {
        TABLE[n]
    } else {
        1.0 / n as f64
    }
}

/// Extend the path by a feature with its zero and one fractions (updating the weights of every
/// subset size).
fn extend(path: &mut [PathElement], depth: usize, zero: f64, one: f64, feature: i64) {
    path[depth] = PathElement { feature, zero, one, pweight: if depth == 0 { 1.0 } else { 0.0 } };
    let r = inv(depth + 1);
    for i in (0..depth).rev() {
        path[i + 1].pweight += one * path[i].pweight * ((i + 1) as f64 * r);
        path[i].pweight = zero * path[i].pweight * ((depth - i) as f64 * r);
    }
}

/// Undo [`extend`] of the element at `at` (a feature met again deeper down the path).
fn unwind(path: &mut [PathElement], depth: usize, at: usize) {
    let (one, zero) = (path[at].one, path[at].zero);
    let d1 = (depth + 1) as f64;
    let mut next = path[depth].pweight;
    for i in (0..depth).rev() {
        if one != 0.0 {
            let tmp = path[i].pweight;
            path[i].pweight = next * d1 / ((i + 1) as f64 * one);
            next = tmp - path[i].pweight * zero * (depth - i) as f64 / d1;
        } else {
            path[i].pweight = path[i].pweight * d1 / (zero * (depth - i) as f64);
        }
    }
    for i in at..depth {
        path[i].feature = path[i + 1].feature;
        path[i].zero = path[i + 1].zero;
        path[i].one = path[i + 1].one;
    }
}

/// The total permutation weight the path would have with the element at `at` unwound, without
/// changing the path.
fn unwound_sum(path: &[PathElement], depth: usize, at: usize) -> f64 {
    let (one, zero) = (path[at].one, path[at].zero);
    let d1 = (depth + 1) as f64;
    let r = inv(depth + 1);
    let mut total = 0.0;
    if one != 0.0 {
        let (k, z) = (d1 / one, zero * r);
        let mut next = path[depth].pweight;
        for i in (0..depth).rev() {
            let tmp = next * k * inv(i + 1);
            total += tmp;
            next = path[i].pweight - tmp * z * (depth - i) as f64;
        }
    } else {
        let k = d1 / zero;
        for i in (0..depth).rev() {
            total += path[i].pweight * k * inv(depth - i);
        }
    }
    total
}

/// At a leaf: add each path feature's share of the leaf's value, `unwound_sum · (one − zero)
/// · value` ([`unwound_sum`] for every element at once). The factors of the unwinding depend
/// only on the depth, and for an element the row does not follow (one = 0) the sum is the same
/// for every element but for the division by its zero fraction: both are computed once per
/// leaf, not once per element.
fn leaf_shares(p: &[PathElement], depth: usize, value: f64, phi: &mut [f64]) {
    const MAX: usize = 64;
    if depth >= MAX {
        for i in 1..=depth {
            let el = p[i];
            phi[el.feature as usize] += unwound_sum(p, depth, i) * (el.one - el.zero) * value;
        }
        return;
    }
    let d1 = (depth + 1) as f64;
    let r = inv(depth + 1);
    // a[j] = d1 / (j + 1), b[j] = (depth − j) / d1; the one = 0 sum Σ pweight[j] · d1 / (depth − j).
    let (mut a, mut b) = ([0.0; MAX], [0.0; MAX]);
    let mut cold = 0.0;
    for j in 0..depth {
        a[j] = d1 * inv(j + 1);
        b[j] = (depth - j) as f64 * r;
        cold += p[j].pweight * d1 * inv(depth - j);
    }
    for el in &p[1..=depth] {
        let w = if el.one != 0.0 {
            let (k, z) = (1.0 / el.one, el.zero);
            let mut next = p[depth].pweight;
            let mut total = 0.0;
            for j in (0..depth).rev() {
                let tmp = next * a[j] * k;
                total += tmp;
                next = p[j].pweight - tmp * z * b[j];
            }
            total
        } else {
            cold / el.zero
        };
        phi[el.feature as usize] += w * (el.one - el.zero) * value;
    }
}

/// A reusable path buffer for trees of depth up to `max_depth`: each level of the recursion
/// keeps its own copy of the path, one after the other.
pub struct ShapBuffer(Vec<PathElement>);

impl ShapBuffer {
    pub fn new(max_depth: usize) -> ShapBuffer {
        let d = max_depth + 2;
        ShapBuffer(vec![PathElement::default(); d * (d + 1) / 2 + d])
    }
}

/// Add the SHAP values of `tree`'s output `k` for `row` to `phi` (one per feature; the bias is
/// not included: see [`expected_value`]). `buf` must come from [`ShapBuffer::new`] with at
/// least the tree's depth.
pub fn add_tree_shap(tree: &Tree, k: usize, row: &[f64], phi: &mut [f64], buf: &mut ShapBuffer) {
    if tree.nodes[0].split.is_none() {
        return;
    }
    recurse(tree, k, row, phi, 0, &mut buf.0, 0, 0, 1.0, 1.0, -1);
}

/// One node of Algorithm 2. The parent's path is `path[start..start + depth + 1]`; this node's
/// copy follows it.
#[allow(clippy::too_many_arguments)]
fn recurse(tree: &Tree, k: usize, row: &[f64], phi: &mut [f64], node: usize, path: &mut [PathElement], start: usize, depth: usize, zero: f64, one: f64, feature: i64) {
    let here = start + depth + 1;
    path.copy_within(start..start + depth + 1, here);
    let mut depth = depth;
    let p = &mut path[here..];
    extend(p, depth, zero, one, feature);
    let n = &tree.nodes[node];
    match &n.split {
        None => {
            let value = tree.values[n.leaf as usize * tree.width + k];
            leaf_shares(p, depth, value, phi);
        }
        Some(s) => {
            let left = tree.goes_left(s, row[s.feature as usize]);
            let (hot, cold) = if left { (s.left, s.right) } else { (s.right, s.left) };
            let cover = n.cover;
            let share = |c: u32| if cover > 0.0 { tree.nodes[c as usize].cover / cover } else { 0.5 };
            let (hot_zero, cold_zero) = (share(hot), share(cold));
            let (mut in_zero, mut in_one) = (1.0, 1.0);
            // A feature already on the path: undo it here, and carry its fractions down.
            if let Some(at) = (1..=depth).find(|&i| p[i].feature == s.feature as i64) {
                in_zero = p[at].zero;
                in_one = p[at].one;
                unwind(p, depth, at);
                depth -= 1;
            }
            recurse(tree, k, row, phi, hot as usize, path, here, depth + 1, hot_zero * in_zero, in_one, s.feature as i64);
            recurse(tree, k, row, phi, cold as usize, path, here, depth + 1, cold_zero * in_zero, 0.0, s.feature as i64);
        }
    }
}

/// E[f] of output `k` of a tree: its leaves' values weighted by their covers (the bias, the
/// output when no feature is known).
pub fn expected_value(tree: &Tree, k: usize) -> f64 {
    fn walk(t: &Tree, k: usize, i: usize) -> f64 {
        let n = &t.nodes[i];
        match &n.split {
            None => t.values[n.leaf as usize * t.width + k],
            Some(s) => {
                let (l, r) = (&t.nodes[s.left as usize], &t.nodes[s.right as usize]);
                let total = l.cover + r.cover;
                if total > 0.0 {
                    (l.cover * walk(t, k, s.left as usize) + r.cover * walk(t, k, s.right as usize)) / total
                } else {
                    (walk(t, k, s.left as usize) + walk(t, k, s.right as usize)) / 2.0
                }
            }
        }
    }
    walk(tree, k, 0)
}

/// E[f | the features in `known` take the row's values]: the definition TreeSHAP computes
/// Shapley values of, walked directly (for tests against the brute-force Shapley sum).
pub fn conditional_expectation(tree: &Tree, k: usize, row: &[f64], known: &[bool]) -> f64 {
    fn walk(t: &Tree, k: usize, row: &[f64], known: &[bool], i: usize) -> f64 {
        let n = &t.nodes[i];
        match &n.split {
            None => t.values[n.leaf as usize * t.width + k],
            Some(s) if known[s.feature as usize] => {
                let next = if t.goes_left(s, row[s.feature as usize]) { s.left } else { s.right };
                walk(t, k, row, known, next as usize)
            }
            Some(s) => {
                let (l, r) = (&t.nodes[s.left as usize], &t.nodes[s.right as usize]);
                let total = l.cover + r.cover;
                let (wl, wr) = if total > 0.0 { (l.cover / total, r.cover / total) } else { (0.5, 0.5) };
                wl * walk(t, k, row, known, s.left as usize) + wr * walk(t, k, row, known, s.right as usize)
            }
        }
    }
    walk(tree, k, row, known, 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::native::hist::{Node, Split};

    /// Shapley values by their definition: every subset S of the other features, weighted
    /// |S|! (d − |S| − 1)! / d!.
    fn brute_force(tree: &Tree, row: &[f64], d: usize) -> Vec<f64> {
        let fact = |n: usize| (1..=n).map(|v| v as f64).product::<f64>();
        let mut phi = vec![0.0; d];
        for mask in 0u32..(1 << d) {
            let known: Vec<bool> = (0..d).map(|j| mask >> j & 1 == 1).collect();
            let s = known.iter().filter(|&&b| b).count();
            let base = conditional_expectation(tree, 0, row, &known);
            for i in (0..d).filter(|&i| !known[i]) {
                let mut with = known.clone();
                with[i] = true;
                let w = fact(s) * fact(d - s - 1) / fact(d);
                phi[i] += w * (conditional_expectation(tree, 0, row, &with) - base);
            }
        }
        phi
    }

    /// A random tree of the given depth over `d` features, repeating features on a path, with
    /// random covers, thresholds and default directions.
    fn random_tree(depth: usize, d: usize, seed: u64) -> Tree {
        use rand::{Rng, SeedableRng};
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut t = Tree::empty(1);
        t.nodes.push(Node { split: None, leaf: 0, cover: 100.0 });
        let mut open = vec![(0usize, 0usize)];
        while let Some((i, level)) = open.pop() {
            if level == depth || (level > 1 && r.gen::<f64>() < 0.2) {
                t.nodes[i].leaf = (t.values.len()) as u32;
                t.values.push(r.gen::<f64>() * 2.0 - 1.0);
                continue;
            }
            let cover = t.nodes[i].cover;
            let share = 0.1 + 0.8 * r.gen::<f64>();
            let (l, rr) = (t.nodes.len() as u32, t.nodes.len() as u32 + 1);
            t.nodes[i].split = Some(Split { feature: r.gen_range(0..d) as u32, threshold: r.gen::<f64>() * 2.0 - 1.0, bin: 0, default_left: r.gen(), left: l, right: rr, gain: 1.0, cats: None });
            t.nodes.push(Node { split: None, leaf: 0, cover: cover * share });
            t.nodes.push(Node { split: None, leaf: 0, cover: cover * (1.0 - share) });
            open.push((l as usize, level + 1));
            open.push((rr as usize, level + 1));
        }
        t
    }

    #[test]
    fn tree_shap_equals_the_shapley_definition_over_every_subset() {
        use rand::{Rng, SeedableRng};
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(3);
        for (seed, (depth, d)) in [(4, 3), (5, 5), (6, 8), (8, 4), (3, 8)].into_iter().enumerate() {
            let tree = random_tree(depth, d, seed as u64);
            let mut buf = ShapBuffer::new(tree.depth());
            for _ in 0..20 {
                let row: Vec<f64> = (0..d).map(|_| if r.gen::<f64>() < 0.15 { f64::NAN } else { r.gen::<f64>() * 2.0 - 1.0 }).collect();
                let mut phi = vec![0.0; d];
                add_tree_shap(&tree, 0, &row, &mut phi, &mut buf);
                let want = brute_force(&tree, &row, d);
                for j in 0..d {
                    assert!((phi[j] - want[j]).abs() < 1e-12, "depth {depth}, {d} features, feature {j}: {} against {}", phi[j], want[j]);
                }
                // Local accuracy: bias + contributions = the tree's output for the row.
                let out = tree.leaf_of(&row)[0];
                let sum = expected_value(&tree, 0) + phi.iter().sum::<f64>();
                assert!((sum - out).abs() < 1e-12, "{sum} against the output {out}");
            }
        }
    }
}
