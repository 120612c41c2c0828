//! The Compare view: the compared runs in a table — only the parameters that differ, plus final
//! metrics with the best value highlighted, sortable — and one metric of all of them overlaid.

use super::run::{chart, draw_tabs};
use super::{block, num, status_style};
use crate::ui::app::{App, Hit};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

pub fn draw(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let rows = app.compare_rows();
    if rows.is_empty() {
        f.render_widget(Paragraph::new(" nothing to compare: mark runs with Space in view 1").block(block(app, " Compare ", true)), area);
        return;
    }
    let table_h = (rows.len() as u16 + 3).min(area.height / 2);
    let [table_area, tabs_area, chart_area] = Layout::vertical([Constraint::Length(table_h), Constraint::Length(1), Constraint::Min(6)]).areas(area);
    let metrics = App::compared_metrics(&rows);
    // One experiment: show run names alone.
    let one_exp = rows.iter().all(|r| r.experiment == rows[0].experiment);
    let label = |r: &crate::ui::app::RunEntry| if one_exp { r.name.clone() } else { r.label() };
    let name_w = rows.iter().map(|r| label(r).chars().count() as u16 + 3).max().unwrap_or(10).clamp(8, 40);
    // Metrics first, then as many differing parameters as fit.
    let metric_w: Vec<u16> = metrics.iter().map(|m| (m.chars().count() as u16 + 3).max(10)).collect();
    let mut room = table_area.width.saturating_sub(2 + name_w + metric_w.iter().map(|w| w + 1).sum::<u16>());
    let mut params = Vec::new();
    for p in App::differing_params(&rows) {
        let w = rows.iter().map(|r| App::param_text(r, &p).chars().count()).max().unwrap_or(0).max(p.chars().count()) as u16 + 1;
        if w + 1 > room {
            break;
        }
        room -= w + 1;
        params.push((p, w));
    }
    let best: Vec<Option<f64>> = metrics
        .iter()
        .map(|m| {
            let vals = rows.iter().filter_map(|r| r.metrics.get(m).copied());
            if App::higher_is_better(m) {
                vals.fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
            } else {
                vals.fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.min(v))))
            }
        })
        .collect();
    let sort_mark = |i: usize| if app.sort_col == i { if app.sort_desc { " ▼" } else { " ▲" } } else { "" };
    let mut header = vec![Cell::from(format!("run{}", sort_mark(0)))];
    header.extend(metrics.iter().enumerate().map(|(i, m)| Cell::from(format!("{m}{}", sort_mark(i + 1)))));
    header.extend(params.iter().map(|(p, _)| Cell::from(p.clone()).style(t.dim())));
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .map(|(k, r)| {
            let (sym, st) = status_style(app, r.status);
            let mut cells = vec![Cell::from(Line::from(vec![Span::styled(format!("{sym} "), st), Span::raw(label(r))]))];
            for (m, b) in metrics.iter().zip(&best) {
                let v = r.metrics.get(m).copied();
                let style = if v.is_some() && v == *b && rows.len() > 1 { t.best() } else { Style::default() };
                cells.push(Cell::from(v.map(num).unwrap_or_else(|| "—".into())).style(style));
            }
            cells.extend(params.iter().map(|(p, _)| Cell::from(App::param_text(r, p))));
            app.hits.borrow_mut().push((Rect::new(table_area.x + 1, table_area.y + 2 + k as u16, table_area.width.saturating_sub(2), 1), Hit::CompareRow(k)));
            let row = Row::new(cells);
            if k == app.compare_sel {
                row.style(t.selected())
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![Constraint::Length(name_w)];
    widths.extend(metric_w.iter().map(|w| Constraint::Length(*w)));
    widths.extend(params.iter().map(|(_, w)| Constraint::Length(*w)));
    let marked = app.runs.iter().any(|r| r.marked);
    let title = format!(
        " Compare {} run(s){}{} ",
        rows.len(),
        if one_exp { format!(" of {}", rows[0].experiment) } else { String::new() },
        if marked { " (marked)" } else { " (mark runs with Space)" }
    );
    f.render_widget(Table::new(body, widths).header(Row::new(header).style(t.accent())).block(block(app, title, true)), table_area);
    // One metric of every compared run.
    let mut tabs: Vec<String> = Vec::new();
    for r in &rows {
        for m in r.metric_tabs() {
            if !tabs.contains(&m) {
                tabs.push(m);
            }
        }
    }
    let sel = app.metric_tab.min(tabs.len().saturating_sub(1));
    draw_tabs(app, f, tabs_area, &tabs, sel);
    if let Some(metric) = tabs.get(sel) {
        let mut names = Vec::new();
        let mut sets = Vec::new();
        let mut styles = Vec::new();
        let mut on_test = false;
        for (i, r) in rows.iter().enumerate() {
            let s = match r.series.get(&format!("test.{metric}")) {
                Some(s) => {
                    on_test = true;
                    Some(s)
                }
                None => r.series.get(metric.as_str()),
            };
            if let Some(s) = s {
                names.push(label(r));
                sets.push(s.points());
                styles.push(t.series(i));
            }
        }
        let x_label = rows.first().map(|r| r.x_label.clone()).unwrap_or_default();
        let title = if on_test { format!(" test {metric} ") } else { format!(" {metric} ") };
        let logx = super::run::wants_log_x(&sets);
        let sets = if logx { super::run::log_x(&sets) } else { sets };
        f.render_widget(chart(app, &names, &sets, &styles, &x_label, title, logx), chart_area);
    }
}
