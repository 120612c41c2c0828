//! The TUI's model: experiments, runs (recorded, live or replayed), selection, marks, filter,
//! and what each key does. It is pure state — no terminal, no threads — so key handling is
//! unit-tested directly; effects on the outside world are returned as [`Command`]s.

mod watch;

use super::history::Series;
use super::preview::DataPreview;
use super::theme::Theme;
use crate::error::InputError;
use crate::experiments::events::{Level, Metrics, RunEvent, Status};
use crate::experiments::plan::{self, Plan};
use crate::experiments::store;
use crate::metrics::Metric;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Experiments,
    Data,
    Run,
    Compare,
    Yaml,
}

impl View {
    pub const ALL: [View; 5] = [View::Experiments, View::Data, View::Run, View::Compare, View::Yaml];
    pub fn title(self) -> &'static str {
        match self {
            View::Experiments => "Experiments",
            View::Data => "Data",
            View::Run => "Run",
            View::Compare => "Compare",
            View::Yaml => "YAML",
        }
    }
}

/// Focusable panes in Tab order; the Experiments view has two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    ExperimentList,
    RunList,
    Single(View),
}

const PANES: [Pane; 6] = [
    Pane::ExperimentList,
    Pane::RunList,
    Pane::Single(View::Data),
    Pane::Single(View::Run),
    Pane::Single(View::Compare),
    Pane::Single(View::Yaml),
];

impl Pane {
    fn view(self) -> View {
        match self {
            Pane::ExperimentList | Pane::RunList => View::Experiments,
            Pane::Single(v) => v,
        }
    }
}

/// Curves the Compare view overlays at most (the cursor's run is added when it is further
/// down): a legend of hundreds helps nobody, and drawing them would slow every frame.
pub const MAX_CURVES: usize = 12;

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
    /// A language model's latest generated sample: (step, prompt, text).
    pub sample: Option<(u64, String, String)>,
}

impl RunEntry {
    fn from_started(id: usize, ev: &RunEvent) -> Option<RunEntry> {
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
            sample: None,
        })
    }

    /// Fold one event into the entry.
    pub fn apply(&mut self, ev: &RunEvent) {
        match ev {
            RunEvent::Started { .. } => {}
            RunEvent::Step { x, fold, metrics, t_ms, .. } => {
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
                self.sample = Some((*step, prompt.clone(), text.clone()));
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

/// A line of the runs list: one run, or a search's trials folded into one line.
#[derive(Debug, Clone, PartialEq)]
pub enum RunRow {
    Run(usize),
    Search(SearchGroup),
}

/// The trials of one search, as one expandable group: the trials `experiment/search#i` of one
/// execution (a trial name seen again starts a new group, so rerunning a search makes a second
/// group, while trials landing one by one from `--trial` or Slurm gather in one).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchGroup {
    /// The id of its first trial's run: names the group while it grows.
    pub key: usize,
    pub experiment: String,
    pub search: String,
    /// Indices into [`App::runs`], in trial order.
    pub members: Vec<usize>,
    pub open: bool,
    /// The best finished trial by the search's metric: (index into runs, metric, value).
    pub best: Option<(usize, String, f64)>,
}

/// A confirmation the user must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Quit,
    Cancel(usize),
    /// Every live trial of the search group with this key.
    CancelSearch(usize),
}

/// An effect the event loop carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Start runs of an experiment (all, or these run indices).
    Start { experiment: usize, runs: Option<Vec<usize>> },
    /// Set the cancel flag of a live run.
    Cancel(usize),
    /// Open `$EDITOR` on a copy of an experiment.
    Edit(usize),
    /// Write the chart in view as a figure (`ratlab plot` of these runs' `metric`).
    SavePlot { runs: Vec<PathBuf>, metric: String, out: PathBuf },
    /// Cancel everything and leave.
    Quit,
}

/// Recorded events played back at a chosen speed.
#[derive(Debug, Clone)]
pub struct Replay {
    /// (time ms, source key, event), sorted by time.
    pub events: Vec<(u64, u64, RunEvent)>,
    pub pos: usize,
    pub clock_ms: f64,
    pub speed: f64,
    pub paused: bool,
}

/// What a mouse click can land on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Tab(View),
    Experiment(usize),
    Run(usize),
    CompareRow(usize),
    MetricTab(usize),
}

/// The whole UI state.
pub struct App {
    pub view: View,
    pub pane: Pane,
    back: Vec<View>,
    pub experiments: Vec<ExperimentEntry>,
    pub exp_sel: usize,
    pub runs: Vec<RunEntry>,
    /// Index into [`App::visible_runs`].
    pub run_sel: usize,
    pub filter: String,
    pub filtering: bool,
    pub metric_tab: usize,
    pub sort_col: usize,
    pub sort_desc: bool,
    pub compare_sel: usize,
    pub yaml_run_sel: usize,
    /// Levels of a fitted tree shown in the Run view (`<` / `>`).
    pub tree_depth: usize,
    pub scroll: u16,
    pub help: bool,
    pub confirm: Option<Confirm>,
    pub status: String,
    pub previews: HashMap<PathBuf, Result<DataPreview, String>>,
    pub theme: Theme,
    /// Wall-clock "now" for run ages; `None` hides ages (snapshot tests).
    pub now: Option<chrono::DateTime<chrono::Utc>>,
    pub replay: Option<Replay>,
    pub runs_dir: PathBuf,
    /// Clickable areas of the last frame.
    pub hits: RefCell<Vec<(Rect, Hit)>>,
    /// Language-data summaries for the Data view, by data file (read once, when first shown).
    pub lm_previews: RefCell<BTreeMap<PathBuf, Result<Vec<String>, String>>>,
    /// (source key, run index) → run id, for live and replayed events.
    sources: HashMap<(u64, usize), usize>,
    /// Switch to the Run view when this source starts.
    follow: Option<(u64, usize)>,
    next_id: usize,
    /// Runs trained at once when an experiment starts.
    pub jobs: usize,
    /// Search groups shown open in the runs list, by [`SearchGroup::key`].
    pub expanded: BTreeSet<usize>,
    /// Which differing parameter the Compare scatter puts on x (`x` cycles).
    pub scatter_param: usize,
    /// Curve smoothing: 0 off, else 1 + an index into [`super::history::SMOOTHING`] (`m`).
    pub smoothing: usize,
    /// Other processes' runs in the store, followed as they land.
    watch: watch::StoreWatch,
}

impl App {
    pub fn new(theme: Theme, runs_dir: PathBuf) -> App {
        App {
            view: View::Experiments,
            pane: Pane::ExperimentList,
            back: vec![],
            experiments: vec![],
            exp_sel: 0,
            runs: vec![],
            run_sel: 0,
            filter: String::new(),
            filtering: false,
            metric_tab: 0,
            sort_col: 0,
            sort_desc: false,
            compare_sel: 0,
            yaml_run_sel: 0,
            tree_depth: 3,
            scroll: 0,
            help: false,
            confirm: None,
            status: String::new(),
            previews: HashMap::new(),
            theme,
            now: None,
            replay: None,
            runs_dir,
            hits: RefCell::new(vec![]),
            lm_previews: RefCell::new(BTreeMap::new()),
            sources: HashMap::new(),
            follow: None,
            next_id: 0,
            jobs: 1,
            expanded: BTreeSet::new(),
            scatter_param: 0,
            smoothing: 0,
            watch: watch::StoreWatch::default(),
        }
    }

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

    fn alloc_id(&mut self) -> usize {
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

    /// The runs list as drawn: runs newest first, each search's trials folded into one group
    /// line at the place of its newest trial (listed in trial order under it when open; every
    /// group is open while a filter is typed).
    pub fn visible_rows(&self) -> Vec<RunRow> {
        let runs = self.visible_runs();
        let mut groups: Vec<SearchGroup> = Vec::new();
        let mut group_of: HashMap<usize, usize> = HashMap::new();
        // (experiment, search) → (its current group, the trial names it has).
        let mut current: HashMap<(&str, &str), (usize, BTreeSet<&str>)> = HashMap::new();
        for &i in runs.iter().rev() {
            let r = &self.runs[i];
            let Some((search, _)) = r.name.split_once('#') else { continue };
            let slot = current.entry((r.experiment.as_str(), search)).or_insert((usize::MAX, BTreeSet::new()));
            if slot.0 == usize::MAX || !slot.1.insert(r.name.as_str()) {
                *slot = (groups.len(), BTreeSet::from([r.name.as_str()]));
                groups.push(SearchGroup {
                    key: r.id,
                    experiment: r.experiment.clone(),
                    search: search.to_string(),
                    members: vec![],
                    open: !self.filter.is_empty() || self.expanded.contains(&r.id),
                    best: None,
                });
            }
            groups[slot.0].members.push(i);
            group_of.insert(i, slot.0);
        }
        for g in &mut groups {
            g.members.sort_by(|&a, &b| self.runs[a].name.cmp(&self.runs[b].name));
            g.best = self.best_trial(g);
        }
        let mut shown = vec![false; groups.len()];
        let mut rows = Vec::with_capacity(runs.len());
        for &i in &runs {
            match group_of.get(&i) {
                None => rows.push(RunRow::Run(i)),
                Some(&g) if !shown[g] => {
                    shown[g] = true;
                    let group = &groups[g];
                    rows.push(RunRow::Search(group.clone()));
                    if group.open {
                        rows.extend(group.members.iter().copied().map(RunRow::Run));
                    }
                }
                Some(_) => {}
            }
        }
        rows
    }

    /// The metric a search ranks its trials by: from its experiment file when listed, else the
    /// trials' headline metric.
    fn search_metric(&self, g: &SearchGroup) -> Option<String> {
        let from_plan = self
            .experiments
            .iter()
            .filter_map(|e| e.plan.as_ref())
            .filter(|p| p.name == g.experiment)
            .flat_map(|p| p.searches.iter())
            .find(|s| s.run == g.search)
            .map(|s| s.metric.as_str().to_string());
        from_plan.or_else(|| g.members.iter().find_map(|&i| self.runs[i].metrics.keys().next().cloned()))
    }

    /// A group's best finished trial by its search's metric.
    fn best_trial(&self, g: &SearchGroup) -> Option<(usize, String, f64)> {
        let metric = self.search_metric(g)?;
        let higher = Self::higher_is_better(&metric);
        let mut best: Option<(usize, f64)> = None;
        for &i in &g.members {
            let r = &self.runs[i];
            if r.status != Status::Finished {
                continue;
            }
            let Some(&v) = r.metrics.get(&metric).filter(|v| v.is_finite()) else { continue };
            if best.is_none_or(|(_, b)| if higher { v > b } else { v < b }) {
                best = Some((i, v));
            }
        }
        best.map(|(i, v)| (i, metric, v))
    }

    /// The metric of the search whose group is selected, when one is.
    pub fn group_metric(&self) -> Option<String> {
        match self.selected_row()? {
            RunRow::Search(g) => self.search_metric(&g),
            RunRow::Run(_) => None,
        }
    }

    /// The selected line of the runs list.
    pub fn selected_row(&self) -> Option<RunRow> {
        self.visible_rows().into_iter().nth(self.run_sel)
    }

    /// What identifies a row across inserts: a run's id, or a group's key.
    fn row_identity(row: &RunRow, runs: &[RunEntry]) -> (bool, usize) {
        match row {
            RunRow::Run(i) => (false, runs[*i].id),
            RunRow::Search(g) => (true, g.key),
        }
    }

    /// Put the selection back on the row it was on (after runs were added above it).
    fn reselect(&mut self, was: Option<(bool, usize)>) {
        if let Some(was) = was {
            if let Some(k) = self.visible_rows().iter().position(|r| Self::row_identity(r, &self.runs) == was) {
                self.run_sel = k;
            }
        }
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

    /// Which of `rows` compared runs (in table order) Compare draws curves of, and `w` saves:
    /// the first [`MAX_CURVES`] and the cursor's.
    pub fn curve_rows(&self, rows: usize) -> Vec<usize> {
        (0..rows).filter(|&k| k < MAX_CURVES || k == self.compare_sel).collect()
    }

    /// Whether larger values of this metric are better (for highlighting the best run).
    pub fn higher_is_better(metric: &str) -> bool {
        match Metric::parse(metric) {
            Some(m) => m.higher_is_better(),
            None => crate::metrics::Objective::lm(metric).is_some_and(crate::metrics::Objective::higher_is_better),
        }
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

    fn go(&mut self, v: View) {
        if v != self.view {
            self.back.push(self.view);
            if self.back.len() > 32 {
                self.back.remove(0);
            }
            self.view = v;
        }
        self.pane = match v {
            View::Experiments => {
                if matches!(self.pane, Pane::RunList) {
                    Pane::RunList
                } else {
                    Pane::ExperimentList
                }
            }
            other => Pane::Single(other),
        };
        self.scroll = 0;
    }

    fn cycle_pane(&mut self, forward: bool) {
        let i = PANES.iter().position(|p| *p == self.pane).unwrap_or(0);
        let n = PANES.len();
        let j = if forward { (i + 1) % n } else { (i + n - 1) % n };
        let p = PANES[j];
        if p.view() != self.view {
            self.back.push(self.view);
        }
        self.view = p.view();
        self.pane = p;
        self.scroll = 0;
    }

    fn move_sel(&mut self, delta: isize) {
        let clamp = |v: usize, len: usize| -> usize {
            if len == 0 {
                0
            } else {
                (v as isize + delta).clamp(0, len as isize - 1) as usize
            }
        };
        match self.pane {
            Pane::ExperimentList => {
                self.exp_sel = clamp(self.exp_sel, self.visible_experiments().len());
                self.scroll = 0;
            }
            Pane::RunList => self.run_sel = clamp(self.run_sel, self.visible_rows().len()),
            Pane::Single(View::Compare) => self.compare_sel = clamp(self.compare_sel, self.compare_rows().len()),
            Pane::Single(View::Yaml) => {
                let n = self.selected_experiment().and_then(|i| self.experiments[i].plan.as_ref()).map_or(0, |p| p.runs.len());
                self.yaml_run_sel = clamp(self.yaml_run_sel, n);
            }
            Pane::Single(View::Run) => {
                let n = self.current_run().map_or(0, |r| r.messages.len());
                self.scroll = (self.scroll as isize + delta).clamp(0, n as isize) as u16;
            }
            Pane::Single(_) => self.scroll = (self.scroll as isize + delta).max(0) as u16,
        }
    }

    fn start_selected(&mut self, only_spec: bool) -> Vec<Command> {
        let Some(i) = self.selected_experiment() else {
            self.status = "no experiment selected".into();
            return vec![];
        };
        let e = &self.experiments[i];
        if e.plan.is_none() {
            self.status = format!("{} has {} error(s); fix them first (5 shows them)", e.path.display(), e.errors.len());
            return vec![];
        }
        let runs = only_spec.then(|| vec![self.yaml_run_sel]);
        vec![Command::Start { experiment: i, runs }]
    }

    /// Handle a key; returns the effects to carry out.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let cmds = self.handle_key(key);
        self.clamp_selections();
        cmds
    }

    /// Keep the cursors inside their lists after the lists changed under them (a search group
    /// closed, marks cleared, another run selected, so another set compared).
    fn clamp_selections(&mut self) {
        let rows = self.visible_rows().len();
        self.run_sel = self.run_sel.min(rows.saturating_sub(1));
        let compared = self.compare_rows().len();
        self.compare_sel = self.compare_sel.min(compared.saturating_sub(1));
    }

    fn handle_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if let Some(c) = self.confirm {
            return match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
                    self.confirm = None;
                    match c {
                        Confirm::Quit => vec![Command::Quit],
                        Confirm::Cancel(id) => {
                            self.status = "cancelling after the current step…".into();
                            vec![Command::Cancel(id)]
                        }
                        Confirm::CancelSearch(key) => {
                            let rows = self.visible_rows();
                            let ids: Vec<usize> = rows
                                .iter()
                                .filter_map(|r| match r {
                                    RunRow::Search(g) if g.key == key => Some(g.members.iter().filter(|&&i| self.runs[i].live).map(|&i| self.runs[i].id).collect::<Vec<_>>()),
                                    _ => None,
                                })
                                .flatten()
                                .collect();
                            self.status = format!("cancelling {} trial(s) after their current step…", ids.len());
                            ids.into_iter().map(Command::Cancel).collect()
                        }
                    }
                }
                _ => {
                    self.confirm = None;
                    self.status.clear();
                    vec![]
                }
            };
        }
        if self.help {
            if matches!(key.code, KeyCode::Char('?') | KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter) {
                self.help = false;
            }
            return vec![];
        }
        if self.filtering && !ctrl_c {
            match key.code {
                KeyCode::Char(c) => self.filter.push(c),
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Enter => self.filtering = false,
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter.clear();
                }
                _ => {}
            }
            self.exp_sel = 0;
            self.run_sel = 0;
            return vec![];
        }
        if ctrl_c {
            return self.ask_quit();
        }
        match key.code {
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('q') => return self.ask_quit(),
            KeyCode::Char(c @ '1'..='5') => self.go(View::ALL[(c as u8 - b'1') as usize]),
            KeyCode::Tab => self.cycle_pane(true),
            KeyCode::BackTab => self.cycle_pane(false),
            KeyCode::Esc => {
                if !self.filter.is_empty() {
                    self.filter.clear();
                } else if let Some(v) = self.back.pop() {
                    self.view = v;
                    self.pane = if v == View::Experiments { Pane::ExperimentList } else { Pane::Single(v) };
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_sel(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_sel(1),
            KeyCode::PageUp => self.move_sel(-10),
            KeyCode::PageDown => self.move_sel(10),
            KeyCode::Home | KeyCode::Char('g') => self.move_sel(-1_000_000),
            KeyCode::End | KeyCode::Char('G') => self.move_sel(1_000_000),
            KeyCode::Left | KeyCode::Char('h') if self.open_group(false) => {}
            KeyCode::Right | KeyCode::Char('l') if self.open_group(true) => {}
            KeyCode::Left | KeyCode::Char('h') => self.metric_tab = self.metric_tab.saturating_sub(1),
            KeyCode::Right | KeyCode::Char('l') => self.metric_tab += 1,
            KeyCode::Enter if self.pane == Pane::RunList && matches!(self.selected_row(), Some(RunRow::Search(_))) => {
                let open = matches!(self.selected_row(), Some(RunRow::Search(g)) if g.open);
                self.open_group(!open);
            }
            KeyCode::Enter => match self.pane {
                Pane::ExperimentList => self.go(View::Yaml),
                Pane::RunList => {
                    self.metric_tab = 0;
                    self.go(View::Run)
                }
                Pane::Single(View::Compare) => {
                    self.metric_tab = 0;
                    self.go(View::Run)
                }
                _ => {}
            },
            KeyCode::Char(' ') => self.toggle_mark(),
            KeyCode::Char('/') if self.view == View::Experiments => {
                self.filtering = true;
            }
            KeyCode::Char('r') if matches!(self.view, View::Experiments | View::Yaml | View::Data) => return self.start_selected(false),
            KeyCode::Char('R') if self.view == View::Yaml => return self.start_selected(true),
            KeyCode::Char('c') if self.view == View::Experiments && matches!(self.selected_row(), Some(RunRow::Search(_))) => {
                if let Some(RunRow::Search(g)) = self.selected_row() {
                    let live = g.members.iter().filter(|&&i| self.runs[i].live).count();
                    if live == 0 {
                        self.status = format!("no trial of {} is running", g.search);
                    } else {
                        self.confirm = Some(Confirm::CancelSearch(g.key));
                        self.status = format!("cancel the {live} running trial(s) of {}? (y/n)", g.search);
                    }
                }
            }
            KeyCode::Char('c') => {
                let id = match self.view {
                    View::Run => self.current_run().map(|r| (r.id, r.live)),
                    _ => self.selected_run().map(|r| (r.id, r.live)),
                };
                match id {
                    Some((id, true)) => {
                        self.confirm = Some(Confirm::Cancel(id));
                        self.status = "cancel this run? (y/n)".into();
                    }
                    Some((_, false)) => self.status = "that run is not running".into(),
                    None => {}
                }
            }
            KeyCode::Char('e') if matches!(self.view, View::Experiments | View::Yaml) => {
                if let Some(i) = self.selected_experiment() {
                    return vec![Command::Edit(i)];
                }
            }
            KeyCode::Char('s') if self.view == View::Compare => {
                let n = Self::compared_metrics(&self.compared()).len();
                self.sort_col = (self.sort_col + 1) % (n + 1);
            }
            KeyCode::Char('S') if self.view == View::Compare => self.sort_desc = !self.sort_desc,
            KeyCode::Char('x') if self.view == View::Compare => self.scatter_param += 1,
            KeyCode::Char('w') if matches!(self.view, View::Run | View::Compare) => return self.save_plot().into_iter().collect(),
            KeyCode::Char('m') if matches!(self.view, View::Run | View::Compare) => {
                self.smoothing = (self.smoothing + 1) % (super::history::SMOOTHING.len() + 1);
                self.status = match self.smoothing {
                    0 => "smoothing off".into(),
                    k => format!("smoothing: debiased moving average, β = {} (raw curve faint behind)", super::history::SMOOTHING[k - 1]),
                };
            }
            KeyCode::Char('<') if self.view == View::Run => self.tree_depth = self.tree_depth.saturating_sub(1).max(1),
            KeyCode::Char('>') if self.view == View::Run => self.tree_depth = (self.tree_depth + 1).min(64),
            KeyCode::Char('p') => {
                if let Some(r) = &mut self.replay {
                    r.paused = !r.paused;
                }
            }
            KeyCode::Char('+') | KeyCode::Char('=') => {
                if let Some(r) = &mut self.replay {
                    r.speed = (r.speed * 2.0).min(1024.0);
                }
            }
            KeyCode::Char('-') => {
                if let Some(r) = &mut self.replay {
                    r.speed = (r.speed / 2.0).max(1.0 / 64.0);
                }
            }
            _ => {}
        }
        vec![]
    }

    fn ask_quit(&mut self) -> Vec<Command> {
        let n = self.active_runs();
        if n > 0 {
            self.confirm = Some(Confirm::Quit);
            self.status = format!("{n} run(s) active: quit and cancel them? (y/n)");
            vec![]
        } else {
            vec![Command::Quit]
        }
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

    /// Open or close the search group under the cursor (runs list only); whether there was one.
    /// Closing from a trial line closes its group and selects the group line.
    fn open_group(&mut self, open: bool) -> bool {
        if self.pane != Pane::RunList {
            return false;
        }
        let rows = self.visible_rows();
        let Some(row) = rows.get(self.run_sel) else { return false };
        let key = match row {
            RunRow::Search(g) => g.key,
            RunRow::Run(i) if !open => match rows[..self.run_sel].iter().rev().find_map(|r| match r {
                RunRow::Search(g) if g.members.contains(i) => Some(g.key),
                _ => None,
            }) {
                Some(k) => k,
                None => return false,
            },
            RunRow::Run(_) => return false,
        };
        if open {
            self.expanded.insert(key);
        } else {
            self.expanded.remove(&key);
        }
        self.reselect(Some((true, key)));
        true
    }

    fn toggle_mark(&mut self) {
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

    /// Handle a mouse event using the clickable areas of the last frame.
    pub fn on_mouse(&mut self, m: MouseEvent) {
        self.handle_mouse(m);
        self.clamp_selections();
    }

    fn handle_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let hit = self.hits.borrow().iter().find(|(r, _)| r.contains((m.column, m.row).into())).map(|(_, h)| *h);
                match hit {
                    Some(Hit::Tab(v)) => self.go(v),
                    Some(Hit::Experiment(i)) => {
                        self.pane = Pane::ExperimentList;
                        self.exp_sel = i;
                    }
                    Some(Hit::Run(i)) => {
                        self.pane = Pane::RunList;
                        self.run_sel = i;
                    }
                    Some(Hit::CompareRow(i)) => self.compare_sel = i,
                    Some(Hit::MetricTab(i)) => self.metric_tab = i,
                    None => {}
                }
            }
            MouseEventKind::ScrollDown => self.move_sel(1),
            MouseEventKind::ScrollUp => self.move_sel(-1),
            _ => {}
        }
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

    /// Start a replay of recorded runs: at once (`speed` None) or played back.
    pub fn start_replay(&mut self, dirs: &[PathBuf], speed: Option<f64>) -> Result<(), InputError> {
        let mut all = Vec::new();
        for (k, d) in dirs.iter().enumerate() {
            let log = store::read_run(d)?;
            for ev in log.events {
                let t = match &ev {
                    RunEvent::Started { .. } => 0,
                    RunEvent::Step { t_ms, .. }
                    | RunEvent::Message { t_ms, .. }
                    | RunEvent::Sample { t_ms, .. }
                    | RunEvent::Finished { t_ms, .. }
                    | RunEvent::Failed { t_ms, .. } => *t_ms,
                };
                all.push((t, k as u64, ev, d.clone()));
            }
        }
        all.sort_by_key(|e| (e.0, e.1));
        match speed {
            None => {
                for (_, k, ev, d) in &all {
                    self.on_event(1_000_000 + k, 0, Some(d.clone()), ev, false);
                }
            }
            Some(s) => {
                // Starts first, so every run is listed from the beginning.
                for (_, k, ev, d) in all.iter().filter(|e| matches!(e.2, RunEvent::Started { .. })) {
                    self.on_event(1_000_000 + k, 0, Some(d.clone()), ev, false);
                }
                for r in self.runs.iter_mut().take(dirs.len()) {
                    r.live = false;
                }
                let events = all.into_iter().filter(|e| !matches!(e.2, RunEvent::Started { .. })).map(|(t, k, ev, _)| (t, 1_000_000 + k, ev)).collect();
                self.replay = Some(Replay { events, pos: 0, clock_ms: 0.0, speed: s, paused: false });
            }
        }
        self.run_sel = 0;
        self.pane = Pane::RunList;
        self.go(View::Run);
        Ok(())
    }

    /// Advance a playing replay by `dt_ms` of wall time; returns whether anything changed.
    pub fn tick_replay(&mut self, dt_ms: f64) -> bool {
        let Some(r) = &mut self.replay else { return false };
        if r.paused || r.pos >= r.events.len() {
            return false;
        }
        r.clock_ms += dt_ms * r.speed;
        let clock = r.clock_ms;
        let mut due = Vec::new();
        while r.pos < r.events.len() && r.events[r.pos].0 as f64 <= clock {
            due.push((r.events[r.pos].1, r.events[r.pos].2.clone()));
            r.pos += 1;
        }
        let changed = !due.is_empty();
        for (k, ev) in due {
            self.on_event(k, 0, None, &ev, false);
        }
        changed
    }

    /// Set a data preview (computed by the loop, or by tests).
    pub fn set_preview(&mut self, path: PathBuf, p: Result<DataPreview, String>) {
        self.previews.insert(path, p);
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

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::crossterm::event::KeyEventKind;

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
        assert_eq!(a.view, View::Yaml, "wraps around");
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
}
