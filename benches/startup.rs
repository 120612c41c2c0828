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
    println!("== ratlab start-up (median of 21 runs; goal < 50 ms)");
    println!("{:<44} {:>7.1} ms", "ratlab --version", median_ms(vec!["--version"], 21));
    for f in ["pca.yaml", "attention.yaml"] {
        let path = format!("{root}/experiments/{f}");
        println!("{:<44} {:>7.1} ms", format!("ratlab validate experiments/{f}"), median_ms(vec!["validate", &path], 21));
    }
}
