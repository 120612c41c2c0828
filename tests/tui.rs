//! TUI snapshots: every view rendered on ratatui's `TestBackend` from scripted events (no
//! wall-clock time in what is drawn), plus checks on emphasis the snapshots cannot show.

use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use ratatui::Terminal;
use ratlab::experiments::events::{Level, Metrics, RunEvent};
use ratlab::ui::app::{App, View};
use ratlab::ui::theme::Theme;
use ratlab::ui::views;
use std::path::PathBuf;

fn started(exp: &str, run: &str, strength: f64, x_label: &str) -> RunEvent {
    RunEvent::Started {
        experiment: exp.into(),
        run: run.into(),
        algorithm: "logistic_regression".into(),
        backend: "native".into(),
        params: serde_json::json!({"prior": "gaussian", "strength": strength, "max_iter": 100}),
        seed: 7,
        x_label: x_label.into(),
        total_steps: Some(100),
        started_at: "2026-11-28T12:00:00Z".into(),
    }
}

fn step(k: u64, scale: f64) -> RunEvent {
    let x = k as f64;
    let m: Metrics = [
        ("objective".to_string(), 0.69 * scale / x.sqrt()),
        ("train.log_loss".to_string(), 0.6 * scale / x.sqrt()),
        ("test.log_loss".to_string(), 0.65 * scale / x.sqrt() + 0.01 * x.ln()),
        ("train.accuracy".to_string(), 1.0 - 0.3 / x.sqrt()),
        ("test.accuracy".to_string(), 0.95 - 0.3 / x.sqrt()),
    ]
    .into();
    RunEvent::Step { step: k, x, fold: None, metrics: m, t_ms: k * 10 }
}

fn finished(ll: f64, acc: f64) -> RunEvent {
    RunEvent::Finished { metrics: [("accuracy".to_string(), acc), ("log_loss".to_string(), ll)].into(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 400, artifacts: serde_json::Value::Null }
}

/// An app with the bundled experiments, two finished runs, a failed one and a live one.
fn scripted() -> App {
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    app.add_experiments(&[PathBuf::from("experiments/logreg-backends.yaml"), PathBuf::from("experiments/mle-vs-map.yaml"), PathBuf::from("tests/fixtures/invalid/bad-prior.yaml")]);
    for (i, (name, s, ll, acc)) in [("map-weak", 0.1, 0.21, 0.94), ("map-strong", 10.0, 0.35, 0.91)].iter().enumerate() {
        app.on_event(i as u64, 0, None, &started("logreg", name, *s, "iteration"), false);
        for k in 1..=30 {
            app.on_event(i as u64, 0, None, &step(k, 1.0 + i as f64), false);
        }
        app.on_event(i as u64, 0, None, &RunEvent::Message { level: Level::Info, text: "converged after 30 iterations".into(), t_ms: 300 }, false);
        app.on_event(i as u64, 0, None, &finished(*ll, *acc), false);
    }
    app.on_event(5, 0, None, &started("logreg", "mle", 0.0, "iteration"), false);
    app.on_event(5, 0, None, &RunEvent::Failed { error: "the training data are perfectly separable".into(), cancelled: false, pruned: false, t_ms: 12 }, false);
    app.on_event(6, 0, None, &started("logreg", "live", 1.0, "iteration"), true);
    for k in 1..=12 {
        app.on_event(6, 0, None, &step(k, 1.5), true);
    }
    app.on_event(6, 0, None, &RunEvent::Message { level: Level::Warning, text: "train size 20: no point".into(), t_ms: 50 }, true);
    app
}

fn render(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(app, f)).unwrap();
    t
}

fn key(c: char) -> ratatui::crossterm::event::KeyEvent {
    ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Char(c))
}

#[test]
fn experiments_view() {
    let app = scripted();
    insta::assert_snapshot!(render(&app, 120, 24).backend());
}

#[test]
fn run_view_of_a_live_run() {
    let mut app = scripted();
    app.on_key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Tab));
    app.on_key(key('g')); // the newest run, at the top
    app.on_key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Enter));
    assert_eq!(app.view, View::Run);
    assert_eq!(app.current_run().unwrap().name, "live");
    insta::assert_snapshot!(render(&app, 120, 30).backend());
}

#[test]
fn compare_view_highlights_the_best_run() {
    let mut app = scripted();
    app.on_key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Tab));
    for k in ['g', 'j', 'j', ' ', 'j', ' '] {
        app.on_key(key(k)); // mark map-strong and map-weak
    }
    assert_eq!(app.runs.iter().filter(|r| r.marked).count(), 2);
    app.on_key(key('4'));
    app.on_key(key('s'));
    let t = render(&app, 120, 30);
    insta::assert_snapshot!(t.backend());
    // The best log_loss (0.2100, lower is better) and accuracy (0.9400) are emphasised.
    let buf = t.backend().buffer();
    let find = |s: &str| {
        (0..buf.area.height).find_map(|y| {
            let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol().to_string()).collect();
            line.find(s).map(|i| (line[..i].chars().count() as u16, y))
        })
    };
    for best in ["0.2100", "0.9400"] {
        let (x, y) = find(best).unwrap_or_else(|| panic!("{best} shown"));
        assert!(buf[(x, y)].modifier.contains(Modifier::UNDERLINED), "{best} is highlighted");
    }
    let (x, y) = find("0.3500").unwrap();
    assert!(!buf[(x, y)].modifier.contains(Modifier::UNDERLINED));
}

#[test]
fn data_view_of_iris() {
    let mut app = scripted();
    app.add_experiments(&[PathBuf::from("tests/fixtures/valid/cv-iris.yaml")]);
    app.exp_sel = 3;
    let e = &app.experiments[3];
    let plan = e.plan.as_ref().unwrap();
    let cfg = plan.data.as_ref().unwrap();
    let p = ratlab::ui::preview::preview(cfg, plan.seed).unwrap();
    assert_eq!(p.rows, 150);
    assert_eq!(p.balance, [("setosa".to_string(), 50), ("versicolor".to_string(), 50), ("virginica".to_string(), 50)]);
    let sl = &p.columns[0];
    assert!((sl.mean.unwrap() - 5.843333).abs() < 1e-5 && (sl.std.unwrap() - 0.828066).abs() < 1e-5, "{sl:?}");
    let key = views::data_preview_key(&app, 3).unwrap();
    app.set_preview(key, Ok(p));
    app.on_key(key_code('2'));
    insta::assert_snapshot!(render(&app, 120, 30).backend());
}

fn key_code(c: char) -> ratatui::crossterm::event::KeyEvent {
    key(c)
}


#[test]
fn yaml_view_shows_errors_inline() {
    let mut app = scripted();
    app.exp_sel = 2;
    app.on_key(key('5'));
    insta::assert_snapshot!(render(&app, 120, 20).backend());
}

#[test]
fn help_overlay() {
    let mut app = scripted();
    app.on_key(key('?'));
    insta::assert_snapshot!(render(&app, 120, 34).backend());
}

#[test]
fn too_small_terminal_gets_a_message() {
    let app = scripted();
    insta::assert_snapshot!(render(&app, 50, 10).backend());
}

#[test]
fn replay_at_speed_feeds_events_by_their_recorded_time() {
    let tmp = tempfile::tempdir().unwrap();
    let o = crate::cmd().args(["run", "experiments/logreg-backends.yaml", "--run", "native", "--format", "json", "--out", tmp.path().to_str().unwrap()]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let dir = PathBuf::from(v["runs"][0]["dir"].as_str().unwrap());
    let mut app = App::new(Theme { color: false }, tmp.path().to_path_buf());
    app.start_replay(std::slice::from_ref(&dir), Some(1.0)).unwrap();
    assert_eq!(app.view, View::Run);
    assert_eq!(app.runs[0].steps, 0, "nothing played yet");
    app.on_key(key('p'));
    assert!(!app.tick_replay(1e9), "paused");
    app.on_key(key('p'));
    app.tick_replay(1e9);
    let log = ratlab::experiments::store::read_run(&dir).unwrap();
    let summary = ratlab::experiments::store::Summary::from_events(&log.events).unwrap();
    assert_eq!(app.runs[0].steps, summary.steps);
    assert_eq!(app.runs[0].metrics, summary.metrics, "the replayed run ends with the recorded metrics");
}

fn algo_started(algorithm: &str, run: &str, x_label: &str) -> RunEvent {
    RunEvent::Started {
        experiment: "views".into(),
        run: run.into(),
        algorithm: algorithm.into(),
        backend: "native".into(),
        params: serde_json::json!({}),
        seed: 1,
        x_label: x_label.into(),
        total_steps: None,
        started_at: "2026-11-28T12:00:00Z".into(),
    }
}

#[test]
fn pca_view_shows_the_scree_plot_and_the_projection() {
    use ratlab::backends::Trainer;
    // A real PCA of iris, scripted into events.
    let cfg = ratlab::data::DataConfig {
        source: ratlab::data::Source::File("datasets/iris.csv".into()),
        target: "target".into(),
        task: ratlab::backends::Task::Classification,
        features: None,
        drop: vec![],
        encoding: ratlab::data::Encoding::OneHot,
        categorical: vec![],
        missing: ratlab::data::Missing::Error,
        standardize: true,
        evaluation: ratlab::data::Evaluation::Holdout { test: 0.25, stratify: true },
        eval_train_rows: ratlab::data::EvalRows::All,
        chunk_rows: None,
    };
    let mut data = ratlab::data::prepare(&cfg, 0).unwrap().data.all();
    ratlab::data::Scaler::fit(&data.x).apply(&mut data.x);
    let params = ratlab::backends::params::PcaParams { n_components: 0.95, whiten: false };
    let mut tr = ratlab::backends::pca::PcaTrainer::new(params, ratlab::backends::Backend::Native, &data, None).unwrap();
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    app.on_event(1, 0, None, &algo_started("pca", "iris-pca", "components"), false);
    let mut k = 0;
    loop {
        let out = tr.step().unwrap();
        k += 1;
        app.on_event(1, 0, None, &RunEvent::Step { step: k, x: out.x.unwrap(), fold: None, metrics: out.metrics, t_ms: k }, false);
        if out.done {
            break;
        }
    }
    let artifacts = tr.artifacts().unwrap();
    assert_eq!(artifacts["chosen"], 2, "two components keep 95% of standardized iris");
    app.on_event(1, 0, None, &RunEvent::Finished { metrics: tr.final_metrics().unwrap(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 9, artifacts }, false);
    app.on_key(key('3'));
    insta::assert_snapshot!(render(&app, 120, 32).backend());
}

#[test]
fn tree_view_folds_levels() {
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    app.on_event(1, 0, None, &algo_started("decision_tree", "wine-tree", "max_depth"), false);
    for (k, acc) in [(1, 0.62), (2, 0.88), (3, 0.91)] {
        let m: Metrics = [("train.accuracy".to_string(), acc + 0.05), ("test.accuracy".to_string(), acc)].into();
        app.on_event(1, 0, None, &RunEvent::Step { step: k, x: k as f64, fold: None, metrics: m, t_ms: k }, false);
    }
    let text = ["x[12] ≤ 755.0000   (impurity −0.2500)", "  x[6] ≤ 2.1650   (impurity −0.1400)", "    → class 2", "    x[10] ≤ 0.9350   (impurity −0.0300)", "      → class 2", "      → class 1", "  x[9] ≤ 3.8200   (impurity −0.0900)", "    → class 1", "    → class 0"];
    // The runner adds the data's column names: splits and importances are shown by them.
    let names = ["alcohol", "malic_acid", "ash", "alcalinity", "magnesium", "phenols", "flavanoids", "nonflav", "proanth", "color", "hue", "od280", "proline"];
    let artifacts = serde_json::json!({"kind": "tree", "text": text, "importances": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.0, 0.0, 0.2, 0.05, 0.0, 0.45], "feature_names": names});
    app.on_event(1, 0, None, &RunEvent::Finished { metrics: [("accuracy".to_string(), 0.91)].into(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 4, artifacts }, false);
    app.on_key(key('3'));
    app.on_key(key('<'));
    app.on_key(key('<'));
    assert_eq!(app.tree_depth, 1);
    let folded = render(&app, 120, 24).backend().to_string();
    assert!(folded.contains("flavanoids ≤ 2.1650") && !folded.contains("hue ≤"), "level 2 is folded:\n{folded}");
    assert!(!folded.contains("x["), "features are named by their columns:\n{folded}");
    app.on_key(key('>'));
    app.on_key(key('>'));
    insta::assert_snapshot!(render(&app, 120, 24).backend());
}

#[test]
fn boosting_run_view_shows_importances_beside_the_curves() {
    // A real boosted model on wine: its finished event carries the importances the view draws.
    let d = crate::bundled("wine", ratlab::backends::Task::Classification);
    let p = ratlab::backends::params::Estimator::parse(&serde_json::json!({"algorithm": "gradient_boosting", "params": {"n_estimators": 5}}), 0).unwrap();
    let mut t = ratlab::backends::build_trainer(p.backend, &p.params, Some(&d), None, 0).unwrap();
    while !t.step().unwrap().done {}
    let mut artifacts = t.artifacts().unwrap();
    let names = ["alcohol", "malic_acid", "ash", "alcalinity", "magnesium", "phenols", "flavanoids", "nonflav", "proanth", "color", "hue", "od280", "proline"];
    artifacts["feature_names"] = serde_json::json!(names);
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    app.on_event(1, 0, None, &algo_started("gradient_boosting", "wine-gb", "round"), false);
    for (k, ll) in [(1u64, 0.8), (2, 0.55), (3, 0.4), (4, 0.31), (5, 0.25)] {
        let m: Metrics = [("train.log_loss".to_string(), ll - 0.05), ("test.log_loss".to_string(), ll)].into();
        app.on_event(1, 0, None, &RunEvent::Step { step: k, x: k as f64, fold: None, metrics: m, t_ms: k }, false);
    }
    app.on_event(1, 0, None, &RunEvent::Finished { metrics: [("log_loss".to_string(), 0.25)].into(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 6, artifacts: artifacts.clone() }, false);
    app.on_key(key('3'));
    let screen = render(&app, 130, 26).backend().to_string();
    // The most important feature by gain is listed first, by name.
    let gain: Vec<f64> = artifacts["importances"]["gain"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let top = (0..gain.len()).max_by(|&a, &b| gain[a].total_cmp(&gain[b]).then(b.cmp(&a))).unwrap();
    let first_bar = screen.lines().find(|l| l.contains('█')).unwrap_or_default();
    assert!(first_bar.contains(names[top]), "top feature {} first:\n{screen}", names[top]);
    assert!(screen.contains("gain importance · 5 rounds"), "{screen}");
    insta::assert_snapshot!(render(&app, 130, 26).backend());
    // With the runner's mean |SHAP| on test rows, the panel orders and draws by it.
    let model = t.saved().unwrap();
    let shap = ratlab::backends::explain::explain(&model, d.x.view()).unwrap().mean_abs();
    artifacts["shap"] = serde_json::json!({"mean_abs": shap, "rows": d.len(), "scale": "softmax margin of each class"});
    app.on_event(1, 0, None, &RunEvent::Finished { metrics: [("log_loss".to_string(), 0.25)].into(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 6, artifacts }, false);
    let screen = render(&app, 130, 26).backend().to_string();
    let top = (0..shap.len()).max_by(|&a, &b| shap[a].total_cmp(&shap[b]).then(b.cmp(&a))).unwrap();
    let first_bar = screen.lines().find(|l| l.contains('█')).unwrap_or_default();
    assert!(first_bar.contains(names[top]) && first_bar.contains(&format!("{:.3}", shap[top])), "top feature by SHAP {} first:\n{screen}", names[top]);
    assert!(screen.contains(&format!("mean |SHAP| · {} test rows", d.len())), "{screen}");
}

#[test]
fn transformer_run_view_shows_the_latest_sample_beside_the_curves() {
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    app.on_event(1, 0, None, &algo_started("transformer", "mla", "step"), false);
    for k in 1..=20u64 {
        let mut m: Metrics = [("train.loss".to_string(), 5.0 / (k as f64).sqrt()), ("lr".to_string(), 3e-4), ("tokens_per_s".to_string(), 10_000.0)].into();
        if k % 10 == 0 {
            m.insert("test.loss".into(), 5.2 / (k as f64).sqrt());
            m.insert("test.bits_per_byte".into(), 7.5 / (k as f64).sqrt());
        }
        app.on_event(1, 0, None, &RunEvent::Step { step: k, x: k as f64, fold: None, metrics: m, t_ms: k * 100 }, false);
        if k % 10 == 0 {
            let text = if k == 10 { "the the the".to_string() } else { "Tom went to the park.\nIn the end\u{3}".to_string() };
            app.on_event(1, 0, None, &RunEvent::Sample { step: k, prompt: "Once upon a time, ".into(), text, t_ms: k * 100 }, false);
        }
    }
    app.on_key(key('3'));
    let screen = render(&app, 130, 26).backend().to_string();
    // The latest sample, not the first; the end-of-response byte is drawn as a dot.
    assert!(screen.contains("sample · step 20") && screen.contains("Tom went to the park.") && !screen.contains("the the the"), "{screen}");
    assert!(screen.contains("In the end·"), "{screen}");
    insta::assert_snapshot!(render(&app, 130, 26).backend());
}

/// A 3×4 grid search over gradient boosting, recorded, plus a plain run: 12 trials whose AUC
/// depends on the learning rate and not on the depth, one still running.
fn searched() -> App {
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    app.add_experiments(&[PathBuf::from("experiments/search-grid.yaml")]);
    let mut k = 0u64;
    for (depth_i, depth) in [2, 4, 6].iter().enumerate() {
        for (lr_i, lr) in [0.01, 0.03, 0.1, 0.3].iter().enumerate() {
            let n = depth_i * 4 + lr_i;
            let ev = RunEvent::Started {
                experiment: "search-grid".into(),
                run: format!("gb#{n:02}"),
                algorithm: "gradient_boosting".into(),
                backend: "native".into(),
                params: serde_json::json!({"max_depth": depth, "learning_rate": lr, "n_estimators": 50}),
                seed: 100 + n as u64,
                x_label: "round".into(),
                total_steps: Some(50),
                started_at: "2026-11-28T12:00:00Z".into(),
            };
            app.on_event(k, 0, None, &ev, n == 11);
            let auc = 0.80 + 0.1 * (1.0 - (lr_i as f64 - 2.2).abs() / 3.0) + 0.001 * depth_i as f64;
            for s in 1..=20u64 {
                let v = auc - 0.2 / (s as f64).sqrt() + 0.01 * ((s * 7 + n as u64) % 5) as f64;
                let m: Metrics = [("train.roc_auc".to_string(), v + 0.02), ("test.roc_auc".to_string(), v)].into();
                app.on_event(k, 0, None, &RunEvent::Step { step: s, x: s as f64, fold: None, metrics: m, t_ms: s * 5 }, n == 11);
            }
            if n != 11 {
                let fin = RunEvent::Finished { metrics: [("roc_auc".to_string(), auc)].into(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 100, artifacts: serde_json::Value::Null };
                app.on_event(k, 0, None, &fin, false);
            }
            k += 1;
        }
    }
    app.on_event(k, 0, None, &started("logreg", "map-weak", 0.1, "iteration"), false);
    app.on_event(k, 0, None, &finished(0.21, 0.94), false);
    app
}

#[test]
fn a_search_is_one_group_in_the_runs_list_with_its_best_trial() {
    let mut app = searched();
    app.on_key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Tab));
    app.on_key(key('g'));
    app.on_key(key('j'));
    insta::assert_snapshot!("search_group_closed", render(&app, 120, 24).backend());
    app.on_key(key('l'));
    insta::assert_snapshot!("search_group_open", render(&app, 120, 24).backend());
}

#[test]
fn compare_of_a_search_shows_the_parameter_scatter_and_smoothed_curves() {
    let mut app = searched();
    app.on_key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Tab));
    app.on_key(key('g'));
    app.on_key(key('j'));
    app.on_key(key('4'));
    let names: Vec<&str> = app.compare_rows().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names.len(), 12, "the group's trials: {names:?}");
    insta::assert_snapshot!("compare_search_scatter_learning_rate", render(&app, 140, 36).backend());
    app.on_key(key('x'));
    app.on_key(key('m'));
    app.on_key(key('m'));
    insta::assert_snapshot!("compare_search_scatter_depth_smoothed", render(&app, 140, 36).backend());
}

#[test]
fn compare_scrolls_through_hundreds_of_runs_and_overlays_a_bounded_number() {
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    for i in 0..400u64 {
        app.on_event(i, 0, None, &started("big", &format!("lr#{i:03}"), i as f64 / 100.0, "iteration"), false);
        app.on_event(i, 0, None, &step(1, 1.0 + i as f64 / 400.0), false);
        app.on_event(i, 0, None, &finished(0.2 + i as f64 / 1000.0, 0.9), false);
    }
    app.on_key(ratatui::crossterm::event::KeyEvent::from(ratatui::crossterm::event::KeyCode::Tab));
    app.on_key(key('4'));
    assert_eq!(app.compare_rows().len(), 400);
    for _ in 0..250 {
        app.on_key(key('j'));
    }
    let t = render(&app, 120, 40);
    let text = format!("{}", t.backend());
    assert!(text.contains("lr#250"), "the cursor's row is in view:\n{text}");
    assert!(text.contains("of 400 runs, in table order"), "the overlay says it is bounded:\n{text}");
    assert!(!text.contains("lr#100"), "rows far above the cursor are scrolled away");
}

/// What the robustness property test does to the UI: keys, mouse, resizes and run events.
#[derive(Debug, Clone)]
enum Action {
    Key(ratatui::crossterm::event::KeyCode, bool),
    Click(u16, u16),
    Scroll(bool),
    Resize(u16, u16),
    Start(u64, u8),
    Step(u64, u64, f64),
    Finish(u64),
    Fail(u64),
}

fn action() -> impl proptest::strategy::Strategy<Value = Action> {
    use proptest::prelude::*;
    use ratatui::crossterm::event::KeyCode as K;
    let keys = prop_oneof![
        prop::sample::select(vec![K::Up, K::Down, K::Left, K::Right, K::Enter, K::Esc, K::Tab, K::BackTab, K::Backspace, K::PageUp, K::PageDown, K::Home, K::End, K::Delete]),
        prop::sample::select("1234567890?/ jkhlgGqcrRyneEsSxwmp+-<>aZ#".chars().collect::<Vec<_>>()).prop_map(K::Char),
    ];
    prop_oneof![
        8 => (keys, any::<bool>()).prop_map(|(k, ctrl)| Action::Key(k, ctrl)),
        2 => (0u16..220, 0u16..70).prop_map(|(x, y)| Action::Click(x, y)),
        1 => any::<bool>().prop_map(Action::Scroll),
        2 => prop_oneof![(1u16..8, 1u16..8), (1u16..220, 1u16..70)].prop_map(|(w, h)| Action::Resize(w, h)),
        2 => (0u64..6, 0u8..4).prop_map(|(s, kind)| Action::Start(s, kind)),
        4 => (0u64..6, 1u64..400, prop_oneof![any::<f64>(), -1e3f64..1e3]).prop_map(|(s, k, v)| Action::Step(s, k, v)),
        1 => (0u64..6).prop_map(Action::Finish),
        1 => (0u64..6).prop_map(Action::Fail),
    ]
}

/// Random key, mouse, resize and event sequences (thousands of steps in all, terminals down to
/// 1×1, live, failing and searched runs, NaN and huge values) never panic the model or the
/// drawing, and the selection stays inside the lists.
#[test]
fn random_keys_mouse_resizes_and_events_never_panic_the_ui() {
    use proptest::prelude::*;
    use ratatui::crossterm::event::{KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
    let config = ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() };
    proptest!(config, |(actions in prop::collection::vec(action(), 1..120))| {
        let mut app = searched();
        app.add_experiments(&[PathBuf::from("experiments/logreg-backends.yaml"), PathBuf::from("tests/fixtures/invalid/bad-prior.yaml")]);
        let mut size = (120u16, 40u16);
        for a in &actions {
            match a {
                Action::Key(code, ctrl) => {
                    let mut k = KeyEvent::from(*code);
                    if *ctrl {
                        k.modifiers = KeyModifiers::CONTROL;
                    }
                    let _ = app.on_key(k);
                }
                Action::Click(x, y) => app.on_mouse(MouseEvent { kind: MouseEventKind::Down(ratatui::crossterm::event::MouseButton::Left), column: *x, row: *y, modifiers: KeyModifiers::NONE }),
                Action::Scroll(down) => app.on_mouse(MouseEvent { kind: if *down { MouseEventKind::ScrollDown } else { MouseEventKind::ScrollUp }, column: 5, row: 5, modifiers: KeyModifiers::NONE }),
                Action::Resize(w, h) => size = (*w, *h),
                Action::Start(s, kind) => {
                    let name = match kind { 0 => format!("gb#{s:02}"), 1 => format!("solo{s}"), 2 => format!("lr#{s}"), _ => "x".to_string() };
                    app.on_event(100 + s, 0, None, &started("live", &name, *s as f64, "iteration"), true);
                }
                Action::Step(s, k, v) => {
                    let m: Metrics = [("test.log_loss".to_string(), *v), ("train.log_loss".to_string(), v * 0.5), ("objective".to_string(), *v)].into();
                    app.on_event(100 + s, 0, None, &RunEvent::Step { step: *k, x: *k as f64, fold: None, metrics: m, t_ms: *k }, true);
                }
                Action::Finish(s) => app.on_event(100 + s, 0, None, &finished(0.3, 0.9), true),
                Action::Fail(s) => app.on_event(100 + s, 0, None, &RunEvent::Failed { error: "diverged: log_loss is NaN at step 3".into(), cancelled: false, pruned: false, t_ms: 9 }, true),
            }
            let mut t = Terminal::new(TestBackend::new(size.0, size.1)).unwrap();
            t.draw(|f| views::draw(&app, f)).unwrap();
            prop_assert!(app.run_sel <= app.visible_rows().len());
            prop_assert!(app.compare_sel <= app.compare_rows().len().max(1));
        }
    });
}

/// Runs another process records in the store (as a Slurm array's tasks do) join the runs list
/// while the TUI is open, and a running one follows its events to its end: the same steps and
/// metrics as its record.
#[test]
fn runs_other_processes_record_join_the_list_and_follow_live() {
    use ratlab::experiments::events::Status;
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("runs");
    let mut app = App::new(Theme { color: false }, out.clone());
    assert!(!app.follow_store(), "an empty store changes nothing");
    // Another process: logistic regression slowed to 80 ms an iteration, so it is seen mid-way.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ratlab"))
        .args(["run", "tests/fixtures/valid/blobs.yaml", "--out", out.to_str().unwrap(), "--format", "json"])
        .env("RATLAB_FAULT", "slow:80")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut seen_running = false;
    let done = loop {
        app.follow_store();
        seen_running |= app.runs.iter().any(|r| r.status == Status::Running && r.steps > 0);
        if child.try_wait().unwrap().is_some() {
            app.follow_store();
            break app.runs.clone();
        }
        assert!(std::time::Instant::now() < until, "the run did not end");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(seen_running, "the run was shown while it ran");
    let dirs = ratlab::experiments::store::list_runs(&out);
    assert!(!dirs.is_empty());
    assert_eq!(done.len(), dirs.len(), "each recorded run is listed once");
    for e in &done {
        let log = ratlab::experiments::store::read_run(e.dir.as_ref().unwrap()).unwrap();
        let s = log.summary.unwrap();
        assert_eq!(e.status, s.status, "{}", e.name);
        assert_eq!(e.steps, s.steps, "{}", e.name);
        assert_eq!(e.metrics, s.metrics, "{}", e.name);
    }
    // A later look adds nothing twice.
    assert!(!app.follow_store());
    assert_eq!(app.runs.len(), dirs.len());
}

#[test]
fn language_data_is_summarized_off_the_draw_and_shown_when_it_arrives() {
    let mut app = scripted();
    app.add_experiments(&[PathBuf::from("experiments/llm-chain.yaml")]);
    let i = app.experiments.len() - 1;
    app.exp_sel = i;
    app.on_key(key_code('2'));
    let screen = |app: &App| format!("{:?}", render(app, 130, 40).backend());
    // Drawing reads nothing: until the summaries come, the view says so.
    let s = screen(&app);
    assert!(s.contains("datasets/instructions.jsonl") && s.contains("loading…"), "{s}");
    assert!(app.lm_previews.is_empty(), "a draw must not load data");
    let plan = app.experiments[i].plan.clone().unwrap();
    for r in &plan.runs {
        let lm = r.lm.as_ref().unwrap();
        app.lm_previews.insert(lm.data.path.clone(), ratlab::ui::preview::language_summary(&lm.data, r.seed));
    }
    let s = screen(&app);
    assert!(!s.contains("loading…"), "{s}");
    assert!(s.contains("instructions for training") && s.contains("preference pairs for training") && s.contains("bytes for training"), "{s}");
}

/// The Generate view: a prompt asked of a base checkpoint and its SFT and DPO runs, the answers
/// side by side — one done (with its speed), one still streaming, one failed — and the next
/// prompt being typed.
#[test]
fn generate_view_shows_answers_side_by_side() {
    use ratlab::ui::app::{Column, ColumnState};
    let mut app = App::new(Theme { color: false }, PathBuf::from("runs"));
    app.add_experiments(&[PathBuf::from("experiments/smollm2-lora.yaml")]);
    app.on_key(key('6'));
    for c in "Write the date 1999-12-31 in words".chars() {
        app.on_key(key(c));
    }
    let col = |label: &str, state: ColumnState, text: &str, speed: Option<f64>| Column { label: label.into(), model: PathBuf::from(label), state, text: text.into(), tokens_per_s: speed };
    app.generate.columns = vec![
        col("SmolLM2-135M-Instruct.Q4_1.gguf (base)", ColumnState::Done, "The date 2021-07-04 in words is July 4, 2021.", Some(31.0)),
        col("smollm2-lora/sft", ColumnState::Done, "4 July 2021", Some(29.5)),
        col("smollm2-lora/dpo", ColumnState::Answering, "4 Ju", None),
        col("smollm2-lora/old", ColumnState::Failed("the model it was tuned from cannot be read".into()), "", None),
    ];
    app.generate.history = vec!["Write the date 2021-07-04 in words, day first.".into()];
    insta::assert_snapshot!(render(&app, 120, 20).backend());
}
