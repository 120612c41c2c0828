//! The experiments and runs lists: an experiment file with what validation said, a run as the
//! UI knows it (recorded, live or replayed) folded from its events, the filter, the selection,
//! and the live and replayed sources that feed runs.

use super::{App, Pane, RunRow, View};
use crate::error::InputError;
use crate::experiments::events::{Level, Metrics, RunEvent, Status};
use crate::experiments::plan::{self, Plan};
use crate::experiments::store;
use crate::ui::history::Series;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An experiment file and what validation said about it.
#[derive(Debug, Clone)]
pub struct ExperimentEntry {
    pub path: PathBuf,
    pub name: String,
    pub text: String,
    pub plan: Option<Plan>,
    pub errors: Vec<InputError>,
    /// A copy edited from the TUI.
    pub draft: bool,
}

impl ExperimentEntry {
    /// Read and validate a file (parameters and structure; data is checked when it runs).
    pub fn load(path: &Path) -> ExperimentEntry {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?").to_string();
        match plan::load(path, &[]) {
            Ok(p) => ExperimentEntry { path: path.to_path_buf(), name: p.name.clone(), text, plan: Some(p), errors: vec![], draft: false },
            Err(e) => ExperimentEntry { path: path.to_path_buf(), name: stem, text, plan: None, errors: e.0, draft: false },
        }
    }
}

/// A run as the UI knows it: from a record, live from a worker, or replayed.
#[derive(Debug, Clone)]
pub struct RunEntry {
    pub id: usize,
    pub experiment: String,
    pub name: String,
    pub algorithm: String,
    pub backend: String,
    pub params: serde_json::Value,
    pub seed: u64,
    pub x_label: String,
    pub status: Status,
    pub steps: u64,
    pub total_steps: Option<u64>,
    /// Metric key (`train.log_loss`, `objective`, …) → bounded history of the current fold.
    pub series: BTreeMap<String, Series>,
    pub fold: Option<u32>,
    pub metrics: Metrics,
    pub messages: Vec<(Level, String)>,
    pub error: Option<String>,
    pub dir: Option<PathBuf>,
    pub started_at: String,
    pub t_ms: u64,
    pub live: bool,
    pub marked: bool,
    /// What the algorithm's own view draws (PCA: scree and projection).
    pub artifacts: serde_json::Value,
    /// A language model's samples from its latest evaluation: (step, prompt, text).
    pub samples: Vec<(u64, String, String)>,
    /// What a running language model is doing (`loading`, `training`, …).
    pub phase: Option<String>,
}

impl RunEntry {
    pub(super) fn from_started(id: usize, ev: &RunEvent) -> Option<RunEntry> {
        let RunEvent::Started { experiment, run, algorithm, backend, params, seed, x_label, total_steps, started_at } = ev else {
            return None;
        };
        Some(RunEntry {
            id,
            experiment: experiment.clone(),
            name: run.clone(),
            algorithm: algorithm.clone(),
            backend: backend.clone(),
            params: params.clone(),
            seed: *seed,
            x_label: x_label.clone(),
            status: Status::Running,
            steps: 0,
            total_steps: *total_steps,
            series: BTreeMap::new(),
            fold: None,
            metrics: Metrics::new(),
            messages: vec![],
            error: None,
            dir: None,
            started_at: started_at.clone(),
            t_ms: 0,
            live: false,
            marked: false,
            artifacts: serde_json::Value::Null,
            samples: Vec::new(),
            phase: None,
        })
    }

    /// Fold one event into the entry.
    pub fn apply(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::Started { .. } => {}
            RunEvent::Step { x, fold, metrics, t_ms, .. } => {
                // A step means the phase before it (reading, binning) is over.
                self.phase = None;
                if *fold != self.fold {
                    self.series.clear();
                    self.fold = *fold;
                }
                for (k, v) in metrics {
                    self.series.entry(k.clone()).or_default().push(*x, *v);
                }
                self.steps += 1;
                self.t_ms = *t_ms;
            }
            RunEvent::Message { level, text, t_ms } => {
                self.messages.push((*level, text.clone()));
                self.t_ms = *t_ms;
            }
            RunEvent::Sample { step, prompt, text, t_ms } => {
                if self.samples.first().is_some_and(|s| s.0 != *step) {
                    self.samples.clear();
                }
                self.samples.push((*step, prompt.clone(), text.clone()));
                self.t_ms = *t_ms;
            }
            RunEvent::Phase { phase, t_ms } => {
                self.phase = Some(phase.clone());
                self.t_ms = *t_ms;
            }
            RunEvent::Finished { metrics, t_ms, artifacts, .. } => {
                self.status = Status::Finished;
                self.metrics = metrics.clone();
                self.artifacts = artifacts.clone();
                self.t_ms = *t_ms;
                self.live = false;
            }
            RunEvent::Failed { error, cancelled, pruned, t_ms } => {
                self.status = Status::of_failure(*cancelled, *pruned);
                self.error = Some(error.clone());
                self.t_ms = *t_ms;
                self.live = false;
            }
        }
    }

    /// A parameter by name, or a field inside one by its dotted name (`lora.rank`).
    pub fn param(&self, key: &str) -> Option<&serde_json::Value> {
        self.params.get(key).or_else(|| key.split('.').try_fold(&self.params, |v, k| v.as_object()?.get(k)))
    }

    /// `experiment/run`.
    pub fn label(&self) -> String {
        format!("{}/{}", self.experiment, self.name)
    }

    /// Metric names without the train./test. prefix, experiment metrics first.
    pub fn metric_tabs(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |s: &str| {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        };
        for k in self.series.keys().filter(|k| k.starts_with("test.") || k.starts_with("train.")) {
            push(k.split_once('.').map_or(k.as_str(), |p| p.1));
        }
        for k in self.series.keys().filter(|k| !k.contains('.')) {
            push(k);
        }
        out
    }

    /// The headline figure for lists: the first final metric, or the latest test metric.
    pub fn headline(&self) -> Option<(String, f64)> {
        if let Some((k, v)) = self.metrics.iter().next() {
            return Some((k.clone(), *v));
        }
        self.series.iter().find(|(k, _)| k.starts_with("test.")).or(self.series.iter().next()).and_then(|(k, s)| s.last().map(|l| (k.clone(), l.1)))
    }
}

/// `v` to `digits` significant digits, trailing zeros dropped: a searched learning rate of
/// 0.01007791407645401 reads 0.01008.
pub fn significant(v: f64, digits: i32) -> String {
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).clamp(0, 17) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl App {
    /// Add experiment files (skipping ones already listed).
    pub fn add_experiments(&mut self, paths: &[PathBuf]) {
        for p in paths {
            if self.experiments.iter().any(|e| e.path == *p) {
                continue;
            }
            self.experiments.push(ExperimentEntry::load(p));
        }
    }

    /// Load recorded runs from their directories (newest first in the list).
    pub fn add_recorded(&mut self, dirs: &[PathBuf]) {
        for d in dirs {
            // Another process's run still being written: followed live by `follow_store`.
            if store::read_summary(d).is_some_and(|s| s.status == Status::Running) && !store::written_here(d) {
                continue;
            }
            self.watch.know(d.clone());
            if let Ok(log) = store::read_run(d) {
                let id = self.alloc_id();
                if let Some(mut e) = log.events.first().and_then(|ev| RunEntry::from_started(id, ev)) {
                    for ev in &log.events[1..] {
                        e.apply(ev);
                    }
                    // A run with no end whose process is gone.
                    e.status = store::settled(d, e.status);
                    e.dir = Some(d.clone());
                    self.runs.insert(0, e);
                }
            }
        }
    }

    pub(super) fn alloc_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }

    /// Runs passing the filter, as indices into `runs`.
    pub fn visible_runs(&self) -> Vec<usize> {
        let f = self.filter.to_lowercase();
        (0..self.runs.len())
            .filter(|&i| {
                let r = &self.runs[i];
                f.is_empty() || format!("{} {} {} {}", r.label(), r.algorithm, r.backend, r.status.as_str()).to_lowercase().contains(&f)
            })
            .collect()
    }

    /// Experiments passing the filter.
    pub fn visible_experiments(&self) -> Vec<usize> {
        let f = self.filter.to_lowercase();
        (0..self.experiments.len())
            .filter(|&i| f.is_empty() || format!("{} {}", self.experiments[i].name, self.experiments[i].path.display()).to_lowercase().contains(&f))
            .collect()
    }

    pub fn selected_experiment(&self) -> Option<usize> {
        self.visible_experiments().get(self.exp_sel).copied()
    }

    /// The selected run; on a search group, its best trial (else its latest).
    pub fn selected_run(&self) -> Option<&RunEntry> {
        match self.selected_row()? {
            RunRow::Run(i) => Some(&self.runs[i]),
            RunRow::Search(g) => g.best.map(|b| b.0).or_else(|| g.members.last().copied()).map(|i| &self.runs[i]),
        }
    }

    pub fn run_by_id(&self, id: usize) -> Option<&RunEntry> {
        self.runs.iter().find(|r| r.id == id)
    }

    pub fn active_runs(&self) -> usize {
        self.runs.iter().filter(|r| r.live).count()
    }

    /// Note that a source (worker or replayed record) will send events; `follow` names the run
    /// (its index) whose start switches to the Run view: the experiment's first run, whichever
    /// of several running at once happens to start first.
    pub fn expect_source(&mut self, source: u64, follow: Option<usize>) {
        if let Some(i) = follow {
            self.follow = Some((source, i));
        }
    }

    /// Apply an event from a live worker or a replay.
    pub fn on_event(&mut self, source: u64, run_index: usize, dir: Option<PathBuf>, ev: &RunEvent, live: bool) {
        if let RunEvent::Started { .. } = ev {
            let id = self.alloc_id();
            if let Some(mut e) = RunEntry::from_started(id, ev) {
                e.live = live;
                e.dir = dir;
                // Keep the selection on the same line while inserting at the top.
                let was = self.selected_row().map(|r| Self::row_identity(&r, &self.runs));
                self.runs.insert(0, e);
                self.sources.insert((source, run_index), id);
                self.reselect(was);
                if self.follow == Some((source, run_index)) {
                    self.follow = None;
                    // A trial is followed inside its group, opened.
                    let rows = self.visible_rows();
                    if let Some(g) = rows.iter().find_map(|r| match r {
                        RunRow::Search(g) if g.members.contains(&0) => Some(g.key),
                        _ => None,
                    }) {
                        self.expanded.insert(g);
                    }
                    self.run_sel = self.visible_rows().iter().position(|r| *r == RunRow::Run(0)).unwrap_or(0);
                    self.pane = Pane::RunList;
                    self.metric_tab = 0;
                    self.go(View::Run);
                }
            }
            return;
        }
        let Some(&id) = self.sources.get(&(source, run_index)) else { return };
        if let Some(r) = self.runs.iter_mut().find(|r| r.id == id) {
            if r.dir.is_none() {
                r.dir = dir;
            }
            r.apply(ev);
        }
    }

    /// Mark the run with this id live or not (the loop knows which workers are alive).
    pub fn set_live(&mut self, id: usize, live: bool) {
        if let Some(r) = self.runs.iter_mut().find(|r| r.id == id) {
            r.live = live;
        }
    }

    /// The id of the run a (source, index) pair feeds.
    pub fn id_of(&self, source: u64, run_index: usize) -> Option<usize> {
        self.sources.get(&(source, run_index)).copied()
    }

    /// The (source, run index) feeding a run id: whom to tell to cancel it.
    pub fn source_of(&self, id: usize) -> Option<(u64, usize)> {
        self.sources.iter().find(|(_, &v)| v == id).map(|(k, _)| *k)
    }

    /// Every run a source fed (a start's runs, when its thread ends).
    pub fn ids_of_source(&self, source: u64) -> Vec<usize> {
        self.sources.iter().filter(|((s, _), _)| *s == source).map(|(_, &id)| id).collect()
    }
}
