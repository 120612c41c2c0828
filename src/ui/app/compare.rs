//! What the Compare view shows: the marked runs (else a search's trials, else an
//! experiment's), the parameters that differ, the metrics and their order; marks; and the chart
//! in view saved as a figure.

use super::runs::significant;
use super::{App, Command, Pane, RunEntry, RunRow, View};
use crate::experiments::store;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Curves the Compare view overlays at most (the cursor's run is added when it is further
/// down): a legend of hundreds helps nobody, and drawing them would slow every frame.
pub const MAX_CURVES: usize = 12;

impl App {
    /// Which of `rows` compared runs (in table order) Compare draws curves of, and `w` saves:
    /// the first [`MAX_CURVES`] and the cursor's.
    pub fn curve_rows(&self, rows: usize) -> Vec<usize> {
        (0..rows).filter(|&k| k < MAX_CURVES || k == self.compare_sel).collect()
    }

    /// The runs the Compare view shows: the marked ones, else the selected search's trials,
    /// else those of the selected run's experiment.
    pub fn compared(&self) -> Vec<&RunEntry> {
        let marked: Vec<&RunEntry> = self.runs.iter().filter(|r| r.marked).collect();
        if !marked.is_empty() {
            return marked;
        }
        if let Some(RunRow::Search(g)) = self.selected_row() {
            return g.members.iter().map(|&i| &self.runs[i]).collect();
        }
        match self.selected_run() {
            Some(sel) => self.runs.iter().filter(|r| r.experiment == sel.experiment).collect(),
            None => vec![],
        }
    }

    /// Parameter names that every compared run has and whose values differ between them
    /// (plus algorithm and backend when they differ); fields of object-valued parameters by
    /// their dotted names (`lora.rank`).
    pub fn differing_params(runs: &[&RunEntry]) -> Vec<String> {
        let mut keys: BTreeSet<String> = runs.first().map(|r| crate::experiments::recorded::flat_params(&r.params).keys().cloned().collect()).unwrap_or_default();
        for r in runs {
            keys.retain(|k| r.param(k).is_some());
        }
        let mut out = Vec::new();
        if runs.iter().map(|r| &r.algorithm).collect::<BTreeSet<_>>().len() > 1 {
            out.push("algorithm".to_string());
        }
        if runs.iter().map(|r| &r.backend).collect::<BTreeSet<_>>().len() > 1 {
            out.push("backend".to_string());
        }
        for k in keys {
            let vals: BTreeSet<String> = runs.iter().map(|r| r.param(&k).map(|v| v.to_string()).unwrap_or_default()).collect();
            if vals.len() > 1 {
                out.push(k);
            }
        }
        out
    }

    /// A parameter (or algorithm/backend) of a run as text.
    pub fn param_text(r: &RunEntry, k: &str) -> String {
        match k {
            "algorithm" => r.algorithm.clone(),
            "backend" => r.backend.clone(),
            _ => match r.param(k) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) if n.as_f64().is_some_and(|v| v.fract() != 0.0 && v.is_finite()) => significant(n.as_f64().unwrap_or_default(), 4),
                Some(v) => v.to_string(),
                None => "—".into(),
            },
        }
    }

    /// Final metric names across the compared runs.
    pub fn compared_metrics(runs: &[&RunEntry]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in runs {
            for k in r.metrics.keys() {
                if !out.contains(k) {
                    out.push(k.clone());
                }
            }
        }
        out
    }

    /// Compared runs in table order: sorted by the chosen column (0 = name, then metrics).
    pub fn compare_rows(&self) -> Vec<&RunEntry> {
        let mut rows = self.compared();
        let metrics = Self::compared_metrics(&rows);
        if self.sort_col == 0 || self.sort_col > metrics.len() {
            rows.sort_by_key(|r| r.label());
        } else {
            let m = &metrics[self.sort_col - 1];
            rows.sort_by(|a, b| {
                let (x, y) = (a.metrics.get(m).copied().unwrap_or(f64::NAN), b.metrics.get(m).copied().unwrap_or(f64::NAN));
                x.total_cmp(&y)
            });
        }
        if self.sort_desc {
            rows.reverse();
        }
        rows
    }

    /// Whether larger values of this metric are better (for highlighting the best run).
    pub fn higher_is_better(metric: &str) -> bool {
        crate::metrics::Objective::parse(metric).is_some_and(crate::metrics::Objective::higher_is_better)
    }

    /// The run the Run view shows.
    pub fn current_run(&self) -> Option<&RunEntry> {
        if self.view == View::Compare || (self.view == View::Run && self.back.last() == Some(&View::Compare)) {
            let rows = self.compare_rows();
            if let Some(r) = rows.get(self.compare_sel) {
                if self.view == View::Run {
                    return Some(r);
                }
            }
        }
        self.selected_run()
    }

    /// The chart in view as a figure to write: the Run view's run, or the Compare view's drawn
    /// curves (its first [`MAX_CURVES`] rows and the cursor's), of the
    /// selected metric, to `RUNS/plots/EXPERIMENT-RUN-METRIC.png` (numbered when taken).
    pub fn save_plot(&mut self) -> Option<Command> {
        let (runs, tabs): (Vec<&RunEntry>, Vec<String>) = if self.view == View::Compare {
            let rows = self.compare_rows();
            let shown: Vec<&RunEntry> = self.curve_rows(rows.len()).into_iter().map(|k| rows[k]).collect();
            let mut tabs: Vec<String> = Vec::new();
            for r in &rows {
                for m in r.metric_tabs() {
                    if !tabs.contains(&m) {
                        tabs.push(m);
                    }
                }
            }
            (shown, tabs)
        } else {
            match self.current_run() {
                Some(r) => (vec![r], r.metric_tabs()),
                None => (vec![], vec![]),
            }
        };
        let Some(metric) = tabs.get(self.metric_tab.min(tabs.len().saturating_sub(1))).cloned() else {
            self.status = "no curve to save yet".into();
            return None;
        };
        let dirs: Vec<PathBuf> = runs.iter().filter_map(|r| r.dir.clone()).collect();
        if dirs.is_empty() {
            self.status = "these runs are not recorded; nothing to plot from".into();
            return None;
        }
        let what = match runs.as_slice() {
            [one] => format!("{}-{}", one.experiment, one.name),
            more => format!("{}-compare-{}", more[0].experiment, more.len()),
        };
        let base = store::slug(&format!("{what}-{metric}"));
        let dir = self.runs_dir.join("plots");
        let mut out = dir.join(format!("{base}.png"));
        let mut n = 2;
        while out.exists() {
            out = dir.join(format!("{base}-{n}.png"));
            n += 1;
        }
        Some(Command::SavePlot { runs: dirs, metric, out })
    }

    pub(super) fn toggle_mark(&mut self) {
        if let (Pane::RunList, Some(RunRow::Search(g))) = (self.pane, self.selected_row()) {
            // A search group marks (or unmarks) all its trials.
            let all = g.members.iter().all(|&i| self.runs[i].marked);
            for &i in &g.members {
                self.runs[i].marked = !all;
            }
            let n = self.runs.iter().filter(|r| r.marked).count();
            self.status = format!("{n} run(s) marked for Compare (4)");
            return;
        }
        let id = match self.pane {
            Pane::Single(View::Compare) => self.compare_rows().get(self.compare_sel).map(|r| r.id),
            _ => self.selected_run().map(|r| r.id),
        };
        if let Some(id) = id {
            if let Some(r) = self.runs.iter_mut().find(|r| r.id == id) {
                r.marked = !r.marked;
            }
            let n = self.runs.iter().filter(|r| r.marked).count();
            self.status = format!("{n} run(s) marked for Compare (4)");
        }
    }
}
