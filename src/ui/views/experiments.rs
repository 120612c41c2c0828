//! The Experiments view: experiment files on the left, recorded and live runs on the right,
//! each search's trials folded into one expandable group with its best trial.

use super::{block, num, status_style};
use crate::experiments::events::Status;
use crate::ui::app::{App, Hit, Pane, RunEntry, RunRow, SearchGroup};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph};
use ratatui::Frame;

/// "3m", "2h", "5d" since an RFC 3339 time.
pub fn age(app: &App, started_at: &str) -> String {
    let (Some(now), Ok(t)) = (app.now, chrono::DateTime::parse_from_rfc3339(started_at)) else { return String::new() };
    let s = (now - t.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Keep the selected row in view: the first row to draw.
pub fn first_row(sel: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        sel.saturating_sub(height - 1)
    }
}

pub fn draw(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let [left, right] = Layout::horizontal([Constraint::Percentage(36), Constraint::Percentage(64)]).areas(area);
    // Experiments.
    let exps = app.visible_experiments();
    let inner_h = left.height.saturating_sub(2) as usize;
    let start = first_row(app.exp_sel, inner_h);
    let mut lines = Vec::new();
    for (row, &i) in exps.iter().enumerate().skip(start).take(inner_h) {
        let e = &app.experiments[i];
        let (mark, style, note) = match &e.plan {
            Some(p) => ("✓", t.ok(), format!("{} run(s)", p.runs.len())),
            None => ("✗", t.bad(), format!("{} error(s)", e.errors.len())),
        };
        let draft = if e.draft { " (edited)" } else { "" };
        let mut l = Line::from(vec![Span::styled(format!(" {mark} "), style), Span::raw(format!("{}{draft}", e.name)), Span::styled(format!("  {note}"), t.dim())]);
        if row == app.exp_sel {
            l = l.style(t.selected());
        }
        app.hits.borrow_mut().push((Rect::new(left.x + 1, left.y + 1 + (row - start) as u16, left.width.saturating_sub(2), 1), Hit::Experiment(row)));
        lines.push(l);
    }
    if exps.is_empty() {
        lines.push(Line::from(Span::styled(" no experiment files (ratlab tui FILE.yaml, or experiments/*.yaml)", t.dim())));
    }
    let title = format!(" Experiments ({}) ", exps.len());
    f.render_widget(Paragraph::new(lines).block(block(app, title, app.pane == Pane::ExperimentList)), left);
    // Runs, each search folded into one group line.
    let rows = app.visible_rows();
    let inner_h = right.height.saturating_sub(3) as usize;
    let start = first_row(app.run_sel, inner_h);
    let label_of = |row: &RunRow| match row {
        RunRow::Run(i) => app.runs[*i].label(),
        RunRow::Search(g) => format!("{}/{}", g.experiment, g.search),
    };
    let name_w = rows.iter().map(|r| label_of(r).chars().count() + 2).max().unwrap_or(10).clamp(10, 40);
    // The algorithm column takes what the fixed columns leave.
    let algo_w = (right.width as usize).saturating_sub(2 + 5 + name_w + 1 + 19 + 8 + 6).clamp(6, 30);
    let mut lines = vec![Line::from(Span::styled(
        format!("     {:<name_w$} {:<algo_w$} {:>18} {:>7} {:>5}", "run", "algorithm · backend", "metric", "steps", "age"),
        t.dim(),
    ))];
    // Trials of an open group are indented under it.
    let mut in_group: std::collections::BTreeSet<usize> = Default::default();
    for row in &rows {
        if let RunRow::Search(g) = row {
            if g.open {
                in_group.extend(g.members.iter().copied());
            }
        }
    }
    for (k, row) in rows.iter().enumerate().skip(start).take(inner_h) {
        let mut l = match row {
            RunRow::Run(i) => run_line(app, &app.runs[*i], in_group.contains(i), name_w, algo_w),
            RunRow::Search(g) => group_line(app, g, name_w, algo_w),
        };
        if k == app.run_sel {
            l = l.style(t.selected());
        }
        app.hits.borrow_mut().push((Rect::new(right.x + 1, right.y + 2 + (k - start) as u16, right.width.saturating_sub(2), 1), Hit::Run(k)));
        lines.push(l);
    }
    if rows.is_empty() {
        lines.push(Line::from(Span::styled(" no runs yet: select an experiment and press r", t.dim())));
    }
    let runs = app.visible_runs();
    let marked = app.runs.iter().filter(|r| r.marked).count();
    let title = format!(" Runs ({}{}) ", runs.len(), if marked > 0 { format!(", {marked} marked") } else { String::new() });
    f.render_widget(Paragraph::new(lines).block(block(app, title, app.pane == Pane::RunList)), right);
}

/// One run's line; a trial inside an open group is indented.
fn run_line<'a>(app: &App, r: &RunEntry, nested: bool, name_w: usize, algo_w: usize) -> Line<'a> {
    let t = &app.theme;
    let (sym, st) = status_style(app, r.status);
    let mark = if r.marked { "●" } else { " " };
    let metric = r.headline().map(|(k, v)| format!("{} {}", k.trim_start_matches("test."), num(v))).unwrap_or_default();
    let steps = match (r.live, r.total_steps) {
        (true, Some(n)) if n > 0 => format!("{}/{n}", r.steps),
        _ => r.steps.to_string(),
    };
    let algo: String = format!("{} · {}", r.algorithm, r.backend).chars().take(algo_w).collect();
    let label: String = if nested { format!("  {}", r.name) } else { r.label() }.chars().take(name_w).collect();
    Line::from(vec![
        Span::styled(format!(" {mark}"), t.accent()),
        Span::styled(format!(" {sym} "), st),
        Span::raw(format!("{label:<name_w$} ")),
        Span::styled(format!("{algo:<algo_w$} "), t.dim()),
        Span::raw(format!("{metric:>18} ")),
        Span::styled(format!("{steps:>7} {:>5}", age(app, &r.started_at)), t.dim()),
    ])
}

/// A search group's line: ▸/▾, how many trials and in which state, and the best trial.
fn group_line<'a>(app: &App, g: &SearchGroup, name_w: usize, algo_w: usize) -> Line<'a> {
    let t = &app.theme;
    let members: Vec<&RunEntry> = g.members.iter().map(|&i| &app.runs[i]).collect();
    let count = |s: Status| members.iter().filter(|r| r.status == s).count();
    let running = count(Status::Running);
    let status = if running > 0 {
        Status::Running
    } else if count(Status::Finished) > 0 {
        Status::Finished
    } else {
        members.first().map_or(Status::Finished, |r| r.status)
    };
    let (sym, st) = status_style(app, status);
    let mark = if !members.is_empty() && members.iter().all(|r| r.marked) { "●" } else { " " };
    let mut states = vec![format!("{} trials", members.len())];
    for (s, word) in [(Status::Running, "running"), (Status::Pruned, "pruned"), (Status::Failed, "failed"), (Status::Cancelled, "cancelled")] {
        let n = count(s);
        if n > 0 {
            states.push(format!("{n} {word}"));
        }
    }
    let info: String = states.join(" · ").chars().take(algo_w).collect();
    let (metric, best) = match &g.best {
        Some((i, m, v)) => (format!("{m} {}", num(*v)), format!("★ #{}", app.runs[*i].name.rsplit('#').next().unwrap_or_default())),
        None => (String::new(), String::new()),
    };
    let newest = members.iter().map(|r| r.started_at.as_str()).max().unwrap_or("");
    let label: String = format!("{} {}/{}", if g.open { "▾" } else { "▸" }, g.experiment, g.search).chars().take(name_w).collect();
    Line::from(vec![
        Span::styled(format!(" {mark}"), t.accent()),
        Span::styled(format!(" {sym} "), st),
        Span::styled(format!("{label:<name_w$} "), t.accent()),
        Span::styled(format!("{info:<algo_w$} "), t.dim()),
        Span::styled(format!("{metric:>18} "), t.best()),
        Span::styled(format!("{best:>7} {:>5}", age(app, newest)), t.dim()),
    ])
}
