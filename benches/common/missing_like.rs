//! The generated rows with missing cells of `benches/missing_reference.py`, drawn bit for bit
//! as numpy draws them there: the test against xgboost (tests/boosting.rs) and the SHAP
//! benchmark (benches/shap.rs) share them; and the category rows of
//! `benches/categorical_reference.py`.

use ndarray::{Array1, Array2};
use ratlab::data::TrainSet;

/// splitmix64, as `benches/missing_reference.py` computes it on numpy's uint64.
fn splitmix(key: u64) -> u64 {
    let mut z = key.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// U[0, 1) of cell (row, column j, draw k), bit for bit the reference script's `uniform`.
fn cell_uniform(seed: u64, row: u64, j: u64, k: u64) -> f64 {
    let key = ((seed.wrapping_mul(1_000_003).wrapping_add(row)).wrapping_mul(64).wrapping_add(j)).wrapping_mul(16).wrapping_add(k);
    (splitmix(key) >> 11) as f64 * (-53f64).exp2()
}

/// The reference script's `missing_like`: 28 features of Gaussian, folded and squared draws and
/// norms of pairs of them, 2% of cells missing at random, a nonlinear binary label. Only exactly
/// rounded arithmetic, so the rows equal numpy's to the bit.
pub fn missing_like(n: usize, seed: u64) -> TrainSet {
    const D: usize = 28;
    let low = D * 3 / 4;
    let mut x = Array2::zeros((n, D));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        let row = i as u64;
        for j in 0..low {
            let z = (0..12).fold(0.0, |s, k| s + cell_uniform(seed, row, j as u64, k)) - 6.0;
            x[[i, j]] = match j % 3 {
                0 => z,
                1 => z.abs() * 1.5,
                _ => z * z - 1.0,
            };
        }
        for j in low..D {
            let (a, b) = (x[[i, (j * 5) % low]], x[[i, (j * 7 + 1) % low]]);
            x[[i, j]] = (a * a + b * b).sqrt() + 0.3 * (a * b).clamp(-1.0, 1.0);
        }
        let sign = |v: f64| if v > 0.0 { 1.0 } else if v < 0.0 { -1.0 } else { 0.0 };
        let f = 1.2 * x[[i, 0]] - 1.0 * x[[i, 1]] + 0.8 * x[[i, 3]] * sign(x[[i, 4]]) + 1.6 * ((x[[i, low]] > 2.0) as i32 as f64)
            - 1.0 * x[[i, low + 1]].min(3.0)
            + 0.8 * x[[i, 2]] * x[[i, 6]] / 2.0
            + 0.6 * x[[i, 9]] * x[[i, 10]]
            + 1.4;
        let s = (0..4).fold(0.0, |s, k| s + cell_uniform(seed, row, D as u64, k));
        y[i] = (f + (s - 2.0) * 1.7 > 0.0) as i32 as f64;
        for j in 0..D {
            if cell_uniform(seed, row, j as u64, 15) < 0.02 {
                x[[i, j]] = f64::NAN;
            }
        }
    }
    TrainSet::new(x, y, 2)
}

/// A normal draw as the reference scripts make it: 12 uniforms of cell (row, j) summed, minus 6.
fn normal(seed: u64, row: u64, j: u64) -> f64 {
    (0..12).fold(0.0, |s, k| s + cell_uniform(seed, row, j, k)) - 6.0
}

/// `benches/categorical_reference.py`'s `categorical_like`: a category column of `levels`
/// levels (skewed: code ⌊levels·u·u′⌋, 1% missing), a 30-level one, 6 numeric features, and a binary label
/// from each category's own effect plus numeric terms and noise. Columns: cat_a, cat_b, x0..x5.
pub fn categorical_like(n: usize, seed: u64, levels: usize) -> TrainSet {
    let mut x = Array2::zeros((n, 8));
    let mut y = Array1::zeros(n);
    for i in 0..n {
        let row = i as u64;
        let a = (levels as f64 * cell_uniform(seed, row, 0, 0) * cell_uniform(seed, row, 0, 1)).floor();
        let b = (30.0 * cell_uniform(seed, row, 1, 0)).floor();
        let num: Vec<f64> = (0..6).map(|j| normal(seed, row, 2 + j)).collect();
        let f = 1.0 * normal(7777, a as u64, 0) + 0.7 * normal(7777, b as u64, 1) + 0.8 * num[0] - 0.6 * num[1] + 0.5 * num[2] * num[3];
        y[i] = (f + (cell_uniform(seed, row, 9, 0) - 0.5) * 3.0 > 0.0) as i32 as f64;
        x[[i, 0]] = if cell_uniform(seed, row, 0, 15) < 0.01 { f64::NAN } else { a };
        x[[i, 1]] = b;
        for j in 0..6 {
            x[[i, 2 + j]] = num[j];
        }
    }
    TrainSet::new(x, y, 2)
}
