//! A wave of runs up to `-j` at once, each on its own thread: their sink calls are forwarded to
//! the calling thread, so the one sink needs no locking and sees each run's events in order.

use super::one::run_one;
use crate::data::Fold;
use crate::experiments::events::{Flow, RunEvent, Sink};
use crate::experiments::plan::{Plan, RunPlan};
use crate::experiments::store::Summary;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;

/// Run `runs` up to `jobs` at once; each one's summary in order (`None`: not started, cancelled
/// before its turn).
pub(super) fn run_wave(plan: &Plan, runs: &[RunPlan], folds: Option<&[Fold]>, jobs: usize, sink: &mut dyn Sink, cancel: &AtomicBool) -> Vec<Option<Summary>> {
    if jobs <= 1 || runs.len() <= 1 {
        return runs
            .iter()
            .map(|run| (!cancel.load(Ordering::SeqCst)).then(|| run_one(plan, run, folds, sink, cancel)))
            .collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<Option<Summary>> = runs.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<Request>();
        for _ in 0..jobs.min(runs.len()) {
            let (tx, next) = (tx.clone(), &next);
            scope.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= runs.len() || cancel.load(Ordering::SeqCst) {
                    break;
                }
                let mut forward = Forward { tx: tx.clone() };
                let summary = run_one(plan, &runs[k], folds, &mut forward, cancel);
                if tx.send(Request::Done(k, Box::new(summary))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let by_index: BTreeMap<usize, &RunPlan> = runs.iter().map(|r| (r.index, r)).collect();
        for req in rx {
            let run = |i: usize| by_index[&i];
            match req {
                Request::Event(i, ev, reply) => {
                    let _ = reply.send(sink.event(run(i), &ev));
                }
                Request::Model(i, model) => sink.model(run(i), &model),
                Request::RunDir(i, reply) => {
                    let _ = reply.send(sink.run_dir(run(i)));
                }
                Request::Finished(i, reply) => {
                    let _ = reply.send(sink.finished_run(&plan.name, run(i)));
                }
                Request::Done(k, summary) => done[k] = Some(*summary),
            }
        }
    });
    done
}

/// What a run on a worker thread asks of the sink on the main thread (runs by their index in
/// [`Plan::runs`]).
enum Request {
    Event(usize, Box<RunEvent>, Sender<Flow>),
    Model(usize, serde_json::Value),
    RunDir(usize, Sender<Option<PathBuf>>),
    Finished(usize, Sender<Option<PathBuf>>),
    Done(usize, Box<Summary>),
}

/// The sink of a run on a worker thread: forwards each call to the main thread and waits for
/// the answer. A closed channel means the main thread is gone: stop.
struct Forward {
    tx: Sender<Request>,
}

impl Forward {
    fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Request, otherwise: T) -> T {
        let (reply, answer) = std::sync::mpsc::channel();
        match self.tx.send(make(reply)) {
            Ok(()) => answer.recv().unwrap_or(otherwise),
            Err(_) => otherwise,
        }
    }
}

impl Sink for Forward {
    fn event(&mut self, run: &RunPlan, ev: &RunEvent) -> Flow {
        self.ask(|r| Request::Event(run.index, Box::new(ev.clone()), r), Flow::Stop)
    }
    fn model(&mut self, run: &RunPlan, model: &serde_json::Value) {
        let _ = self.tx.send(Request::Model(run.index, model.clone()));
    }
    fn run_dir(&self, run: &RunPlan) -> Option<PathBuf> {
        self.ask(|r| Request::RunDir(run.index, r), None)
    }
    fn finished_run(&self, _experiment: &str, run: &RunPlan) -> Option<PathBuf> {
        self.ask(|r| Request::Finished(run.index, r), None)
    }
}
