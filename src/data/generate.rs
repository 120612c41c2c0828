//! Seeded synthetic datasets: classification with informative and noise features and label
//! noise, linear regression, and Gaussian blobs — to study an algorithm on data whose truth
//! is known.

use super::{split::rng, Dataset, GenConfig};
use super::Task;
use ndarray::{Array1, Array2};
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

/// Generate the dataset a [`GenConfig`] describes.
pub fn generate(cfg: &GenConfig, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let normal = move |r: &mut rand_xoshiro::Xoshiro256PlusPlus| -> f64 { StandardNormal.sample(r) };
    let (x, y, classes, task, nf) = match *cfg {
        GenConfig::Classification { n_samples, n_features, n_informative, n_classes, class_sep, label_noise } => {
            // Class centroids: distinct vertices of the {-1, +1} hypercube, scaled by class_sep.
            let mut centroids = Vec::with_capacity(n_classes);
            for c in 0..n_classes {
                let v: Vec<f64> = (0..n_informative)
                    .map(|d| if (c >> (d % 63)) & 1 == 1 { class_sep } else { -class_sep })
                    .collect();
                centroids.push(v);
            }
            // Classes beyond 2^n_informative reuse vertices; shift them so they stay apart.
            for (c, v) in centroids.iter_mut().enumerate() {
                if n_informative < 63 && c >= (1usize << n_informative) {
                    let d = c % n_informative;
                    v[d] += 2.0 * class_sep * (c >> n_informative) as f64;
                }
            }
            let mut x = Array2::zeros((n_samples, n_features));
            let mut y = Array1::zeros(n_samples);
            for i in 0..n_samples {
                let c = i % n_classes;
                for d in 0..n_features {
                    let mu = if d < n_informative { centroids[c][d] } else { 0.0 };
                    x[[i, d]] = mu + normal(&mut r);
                }
                let label = if r.gen::<f64>() < label_noise { r.gen_range(0..n_classes) } else { c };
                y[i] = label as f64;
            }
            (x, y, (0..n_classes).map(|c| c.to_string()).collect(), Task::Classification, n_features)
        }
        GenConfig::Regression { n_samples, n_features, n_informative, noise } => {
            let w: Vec<f64> = (0..n_features).map(|d| if d < n_informative { 1.0 + 2.0 * r.gen::<f64>() } else { 0.0 }).collect();
            let mut x = Array2::zeros((n_samples, n_features));
            let mut y = Array1::zeros(n_samples);
            for i in 0..n_samples {
                let mut t = 0.0;
                for d in 0..n_features {
                    let v = normal(&mut r);
                    x[[i, d]] = v;
                    t += w[d] * v;
                }
                y[i] = t + noise * normal(&mut r);
            }
            (x, y, vec![], Task::Regression, n_features)
        }
        GenConfig::Blobs { n_samples, n_features, centers, cluster_std } => {
            let c: Vec<Vec<f64>> = (0..centers).map(|_| (0..n_features).map(|_| r.gen_range(-10.0..10.0)).collect()).collect();
            let mut x = Array2::zeros((n_samples, n_features));
            let mut y = Array1::zeros(n_samples);
            for i in 0..n_samples {
                let k = i % centers;
                for d in 0..n_features {
                    x[[i, d]] = c[k][d] + cluster_std * normal(&mut r);
                }
                y[i] = k as f64;
            }
            (x, y, (0..centers).map(|c| c.to_string()).collect(), Task::Classification, n_features)
        }
    };
    Dataset {
        x,
        y,
        feature_names: (0..nf).map(|d| format!("x{d}")).collect(),
        target: "target".into(),
        task,
        classes,
        source: "generated".into(),
        categories: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_classification_is_seeded_and_separates_informative_features() {
        let cfg = GenConfig::Classification { n_samples: 400, n_features: 5, n_informative: 2, n_classes: 2, class_sep: 2.0, label_noise: 0.0 };
        let a = generate(&cfg, 1);
        assert_eq!(a.x, generate(&cfg, 1).x);
        assert_ne!(a.x, generate(&cfg, 2).x);
        // Class means differ along informative features, not along noise features.
        let mean = |c: f64, d: usize| {
            let v: Vec<f64> = (0..400).filter(|&i| a.y[i] == c).map(|i| a.x[[i, d]]).collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!((mean(1.0, 0) - mean(0.0, 0)).abs() > 3.0);
        assert!((mean(1.0, 4) - mean(0.0, 4)).abs() < 0.5);
    }
}
