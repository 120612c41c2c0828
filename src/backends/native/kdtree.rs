//! An instrumented kd-tree for exact k-nearest-neighbour and radius search, and the brute-force
//! search it is checked against.
//!
//! Build: each node splits its points at the median of their widest dimension until at most
//! `leaf_size` remain (leaf buckets); every node keeps the tight bounding box of its points.
//! Query: descend into the nearer child first, keep the k best in a bounded buffer ordered by
//! (distance, index) — so ties break by index, exactly like brute force — skip a subtree when
//! its box is farther than the current k-th distance (bounds-overlap-ball), and stop as soon
//! as the ball around the query with that radius lies inside the box of the node just
//! searched (ball-within-bounds): nothing outside can be closer. Distances inside leaves stop
//! early once the partial sum exceeds the k-th distance.
//!
//! Each query counts the nodes it visits and the distances it computes, which is what shows
//! why kd-trees degrade in high dimensions: the counts approach n.

use rayon::prelude::*;

/// A Minkowski-family metric. Comparisons use a monotone "reduced" distance (the p-th power
/// sum for Lp, the plain max for L∞) so no root is taken in the inner loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    Euclidean,
    Manhattan,
    Chebyshev,
    Minkowski(f64),
}

impl Metric {
    #[inline]
    fn comp(&self, d: f64) -> f64 {
        let d = d.abs();
        match *self {
            Metric::Euclidean => d * d,
            Metric::Manhattan | Metric::Chebyshev => d,
            Metric::Minkowski(p) => d.powf(p),
        }
    }
    #[inline]
    fn add(&self, acc: f64, c: f64) -> f64 {
        match self {
            Metric::Chebyshev => acc.max(c),
            _ => acc + c,
        }
    }
    /// Reduced distance → distance.
    pub fn finish(&self, r: f64) -> f64 {
        match *self {
            Metric::Euclidean => r.sqrt(),
            Metric::Manhattan | Metric::Chebyshev => r,
            Metric::Minkowski(p) => r.powf(1.0 / p),
        }
    }
    /// Distance → reduced distance.
    pub fn reduce(&self, d: f64) -> f64 {
        match *self {
            Metric::Euclidean => d * d,
            Metric::Manhattan | Metric::Chebyshev => d,
            Metric::Minkowski(p) => d.powf(p),
        }
    }
    /// Reduced distance between two points, giving up (returning something > `bound`) once the
    /// partial value exceeds `bound`.
    #[inline]
    pub fn rdist_bounded(&self, a: &[f64], b: &[f64], bound: f64) -> f64 {
        let mut acc = 0.0;
        for (chunk_a, chunk_b) in a.chunks(8).zip(b.chunks(8)) {
            for (x, y) in chunk_a.iter().zip(chunk_b) {
                acc = self.add(acc, self.comp(x - y));
            }
            if acc > bound {
                return acc;
            }
        }
        acc
    }
    /// Reduced distance between two points.
    #[inline]
    pub fn rdist(&self, a: &[f64], b: &[f64]) -> f64 {
        let mut acc = 0.0;
        for (x, y) in a.iter().zip(b) {
            acc = self.add(acc, self.comp(x - y));
        }
        acc
    }
}

/// One neighbour: its index in the data and its distance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub index: usize,
    pub distance: f64,
}

/// Work done by one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    pub nodes_visited: u64,
    pub distance_evals: u64,
}

impl std::ops::AddAssign for QueryStats {
    fn add_assign(&mut self, o: Self) {
        self.nodes_visited += o.nodes_visited;
        self.distance_evals += o.distance_evals;
    }
}

#[derive(Debug, Clone)]
struct Node {
    start: u32,
    end: u32,
    /// Children (0 for a leaf; the root is node 0 and is never a child).
    left: u32,
    right: u32,
    split_dim: u32,
    split_val: f64,
}

/// A kd-tree over n points in d dimensions.
#[derive(Debug, Clone)]
pub struct KdTree {
    dim: usize,
    metric: Metric,
    /// Points in tree order, row-major.
    points: Vec<f64>,
    /// Original index of each point in tree order.
    index: Vec<usize>,
    nodes: Vec<Node>,
    /// Per node: lo[0..d], hi[0..d].
    bounds: Vec<f64>,
}

/// k best so far, sorted by (reduced distance, index).
struct Best {
    k: usize,
    items: Vec<(f64, usize)>,
}

impl Best {
    fn new(k: usize) -> Best {
        Best { k, items: Vec::with_capacity(k + 1) }
    }
    #[inline]
    fn worst(&self) -> f64 {
        if self.items.len() < self.k {
            f64::INFINITY
        } else {
            self.items[self.k - 1].0
        }
    }
    #[inline]
    fn offer(&mut self, r: f64, i: usize) {
        if self.items.len() == self.k {
            let (wr, wi) = self.items[self.k - 1];
            if r > wr || (r == wr && i > wi) {
                return;
            }
            self.items.pop();
        }
        let pos = self.items.partition_point(|&(br, bi)| br < r || (br == r && bi < i));
        self.items.insert(pos, (r, i));
    }
}

impl KdTree {
    /// Build a tree over the rows of `data` (n × d, row-major).
    pub fn build(data: &[f64], dim: usize, leaf_size: usize, metric: Metric) -> KdTree {
        assert!(dim > 0 && data.len().is_multiple_of(dim));
        let n = data.len() / dim;
        let leaf_size = leaf_size.max(1);
        let mut idx: Vec<usize> = (0..n).collect();
        let mut nodes = Vec::with_capacity(2 * n / leaf_size + 1);
        let mut bounds = Vec::new();
        Self::build_node(data, dim, leaf_size, &mut idx, 0, n, &mut nodes, &mut bounds);
        let mut points = Vec::with_capacity(n * dim);
        for &i in &idx {
            points.extend_from_slice(&data[i * dim..(i + 1) * dim]);
        }
        KdTree { dim, metric, points, index: idx, nodes, bounds }
    }

    #[allow(clippy::too_many_arguments)]
    fn build_node(data: &[f64], dim: usize, leaf: usize, idx: &mut [usize], start: usize, end: usize, nodes: &mut Vec<Node>, bounds: &mut Vec<f64>) -> u32 {
        let id = nodes.len() as u32;
        // Tight bounding box.
        let mut lo = vec![f64::INFINITY; dim];
        let mut hi = vec![f64::NEG_INFINITY; dim];
        for &i in &idx[start..end] {
            let p = &data[i * dim..(i + 1) * dim];
            for d in 0..dim {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        bounds.extend_from_slice(&lo);
        bounds.extend_from_slice(&hi);
        nodes.push(Node { start: start as u32, end: end as u32, left: 0, right: 0, split_dim: 0, split_val: 0.0 });
        let count = end - start;
        let (mut sd, mut spread) = (0, -1.0);
        for d in 0..dim {
            if hi[d] - lo[d] > spread {
                spread = hi[d] - lo[d];
                sd = d;
            }
        }
        if count <= leaf || spread <= 0.0 {
            return id;
        }
        let mid = start + count / 2;
        idx[start..end].select_nth_unstable_by(count / 2, |&a, &b| data[a * dim + sd].total_cmp(&data[b * dim + sd]).then(a.cmp(&b)));
        let split_val = data[idx[mid] * dim + sd];
        let left = Self::build_node(data, dim, leaf, idx, start, mid, nodes, bounds);
        let right = Self::build_node(data, dim, leaf, idx, mid, end, nodes, bounds);
        let node = &mut nodes[id as usize];
        node.left = left;
        node.right = right;
        node.split_dim = sd as u32;
        node.split_val = split_val;
        id
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    #[inline]
    fn lo(&self, n: usize) -> &[f64] {
        &self.bounds[2 * n * self.dim..(2 * n + 1) * self.dim]
    }
    #[inline]
    fn hi(&self, n: usize) -> &[f64] {
        &self.bounds[(2 * n + 1) * self.dim..(2 * n + 2) * self.dim]
    }

    /// Reduced distance from q to node n's box.
    #[inline]
    fn box_rdist(&self, n: usize, q: &[f64]) -> f64 {
        let (lo, hi) = (self.lo(n), self.hi(n));
        let mut acc = 0.0;
        for d in 0..self.dim {
            let v = q[d];
            let gap = if v < lo[d] {
                lo[d] - v
            } else if v > hi[d] {
                v - hi[d]
            } else {
                continue;
            };
            acc = self.metric.add(acc, self.metric.comp(gap));
        }
        acc
    }

    /// Does the ball of (true) radius r around q lie strictly inside node n's box?
    #[inline]
    fn ball_within(&self, n: usize, q: &[f64], r: f64) -> bool {
        let (lo, hi) = (self.lo(n), self.hi(n));
        (0..self.dim).all(|d| q[d] - lo[d] > r && hi[d] - q[d] > r)
    }

    /// The k nearest neighbours of `q`, nearest first (ties by index), and the work done.
    pub fn knn(&self, q: &[f64], k: usize) -> (Vec<Neighbour>, QueryStats) {
        let mut best = Best::new(k.min(self.len()).max(1));
        let mut st = QueryStats::default();
        if !self.is_empty() && k > 0 {
            self.search(0, q, &mut best, &mut st);
        }
        let out = best.items.iter().map(|&(r, i)| Neighbour { index: i, distance: self.metric.finish(r) }).collect();
        (out, st)
    }

    /// Returns true when the search is complete (ball within bounds).
    fn search(&self, n: usize, q: &[f64], best: &mut Best, st: &mut QueryStats) -> bool {
        st.nodes_visited += 1;
        let node = &self.nodes[n];
        if node.left == 0 {
            for j in node.start as usize..node.end as usize {
                let p = &self.points[j * self.dim..(j + 1) * self.dim];
                let w = best.worst();
                let r = self.metric.rdist_bounded(q, p, w);
                st.distance_evals += 1;
                if r <= w {
                    best.offer(r, self.index[j]);
                }
            }
        } else {
            let (near, far) = if q[node.split_dim as usize] < node.split_val {
                (node.left as usize, node.right as usize)
            } else {
                (node.right as usize, node.left as usize)
            };
            if self.search(near, q, best, st) {
                return true;
            }
            if self.box_rdist(far, q) <= best.worst() && self.search(far, q, best, st) {
                return true;
            }
        }
        best.items.len() == best.k && self.ball_within(n, q, self.metric.finish(best.worst()))
    }

    /// Every point within distance `r` of `q` (inclusive), nearest first (ties by index).
    pub fn radius(&self, q: &[f64], r: f64) -> (Vec<Neighbour>, QueryStats) {
        let bound = self.metric.reduce(r);
        let mut out = Vec::new();
        let mut st = QueryStats::default();
        if !self.is_empty() {
            let mut stack = vec![0usize];
            while let Some(n) = stack.pop() {
                st.nodes_visited += 1;
                if self.box_rdist(n, q) > bound {
                    continue;
                }
                let node = &self.nodes[n];
                if node.left == 0 {
                    for j in node.start as usize..node.end as usize {
                        let d = self.metric.rdist_bounded(q, &self.points[j * self.dim..(j + 1) * self.dim], bound);
                        st.distance_evals += 1;
                        if d <= bound {
                            out.push((d, self.index[j]));
                        }
                    }
                } else {
                    stack.push(node.right as usize);
                    stack.push(node.left as usize);
                }
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        (out.into_iter().map(|(d, i)| Neighbour { index: i, distance: self.metric.finish(d) }).collect(), st)
    }

    /// k nearest neighbours of many queries (rows of `queries`), in parallel when `parallel`.
    pub fn knn_batch(&self, queries: &[f64], k: usize, parallel: bool) -> (Vec<Vec<Neighbour>>, QueryStats) {
        let d = self.dim;
        let one = |q: &[f64]| self.knn(q, k);
        let res: Vec<(Vec<Neighbour>, QueryStats)> =
            if parallel { queries.par_chunks(d).map(one).collect() } else { queries.chunks(d).map(one).collect() };
        let mut st = QueryStats::default();
        let out = res
            .into_iter()
            .map(|(v, s)| {
                st += s;
                v
            })
            .collect();
        (out, st)
    }
}

/// Exact search by scanning every point: the reference the tree is checked against, and the
/// better choice when the tree cannot prune (high-dimensional uniform data).
#[derive(Debug, Clone)]
pub struct Brute {
    dim: usize,
    metric: Metric,
    points: Vec<f64>,
}

impl Brute {
    pub fn new(data: &[f64], dim: usize, metric: Metric) -> Brute {
        Brute { dim, metric, points: data.to_vec() }
    }
    pub fn knn(&self, q: &[f64], k: usize) -> (Vec<Neighbour>, QueryStats) {
        let n = self.points.len() / self.dim;
        let mut best = Best::new(k.min(n).max(1));
        for (i, p) in self.points.chunks(self.dim).enumerate() {
            let w = best.worst();
            let r = self.metric.rdist_bounded(q, p, w);
            if r <= w {
                best.offer(r, i);
            }
        }
        let out = best.items.iter().map(|&(r, i)| Neighbour { index: i, distance: self.metric.finish(r) }).collect();
        (out, QueryStats { nodes_visited: 0, distance_evals: n as u64 })
    }
    pub fn radius(&self, q: &[f64], r: f64) -> Vec<Neighbour> {
        let bound = self.metric.reduce(r);
        let mut out: Vec<(f64, usize)> =
            self.points.chunks(self.dim).enumerate().map(|(i, p)| (self.metric.rdist(q, p), i)).filter(|(d, _)| *d <= bound).collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.into_iter().map(|(d, i)| Neighbour { index: i, distance: self.metric.finish(d) }).collect()
    }
    pub fn knn_batch(&self, queries: &[f64], k: usize, parallel: bool) -> Vec<Vec<Neighbour>> {
        let one = |q: &[f64]| self.knn(q, k).0;
        if parallel {
            queries.par_chunks(self.dim).map(one).collect()
        } else {
            queries.chunks(self.dim).map(one).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn data(n: usize, d: usize, seed: u64, grid: bool) -> Vec<f64> {
        let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
        // `grid` puts points on a coarse lattice so distances tie often.
        (0..n * d).map(|_| if grid { r.gen_range(0..4) as f64 } else { r.gen::<f64>() }).collect()
    }

    #[test]
    fn knn_equals_brute_force_exactly_including_ties() {
        for &(d, grid) in &[(1, false), (2, true), (3, false), (5, true), (8, false), (16, false)] {
            for metric in [Metric::Euclidean, Metric::Manhattan, Metric::Chebyshev, Metric::Minkowski(3.0)] {
                let pts = data(700, d, d as u64, grid);
                let qs = data(60, d, 99 + d as u64, grid);
                for leaf in [1, 4, 16] {
                    let tree = KdTree::build(&pts, d, leaf, metric);
                    let brute = Brute::new(&pts, d, metric);
                    for q in qs.chunks(d) {
                        for k in [1, 7, 30] {
                            let (a, _) = tree.knn(q, k);
                            let (b, _) = brute.knn(q, k);
                            let ai: Vec<usize> = a.iter().map(|n| n.index).collect();
                            let bi: Vec<usize> = b.iter().map(|n| n.index).collect();
                            assert_eq!(ai, bi, "d={d} grid={grid} {metric:?} leaf={leaf} k={k}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn radius_search_equals_brute_force() {
        for &(d, grid) in &[(2, true), (3, false), (6, false)] {
            for metric in [Metric::Euclidean, Metric::Manhattan, Metric::Chebyshev] {
                let pts = data(500, d, 5, grid);
                let tree = KdTree::build(&pts, d, 8, metric);
                let brute = Brute::new(&pts, d, metric);
                for q in data(20, d, 6, grid).chunks(d) {
                    for r in [0.0, 0.1, 0.3, 1.0, 2.0] {
                        let a: Vec<usize> = tree.radius(q, r).0.iter().map(|n| n.index).collect();
                        let b: Vec<usize> = brute.radius(q, r).iter().map(|n| n.index).collect();
                        assert_eq!(a, b, "d={d} {metric:?} r={r}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_tree_prunes_in_low_dimensions_and_not_in_high() {
        let n = 5000;
        let low = KdTree::build(&data(n, 2, 1, false), 2, 16, Metric::Euclidean);
        let (_, st) = low.knn_batch(&data(100, 2, 2, false), 10, false);
        assert!(st.distance_evals / 100 < 200, "2-d: a few leaves per query, got {}", st.distance_evals / 100);
        let high = KdTree::build(&data(n, 32, 1, false), 32, 16, Metric::Euclidean);
        let (_, st) = high.knn_batch(&data(100, 32, 2, false), 10, false);
        assert!(st.distance_evals / 100 > n as u64 / 3, "32-d uniform: most points get visited, got {}", st.distance_evals / 100);
    }
}
