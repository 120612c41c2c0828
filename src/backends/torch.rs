//! torch backend (libtorch through tch). The algorithms on it arrive with the transformer
//! issue; for now it proves that the build links libtorch and can compute on it.

use tch::{Device, Kind, Tensor};

/// Whether CUDA is usable from this binary (reported by `ratlab --version`-style probes).
pub fn cuda_available() -> bool {
    tch::Cuda::is_available()
}

/// A small computation through libtorch: the Gram matrix XᵀX of a `rows × cols` matrix whose
/// entries are 0, 1, 2, … in row-major order. Used to check the link end to end.
pub fn gram_probe(rows: i64, cols: i64) -> Vec<f64> {
    let x = Tensor::arange(rows * cols, (Kind::Double, Device::Cpu)).reshape([rows, cols]);
    let g = x.transpose(0, 1).matmul(&x);
    let flat = g.reshape([-1]);
    Vec::<f64>::try_from(&flat).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn libtorch_computes_a_gram_matrix_like_ndarray() {
        let (r, c) = (5usize, 3usize);
        let x = ndarray::Array2::from_shape_fn((r, c), |(i, j)| (i * c + j) as f64);
        let want = x.t().dot(&x);
        let got = super::gram_probe(r as i64, c as i64);
        assert_eq!(got.len(), c * c);
        for (a, b) in got.iter().zip(want.iter()) {
            assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        }
    }
}
