//! The TUI's model: experiments, runs (recorded, live or replayed), selection, marks, filter,
//! and what each key does. It is pure state — no terminal, no threads — so key handling is
//! unit-tested directly; effects on the outside world are returned as [`Command`]s.
//!
//! This file holds the views, panes and the [`App`] itself; each group of state has its own
//! file: [`runs`] (the experiments and runs lists, and the events that feed them), [`search`]
//! (a search's trials folded into one group line), [`compare`] (what Compare shows, marks, and
//! saving a chart), [`confirm`] (questions the user answers), [`replay`] (recorded events
//! played back), [`input`] (keys and the mouse) and [`watch`] (runs other processes record).

mod compare;
mod confirm;
mod generate;
mod input;
mod replay;
mod runs;
mod search;
mod watch;
#[cfg(test)]
mod tests;

pub use compare::MAX_CURVES;
pub use confirm::Confirm;
pub use generate::{Column, ColumnState, Generate};
pub use replay::Replay;
pub use runs::{significant, ExperimentEntry, RunEntry};
pub use search::{RunRow, SearchGroup};

use super::preview::DataPreview;
use super::theme::Theme;
use ratatui::layout::Rect;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

/// The views, in tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum View {
    Experiments,
    Data,
    Run,
    Compare,
    Yaml,
    Generate,
}

impl View {
    pub const ALL: [View; 6] = [View::Experiments, View::Data, View::Run, View::Compare, View::Yaml, View::Generate];
    pub fn title(self) -> &'static str {
        match self {
            View::Experiments => "Experiments",
            View::Data => "Data",
            View::Run => "Run",
            View::Compare => "Compare",
            View::Yaml => "YAML",
            View::Generate => "Generate",
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

const PANES: [Pane; 7] = [
    Pane::ExperimentList,
    Pane::RunList,
    Pane::Single(View::Data),
    Pane::Single(View::Run),
    Pane::Single(View::Compare),
    Pane::Single(View::Yaml),
    Pane::Single(View::Generate),
];

impl Pane {
    fn view(self) -> View {
        match self {
            Pane::ExperimentList | Pane::RunList => View::Experiments,
            Pane::Single(v) => v,
        }
    }
}

/// An effect the event loop carries out.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Ask these models (run directories or checkpoints) a prompt, each kept loaded in its own
    /// worker while the Generate view is open.
    Ask { models: Vec<PathBuf>, ask: crate::experiments::serve::Ask },
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
    pub lm_previews: BTreeMap<PathBuf, Result<Vec<String>, String>>,
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
    /// Curve smoothing: 0 off, else 1 + an index into [`crate::ui::history::SMOOTHING`] (`m`).
    pub smoothing: usize,
    /// Other processes' runs in the store, followed as they land.
    watch: watch::StoreWatch,
    /// The Generate view: prompt, history and answers.
    pub generate: Generate,
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
            lm_previews: BTreeMap::new(),
            sources: HashMap::new(),
            follow: None,
            next_id: 0,
            jobs: 1,
            expanded: BTreeSet::new(),
            scatter_param: 0,
            smoothing: 0,
            watch: watch::StoreWatch::default(),
            generate: Generate::default(),
        }
    }

    /// Switch to a view (its pane focused), remembering the one left for `Esc`.
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
        if v == View::Generate {
            self.load_prompts();
        }
    }

    /// `Tab` / `Shift-Tab`: the next or previous pane, switching views on the way.
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
        if self.view == View::Generate {
            self.load_prompts();
        }
    }

    /// Set a data preview (computed by the loop, or by tests).
    pub fn set_preview(&mut self, path: PathBuf, p: Result<DataPreview, String>) {
        self.previews.insert(path, p);
    }
}
