//! The model's key handling, selection, search groups and marks, driven as the event loop
//! drives them.

use super::*;
use crate::experiments::events::{Metrics, RunEvent, Status};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

pub(crate) fn key(c: KeyCode) -> KeyEvent {
    KeyEvent { code: c, modifiers: KeyModifiers::NONE, kind: KeyEventKind::Press, state: ratatui::crossterm::event::KeyEventState::NONE }
}

fn started(run: &str) -> RunEvent {
    RunEvent::Started {
        experiment: "exp".into(),
        run: run.into(),
        algorithm: "logistic_regression".into(),
        backend: "native".into(),
        params: serde_json::json!({"prior": "none", "strength": 1.0}),
        seed: 1,
        x_label: "iteration".into(),
        total_steps: Some(10),
        started_at: "2026-01-01T00:00:00Z".into(),
    }
}

fn app_with_runs(n: usize) -> App {
    let mut a = App::new(Theme { color: false }, "runs".into());
    for i in 0..n {
        a.on_event(i as u64, 0, None, &started(&format!("r{i}")), true);
    }
    a
}

#[test]
fn searched_numbers_read_to_four_significant_digits() {
    assert_eq!(significant(0.01007791407645401, 4), "0.01008");
    assert_eq!(significant(0.8476435834315219, 4), "0.8476");
    assert_eq!(significant(0.5, 4), "0.5");
    assert_eq!(significant(1234.5678, 4), "1235");
    assert_eq!(significant(-0.000123456, 4), "-0.0001235");
}

#[test]
fn number_keys_switch_views_and_esc_goes_back() {
    let mut a = app_with_runs(0);
    a.on_key(key(KeyCode::Char('3')));
    assert_eq!(a.view, View::Run);
    a.on_key(key(KeyCode::Char('4')));
    assert_eq!(a.view, View::Compare);
    a.on_key(key(KeyCode::Esc));
    assert_eq!(a.view, View::Run);
    a.on_key(key(KeyCode::Esc));
    assert_eq!(a.view, View::Experiments);
}

#[test]
fn tab_cycles_panes_and_shift_tab_returns() {
    let mut a = app_with_runs(0);
    assert_eq!(a.pane, Pane::ExperimentList);
    a.on_key(key(KeyCode::Tab));
    assert_eq!((a.view, a.pane), (View::Experiments, Pane::RunList));
    a.on_key(key(KeyCode::Tab));
    assert_eq!(a.view, View::Data);
    a.on_key(key(KeyCode::BackTab));
    a.on_key(key(KeyCode::BackTab));
    assert_eq!(a.pane, Pane::ExperimentList);
    a.on_key(key(KeyCode::BackTab));
    assert_eq!(a.view, View::Generate, "wraps around");
}

#[test]
fn space_marks_runs_and_compare_shows_the_marked_ones() {
    let mut a = app_with_runs(3);
    a.on_key(key(KeyCode::Tab)); // run list
    a.on_key(key(KeyCode::Char('g'))); // newest first
    a.on_key(key(KeyCode::Char(' ')));
    a.on_key(key(KeyCode::Char('j')));
    a.on_key(key(KeyCode::Char('j')));
    a.on_key(key(KeyCode::Char(' ')));
    let names: Vec<String> = a.compared().iter().map(|r| r.name.clone()).collect();
    assert_eq!(names, ["r2", "r0"], "newest first, the two marked");
    a.on_key(key(KeyCode::Char(' ')));
    a.on_key(key(KeyCode::Char('g')));
    a.on_key(key(KeyCode::Char(' ')));
    assert_eq!(a.compared().len(), 3, "no marks left: the selected run's experiment");
}

#[test]
fn filter_narrows_the_lists_and_esc_clears_it() {
    let mut a = app_with_runs(12);
    a.on_key(key(KeyCode::Char('/')));
    for c in "r1".chars() {
        a.on_key(key(KeyCode::Char(c)));
    }
    assert!(a.filtering);
    assert_eq!(a.visible_runs().len(), 3, "r1, r10, r11");
    a.on_key(key(KeyCode::Enter));
    assert!(!a.filtering);
    assert_eq!(a.visible_runs().len(), 3);
    a.on_key(key(KeyCode::Esc));
    assert_eq!(a.visible_runs().len(), 12);
}

#[test]
fn cancel_asks_first_and_quit_confirms_when_runs_are_active() {
    let mut a = app_with_runs(1);
    a.on_key(key(KeyCode::Tab));
    assert!(a.on_key(key(KeyCode::Char('c'))).is_empty());
    assert!(a.confirm.is_some());
    let id = a.runs[0].id;
    assert_eq!(a.on_key(key(KeyCode::Char('y'))), vec![Command::Cancel(id)]);
    assert!(a.on_key(key(KeyCode::Char('q'))).is_empty(), "asks first: a run is active");
    assert_eq!(a.on_key(key(KeyCode::Char('n'))), vec![]);
    assert_eq!(a.confirm, None);
    a.on_event(0, 0, None, &RunEvent::Failed { error: "cancelled".into(), cancelled: true, pruned: false, t_ms: 5 }, true);
    assert_eq!(a.runs[0].status, Status::Cancelled);
    assert_eq!(a.on_key(key(KeyCode::Char('q'))), vec![Command::Quit], "nothing active: quits at once");
}

#[test]
fn a_started_run_is_followed_into_the_run_view_and_steps_grow_its_series() {
    let mut a = app_with_runs(2);
    a.expect_source(99, Some(0));
    a.on_event(99, 0, None, &started("live"), true);
    assert_eq!(a.view, View::Run);
    assert_eq!(a.current_run().unwrap().name, "live");
    for k in 1..=5u64 {
        let m: Metrics = [("test.log_loss".to_string(), 1.0 / k as f64), ("train.log_loss".to_string(), 0.5 / k as f64)].into();
        a.on_event(99, 0, None, &RunEvent::Step { step: k, x: k as f64, fold: None, metrics: m, t_ms: k }, true);
    }
    let r = a.current_run().unwrap();
    assert_eq!(r.steps, 5);
    assert_eq!(r.metric_tabs(), ["log_loss"]);
    assert_eq!(r.series["test.log_loss"].len(), 5);
}

#[test]
fn compare_lists_differing_params_and_sorts_by_metric() {
    let mut a = app_with_runs(0);
    for (i, (s, ll)) in [(1.0, 0.3), (10.0, 0.2), (0.1, 0.5)].iter().enumerate() {
        let mut ev = started(&format!("r{i}"));
        if let RunEvent::Started { params, .. } = &mut ev {
            *params = serde_json::json!({"prior": "gaussian", "strength": s});
        }
        a.on_event(i as u64, 0, None, &ev, false);
        a.on_event(i as u64, 0, None, &RunEvent::Finished { metrics: [("log_loss".to_string(), *ll)].into(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 1, artifacts: serde_json::Value::Null }, false);
    }
    a.on_key(key(KeyCode::Char('4')));
    let rows = a.compare_rows();
    assert_eq!(App::differing_params(&rows), ["strength"]);
    a.on_key(key(KeyCode::Char('s')));
    let order: Vec<f64> = a.compare_rows().iter().map(|r| r.metrics["log_loss"]).collect();
    assert_eq!(order, [0.2, 0.3, 0.5]);
    a.on_key(key(KeyCode::Char('S')));
    let order: Vec<f64> = a.compare_rows().iter().map(|r| r.metrics["log_loss"]).collect();
    assert_eq!(order, [0.5, 0.3, 0.2]);
}

#[test]
fn help_overlay_opens_and_closes() {
    let mut a = app_with_runs(0);
    a.on_key(key(KeyCode::Char('?')));
    assert!(a.help);
    a.on_key(key(KeyCode::Char('3')));
    assert_eq!(a.view, View::Experiments, "keys go to the overlay while it is open");
    a.on_key(key(KeyCode::Esc));
    assert!(!a.help);
}

/// A finished run event with one final metric.
fn finished(auc: f64) -> RunEvent {
    RunEvent::Finished { metrics: [("roc_auc".to_string(), auc)].into(), train_metrics: Metrics::new(), cv_std: Metrics::new(), t_ms: 5, artifacts: serde_json::Value::Null }
}

/// Runs named as a search's trials, oldest first, each finished with its AUC.
fn app_with_trials(names: &[(&str, f64)]) -> App {
    let mut a = App::new(Theme { color: false }, "runs".into());
    for (k, (name, auc)) in names.iter().enumerate() {
        a.on_event(k as u64, 0, None, &started(name), true);
        a.on_event(k as u64, 0, None, &finished(*auc), true);
    }
    a
}

fn row_names(a: &App) -> Vec<String> {
    a.visible_rows()
        .iter()
        .map(|r| match r {
            RunRow::Run(i) => a.runs[*i].name.clone(),
            RunRow::Search(g) => format!("[{} {}{}]", g.search, g.members.len(), if g.open { " open" } else { "" }),
        })
        .collect()
}

#[test]
fn a_search_is_one_group_with_its_best_trial_and_opens_in_trial_order() {
    let mut a = app_with_trials(&[("base", 0.5), ("gb#0", 0.7), ("gb#2", 0.9), ("gb#1", 0.8), ("other", 0.6)]);
    assert_eq!(row_names(&a), ["other", "[gb 3]", "base"], "newest first; the search at its newest trial");
    let Some(RunRow::Search(g)) = a.visible_rows().into_iter().nth(1) else { panic!("a group") };
    let best = g.best.clone().expect("a best trial");
    assert_eq!((a.runs[best.0].name.as_str(), best.1.as_str(), best.2), ("gb#2", "roc_auc", 0.9));
    // Select the group: Enter opens it, trials in trial order under it; ← closes it again.
    a.on_key(key(KeyCode::Tab));
    assert_eq!(a.selected_run().map(|r| r.name.as_str()), Some("base"), "the selection stayed on its run as others arrived");
    a.on_key(key(KeyCode::Char('k')));
    assert_eq!(a.selected_run().map(|r| r.name.as_str()), Some("gb#2"), "a group stands for its best trial");
    assert_eq!(a.compared().len(), 3, "Compare shows the selected search's trials");
    a.on_key(key(KeyCode::Enter));
    assert_eq!(row_names(&a), ["other", "[gb 3 open]", "gb#0", "gb#1", "gb#2", "base"]);
    a.on_key(key(KeyCode::Char('j')));
    a.on_key(key(KeyCode::Char('j')));
    assert_eq!(a.selected_run().map(|r| r.name.as_str()), Some("gb#1"));
    a.on_key(key(KeyCode::Left));
    assert_eq!(row_names(&a), ["other", "[gb 3]", "base"], "← on a trial closes its group");
    assert_eq!(a.run_sel, 1, "and selects the group line");
    // Space marks every trial of the group.
    a.on_key(key(KeyCode::Char(' ')));
    assert_eq!(a.runs.iter().filter(|r| r.marked).count(), 3);
}

#[test]
fn rerunning_a_search_makes_a_second_group_and_live_trials_keep_the_selection() {
    let mut a = app_with_trials(&[("gb#0", 0.7), ("gb#1", 0.8), ("gb#0", 0.6)]);
    assert_eq!(row_names(&a), ["[gb 1]", "[gb 2]"], "a trial name seen again starts a new group");
    a.on_key(key(KeyCode::Tab));
    a.on_key(key(KeyCode::Char('G')));
    a.on_event(50, 0, None, &started("gb#1"), true);
    a.on_event(51, 0, None, &started("solo"), true);
    assert_eq!(row_names(&a), ["solo", "[gb 2]", "[gb 2]"]);
    assert_eq!(a.run_sel, 2, "the selection stays on the older group while runs arrive above it");
}

#[test]
fn cancelling_a_search_group_cancels_its_live_trials_only() {
    let mut a = app_with_trials(&[("gb#0", 0.7)]);
    a.on_event(10, 0, None, &started("gb#1"), true);
    a.on_event(11, 0, None, &started("gb#2"), true);
    a.on_key(key(KeyCode::Tab));
    a.on_key(key(KeyCode::Char('g')));
    a.on_key(key(KeyCode::Char('c')));
    assert_eq!(a.confirm.map(|c| matches!(c, Confirm::CancelSearch(_))), Some(true));
    let cmds = a.on_key(key(KeyCode::Char('y')));
    let live: Vec<Command> = a.runs.iter().filter(|r| r.live).map(|r| Command::Cancel(r.id)).collect();
    assert_eq!(live.len(), 2);
    let mut got = cmds.clone();
    got.sort_by_key(|c| format!("{c:?}"));
    let mut want = live;
    want.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(got, want);
}

#[test]
fn w_asks_for_a_figure_of_the_chart_in_view_and_m_cycles_smoothing() {
    let mut a = app_with_trials(&[("lr", 0.7)]);
    a.runs[0].dir = Some("runs/20260101-exp-lr".into());
    a.runs[0].series.entry("test.roc_auc".into()).or_default().push(1.0, 0.7);
    a.on_key(key(KeyCode::Tab));
    a.on_key(key(KeyCode::Enter));
    assert_eq!(a.view, View::Run);
    let cmds = a.on_key(key(KeyCode::Char('w')));
    assert_eq!(
        cmds,
        [Command::SavePlot { runs: vec!["runs/20260101-exp-lr".into()], metric: "roc_auc".into(), out: "runs/plots/exp-lr-roc_auc.png".into() }]
    );
    a.runs[0].dir = None;
    assert!(a.on_key(key(KeyCode::Char('w'))).is_empty(), "an unrecorded run cannot be plotted");
    assert!(a.status.contains("not recorded"), "{}", a.status);
    for want in [1, 2, 3, 0] {
        a.on_key(key(KeyCode::Char('m')));
        assert_eq!(a.smoothing, want);
    }
}
