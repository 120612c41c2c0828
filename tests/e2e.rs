//! End to end in a real terminal: tmux starts `ratlab` on a bundled experiment, keys start a
//! run, the screen shows its curve and final metrics; quitting restores the terminal.

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

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-L").arg(&self.socket).arg("kill-server").output();
    }
}

#[test]
fn tui_runs_an_experiment_shows_its_curve_and_restores_the_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("SKIPPED: tmux is not installed (make test installs it); the TUI end-to-end test did not run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("experiments")).unwrap();
    std::fs::copy(Path::new("experiments/logreg-backends.yaml"), dir.path().join("experiments/logreg-backends.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("datasets")).unwrap();
    std::fs::copy(Path::new("datasets/wine.csv"), dir.path().join("datasets/wine.csv")).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("ratlab");
    let tmux = Tmux { socket: format!("ratlab-e2e-{}", std::process::id()) };
    let cmd = format!("cd '{}' && TERM=xterm-256color '{}'; echo RATLAB_EXIT=$?; sleep 60", dir.path().display(), bin.display());
    tmux.run(&["new-session", "-d", "-s", "e2e", "-x", "130", "-y", "40", &cmd]);
    tmux.wait("the experiment list", 20, |s| s.contains("Experiments (1)") && s.contains("logreg-backends"));
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
    // Quit: the alternate screen is gone and the shell shows the exit status.
    tmux.keys("q");
    let s = tmux.wait("ratlab to exit", 10, |s| s.contains("RATLAB_EXIT="));
    assert!(s.contains("RATLAB_EXIT=0"), "{s}");
    assert!(!s.contains("Compare 3 run(s)"), "the TUI screen is gone after quitting:\n{s}");
    assert_eq!(std::fs::read_dir(dir.path().join("runs")).unwrap().count(), 3, "the runs were recorded");
}
