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
        if d.is_nan() || d <= 0.0 || !d.is_finite() {
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

/// Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations: eigenvalues in
/// descending order and the matching unit eigenvectors as columns. Accurate to rounding, so
/// it serves as the reference the PCA backends are checked against (p up to a few hundred).
pub fn sym_eigen(a: &Array2<f64>) -> (Vec<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut m = a.clone();
    let mut v = Array2::<f64>::eye(n);
    let norm: f64 = m.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| m[[i, j]] * m[[i, j]]).sum::<f64>().sqrt();
        if off <= 1e-15 * norm {
            break;
        }
        for p in 0..n {
            for q in (p + 1)..n {
                let apq = m[[p, q]];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let theta = (m[[q, q]] - m[[p, p]]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (mkp, mkq) = (m[[k, p]], m[[k, q]]);
                    m[[k, p]] = c * mkp - s * mkq;
                    m[[k, q]] = s * mkp + c * mkq;
                }
                for k in 0..n {
                    let (mpk, mqk) = (m[[p, k]], m[[q, k]]);
                    m[[p, k]] = c * mpk - s * mqk;
                    m[[q, k]] = s * mpk + c * mqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[[k, p]], v[[k, q]]);
                    v[[k, p]] = c * vkp - s * vkq;
                    v[[k, q]] = s * vkp + c * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| m[[j, j]].total_cmp(&m[[i, i]]));
    let vals = order.iter().map(|&i| m[[i, i]]).collect();
    let vecs = Array2::from_shape_fn((n, n), |(r, c)| v[[r, order[c]]]);
    (vals, vecs)
}

#[cfg(test)]
mod eigen_tests {
    use super::*;

    #[test]
    fn jacobi_diagonalizes_a_symmetric_matrix() {
        let a = ndarray::array![[4.0, 1.0, 2.0], [1.0, 3.0, 0.5], [2.0, 0.5, 5.0]];
        let (vals, vecs) = sym_eigen(&a);
        assert!(vals.windows(2).all(|w| w[0] >= w[1]));
        for (k, lam) in vals.iter().enumerate() {
            let v = vecs.column(k);
            let r = a.dot(&v) - &v * *lam;
            assert!(r.iter().all(|x| x.abs() < 1e-12), "A v = λ v");
        }
        assert!((vals.iter().sum::<f64>() - 12.0).abs() < 1e-12, "trace preserved");
        let vtv = vecs.t().dot(&vecs);
        assert!((vtv - Array2::<f64>::eye(3)).iter().all(|x| x.abs() < 1e-12), "orthonormal");
    }
}
