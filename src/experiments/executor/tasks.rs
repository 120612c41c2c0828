//! A plan split into array tasks: task `i` runs trial `i` of every search, then one task per
//! chain of plain runs; a task that starts from another's run waits for it.

use super::Submission;
use crate::experiments::plan::{Plan, RunPlan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One unit of work: an array task running `ratlab run EXP --out RUNS` plus its own arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// The task's index in the job array (a search's trial number where it runs trials).
    pub index: usize,
    /// What the task adds to the command: `--trial I`, or `--run NAME` for a run outside a search.
    pub args: Vec<String>,
    /// The runs it records, by name.
    pub runs: Vec<String>,
    /// Tasks whose runs it starts from (`init_from`): it may start only after they finished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<usize>,
}

/// The selected run a run starts from (`init_from: RUN` of the same experiment), if any.
fn parent_of<'p>(plan: &'p Plan, run: &RunPlan, picked: &dyn Fn(&RunPlan) -> bool) -> Option<&'p RunPlan> {
    match run.lm.as_ref()?.init_from.as_ref()? {
        crate::experiments::plan::InitFrom::Run(i) => plan.runs.iter().find(|r| r.index == *i).filter(|r| picked(r)),
        crate::experiments::plan::InitFrom::Dir(_) => None,
    }
}

/// Split the selected runs of a plan into array tasks: task `i` runs trial `i` of every search
/// (`--trial i`, plus `--run SEARCH` for each search when only some are selected); the runs
/// outside a search come after them, one task per chain of runs that start from each other
/// (`--run NAME ...`, run in order by one task). A trial that starts from such a run waits for
/// its task (`after`).
pub fn tasks_of(plan: &Plan, selected: Option<&[usize]>) -> Vec<Task> {
    let picked_fn = |r: &RunPlan| selected.is_none_or(|s| s.contains(&r.index));
    let picked = |r: &&RunPlan| picked_fn(r);
    // Trial number → (search, run name) of the selected trials with that number.
    let mut by_trial: BTreeMap<usize, Vec<(String, String)>> = BTreeMap::new();
    let mut plain = Vec::new();
    for r in plan.runs.iter().filter(picked) {
        match &r.trial {
            Some(t) => by_trial.entry(t.number).or_default().push((t.search.clone(), r.name.clone())),
            None => plain.push(r.name.clone()),
        }
    }
    let mut tasks: Vec<Task> = by_trial
        .into_iter()
        .map(|(i, picked)| {
            let mut args = vec!["--trial".to_string(), i.to_string()];
            let all = plan.runs.iter().filter(|r| r.trial.as_ref().is_some_and(|t| t.number == i)).count();
            if picked.len() != all {
                let mut searches: Vec<&String> = picked.iter().map(|(s, _)| s).collect();
                searches.dedup();
                for s in searches {
                    args.extend(["--run".to_string(), s.clone()]);
                }
            }
            Task { index: i, args, runs: picked.into_iter().map(|(_, n)| n).collect(), after: vec![] }
        })
        .collect();
    // Plain runs, grouped by the first run of their init_from chain.
    let root = |name: &str| -> String {
        let mut r = plan.runs.iter().find(|r| r.name == name);
        let mut steps = 0;
        while let Some(p) = r.and_then(|r| parent_of(plan, r, &picked_fn)).filter(|p| p.trial.is_none()) {
            r = Some(p);
            steps += 1;
            if steps > plan.runs.len() {
                break;
            }
        }
        r.map_or_else(|| name.to_string(), |r| r.name.clone())
    };
    let mut chains: Vec<(String, Vec<String>)> = Vec::new();
    for name in plain {
        let key = root(&name);
        match chains.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(name),
            None => chains.push((key, vec![name])),
        }
    }
    let next = tasks.iter().map(|t| t.index + 1).max().unwrap_or(0);
    for (k, (_, names)) in chains.into_iter().enumerate() {
        let args = names.iter().flat_map(|n| ["--run".to_string(), n.clone()]).collect();
        tasks.push(Task { index: next + k, args, runs: names, after: vec![] });
    }
    // Trials that start from a run of another task wait for it.
    let task_of = |name: &str, tasks: &[Task]| tasks.iter().find(|t| t.runs.iter().any(|r| r == name)).map(|t| t.index);
    for i in 0..tasks.len() {
        let mut after = Vec::new();
        for name in &tasks[i].runs {
            let Some(run) = plan.runs.iter().find(|r| &r.name == name) else { continue };
            if let Some(p) = parent_of(plan, run, &picked_fn) {
                if let Some(t) = task_of(&p.name, &tasks).filter(|t| *t != tasks[i].index && !after.contains(t)) {
                    after.push(t);
                }
            }
        }
        tasks[i].after = after;
    }
    tasks
}

/// Order the tasks to submit into jobs: those that wait for none of the others first, then the
/// ones that wait (submitted with a dependency on the first job). A task whose parent already
/// finished (not among `todo`) waits for nothing.
pub fn stages(sub: &Submission, todo: &[usize]) -> Vec<Vec<usize>> {
    let (waiting, free): (Vec<usize>, Vec<usize>) =
        todo.iter().copied().partition(|i| sub.task(*i).is_some_and(|t| t.after.iter().any(|a| todo.contains(a))));
    [free, waiting].into_iter().filter(|v| !v.is_empty()).collect()
}
