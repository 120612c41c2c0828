//! A search's trials folded into one expandable line of the runs list, with its best trial by
//! the search's metric.

use super::{App, Pane, RunEntry};
use crate::experiments::events::Status;
use std::collections::{BTreeSet, HashMap};

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

impl App {
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
    pub(super) fn row_identity(row: &RunRow, runs: &[RunEntry]) -> (bool, usize) {
        match row {
            RunRow::Run(i) => (false, runs[*i].id),
            RunRow::Search(g) => (true, g.key),
        }
    }

    /// Put the selection back on the row it was on (after runs were added above it).
    pub(super) fn reselect(&mut self, was: Option<(bool, usize)>) {
        if let Some(was) = was {
            if let Some(k) = self.visible_rows().iter().position(|r| Self::row_identity(r, &self.runs) == was) {
                self.run_sel = k;
            }
        }
    }

    /// Open or close the search group under the cursor (runs list only); whether there was one.
    /// Closing from a trial line closes its group and selects the group line.
    pub(super) fn open_group(&mut self, open: bool) -> bool {
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
}
