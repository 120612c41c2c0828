//! Runs that other processes record in the run store while the TUI is open (a Slurm array's
//! tasks, a `ratlab run` in another terminal): new run directories are added to the list as
//! they land, and the ones still running follow their `events.jsonl` as it grows.

use super::{App, RunEntry};
use crate::experiments::events::Status;
use crate::experiments::store::{self, EventTail};
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

/// What the TUI knows of the store beyond its own runs.
#[derive(Debug, Default)]
pub struct StoreWatch {
    /// Run directories already in the list (or written by this process).
    known: HashSet<PathBuf>,
    /// Other writers' runs still running: their entry id and where their events were read to.
    live: BTreeMap<PathBuf, (usize, EventTail)>,
}

impl StoreWatch {
    /// A directory the list already holds (loaded at start, or one of this process's runs).
    pub fn know(&mut self, dir: PathBuf) {
        self.known.insert(dir);
    }
}

impl App {
    /// Look at the store again: add the runs other processes recorded since the last look and
    /// fold in the new events of the ones still running. Returns whether anything changed.
    pub fn follow_store(&mut self) -> bool {
        let mut changed = false;
        // Keep the selection on the same line while runs are inserted at the top.
        let was = self.selected_row().map(|r| Self::row_identity(&r, &self.runs));
        for d in store::new_runs(&self.runs_dir, &self.watch.known, None) {
            self.watch.known.insert(d.clone());
            if store::written_here(&d) {
                continue;
            }
            let mut tail = EventTail::new(&d);
            let events = tail.read_new();
            let id = self.alloc_id();
            let Some(mut e) = events.first().and_then(|ev| RunEntry::from_started(id, ev)) else { continue };
            for ev in &events[1..] {
                e.apply(ev);
            }
            e.dir = Some(d.clone());
            e.status = store::settled(&d, e.status);
            if e.status == Status::Running {
                self.watch.live.insert(d, (id, tail));
            }
            self.runs.insert(0, e);
            changed = true;
        }
        let mut ended = vec![];
        for (d, (id, tail)) in &mut self.watch.live {
            let events = tail.read_new();
            let Some(e) = self.runs.iter_mut().find(|r| r.id == *id) else {
                ended.push(d.clone());
                continue;
            };
            changed |= !events.is_empty();
            for ev in &events {
                e.apply(ev);
            }
            let now = store::settled(d, e.status);
            if now != e.status {
                e.status = now;
                changed = true;
            }
            if e.status != Status::Running {
                ended.push(d.clone());
            }
        }
        for d in ended {
            self.watch.live.remove(&d);
        }
        if changed {
            self.reselect(was);
            self.clamp_selections();
        }
        changed
    }
}
