//! Start-up cost of the `ratlab` binary: `ratlab --version` and `ratlab validate` on a small
//! experiment, median of repeated runs. libtorch lives in the separate `ratlab-torch` worker, so
//! neither pays for loading it (goal: under 50 ms each).

use std::process::Command;
use std::time::Instant;

fn median_ms(mut args: Vec<&str>, n: usize) -> f64 {
    let exe = env!("CARGO_BIN_EXE_ratlab");
    let mut times: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let out = Command::new(exe).args(args.drain(..0)).args(&args).output().expect("ratlab runs");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[n / 2]
}

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let small = format!("{root}/experiments/iris-knn.yaml");
    let file = if std::path::Path::new(&small).exists() { small } else { format!("{root}/experiments/attention.yaml") };
    println!("== ratlab start-up (median of 21 runs; goal < 50 ms)");
    println!("ratlab --version            {:>7.1} ms", median_ms(vec!["--version"], 21));
    println!("ratlab validate {:<12} {:>7.1} ms", std::path::Path::new(&file).file_name().and_then(|f| f.to_str()).unwrap_or(""), median_ms(vec!["validate", &file], 21));
    println!("ratlab validate attention   {:>7.1} ms", median_ms(vec!["validate", &format!("{root}/experiments/attention.yaml")], 21));
}
