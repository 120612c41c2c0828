//! The Data view: schema, statistics, first rows and class balance of the selected
//! experiment's dataset.

use super::{block, num};
use crate::ui::app::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

/// The key a preview is cached under for an experiment.
pub fn preview_key(app: &App, exp: usize) -> Option<std::path::PathBuf> {
    let e = app.experiments.get(exp)?;
    let cfg = e.plan.as_ref()?.data.as_ref()?;
    Some(match &cfg.source {
        crate::data::Source::File(p) => p.clone(),
        crate::data::Source::Generate(_) => e.path.with_extension("generated"),
    })
}

pub fn draw(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let msg = |s: &str| Paragraph::new(format!(" {s}")).block(block(app, " Data ", true));
    let Some(i) = app.selected_experiment() else {
        f.render_widget(msg("select an experiment in view 1"), area);
        return;
    };
    if let Some(plan) = app.experiments[i].plan.as_ref().filter(|p| p.runs.iter().any(|r| r.lm.is_some())) {
        return draw_language(app, f, area, plan);
    }
    let Some(key) = preview_key(app, i) else {
        let why = if app.experiments[i].plan.is_none() { "the experiment has errors (view 5)" } else { "this experiment uses no dataset" };
        f.render_widget(msg(why), area);
        return;
    };
    let p = match app.previews.get(&key) {
        None => return f.render_widget(msg("loading…"), area),
        Some(Err(e)) => return f.render_widget(Paragraph::new(Span::styled(format!(" {e}"), t.bad())).block(block(app, " Data ", true)), area),
        Some(Ok(p)) => p,
    };
    let [stats_area, bottom] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area);
    let [head_area, bal_area] = Layout::horizontal([Constraint::Min(30), Constraint::Length(34)]).areas(bottom);
    let opt = |v: Option<f64>| v.map(num).unwrap_or_else(|| "·".into());
    let header = Row::new(["column", "type", "nulls", "mean", "std", "min", "max", "distinct"]).style(t.accent());
    let rows: Vec<Row> = p
        .columns
        .iter()
        .skip(app.scroll as usize)
        .map(|c| {
            let name = if c.name == p.target { format!("{} (target)", c.name) } else { c.name.clone() };
            let nulls = Cell::from(c.nulls.to_string()).style(if c.nulls > 0 { t.warn() } else { t.dim() });
            Row::new(vec![Cell::from(name), Cell::from(c.dtype.clone()).style(t.dim()), nulls, Cell::from(opt(c.mean)), Cell::from(opt(c.std)), Cell::from(opt(c.min)), Cell::from(opt(c.max)), Cell::from(c.distinct.to_string())])
        })
        .collect();
    let name_w = p.columns.iter().map(|c| c.name.chars().count() + if c.name == p.target { 9 } else { 0 }).max().unwrap_or(6).clamp(6, 40) as u16 + 1;
    let widths = [Constraint::Length(name_w), Constraint::Length(8), Constraint::Length(6), Constraint::Length(10), Constraint::Length(10), Constraint::Length(10), Constraint::Length(10), Constraint::Length(8)];
    let title = format!(" {} · {} rows × {} columns ", p.source, p.rows, p.columns.len());
    f.render_widget(Table::new(rows, widths).header(header).block(block(app, title, true)), stats_area);
    // First rows, as many columns as fit.
    let col_w = 11u16;
    let fit = ((head_area.width.saturating_sub(2)) / (col_w + 1)).max(1) as usize;
    let names: Vec<String> = p.columns.iter().take(fit).map(|c| c.name.chars().take(col_w as usize).collect()).collect();
    let rows: Vec<Row> = p.head.iter().map(|r| Row::new(r.iter().take(fit).map(|v| Cell::from(v.chars().take(col_w as usize).collect::<String>())).collect::<Vec<_>>())).collect();
    let widths: Vec<Constraint> = (0..names.len()).map(|_| Constraint::Length(col_w)).collect();
    let more = if p.columns.len() > fit { format!(" (first {fit} of {} columns)", p.columns.len()) } else { String::new() };
    f.render_widget(Table::new(rows, widths).header(Row::new(names).style(t.accent())).block(block(app, format!(" first rows{more} "), false)), head_area);
    // Class balance as bars.
    let total: usize = p.balance.iter().map(|b| b.1).sum();
    let bar_w = bal_area.width.saturating_sub(20) as usize;
    let mut lines = Vec::new();
    for (label, n) in &p.balance {
        let frac = *n as f64 / total.max(1) as f64;
        let bar = "█".repeat((frac * bar_w as f64).round() as usize);
        lines.push(Line::from(vec![Span::raw(format!(" {:<8.8} ", label)), Span::styled(bar, t.accent()), Span::styled(format!(" {n} ({:.0}%)", frac * 100.0), t.dim())]));
    }
    if p.balance.is_empty() {
        lines.push(Line::from(Span::styled(" numeric target (no classes)", t.dim())));
    }
    f.render_widget(Paragraph::new(lines).block(block(app, format!(" {} balance ", p.target), false)), bal_area);
}

/// Language-model data: per data file of the experiment's runs, its format, the train and test
/// sizes and the first examples (read once, in the background: "loading…" until then).
fn draw_language(app: &App, f: &mut Frame<'_>, area: Rect, plan: &crate::experiments::plan::Plan) {
    let t = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    let mut seen: Vec<&crate::data::lm::LmDataConfig> = Vec::new();
    for r in &plan.runs {
        let Some(lm) = &r.lm else { continue };
        let users: Vec<&str> = plan.runs.iter().filter(|o| o.lm.as_ref().is_some_and(|l| l.data == lm.data)).map(|o| o.name.as_str()).collect();
        if seen.contains(&&lm.data) {
            continue;
        }
        seen.push(&lm.data);
        lines.push(Line::from(vec![
            Span::styled(format!(" {} ", lm.data.path.display()), t.accent()),
            Span::styled(format!("format {} · runs {}", lm.data.format.as_str(), users.join(", ")), t.dim()),
        ]));
        match app.lm_previews.get(&lm.data.path) {
            None => lines.push(Line::from(Span::styled("   loading…", t.dim()))),
            Some(Ok(v)) => lines.extend(v.iter().map(|l| Line::from(format!("   {l}")))),
            Some(Err(e)) => lines.push(Line::from(Span::styled(format!("   {e}"), t.bad()))),
        }
        lines.push(Line::raw(""));
    }
    f.render_widget(Paragraph::new(lines).block(block(app, " Data · language ", true)), area);
}
