//! Headless progress: a [`Sink`] that draws a bar per run (and per search) on a terminal, or
//! prints plain lines when piped.

use super::render::fmt_metrics;
use super::Format;
use crate::experiments::events::{Flow, Level, Metrics, RunEvent, Sink};
use crate::experiments::plan::{Plan, RunPlan};
use crate::metrics::format_value as fmt_num;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

/// Headless progress: bars on a terminal, plain lines when piped, nothing for JSON output.
/// With a search, one bar per active trial (cleared when it ends) and one per search with the
/// trials done and the running best.
pub struct Console {
    bars: Option<(MultiProgress, BTreeMap<usize, ProgressBar>)>,
    lines: bool,
    /// The metric each run's bar shows, by run index.
    keys: BTreeMap<usize, String>,
    searches: BTreeMap<String, SearchProgress>,
}

/// A search's progress on the console.
struct SearchProgress {
    metric: crate::metrics::Objective,
    total: usize,
    done: usize,
    best: Option<(String, f64)>,
    bar: Option<ProgressBar>,
}

impl SearchProgress {
    fn line(&self, name: &str) -> String {
        let best = match &self.best {
            Some((run, v)) => format!("best {run} {} {}", self.metric.as_str(), fmt_num(*v)),
            None => "no trial finished yet".into(),
        };
        format!("search {name}: {}/{} trial(s) done · {best}", self.done, self.total)
    }
}

impl Console {
    /// `selected`: the runs that will run (`--run`, `--trial`), `None` for all; a search's
    /// progress counts its selected trials.
    pub fn new(format: Format, plan: &Plan, selected: Option<&[usize]>) -> Console {
        let tty = std::io::stderr().is_terminal();
        let bars = tty.then(|| (MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)), BTreeMap::new()));
        let searches = plan
            .searches
            .iter()
            .map(|s| {
                let total = s.trials.iter().filter(|i| selected.is_none_or(|sel| sel.contains(i))).count();
                (s.run.clone(), SearchProgress { metric: s.metric, total, done: 0, best: None, bar: None })
            })
            .collect();
        Console { bars, lines: !tty && format == Format::Text, keys: BTreeMap::new(), searches }
    }

    /// Run `f` (a question on the terminal) with the bars hidden, so they do not draw over it.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.bars {
            Some((mp, _)) => mp.suspend(f),
            None => f(),
        }
    }

    /// A line above the bars for an executor's progress, on a terminal.
    pub fn status_bar(&self) -> Option<ProgressBar> {
        let (mp, _) = self.bars.as_ref()?;
        let bar = mp.insert(0, ProgressBar::new_spinner());
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        Some(bar)
    }

    /// Count a trial that ended; returns its search's progress line.
    fn trial_ended(&mut self, run: &RunPlan, metrics: Option<&Metrics>) -> Option<String> {
        let t = run.trial.as_ref()?;
        let sp = self.searches.get_mut(&t.search)?;
        sp.done += 1;
        if let Some(&v) = metrics.and_then(|m| m.get(sp.metric.as_str())).filter(|v| v.is_finite()) {
            let better = sp.best.as_ref().is_none_or(|(_, b)| sp.metric.better(v, *b));
            if better {
                sp.best = Some((run.name.clone(), v));
            }
        }
        let line = sp.line(&t.search);
        if let Some(bar) = &sp.bar {
            bar.set_position(sp.done as u64);
            if sp.done == sp.total {
                bar.finish_with_message(line.clone());
            } else {
                bar.set_message(line.clone());
            }
        }
        Some(line)
    }
}

impl Sink for Console {
    fn event(&mut self, run: &RunPlan, ev: &RunEvent) -> Flow {
        let name = &run.name;
        if let Some((mp, bars)) = &mut self.bars {
            match ev {
                RunEvent::Started { total_steps, algorithm, backend, .. } => {
                    let pb = mp.add(ProgressBar::new(total_steps.unwrap_or(0)));
                    pb.set_style(
                        ProgressStyle::with_template("{prefix:>18.bold} [{bar:24}] {pos:>5}/{len:<5} {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                    pb.set_prefix(name.clone());
                    pb.set_message(format!("{algorithm} · {backend}"));
                    bars.insert(run.index, pb);
                    self.keys.remove(&run.index);
                    if let Some(sp) = run.trial.as_ref().and_then(|t| self.searches.get_mut(&t.search)).filter(|sp| sp.bar.is_none()) {
                        let bar = mp.insert(0, ProgressBar::new(sp.total as u64));
                        bar.set_style(ProgressStyle::with_template("{msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
                        bar.set_message(sp.line(run.trial.as_ref().map_or("", |t| t.search.as_str())));
                        sp.bar = Some(bar);
                    }
                }
                RunEvent::Step { metrics, .. } => {
                    if let Some(pb) = bars.get(&run.index) {
                        pb.inc(1);
                        let key = self.keys.entry(run.index).or_insert_with(|| {
                            metrics.keys().find(|k| k.starts_with("test.")).or(metrics.keys().next()).cloned().unwrap_or_default()
                        });
                        if let Some(v) = metrics.get(key.as_str()) {
                            pb.set_message(format!("{key} {}", fmt_num(*v)));
                        }
                    }
                }
                RunEvent::Message { level: Level::Warning, text, .. } => {
                    let _ = mp.println(format!("  {name}: warning: {text}"));
                }
                RunEvent::Phase { phase, .. } => {
                    if let Some(pb) = bars.get(&run.index) {
                        pb.set_message(phase.clone());
                    }
                }
                RunEvent::Message { .. } | RunEvent::Sample { .. } => {}
                RunEvent::Finished { metrics, .. } => {
                    if let Some(pb) = bars.remove(&run.index) {
                        if run.trial.is_some() {
                            // A search's trials come and go; the search's line keeps the score.
                            pb.finish_and_clear();
                        } else {
                            pb.set_length(pb.position());
                            pb.finish_with_message(format!("✓ {}", fmt_metrics(metrics)));
                        }
                    }
                    self.trial_ended(run, Some(metrics));
                }
                RunEvent::Failed { error, cancelled, pruned, .. } => {
                    if let Some(pb) = bars.remove(&run.index) {
                        if *pruned {
                            pb.finish_and_clear();
                        } else {
                            pb.abandon_with_message(if *cancelled { "cancelled".to_string() } else { format!("✗ {error}") });
                        }
                    }
                    self.trial_ended(run, None);
                }
            }
        } else if self.lines {
            let mut o = std::io::stdout().lock();
            let _ = match ev {
                RunEvent::Started { algorithm, backend, .. } => writeln!(o, "run {name}: {algorithm} on {backend}"),
                RunEvent::Message { level, text, .. } => {
                    let l = if *level == Level::Warning { "warning: " } else { "" };
                    writeln!(o, "  {name}: {l}{text}")
                }
                RunEvent::Finished { metrics, .. } => {
                    let progress = self.trial_ended(run, Some(metrics)).map(|l| format!(" · {l}")).unwrap_or_default();
                    writeln!(o, "  {name}: finished {}{progress}", fmt_metrics(metrics))
                }
                RunEvent::Failed { error, cancelled: true, .. } => writeln!(o, "  {name}: cancelled ({error})"),
                RunEvent::Failed { error, pruned: true, .. } => {
                    let progress = self.trial_ended(run, None).map(|l| format!(" · {l}")).unwrap_or_default();
                    writeln!(o, "  {name}: {error}{progress}")
                }
                RunEvent::Failed { error, .. } => {
                    let progress = self.trial_ended(run, None).map(|l| format!(" · {l}")).unwrap_or_default();
                    writeln!(o, "  {name}: failed: {error}{progress}")
                }
                RunEvent::Step { .. } => Ok(()),
                RunEvent::Phase { phase, .. } => writeln!(o, "  {name}: {phase}"),
                RunEvent::Sample { step, text, .. } => {
                    let one: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).take(72).collect();
                    writeln!(o, "  {name}: sample at step {step}: {}", one.trim_end())
                }
            };
        }
        Flow::Continue
    }
}

/// The spinner line that shows the rows read of a file read in chunks (`data.chunk_rows`), on
/// a terminal: under the console's bars once there are bars, alone before.
static READING: std::sync::Mutex<(Option<MultiProgress>, Option<ProgressBar>)> = std::sync::Mutex::new((None, None));

/// Show the rows read of chunked files on stderr, when it is a terminal (once per process).
pub fn show_rows_read() {
    if !std::io::stderr().is_terminal() {
        return;
    }
    crate::data::progress::install(Box::new(|file, rows| {
        let Ok(mut g) = READING.lock() else { return };
        let Some(rows) = rows else {
            if let Some(b) = g.1.take() {
                b.finish_and_clear();
            }
            return;
        };
        let (mp, bar) = &mut *g;
        let bar = bar.get_or_insert_with(|| {
            let b = ProgressBar::new_spinner();
            let b = match mp {
                Some(mp) => mp.add(b),
                None => {
                    b.set_draw_target(ProgressDrawTarget::stderr_with_hz(10));
                    b
                }
            };
            b.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            b
        });
        bar.set_message(crate::data::progress::line(file, rows));
        bar.tick();
    }));
}

/// Clear the rows-read line (a file is read); the next one goes under `under`'s bars.
pub fn rows_read_done(under: Option<&Console>) {
    let Ok(mut g) = READING.lock() else { return };
    if let Some(b) = g.1.take() {
        b.finish_and_clear();
    }
    if let Some(c) = under {
        g.0 = c.bars.as_ref().map(|(mp, _)| mp.clone());
    }
}
