//! The Compare view: the compared runs in a table — only the parameters that differ, plus final
//! metrics with the best value highlighted, sortable, scrolled to the cursor so hundreds of
//! trials stay smooth — one metric of the first of them overlaid, and a parameter-versus-metric
//! scatter (each run a point) that shows which parameter matters.

use super::run::{chart, draw_tabs};
use super::{block, num, status_style};
use crate::ui::app::{App, Hit, RunEntry};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Cell, Chart, Dataset, GraphType, Paragraph, Row, Table};
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
    // Only the rows in view are built: the table scrolls with the cursor.
    let visible = table_area.height.saturating_sub(3) as usize;
    let first = super::experiments::first_row(app.compare_sel, visible);
    let body: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(visible)
        .map(|(k, r)| {
            let (sym, st) = status_style(app, r.status);
            let mut cells = vec![Cell::from(Line::from(vec![Span::styled(format!("{sym} "), st), Span::raw(label(r))]))];
            for (m, b) in metrics.iter().zip(&best) {
                let v = r.metrics.get(m).copied();
                let style = if v.is_some() && v == *b && rows.len() > 1 { t.best() } else { Style::default() };
                cells.push(Cell::from(v.map(num).unwrap_or_else(|| "—".into())).style(style));
            }
            cells.extend(params.iter().map(|(p, _)| Cell::from(App::param_text(r, p))));
            app.hits.borrow_mut().push((Rect::new(table_area.x + 1, table_area.y + 2 + (k - first) as u16, table_area.width.saturating_sub(2), 1), Hit::CompareRow(k)));
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
        " Compare {} run(s){}{}{} ",
        rows.len(),
        if rows.len() > visible && visible > 0 { format!(" ({}–{})", first + 1, (first + visible).min(rows.len())) } else { String::new() },
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
    // Beside the curves, the scatter when runs differ in a parameter.
    let scatter_params = App::differing_params(&rows);
    let (chart_area, scatter_area) = if scatter_params.is_empty() || rows.len() < 2 || chart_area.width < 70 {
        (chart_area, None)
    } else {
        let [c, s] = Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(chart_area);
        (c, Some(s))
    };
    if let Some(area) = scatter_area {
        draw_scatter(app, f, area, &rows, &scatter_params, &metrics);
    }
    if let Some(metric) = tabs.get(sel) {
        let mut named = Vec::new();
        let mut on_test = false;
        let shown = app.curve_rows(rows.len());
        for (i, r) in shown.iter().map(|&k| rows[k]).enumerate() {
            let s = match r.series.get(&format!("test.{metric}")) {
                Some(s) => {
                    on_test = true;
                    Some(s)
                }
                None => r.series.get(metric.as_str()),
            };
            if let Some(s) = s {
                named.push((label(r), s, t.series(i)));
            }
        }
        let (names, sets, styles) = super::run::lines_of(app, &named);
        let x_label = rows.first().map(|r| r.x_label.clone()).unwrap_or_default();
        let of = if rows.len() > shown.len() { format!(" · {} of {} runs, in table order", shown.len(), rows.len()) } else { String::new() };
        let smooth = super::run::smoothing_note(app);
        let title = if on_test { format!(" test {metric}{of}{smooth} ") } else { format!(" {metric}{of}{smooth} ") };
        let logx = super::run::wants_log_x(&sets);
        let sets = if logx { super::run::log_x(&sets) } else { sets };
        f.render_widget(chart(app, &names, &sets, &styles, &x_label, title, logx), chart_area);
    }
}

/// The y metric of the scatter: the sorted column's, else the search's (the first metric).
pub fn scatter_metric(app: &App, metrics: &[String]) -> Option<String> {
    if app.sort_col > 0 {
        if let Some(m) = metrics.get(app.sort_col - 1) {
            return Some(m.clone());
        }
    }
    app.group_metric().filter(|m| metrics.contains(m)).or_else(|| metrics.first().cloned())
}

/// One point per run: the chosen parameter (`x` cycles) against the metric. Numbers spanning
/// more than two decades go on a log₁₀ axis; text values (a kernel, a backend) are spread
/// evenly and named under the axis. The cursor's run is drawn apart, the best one in the
/// best colour.
fn draw_scatter(app: &App, f: &mut Frame<'_>, area: Rect, rows: &[&RunEntry], params: &[String], metrics: &[String]) {
    let t = &app.theme;
    let param = &params[app.scatter_param % params.len()];
    let Some(metric) = scatter_metric(app, metrics) else {
        f.render_widget(Paragraph::new(" no final metric yet").block(block(app, format!(" {param} vs metric "), false)), area);
        return;
    };
    let texts: Vec<String> = rows.iter().map(|r| App::param_text(r, param)).collect();
    // Exact values for numbers (the table shows them rounded).
    let numbers: Option<Vec<f64>> = rows.iter().map(|r| r.param(param).and_then(serde_json::Value::as_f64)).collect();
    let mut categories: Vec<String> = Vec::new();
    let xs: Vec<f64> = match &numbers {
        Some(v) => v.clone(),
        None => texts
            .iter()
            .map(|s| {
                let k = categories.iter().position(|c| c == s).unwrap_or_else(|| {
                    categories.push(s.clone());
                    categories.len() - 1
                });
                k as f64
            })
            .collect(),
    };
    let logx = numbers.is_some() && super::run::wants_log_x(&[xs.iter().map(|&x| (x, 0.0)).collect()]);
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let mut cursor: Vec<(f64, f64)> = Vec::new();
    let mut best: Vec<(f64, f64)> = Vec::new();
    let higher = App::higher_is_better(&metric);
    let best_v = rows.iter().filter_map(|r| r.metrics.get(&metric).copied()).filter(|v| v.is_finite()).reduce(|a, b| if (b > a) == higher { b } else { a });
    for (k, (r, &x)) in rows.iter().zip(&xs).enumerate() {
        let Some(&y) = r.metrics.get(&metric).filter(|v| v.is_finite()) else { continue };
        let p = (if logx { x.log10() } else { x }, y);
        if k == app.compare_sel {
            cursor.push(p);
        } else if Some(y) == best_v {
            best.push(p);
        } else {
            pts.push(p);
        }
    }
    let all: Vec<Vec<(f64, f64)>> = vec![pts.iter().chain(&cursor).chain(&best).copied().collect()];
    let (mut xb, yb) = super::run::bounds(&all);
    if numbers.is_none() {
        xb = [-0.5, categories.len() as f64 - 0.5];
    } else {
        // A little room so edge points are not drawn on the axis; no negative x for positive data.
        let pad = (xb[1] - xb[0]) * 0.04;
        let lo = if xb[0] >= 0.0 && !logx { (xb[0] - pad).max(0.0) } else { xb[0] - pad };
        xb = [lo, xb[1] + pad];
    }
    let xlabels: Vec<Line> = if numbers.is_none() {
        categories.iter().map(|c| Line::from(c.clone())).collect()
    } else if logx {
        [xb[0], (xb[0] + xb[1]) / 2.0, xb[1]].iter().map(|v| Line::from(num(10f64.powf(*v)))).collect()
    } else {
        [xb[0], (xb[0] + xb[1]) / 2.0, xb[1]].iter().map(|v| Line::from(num(*v))).collect()
    };
    let ylabels: Vec<Line> = [yb[0], (yb[0] + yb[1]) / 2.0, yb[1]].iter().map(|v| Line::from(num(*v))).collect();
    let datasets = vec![
        Dataset::default().name("runs").marker(Marker::Dot).graph_type(GraphType::Scatter).style(t.series(0)).data(&pts),
        Dataset::default().name("best").marker(Marker::Block).graph_type(GraphType::Scatter).style(t.best()).data(&best),
        Dataset::default().name("cursor").marker(Marker::Block).graph_type(GraphType::Scatter).style(t.accent()).data(&cursor),
    ];
    let x_title = format!("{param}{}", if logx { " (log)" } else { "" });
    // No legend box (it would hide the points at the right edge); the help says █ is the best
    // run and the cursor's.
    let title = format!(" {metric} vs {param} ({}/{}, x: next) ", app.scatter_param % params.len() + 1, params.len());
    let chart = Chart::new(datasets)
        .block(block(app, title, false))
        .x_axis(Axis::default().title(x_title).style(t.dim()).bounds(xb).labels(xlabels))
        .y_axis(Axis::default().style(t.dim()).bounds(yb).labels(ylabels))
        .legend_position(None);
    f.render_widget(chart, area);
}
