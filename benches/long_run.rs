//! Memory of a long run: one run of 1,000,000 steps (a native logistic regression on iris,
//! every step scored and recorded) streams its events through the runner into the run store.
//! Prints the wall time, the events written and the peak RSS, which must stay flat however
//! long the run (events go to disk as they come; nothing keeps them). `cargo bench --bench
//! long_run`.

use ratlab::experiments::{plan, runner, store::StoreSink};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

const STEPS: u64 = 1_000_000;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_kb;

fn main() {
    let yaml = format!(
        "name: long\nseed: 1\ndata: {{path: datasets/iris.csv, target: target}}\nruns:\n  - name: lr\n    algorithm: logistic_regression\n    params: {{prior: gaussian, strength: 1.0, max_iter: {STEPS}, tol: 1e-300}}\n"
    );
    let p = plan::from_text(&yaml, Path::new("bench.yaml"), Path::new("bench.yaml")).expect("valid");
    let prepared = p.prepare().expect("iris loads");
    let dir = tempfile::tempdir().expect("temp dir");
    let rss0 = rss_kb("VmRSS:");
    let mut sink = StoreSink::new(dir.path(), yaml.clone());
    let t = Instant::now();
    // Peak RSS sampled while the run streams (the run itself is on this thread).
    let done = AtomicBool::new(false);
    let (peaks, summary) = std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut samples = Vec::new();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                samples.push(rss_kb("VmRSS:"));
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
            samples
        });
        let out = runner::run_plan(&p, prepared.as_ref(), None, &mut sink, &AtomicBool::new(false));
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (sampler.join().unwrap_or_default(), out)
    });
    let secs = t.elapsed().as_secs_f64();
    let s = &summary[0];
    let events = sink.dirs.values().next().map(|d| std::fs::metadata(d.join("events.jsonl")).map_or(0, |m| m.len())).unwrap_or(0);
    let quarter = peaks.len() / 4;
    println!("Long run: logistic regression (native) on iris, {} steps recorded, status {}", s.steps, s.status.as_str());
    println!("  wall          {secs:.1} s ({:.0} steps/s, each scored on train and test and written)", s.steps as f64 / secs);
    println!("  events.jsonl  {:.0} MB", events as f64 / 1e6);
    println!(
        "  RSS           start {} MB · after 25% {} MB · at the end {} MB · peak {} MB",
        rss0 / 1024,
        peaks.get(quarter).copied().unwrap_or(0) / 1024,
        peaks.last().copied().unwrap_or(0) / 1024,
        rss_kb("VmHWM:") / 1024
    );
}
