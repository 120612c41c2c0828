//! Reading recorded runs: `runs` (listed, filtered, sorted), `runs compare`, `runs show` and
//! `runs diff`.

use super::render::fmt_metrics;
use super::RunsFilter;
use crate::error::InputError;
use crate::experiments::events::Status;
use crate::experiments::store::{self, Summary};
use crate::metrics::format_value as fmt_num;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `ratlab runs`.
pub fn list(out: &Path, f: &RunsFilter) -> anyhow::Result<u8> {
    use crate::experiments::compare;
    let dirs = store::list_runs(out);
    let filtering = f.experiment.is_some() || f.status.is_some() || f.conditions.is_some() || f.sort.is_some() || f.top.is_some() || f.json;
    if !filtering {
        if dirs.is_empty() {
            outln!("no runs under {}", out.display());
            return Ok(0);
        }
        for d in dirs {
            match store::read_run(&d) {
                Ok(log) => {
                    let s = log.summary.or_else(|| Summary::from_events(&log.events));
                    match s {
                        Some(s) => outln!("{:<10} {:<50} {}", s.status.as_str(), d.display(), fmt_metrics(&s.metrics)),
                        None => outln!("{:<10} {}", "empty", d.display()),
                    }
                }
                Err(e) => outln!("{:<10} {} ({e})", "unreadable", d.display()),
            }
        }
        return Ok(0);
    }
    let conditions = match &f.conditions {
        Some(w) => compare::parse_where(w).map_err(|e| InputError::new(e).field("--where"))?,
        None => vec![],
    };
    if let Some(st) = &f.status {
        if Status::parse(st).is_none() {
            let all: Vec<&str> = Status::ALL.iter().map(|s| s.as_str()).collect();
            return Err(InputError::new(format!("'{st}' is not a status; expected one of: {}", all.join(", "))).field("--status").into());
        }
    }
    // Unreadable records are left out of a filtered listing (the plain listing shows them).
    let mut runs: Vec<crate::experiments::recorded::Recorded> = dirs
        .into_iter()
        .filter_map(|d| {
            let s = store::read_summary(&d).or_else(|| store::read_run(&d).ok().and_then(|l| l.summary))?;
            Some(crate::experiments::recorded::Recorded { dir: d, summary: s, events: vec![] })
        })
        .filter(|r| f.experiment.as_ref().is_none_or(|e| &r.summary.experiment == e))
        .filter(|r| f.status.as_ref().is_none_or(|st| r.summary.status.as_str() == st))
        .filter(|r| conditions.iter().all(|c| c.holds(r)))
        .collect();
    if let Some(key) = &f.sort {
        compare::sort_by(&mut runs, key);
    }
    if let Some(n) = f.top {
        runs.truncate(n);
    }
    if f.json {
        let list: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                let s = &r.summary;
                serde_json::json!({"experiment": s.experiment, "run": s.run, "status": s.status.as_str(), "algorithm": s.algorithm,
                    "backend": s.backend, "seed": s.seed, "params": s.params, "metrics": s.metrics, "dir": r.dir.display().to_string()})
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        for r in &runs {
            let s = &r.summary;
            outln!("{:<10} {:<50} {}", s.status.as_str(), r.dir.display(), fmt_metrics(&s.metrics));
        }
    }
    Ok(0)
}

/// `ratlab runs compare`.
pub fn compare(out: &Path, runs: &[PathBuf], experiment: Option<&str>, all: bool, json: bool, csv: bool) -> anyhow::Result<u8> {
    use crate::experiments::{compare, recorded};
    let recorded = match (runs.is_empty(), experiment) {
        (false, None) => recorded::collect(runs, false)?,
        (true, Some(name)) => {
            let every = recorded::collect(&[out.to_path_buf()], false)?;
            // The latest record of each run of the experiment, in run order.
            let mut latest: BTreeMap<String, recorded::Recorded> = BTreeMap::new();
            for r in every.into_iter().filter(|r| r.summary.experiment == name) {
                latest.insert(r.summary.run.clone(), r);
            }
            if latest.is_empty() {
                return Err(InputError::new(format!("no recorded run of experiment '{name}'")).file(out).field("--experiment").into());
            }
            latest.into_values().collect()
        }
        (false, Some(_)) => return Err(InputError::new("give run directories or --experiment, not both").field("--experiment").into()),
        (true, None) => return Err(InputError::new("name the runs to compare (run directories) or --experiment NAME").field("runs compare").into()),
    };
    let table = compare::compare(&recorded, all);
    if json {
        let rows: Vec<serde_json::Value> = table
            .rows
            .iter()
            .map(|r| serde_json::Value::Object(table.columns.iter().cloned().zip(r.iter().cloned()).filter(|(_, v)| !v.is_null()).collect()))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else if csv {
        let cols: Vec<(String, crate::data::table::OutValues)> = table
            .columns
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let vals: Vec<&serde_json::Value> = table.rows.iter().map(|r| &r[c]).collect();
                let values = if vals.iter().all(|v| v.is_number() || v.is_null()) {
                    crate::data::table::OutValues::Numeric(vals.iter().map(|v| v.as_f64().unwrap_or(f64::NAN)).collect())
                } else {
                    crate::data::table::OutValues::Text(vals.iter().map(|v| if v.is_null() { String::new() } else { compare::cell(v) }).collect())
                };
                (name.clone(), values)
            })
            .collect();
        crate::data::table::write_columns(None, cols, &mut std::io::stdout().lock())?;
    } else {
        let width = crossterm::terminal::size().ok().filter(|_| std::io::stdout().is_terminal()).map_or_else(
            || std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()).unwrap_or(120),
            |(w, _)| w as usize,
        );
        outln!("{}", compare::render(&table, width).trim_end());
    }
    Ok(0)
}

/// `ratlab runs show`.
pub fn show(dir: &Path) -> anyhow::Result<u8> {
    if !dir.join("events.jsonl").is_file() {
        return Err(InputError::new("is not a run directory (no events.jsonl)").file(dir).into());
    }
    let log = store::read_run(dir)?;
    let s = log.summary.clone().or_else(|| Summary::from_events(&log.events)).ok_or_else(|| InputError::new("records no run").file(dir))?;
    let data = store::read_experiment(dir).get("data").cloned();
    let cell = crate::experiments::compare::cell;
    outln!("{} / {}  ({} on {}, seed {})", s.experiment, s.run, s.algorithm, s.backend, s.seed);
    outln!("status: {}  ·  {} step(s) in {:.2} s  ·  started {}", s.status.as_str(), s.steps, s.elapsed_ms as f64 / 1000.0, s.started_at);
    outln!("dir: {}", dir.display());
    if let Some(e) = &s.error {
        outln!("error: {e}");
    }
    if let Some(p) = s.params.as_object().filter(|p| !p.is_empty()) {
        outln!("parameters:");
        for (k, v) in p {
            outln!("  {k}: {}", cell(v));
        }
    }
    if let Some(serde_json::Value::Object(d)) = &data {
        outln!("data:");
        for (k, v) in d {
            outln!("  {k}: {}", cell(v));
        }
    }
    for (title, m) in [("metrics (test)", &s.metrics), ("metrics (train)", &s.train_metrics), ("across folds (std)", &s.cv_std)] {
        if !m.is_empty() {
            outln!("{title}:");
            for (k, v) in m {
                outln!("  {k}: {}", fmt_num(*v));
            }
        }
    }
    if !s.messages.is_empty() {
        outln!("messages:");
        for m in &s.messages {
            outln!("  {m}");
        }
    }
    Ok(0)
}

/// `ratlab runs diff`.
pub fn diff(a: &Path, b: &Path) -> anyhow::Result<u8> {
    use crate::experiments::{compare, recorded};
    let mut both = Vec::new();
    for p in [a, b] {
        if !p.join("events.jsonl").is_file() {
            return Err(InputError::new("is not a run directory (no events.jsonl)").file(p).into());
        }
        let mut r = recorded::collect(&[p.to_path_buf()], true)?;
        let data = store::read_experiment(p)["data"].clone();
        both.push((r.remove(0), data));
    }
    for line in compare::diff(&both[0].0, &both[1].0, &both[0].1, &both[1].1) {
        outln!("{line}");
    }
    Ok(0)
}
