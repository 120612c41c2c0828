//! The terminal UI (ratatui + crossterm): one more consumer of run events. A UI thread drains
//! worker events and key input into the [`app::App`] model and redraws at a capped frame rate;
//! each started run trains on its own background thread, records itself in the run store and
//! streams its events over a channel. Nothing slow runs on the UI thread: reading and encoding
//! data, the Data view's previews and saving a figure happen on background threads that send
//! their results back as messages, so a key gets its frame whatever is loading. The terminal is
//! restored on exit, on error and on panic.

pub mod app;
pub mod history;
pub mod keys;
pub mod preview;
pub mod theme;
pub mod views;

use crate::experiments::events::RunEvent;
use crate::experiments::plan::RunPlan;
use crate::experiments::events::{Flow, Sink};
use crate::experiments::runner;
use crate::experiments::store::{self, StoreSink};
use app::{App, Command, ExperimentEntry, View};
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture, Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use ratatui::Terminal;
use std::io::{self, Stdout};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use theme::Theme;

/// Redraw at most this often (events in between are coalesced into one frame).
pub const FRAME: Duration = Duration::from_millis(33);

/// How often the run store is looked at for runs other processes record.
pub const STORE_SCAN: Duration = Duration::from_secs(1);

/// What a background thread tells the UI.
pub enum Msg {
    Event { source: u64, index: usize, dir: Option<PathBuf>, event: Box<RunEvent> },
    /// The worker ended; `error` when it could not run at all (e.g. bad data) or stopped on a
    /// panic. Always sent, whatever ended the worker.
    Done { source: u64, error: Option<String> },
    /// The Data view's preview of a dataset (by its preview key).
    Preview { key: PathBuf, preview: Result<preview::DataPreview, String> },
    /// The Data view's summary of a language-model data file.
    LmSummary { path: PathBuf, summary: Result<Vec<String>, String> },
    /// A line for the status bar (data prepared, a figure saved).
    Status(String),
}

/// Records the runs and forwards their events to the UI thread.
struct UiSink {
    store: StoreSink,
    tx: Sender<Msg>,
    source: u64,
    /// Runs (by index) the user cancelled: told to stop at their next event.
    stop: Arc<Mutex<BTreeSet<usize>>>,
}

impl Sink for UiSink {
    fn event(&mut self, run: &RunPlan, ev: &RunEvent) -> Flow {
        let mut flow = self.store.event(run, ev);
        if self.stop.lock().is_ok_and(|s| s.contains(&run.index)) {
            flow = Flow::Stop;
        }
        let dir = self.store.dirs.get(&run.index).cloned();
        let _ = self.tx.send(Msg::Event { source: self.source, index: run.index, dir, event: Box::new(ev.clone()) });
        flow
    }
    fn model(&mut self, run: &RunPlan, model: &serde_json::Value) {
        self.store.model(run, model);
    }
    fn run_dir(&self, run: &RunPlan) -> Option<PathBuf> {
        self.store.run_dir(run)
    }
    fn finished_run(&self, experiment: &str, run: &RunPlan) -> Option<PathBuf> {
        self.store.finished_run(experiment, run)
    }
}

/// One start of an experiment's runs, training in the background.
struct Worker {
    source: u64,
    /// Stops every run of this start (quitting).
    cancel: Arc<AtomicBool>,
    /// Stops single runs (the user's cancel), by run index.
    stop: Arc<Mutex<BTreeSet<usize>>>,
    handle: Option<JoinHandle<()>>,
}

/// How the TUI starts.
pub struct Options {
    /// Experiment files to list.
    pub experiments: Vec<PathBuf>,
    /// Where runs are recorded and read from.
    pub runs_dir: PathBuf,
    /// Recorded runs to replay instead of listing `runs_dir`.
    pub replay: Vec<PathBuf>,
    /// Playback speed for `replay` (None: show at once).
    pub speed: Option<f64>,
    /// Runs trained at once (`ratlab tui -j N`; the number of cores by default).
    pub jobs: usize,
}

/// The experiment files ratlab lists by default: `experiments/*.yaml` under `dir`.
pub fn default_experiments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("experiments"))
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Build the model the TUI starts with (also used by tests and the benchmark).
pub fn initial_app(opts: &Options) -> Result<App, crate::error::InputError> {
    let mut app = App::new(Theme::from_env(), opts.runs_dir.clone());
    app.jobs = opts.jobs.max(1);
    app.now = Some(chrono::Utc::now());
    app.add_experiments(&opts.experiments);
    if opts.replay.is_empty() {
        app.add_recorded(&store::list_runs(&opts.runs_dir));
        app.follow_store();
    } else {
        app.start_replay(&opts.replay, opts.speed)?;
    }
    Ok(app)
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, DisableMouseCapture, ratatui::crossterm::cursor::Show);
}

/// Restores the terminal when dropped, whatever path leaves the UI.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn setup_terminal() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    Terminal::new(CrosstermBackend::new(io::stdout()))
}

/// Run the TUI until the user quits. Returns the exit code.
pub fn run(opts: Options) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        anyhow::bail!(crate::error::InputError::new("the terminal UI needs a terminal; use `ratlab run EXPERIMENT.yaml` for headless runs"));
    }
    let mut app = initial_app(&opts)?;
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // A run thread's panic is caught and recorded as that run's failure; printing it would
        // scribble over the UI. A panic of the UI itself restores the terminal first.
        if std::thread::current().name() == Some("main") {
            restore_terminal();
            prev(info);
        }
    }));
    let _guard = TerminalGuard;
    let mut terminal = setup_terminal()?;
    let result = event_loop(&mut terminal, &mut app);
    drop(terminal);
    restore_terminal();
    result
}

struct Loop {
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    workers: Vec<Worker>,
    next_source: u64,
    /// Previews and summaries being computed, by key: asked for once.
    loading: BTreeSet<PathBuf>,
    /// The Generate view's models, each loaded once in its own worker and kept while the view
    /// is open.
    servers: Vec<(PathBuf, crate::experiments::serve::Server)>,
}

fn event_loop(terminal: &mut Terminal<CrosstermBackend<Stdout>>, app: &mut App) -> anyhow::Result<u8> {
    let (tx, rx) = channel();
    let mut lp = Loop { tx, rx, workers: vec![], next_source: 1, loading: BTreeSet::new(), servers: Vec::new() };
    // A file read in chunks (`data.chunk_rows`) says in the status line how far it has got.
    let said = Mutex::new((lp.tx.clone(), Instant::now() - FRAME));
    crate::data::progress::install(Box::new(move |file, rows| {
        if let Ok(mut g) = said.lock() {
            let Some(rows) = rows else {
                let name = Path::new(file).file_name().map_or(file.into(), |n| n.to_string_lossy());
                let _ = g.0.send(Msg::Status(format!("read {name}")));
                return;
            };
            if g.1.elapsed() >= Duration::from_millis(200) {
                g.1 = Instant::now();
                let _ = g.0.send(Msg::Status(crate::data::progress::line(file, rows)));
            }
        }
    }));
    let mut dirty = true;
    let mut last_draw = Instant::now() - FRAME;
    let mut last_tick = Instant::now();
    let mut last_scan = Instant::now();
    loop {
        // Coalesce everything the workers sent since the last frame.
        for _ in 0..100_000 {
            match lp.rx.try_recv() {
                Ok(m) => {
                    dirty = true;
                    apply_msg(app, &mut lp, m);
                }
                Err(_) => break,
            }
        }
        let dt = last_tick.elapsed().as_secs_f64() * 1000.0;
        last_tick = Instant::now();
        dirty |= app.tick_replay(dt);
        // Runs other processes record (a Slurm array's tasks) join the list as they land.
        if app.replay.is_none() && last_scan.elapsed() >= STORE_SCAN {
            dirty |= app.follow_store();
            last_scan = Instant::now();
        }
        if app.view == View::Data {
            load_previews(app, &mut lp);
        }
        if app.view == View::Generate {
            for (model, server) in &lp.servers {
                while let Some(said) = server.next() {
                    app.on_said(model, said);
                    dirty = true;
                }
            }
        } else {
            // Leaving the view unloads its models.
            lp.servers.clear();
        }
        if dirty && last_draw.elapsed() >= FRAME {
            terminal.draw(|f| views::draw(app, f))?;
            dirty = false;
            last_draw = Instant::now();
        }
        let wait = FRAME.saturating_sub(last_draw.elapsed()).max(Duration::from_millis(5));
        if event::poll(wait)? {
            let cmds = match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => app.on_key(k),
                Event::Mouse(m) => {
                    app.on_mouse(m);
                    vec![]
                }
                _ => vec![],
            };
            dirty = true;
            for c in cmds {
                match c {
                    Command::Quit => {
                        shutdown(&mut lp);
                        return Ok(0);
                    }
                    Command::Start { experiment, runs } => start(app, &mut lp, experiment, runs),
                    Command::Ask { models, ask } => {
                        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                        let threads = cores / models.len().max(1);
                        for model in models {
                            let device = "auto";
                            if !lp.servers.iter().any(|(m, _)| *m == model) {
                                match crate::experiments::serve::Server::spawn(&model, device, threads) {
                                    Ok(s) => lp.servers.push((model.clone(), s)),
                                    Err(error) => {
                                        app.on_said(&model, crate::experiments::serve::Said::Error { error });
                                        continue;
                                    }
                                }
                            }
                            if let Some((_, s)) = lp.servers.iter_mut().find(|(m, _)| *m == model) {
                                if let Err(error) = s.ask(&ask) {
                                    app.on_said(&model, crate::experiments::serve::Said::Error { error });
                                }
                            }
                        }
                    }
                    Command::Cancel(id) => {
                        if let Some((source, index)) = app.source_of(id) {
                            for w in lp.workers.iter().filter(|w| w.source == source) {
                                if let Ok(mut s) = w.stop.lock() {
                                    s.insert(index);
                                }
                            }
                        }
                    }
                    Command::SavePlot { runs, metric, out } => {
                        app.status = format!("saving {}…", out.display());
                        let tx = lp.tx.clone();
                        std::thread::spawn(move || {
                            let said = catch_panic(|| save_plot(&runs, &metric, &out)).unwrap_or_else(|e| format!("could not save the figure: {e}"));
                            let _ = tx.send(Msg::Status(said));
                        });
                    }
                    Command::Edit(i) => {
                        edit(terminal, app, i)?;
                        terminal.clear()?;
                    }
                }
            }
        }
    }
}

fn apply_msg(app: &mut App, lp: &mut Loop, m: Msg) {
    match m {
        Msg::Event { source, index, dir, event } => app.on_event(source, index, dir, &event, true),
        Msg::Preview { key, preview } => {
            lp.loading.remove(&key);
            app.set_preview(key, preview);
        }
        Msg::LmSummary { path, summary } => {
            lp.loading.remove(&path);
            app.lm_previews.insert(path, summary);
        }
        Msg::Status(s) => app.status = s,
        Msg::Done { source, error } => {
            if let Some(e) = error {
                app.status = e;
            }
            for id in app.ids_of_source(source) {
                app.set_live(id, false);
            }
            for w in lp.workers.iter_mut().filter(|w| w.source == source) {
                if let Some(h) = w.handle.take() {
                    let _ = h.join();
                }
            }
            lp.workers.retain(|w| w.handle.is_some());
        }
    }
}

/// Start runs of an experiment on one background thread: data is loaded once, then the runs
/// go through the same scheduler as `ratlab run -j N` (`app.jobs` at once; transformer runs,
/// which may start from each other and keep every core busy, one after another; TPE and pruned
/// searches in their fixed batches), so a 500-trial grid uses `jobs` threads, not 500, and a
/// search gives the trials and results it gives headless.
fn start(app: &mut App, lp: &mut Loop, exp: usize, only: Option<Vec<usize>>) {
    let Some(plan) = app.experiments.get(exp).and_then(|e| e.plan.clone()) else { return };
    let indices: Vec<usize> = only.unwrap_or_else(|| plan.runs.iter().map(|r| r.index).collect());
    if indices.is_empty() {
        return;
    }
    let yaml = serde_saphyr::to_string(&plan.resolved).unwrap_or_default();
    let torch_runs = indices.iter().filter(|i| plan.runs.iter().any(|r| r.index == **i && r.algorithm.is_language_model())).count();
    let jobs = app.jobs.max(1);
    let started = format!(
        "started {} run(s) of {}, {}",
        indices.len(),
        plan.name,
        if torch_runs > 0 { "one after another (transformer runs)".to_string() } else { format!("up to {jobs} at once") }
    );
    app.status = if plan.data.is_some() { format!("reading the data of {}…", plan.name) } else { started.clone() };
    let source = lp.next_source;
    lp.next_source += 1;
    app.expect_source(source, indices.iter().copied().min());
    let cancel = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(Mutex::new(BTreeSet::new()));
    let (tx, cancel2, stop2, out) = (lp.tx.clone(), cancel.clone(), stop.clone(), app.runs_dir.clone());
    // The data is read and encoded here, off the UI thread: a large file takes seconds.
    let handle = std::thread::spawn(move || {
        let name = plan.name.clone();
        report_end(&tx.clone(), source, &name, || {
            let prepared = plan.prepare().map_err(|e| e.to_string().lines().next().unwrap_or_default().to_string())?;
            let _ = tx.send(Msg::Status(started));
            let mut sink = UiSink { store: StoreSink::new(&out, yaml), tx: tx.clone(), source, stop: stop2 };
            let _ = runner::run_plan_jobs(&plan, prepared.as_ref(), Some(&indices), jobs, &mut sink, &cancel2);
            sink.store.error.take().map_or(Ok(()), Err)
        });
    });
    lp.workers.push(Worker { source, cancel, stop, handle: Some(handle) });
}

/// Do a start's `work` and tell the UI it ended, whatever ended it (its error, or a panic
/// outside any one run), so that its runs never stay "live".
fn report_end(tx: &Sender<Msg>, source: u64, experiment: &str, work: impl FnOnce() -> Result<(), String>) {
    let error = match catch_panic(work) {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e),
        Err(panic) => Some(format!("the runs of {experiment} stopped: {panic}")),
    };
    let _ = tx.send(Msg::Done { source, error });
}

/// Cancel every run and wait (briefly) for them to record their end.
fn shutdown(lp: &mut Loop) {
    for w in &lp.workers {
        w.cancel.store(true, Ordering::SeqCst);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    for w in &mut lp.workers {
        if let Some(h) = w.handle.take() {
            while !h.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

/// Write a figure of recorded runs, as `ratlab plot` does; what happened, for the status line.
pub fn save_plot(runs: &[PathBuf], metric: &str, out: &Path) -> String {
    use crate::experiments::{plot, recorded};
    let written = out
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .map_err(|e| e.to_string())
        .and_then(|()| recorded::collect(runs, true).map_err(|e| e.to_string()))
        .and_then(|recorded| plot::plot(&recorded, metric, plot::XAxis::X, out, (1200, 700)).map_err(|e| e.to_string()));
    match written {
        Ok(()) => format!("saved {}", out.display()),
        Err(e) => format!("could not save the figure: {}", e.lines().next().unwrap_or_default()),
    }
}

/// Run `f`, turning a panic into its message: a background thread always reports its end.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|p| crate::error::panic_text(p.as_ref()))
}

/// Ask for what the Data view of the selected experiment shows and is not there yet: the
/// dataset's preview, or its language-data summaries, each computed on a background thread.
fn load_previews(app: &App, lp: &mut Loop) {
    let Some(i) = app.selected_experiment() else { return };
    let Some(plan) = app.experiments[i].plan.as_ref() else { return };
    for r in &plan.runs {
        let Some(lm) = &r.lm else { continue };
        if app.lm_previews.contains_key(&lm.data.path) || lp.loading.contains(&lm.data.path) {
            continue;
        }
        let path = lm.data.path.clone();
        lp.loading.insert(path.clone());
        let (tx, cfg, seed) = (lp.tx.clone(), lm.data.clone(), r.seed);
        std::thread::spawn(move || {
            let summary = catch_panic(|| preview::language_summary(&cfg, seed)).unwrap_or_else(Err);
            let _ = tx.send(Msg::LmSummary { path, summary });
        });
    }
    let Some(key) = views::data_preview_key(app, i) else { return };
    if app.previews.contains_key(&key) || lp.loading.contains(&key) {
        return;
    }
    let Some(cfg) = plan.data.clone() else { return };
    lp.loading.insert(key.clone());
    let (tx, seed) = (lp.tx.clone(), plan.seed);
    std::thread::spawn(move || {
        let preview = catch_panic(|| preview::preview(&cfg, seed)).unwrap_or_else(Err);
        let _ = tx.send(Msg::Preview { key, preview });
    });
}

/// Open `$EDITOR` on a copy of an experiment, then list the copy (validated) next to it.
fn edit(terminal: &mut Terminal<CrosstermBackend<Stdout>>, app: &mut App, i: usize) -> anyhow::Result<()> {
    let src = app.experiments[i].path.clone();
    let drafts = app.runs_dir.join("drafts");
    std::fs::create_dir_all(&drafts)?;
    let stem = src.file_stem().and_then(|s| s.to_str()).unwrap_or("experiment").to_string();
    let mut n = 1;
    let copy = loop {
        let c = drafts.join(format!("{stem}-{n}.yaml"));
        if !c.exists() {
            break c;
        }
        n += 1;
    };
    let original = std::fs::read_to_string(&src)?;
    std::fs::write(&copy, &original)?;
    let editor = std::env::var("VISUAL").or_else(|_| std::env::var("EDITOR")).unwrap_or_else(|_| "vi".into());
    restore_terminal();
    let status = std::process::Command::new("sh").arg("-c").arg(format!("{editor} \"$1\"")).arg("sh").arg(&copy).status();
    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    terminal.clear()?;
    match status {
        Err(e) => app.status = format!("could not start the editor '{editor}': {e}"),
        Ok(_) => {
            let edited = std::fs::read_to_string(&copy).unwrap_or_default();
            if edited == original {
                let _ = std::fs::remove_file(&copy);
                app.status = "no changes".into();
            } else {
                let mut e = ExperimentEntry::load(&copy);
                e.draft = true;
                let ok = e.plan.is_some();
                app.experiments.insert(i + 1, e);
                app.filter.clear();
                app.exp_sel = i + 1;
                app.status = if ok { format!("{} is valid: r runs it", copy.display()) } else { format!("{} has errors (shown inline)", copy.display()) };
                app.view = View::Yaml;
                app.pane = app::Pane::Single(View::Yaml);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_always_reports_its_end_even_when_it_panics() {
        let (tx, rx) = channel();
        report_end(&tx, 7, "exp", || panic!("outside any run"));
        report_end(&tx, 8, "exp", || Err("bad data".into()));
        report_end(&tx, 9, "exp", || Ok(()));
        let ends: Vec<(u64, Option<String>)> = rx.try_iter().filter_map(|m| if let Msg::Done { source, error } = m { Some((source, error)) } else { None }).collect();
        assert_eq!(ends, [(7, Some("the runs of exp stopped: outside any run".into())), (8, Some("bad data".into())), (9, None)]);
    }
}
