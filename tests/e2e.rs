//! End to end in a real terminal: tmux starts `ratlab` on a bundled experiment, keys start a
//! run, the screen shows its curve and final metrics; quitting restores the terminal. Keys are
//! answered while a large file loads, and the Data view keeps to `--limit`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").env("TERM", "xterm-256color").arg("-L").arg(&self.socket).args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).to_string()
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "e2e"])
    }
    fn keys(&self, k: &str) {
        self.run(&["send-keys", "-t", "e2e", k]);
        std::thread::sleep(Duration::from_millis(150));
    }
    /// Wait until the screen satisfies `ok`; panics with the screen after `secs`.
    fn wait(&self, what: &str, secs: u64, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}; screen:\n{s}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// tmux with ratlab (and `args`) started in `dir`, once the experiment list shows `exp`.
fn ratlab_in(dir: &Path, args: &str, tag: &str, exp: &str) -> Tmux {
    let bin = assert_cmd::cargo::cargo_bin("ratlab");
    let tmux = Tmux { socket: format!("ratlab-e2e-{tag}-{}", std::process::id()) };
    let cmd = format!("cd '{}' && TERM=xterm-256color '{}' {args}; echo RATLAB_EXIT=$?; sleep 60", dir.display(), bin.display());
    tmux.run(&["new-session", "-d", "-s", "e2e", "-x", "130", "-y", "40", &cmd]);
    tmux.wait("the experiment list", 30, |s| s.contains("Experiments (1)") && s.contains(exp));
    tmux
}

/// A fresh directory with an `experiments/` folder, or `None` (said) where tmux is missing.
fn workdir() -> Option<tempfile::TempDir> {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (make test installs it); the TUI end-to-end test did not run");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("experiments")).unwrap();
    Some(dir)
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

#[test]
fn tui_runs_an_experiment_shows_its_curve_and_restores_the_terminal() {
    let Some(dir) = workdir() else { return };
    std::fs::copy(Path::new("experiments/logreg-backends.yaml"), dir.path().join("experiments/logreg-backends.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("datasets")).unwrap();
    std::fs::copy(Path::new("datasets/wine.csv"), dir.path().join("datasets/wine.csv")).unwrap();
    let tmux = ratlab_in(dir.path(), "", "run", "logreg-backends");
    // Start the experiment: the UI follows its first run into the Run view.
    tmux.keys("r");
    let s = tmux.wait("the run to finish", 30, |s| s.contains("finished") && s.contains("log_loss = "));
    assert!(s.contains("logreg-backends/native"), "{s}");
    assert!(s.chars().any(|c| ('\u{2801}'..='\u{28FF}').contains(&c)), "a braille curve is drawn:\n{s}");
    assert!(s.contains("train") && s.contains("test"), "train and test overlaid:\n{s}");
    // Compare the three backends.
    tmux.keys("4");
    let s = tmux.wait("the comparison", 10, |s| s.contains("Compare 3 run(s)") && s.contains("smartcore"));
    assert!(s.contains("linfa") && s.contains("log_loss"), "{s}");
    // Saving the chart happens off the UI thread; its status line comes back as a message.
    tmux.keys("w");
    let s = tmux.wait("the figure", 30, |s| s.contains("saved runs/plots/"));
    let png = s.split("saved ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    assert!(std::fs::metadata(dir.path().join(&png)).is_ok_and(|m| m.len() > 1000), "{png} written");
    // Quit: the alternate screen is gone and the shell shows the exit status.
    tmux.keys("q");
    let s = tmux.wait("ratlab to exit", 10, |s| s.contains("RATLAB_EXIT="));
    assert!(s.contains("RATLAB_EXIT=0"), "{s}");
    assert!(!s.contains("Compare 3 run(s)"), "the TUI screen is gone after quitting:\n{s}");
    let runs = std::fs::read_dir(dir.path().join("runs")).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "plots").count();
    assert_eq!(runs, 3, "the runs were recorded");
}

/// A large data file loads on background threads: while the Data view's preview is computed,
/// and while `r` reads and encodes the file, `?` still gets its frame (the help overlay shows
/// beside "loading…" and "reading the data of …"). Prints how long each key took to show.
#[test]
fn keys_get_their_frame_while_a_large_file_loads() {
    use std::io::Write;
    let Some(dir) = workdir() else { return };
    std::fs::write(
        dir.path().join("experiments/big.yaml"),
        "name: big\ndata:\n  path: ../big.csv\n  target: label\nruns:\n  - {name: lr, algorithm: logistic_regression, params: {max_iter: 2}}\n",
    )
    .unwrap();
    // 3,000,000 rows (about 120 MB): seconds to read, encode and summarize.
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.path().join("big.csv")).unwrap());
    writeln!(w, "a,b,c,d,label").unwrap();
    for i in 0u64..3_000_000 {
        let h = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        writeln!(w, "{}.{:03},{},{}.5,{},{}", h % 1000, h % 997, h % 31, h % 7, i % 13, if h % 3 == 0 { "yes" } else { "no" }).unwrap();
    }
    drop(w);
    let tmux = ratlab_in(dir.path(), "", "load", "big");
    // After `key` starts a load, `?` shows the help while the screen still says `loading`.
    let help_while = |key: &str, what: &str, loading: &str| {
        tmux.keys(key);
        let t = Instant::now();
        tmux.keys("?");
        let s = tmux.wait(&format!("help while {what}"), 10, |s| s.contains("Keys (those of the current view"));
        eprintln!("{what}: help shown {} ms after the key", t.elapsed().as_millis().saturating_sub(150));
        assert!(s.contains(loading), "still {what} when the key was answered:\n{s}");
        tmux.keys("Escape");
    };
    // The Data view starts its preview; the help overlay comes while it loads.
    help_while("2", "the Data view loads", "loading…");
    tmux.wait("the preview", 60, |s| s.contains("3000000 rows"));
    // Start the run: reading and encoding happen off the UI thread.
    help_while("r", "the data is read for a run", "reading the data of big");
    tmux.wait("the run to start", 60, |s| s.contains("started 1 run(s) of big") || s.contains("big/lr"));
    tmux.keys("q");
    if tmux.screen().contains("quit and cancel them?") {
        tmux.keys("y");
    }
    let s = tmux.wait("ratlab to exit", 30, |s| s.contains("RATLAB_EXIT="));
    assert!(s.contains("RATLAB_EXIT=0"), "{s}");
}

/// The Data view reads a file under the same `--limit`s as a run.
#[test]
fn the_data_view_keeps_to_the_limits() {
    let Some(dir) = workdir() else { return };
    std::fs::write(dir.path().join("experiments/iris.yaml"), "name: iris\ndata: {path: ../iris.csv, target: target}\nruns:\n  - {name: lr, algorithm: logistic_regression}\n").unwrap();
    std::fs::copy("datasets/iris.csv", dir.path().join("iris.csv")).unwrap();
    let tmux = ratlab_in(dir.path(), "--limit rows=100", "limit", "iris");
    tmux.keys("2");
    let s = tmux.wait("the refusal", 20, |s| s.contains("more than the limit of 100 rows"));
    assert!(s.contains("the file has 150 rows") && s.contains("--limit rows=N"), "{s}");
    assert!(!s.contains("150 rows ×"), "no preview of the whole file:\n{s}");
    tmux.keys("q");
    tmux.wait("ratlab to exit", 10, |s| s.contains("RATLAB_EXIT=0"));
}

/// The Generate view (key 6): an experiment's runs tuned from a checkpoint (trained headless
/// first) and the checkpoint itself answer a typed prompt side by side, each model loaded once
/// in its own worker and unloaded when the view is left; the prompt is kept with the
/// experiment, so after a restart ↑ brings it back.
#[test]
fn generate_view_asks_the_base_and_its_tuned_runs_side_by_side() {
    let Some(dir) = workdir() else { return };
    if !crate::lm::worker_built() {
        return;
    }
    let gguf = crate::root().join("tests/fixtures/pretrained/llama/Q8_0.gguf");
    let rows: String = (0..20).map(|i| format!("{{\"instruction\": \"Say the number {i}\", \"output\": \"{i}\"}}\n")).collect();
    std::fs::write(dir.path().join("i.jsonl"), rows).unwrap();
    let run = |name: &str, extra: &str| format!("  - name: {name}\n    algorithm: transformer\n    backend: torch\n    params: {{mode: sft, init_from: {}, steps: 2, context: 64, batch_size: 2, eval_batches: 1{extra}}}\n", gguf.display());
    let yaml = format!("name: gen\ndata: {{path: i.jsonl, format: instructions}}\nruns:\n{}{}", run("sft", ", lora: {rank: 2}"), run("full", ""));
    std::fs::write(dir.path().join("experiments/gen.yaml"), yaml).unwrap();
    let out = crate::cmd().current_dir(dir.path()).args(["run", "experiments/gen.yaml"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tmux = ratlab_in(dir.path(), "", "gen", "gen");
    tmux.keys("6");
    tmux.wait("the models to ask", 10, |s| s.contains("Q8_0.gguf (base)") && s.contains("gen/sft") && s.contains("gen/full"));
    tmux.run(&["send-keys", "-t", "e2e", "-l", "Say the number 7"]);
    tmux.keys("Enter");
    let s = tmux.wait("three answers", 60, |s| s.matches("tokens/s").count() == 3);
    assert!(s.contains("┌ Q8_0.gguf (base)") && s.contains("┌ gen/sft") && s.contains("┌ gen/full"), "side by side:\n{s}");
    // Serving workers started from this test's directory.
    let here = std::fs::canonicalize(dir.path()).unwrap();
    let serving = || {
        let out = Command::new("pgrep").args(["-f", "ratlab-torch serve"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|c| c == here)).count()
    };
    assert_eq!(serving(), 3, "three models, one worker each");
    // A second prompt reuses the loaded models.
    tmux.run(&["send-keys", "-t", "e2e", "-l", "Say the number 3"]);
    tmux.keys("Enter");
    tmux.wait("three answers again", 60, |s| s.matches("tokens/s").count() == 3 && s.contains("2 earlier prompt(s)"));
    assert_eq!(serving(), 3, "the second prompt goes to the same workers");
    tmux.keys("Escape");
    let deadline = Instant::now() + Duration::from_secs(10);
    while serving() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(serving(), 0, "leaving the view unloads its models");
    tmux.keys("q");
    tmux.wait("ratlab to exit", 10, |s| s.contains("RATLAB_EXIT=0"));
    drop(tmux);
    // The prompts are kept with the experiment.
    let again = ratlab_in(dir.path(), "", "gen2", "gen");
    again.keys("6");
    again.keys("Up");
    again.wait("the last prompt", 10, |s| s.contains("> Say the number 3"));
    again.keys("Up");
    again.wait("the one before", 10, |s| s.contains("> Say the number 7"));
}
