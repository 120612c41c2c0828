//! TUI under load: 16 concurrent runs of 100,000 steps each stream their events through the
//! app model, and frames are rendered on ratatui's TestBackend the way the UI loop does
//! (events coalesced between frames). Prints event throughput, frame times and memory; the
//! figures sit beside ../shared/REFERENCE.md. Run with `cargo bench --bench tui`.

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use ratlab::experiments::events::{Metrics, RunEvent};
use ratlab::ui::app::{App, View};
use ratlab::ui::theme::Theme;
use std::time::Instant;

const RUNS: u64 = 16;
const STEPS: u64 = 100_000;
/// Steps of every run between two frames (what arrives in ~33 ms at ~1,500 steps/s per run).
const STEPS_PER_FRAME: u64 = 50;

#[path = "common/rss.rs"]
mod rss;
use rss::rss_kb;

fn main() {
    let rss0 = rss_kb("VmRSS:");
    let mut app = App::new(Theme { color: true }, "runs".into());
    for r in 0..RUNS {
        app.on_event(
            r,
            0,
            None,
            &RunEvent::Started {
                experiment: "bench".into(),
                run: format!("run-{r:02}"),
                algorithm: "logistic_regression".into(),
                backend: "native".into(),
                params: serde_json::json!({"prior": "gaussian", "strength": r as f64 / 4.0}),
                seed: r,
                x_label: "iteration".into(),
                total_steps: Some(STEPS),
                started_at: "2026-11-28T00:00:00Z".into(),
            },
            true,
        );
    }
    for r in app.runs.iter_mut() {
        r.marked = true;
    }
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let mut frame_times = Vec::new();
    let mut event_time = 0.0;
    let t0 = Instant::now();
    let mut step = 0;
    while step < STEPS {
        let te = Instant::now();
        for _ in 0..STEPS_PER_FRAME {
            step += 1;
            let x = step as f64;
            for r in 0..RUNS {
                let s = 1.0 + r as f64 * 0.1;
                let m: Metrics = [
                    ("objective".to_string(), s / x.sqrt()),
                    ("train.log_loss".to_string(), 0.6 * s / x.sqrt()),
                    ("test.log_loss".to_string(), 0.65 * s / x.sqrt() + 1e-6 * x),
                    ("train.accuracy".to_string(), 1.0 - 0.3 / x.sqrt()),
                    ("test.accuracy".to_string(), 0.95 - 0.3 / x.sqrt()),
                ]
                .into();
                app.on_event(r, 0, None, &RunEvent::Step { step, x, fold: None, metrics: m, t_ms: step }, true);
            }
        }
        event_time += te.elapsed().as_secs_f64();
        // Alternate the heaviest views: one run's curves, and all 16 overlaid in Compare.
        let view = if (step / STEPS_PER_FRAME).is_multiple_of(2) { View::Run } else { View::Compare };
        if app.view != view {
            app.on_key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Char(if view == View::Run { '3' } else { '4' })));
        }
        let tf = Instant::now();
        term.draw(|f| ratlab::ui::views::draw(&app, f)).unwrap();
        frame_times.push(tf.elapsed().as_secs_f64() * 1e3);
    }
    let total = t0.elapsed().as_secs_f64();
    frame_times.sort_by(f64::total_cmp);
    let n = frame_times.len();
    let mean = frame_times.iter().sum::<f64>() / n as f64;
    let held: usize = app.runs.iter().flat_map(|r| r.series.values()).map(|s| s.held()).sum();
    let events = RUNS * STEPS;
    println!("TUI benchmark: {RUNS} runs × {STEPS} steps, 5 metrics per step, 160×48 TestBackend");
    println!("  events       {events} in {event_time:.2} s of model updates ({:.2} M events/s)", events as f64 / event_time / 1e6);
    println!("  frames       {n} rendered (every {STEPS_PER_FRAME} steps of each run), Run and Compare views alternating");
    println!("  frame time   mean {mean:.2} ms · p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms (budget 33 ms)", frame_times[n / 2], frame_times[n * 99 / 100], frame_times[n - 1]);
    println!("  points held  {held} across {} series (bounded: ≤ 1,500 each)", RUNS * 5);
    println!("  memory       RSS {} MB (start {} MB, peak {} MB)", rss_kb("VmRSS:") / 1024, rss0 / 1024, rss_kb("VmHWM:") / 1024);
    println!("  wall         {total:.1} s");
    search_frames();
}

/// A 500-trial search, recorded (100 steps each): frames of the runs list with the search
/// folded and open, and of Compare with its scatter, while the cursor moves through the trials.
fn search_frames() {
    const TRIALS: u64 = 500;
    let mut app = App::new(Theme { color: true }, "runs".into());
    for t in 0..TRIALS {
        let lr = 0.01 * (1.0 + (t % 25) as f64);
        let depth = 2 + t / 25 % 8;
        app.on_event(
            t,
            0,
            None,
            &RunEvent::Started {
                experiment: "bench".into(),
                run: format!("gb#{t:03}"),
                algorithm: "gradient_boosting".into(),
                backend: "native".into(),
                params: serde_json::json!({"learning_rate": lr, "max_depth": depth, "n_estimators": 100}),
                seed: t,
                x_label: "round".into(),
                total_steps: Some(100),
                started_at: "2026-11-28T00:00:00Z".into(),
            },
            false,
        );
        for s in 1..=100u64 {
            let m: Metrics = [("train.roc_auc".to_string(), 0.9 - 0.1 / s as f64), ("test.roc_auc".to_string(), 0.85 - 0.1 / s as f64 + lr)].into();
            app.on_event(t, 0, None, &RunEvent::Step { step: s, x: s as f64, fold: None, metrics: m, t_ms: s }, false);
        }
        let fin = RunEvent::Finished {
            metrics: [("roc_auc".to_string(), 0.85 + lr)].into(),
            train_metrics: Metrics::new(),
            cv_std: Metrics::new(),
            t_ms: 100,
            artifacts: serde_json::Value::Null,
        };
        app.on_event(t, 0, None, &fin, false);
    }
    let key = |c| ratatui::crossterm::event::KeyEvent::from(c);
    use ratatui::crossterm::event::KeyCode;
    let mut term = Terminal::new(TestBackend::new(160, 48)).unwrap();
    let mut time = |app: &mut App, keys: &[KeyCode], frames: usize| -> Vec<f64> {
        let mut ms = Vec::new();
        for _ in 0..frames {
            let t = Instant::now();
            for k in keys {
                app.on_key(key(*k));
            }
            term.draw(|f| ratlab::ui::views::draw(app, f)).unwrap();
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        ms.sort_by(f64::total_cmp);
        ms
    };
    app.on_key(key(KeyCode::Tab));
    app.on_key(key(KeyCode::Char('g')));
    let closed = time(&mut app, &[KeyCode::Char('g')], 50);
    app.on_key(key(KeyCode::Enter));
    let open = time(&mut app, &[KeyCode::Char('j')], 200);
    app.on_key(key(KeyCode::Char('g')));
    app.on_key(key(KeyCode::Char('4')));
    let compare = time(&mut app, &[KeyCode::Char('j')], 200);
    let show = |name: &str, ms: &[f64]| {
        let n = ms.len();
        println!("  {name:<28} key + frame p50 {:.2} ms · p99 {:.2} ms · max {:.2} ms", ms[n / 2], ms[n * 99 / 100], ms[n - 1]);
    };
    println!("TUI with a {TRIALS}-trial search (100 steps each), 160×48");
    show("runs list, search folded", &closed);
    show("runs list, search open", &open);
    show("Compare + scatter", &compare);
}
