//! A run's voice: the events of one run sent on its own clock (times since it started), its
//! summary kept as they go, and the signal that stops it (the plan's Ctrl-C, or its own sink).

use crate::experiments::events::{Flow, Level, RunEvent, Sink};
use crate::experiments::plan::RunPlan;
use crate::experiments::store::Summary;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Why a run ended early.
pub(super) enum Stop {
    Cancelled,
    Error(String),
    /// A search's pruning rule stopped the trial; the reason.
    Pruned(String),
}

/// A run's stop signal: the plan's (Ctrl-C, quitting the TUI) or its own (its sink answered
/// [`Flow::Stop`], e.g. the user cancelled this one run), so stopping one run of a `-j N` wave
/// leaves the others going.
pub(super) struct Cancel<'a> {
    plan: &'a AtomicBool,
    own: AtomicBool,
}

impl Cancel<'_> {
    /// Whether the plan or this run was cancelled.
    pub(super) fn is_set(&self) -> bool {
        self.own.load(Ordering::SeqCst) || self.plan.load(Ordering::SeqCst)
    }
}

/// Emits events for one run with times relative to its start.
pub(super) struct Emitter<'a> {
    run: &'a RunPlan,
    pub(super) sink: &'a mut dyn Sink,
    pub(super) cancel: Cancel<'a>,
    start: Instant,
    summary: Option<Summary>,
    pub(super) artifacts: serde_json::Value,
    /// Figures already reported as undefined (NaN or infinite), each warned about once.
    undefined: std::collections::BTreeSet<String>,
}

impl<'a> Emitter<'a> {
    /// The emitter of `run` into `sink`, its clock starting now; `cancel` is the plan's flag.
    pub(super) fn new(run: &'a RunPlan, sink: &'a mut dyn Sink, cancel: &'a AtomicBool) -> Emitter<'a> {
        Emitter { run, sink, cancel: Cancel { plan: cancel, own: AtomicBool::new(false) }, start: Instant::now(), summary: None, artifacts: serde_json::Value::Null, undefined: Default::default() }
    }
    /// The run's summary, once its events have been sent (the started event creates it).
    pub(super) fn into_summary(mut self) -> Summary {
        self.summary.take().expect("started event creates the summary")
    }
    /// Milliseconds since the run started.
    pub(super) fn t(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }
    /// Send an event (keeping the summary up to date); a sink's stop cancels this run only. A
    /// figure that came out NaN or infinite is left out of the event, and a warning says so
    /// (once per figure).
    pub(super) fn send(&mut self, mut ev: RunEvent) -> Result<(), Stop> {
        for gone in ev.drop_non_finite() {
            let name = gone.split(" = ").next().unwrap_or_default().to_string();
            if self.undefined.insert(name) {
                let at = match &ev {
                    RunEvent::Step { step, .. } => format!("at step {step}"),
                    _ => "at the end".to_string(),
                };
                let text = format!("{gone} {at}: the figure is undefined here and left out of the record");
                self.send(RunEvent::Message { level: Level::Warning, text, t_ms: self.t() })?;
            }
        }
        match &mut self.summary {
            None => self.summary = Summary::from_started(&ev),
            Some(s) => s.apply(&ev),
        }
        let flow = self.sink.event(self.run, &ev);
        if matches!(ev, RunEvent::Step { .. }) {
            fault_delay();
        }
        if flow == Flow::Stop && !ev.is_terminal() {
            self.cancel.own.store(true, Ordering::SeqCst);
        }
        Ok(())
    }
    /// `Err(Cancelled)` once the plan or this run was cancelled.
    pub(super) fn check(&self) -> Result<(), Stop> {
        if self.cancel.is_set() {
            Err(Stop::Cancelled)
        } else {
            Ok(())
        }
    }
    /// A note for the user, on the run's clock.
    pub(super) fn message(&mut self, level: Level, text: String) -> Result<(), Stop> {
        let t_ms = self.t();
        self.send(RunEvent::Message { level, text, t_ms })
    }
}

/// Fault injection for the reliability tests: `RATLAB_FAULT=slow:MS` makes every step take MS milliseconds longer, so tests can stop
/// runs (scancel, signals) at a known point in the middle, whatever the machine's speed.
fn fault_delay() {
    static DELAY: std::sync::OnceLock<Option<std::time::Duration>> = std::sync::OnceLock::new();
    let d = DELAY.get_or_init(|| {
        std::env::var("RATLAB_FAULT").ok()?.strip_prefix("slow:")?.parse().ok().map(std::time::Duration::from_millis)
    });
    if let Some(d) = d {
        std::thread::sleep(*d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::events::Collect;

    #[test]
    fn an_undefined_figure_is_left_out_and_said_once() {
        let p = crate::experiments::plan::from_text("name: e\nruns:\n  - {name: a, algorithm: estimation}\n", std::path::Path::new("e.yaml"), std::path::Path::new("e.yaml")).unwrap();
        let (mut sink, cancel) = (Collect::default(), AtomicBool::new(false));
        let mut em = Emitter::new(&p.runs[0], &mut sink, &cancel);
        em.send(crate::experiments::runner::started(&p, &p.runs[0], Some(2))).ok();
        for step in 1..=2 {
            let metrics = [("test.r2".to_string(), f64::NAN), ("test.rmse".to_string(), 0.5)].into();
            em.send(RunEvent::Step { step, x: step as f64, fold: None, metrics, t_ms: 1 }).ok();
        }
        let summary = em.into_summary();
        let warnings: Vec<&String> = sink.0.iter().filter_map(|e| match e {
            RunEvent::Message { level: Level::Warning, text, .. } => Some(text),
            _ => None,
        }).collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("test.r2 = NaN at step 1"), "{}", warnings[0]);
        assert!(sink.0.iter().all(|e| !matches!(e, RunEvent::Step { metrics, .. } if metrics.contains_key("test.r2"))));
        assert!(summary.messages.iter().any(|m| m.contains("test.r2")), "the record keeps the warning");
    }
}
