//! Recorded runs played back: all at once, or at a chosen speed as the clock advances.

use super::{App, Pane, View};
use crate::error::InputError;
use crate::experiments::events::RunEvent;
use crate::experiments::store;
use std::path::PathBuf;

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

impl App {
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
                    | RunEvent::Phase { t_ms, .. }
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
}
