//! Small dense linear algebra for Newton steps (a few hundred unknowns at most): Cholesky
//! with adaptive damping, so a singular Hessian (a flat direction of the softmax) still gives
//! the minimum-norm-like step instead of a failure.

use ndarray::{Array1, Array2};

/// Cholesky factor L (lower) of a symmetric positive-definite `a`, or `None` if not SPD.
pub fn cholesky(a: &Array2<f64>) -> Option<Array2<f64>> {
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let mut d = a[[j, j]];
        for k in 0..j {
            d -= l[[j, k]] * l[[j, k]];
        }
        if !(d > 0.0) || !d.is_finite() {
            return None;
        }
        let djj = d.sqrt();
        l[[j, j]] = djj;
        for i in (j + 1)..n {
            let mut s = a[[i, j]];
            for k in 0..j {
                s -= l[[i, k]] * l[[j, k]];
            }
            l[[i, j]] = s / djj;
        }
    }
    Some(l)
}

/// Solve L Lᵀ x = b.
pub fn cholesky_solve(l: &Array2<f64>, b: &Array1<f64>) -> Array1<f64> {
    let n = b.len();
    let mut y = b.clone();
    for i in 0..n {
        let mut s = y[i];
        for k in 0..i {
            s -= l[[i, k]] * y[k];
        }
        y[i] = s / l[[i, i]];
    }
    for i in (0..n).rev() {
        let mut s = y[i];
        for k in (i + 1)..n {
            s -= l[[k, i]] * y[k];
        }
        y[i] = s / l[[i, i]];
    }
    y
}

/// Solve (A + μI) x = b for symmetric positive semi-definite A, raising the damping μ from a
/// tiny relative value until the factorization succeeds.
pub fn damped_solve(a: &Array2<f64>, b: &Array1<f64>) -> Option<Array1<f64>> {
    let n = a.nrows();
    let scale = (0..n).map(|i| a[[i, i]].abs()).fold(1.0f64, f64::max);
    let mut mu = 1e-12 * scale;
    for _ in 0..12 {
        let mut m = a.clone();
        for i in 0..n {
            m[[i, i]] += mu;
        }
        if let Some(l) = cholesky(&m) {
            return Some(cholesky_solve(&l, b));
        }
        mu *= 100.0;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn solves_spd_systems_and_damps_singular_ones() {
        let a = array![[4.0, 2.0], [2.0, 3.0]];
        let x = damped_solve(&a, &array![2.0, 1.0]).unwrap();
        let r = a.dot(&x) - array![2.0, 1.0];
        assert!(r.iter().all(|v| v.abs() < 1e-9));
        // Singular: [1 1; 1 1] x = [2 2] has solutions on a line; damping picks a finite one.
        let s = array![[1.0, 1.0], [1.0, 1.0]];
        let x = damped_solve(&s, &array![2.0, 2.0]).unwrap();
        assert!((x[0] + x[1] - 2.0).abs() < 1e-6);
    }
}
