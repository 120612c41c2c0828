//! kd-tree k-nearest neighbours: build and query 50,000 points in 3, 8 and 16 dimensions,
//! 10,000 queries, k = 10, uniform and clustered data; single thread and all threads; against
//! brute force and linfa-nn's kd-tree. Prints µs per query beside ../shared/REFERENCE.md.
//! Then ratlab's kNN classifier on each backend, as a run uses it: fit (the index) and predict
//! (the queries and the vote), so that the backends' times compare like with like.
//! Run with `cargo bench --bench knn`.

use linfa_nn::{distance::L2Dist, CommonNearestNeighbour, NearestNeighbour};
use ndarray::{Array2, ArrayView1};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use ratlab::backends::knn::KnnModel;
use ratlab::backends::native::kdtree::{Brute, KdTree, Metric};
use ratlab::backends::params::{KnnIndex, KnnParams};
use ratlab::backends::Backend;
use ratlab::data::TrainSet;
use std::time::Instant;

fn points(n: usize, d: usize, clustered: bool, seed: u64) -> Vec<f64> {
    let mut r = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed);
    if !clustered {
        return (0..n * d).map(|_| r.gen::<f64>()).collect();
    }
    let centers: Vec<f64> = {
        let mut c = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(42);
        (0..100 * d).map(|_| c.gen::<f64>()).collect()
    };
    let noise = Normal::new(0.0, 0.05).unwrap();
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let c = r.gen_range(0..100);
        for j in 0..d {
            out.push(centers[c * d + j] + noise.sample(&mut r));
        }
    }
    out
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let v = f();
    (v, t.elapsed().as_secs_f64())
}

fn main() {
    let (n, nq, k) = (50_000, 10_000, 10);
    let threads = rayon::current_num_threads();
    println!("k-nearest neighbours: {n} points, {nq} queries, k = {k}, exact; µs per query ({threads} threads available)");
    println!("{:<14} {:>9} {:>9} {:>9} {:>10} {:>11} {:>9} {:>8}  reference (cKDTree 1 thr / 2 thr / brute 2 thr)", "data", "build", "tree 1t", "tree all", "brute all", "linfa kd 1t", "dist/q", "checked");
    let reference = [
        ("clustered", 3, "6.0 / 7.7 / 242"),
        ("clustered", 8, "67.7 / 62.2 / 249"),
        ("clustered", 16, "332 / 202 / 309"),
        ("uniform", 3, "6.0 / 7.7 / 222"),
        ("uniform", 8, "109 / 170 / 223"),
        ("uniform", 16, "6,269 / 4,865 / 324"),
    ];
    for (kind, d, refs) in reference {
        let clustered = kind == "clustered";
        let data = points(n, d, clustered, 1);
        let queries = points(nq, d, clustered, 2);
        let (tree, build) = time(|| KdTree::build(&data, d, 16, Metric::Euclidean));
        let ((res1, stats), t1) = time(|| tree.knn_batch(&queries, k, false));
        let (_, tall) = time(|| tree.knn_batch(&queries, k, true));
        let brute = Brute::new(&data, d, Metric::Euclidean);
        let (bres, tb) = time(|| brute.knn_batch(&queries, k, true));
        // Exactness on every query.
        let same = res1.iter().zip(&bres).all(|(a, b)| a.iter().map(|x| x.index).eq(b.iter().map(|x| x.index)));
        let arr = Array2::from_shape_vec((n, d), data.clone()).unwrap();
        let lidx = CommonNearestNeighbour::KdTree.from_batch_with_leaf_size(&arr, 16, L2Dist).unwrap();
        let qarr = Array2::from_shape_vec((nq, d), queries.clone()).unwrap();
        let (_, tl) = time(|| {
            for q in qarr.rows() {
                let q: ArrayView1<f64> = q;
                let _ = lidx.k_nearest(q, k).unwrap();
            }
        });
        let per = |t: f64| t / nq as f64 * 1e6;
        println!(
            "{:<14} {:>7.1}ms {:>9.1} {:>9.1} {:>10.1} {:>11.1} {:>9} {:>8}  {refs}",
            format!("{kind}, d={d}"),
            build * 1e3,
            per(t1),
            per(tall),
            per(tb),
            per(tl),
            stats.distance_evals / nq as u64,
            if same { "exact" } else { "MISMATCH" }
        );
    }
    models();
}

/// ratlab's kNN classifier per backend: fit on 20,000 clustered points (d = 8, 10 classes by
/// cluster), predict 5,000 queries with k = 10. Each backend searches with its own kd-tree
/// (smartcore: its cover tree) on every thread it uses.
fn models() {
    let (n, nq, d, k) = (20_000, 5_000, 8, 10);
    let x = Array2::from_shape_vec((n, d), points(n, d, true, 3)).unwrap();
    let y: ndarray::Array1<f64> = x.rows().into_iter().map(|r| ((r[0] * 10.0).clamp(0.0, 9.0)).floor()).collect();
    let q = Array2::from_shape_vec((nq, d), points(nq, d, true, 4)).unwrap();
    let data = TrainSet::new(x, y, 10);
    let params = KnnParams { k, distance_weights: false, metric: Metric::Euclidean, leaf_size: 16, index: KnnIndex::KdTree };
    println!();
    println!("kNN classifier per backend: {n} training rows, d = {d}, {nq} queries, k = {k}");
    println!("{:<10} {:>10} {:>12} {:>14}", "backend", "fit", "predict", "µs per query");
    let mut reference = None;
    for backend in [Backend::Native, Backend::Linfa, Backend::Smartcore] {
        let (model, fit) = time(|| KnnModel::fit(params.clone(), backend, &data).unwrap());
        let (pred, predict) = time(|| model.predict(q.view()).unwrap());
        let votes = ratlab::backends::ensemble::votes(&pred);
        let agree = match &reference {
            None => {
                reference = Some(votes);
                String::new()
            }
            Some(r) => format!("  votes agree with native on {:.2}% of queries", 100.0 * r.iter().zip(&votes).filter(|(a, b)| a == b).count() as f64 / nq as f64),
        };
        println!("{:<10} {:>8.1}ms {:>10.1}ms {:>14.1}{agree}", backend.as_str(), fit * 1e3, predict * 1e3, predict / nq as f64 * 1e6);
    }
}
