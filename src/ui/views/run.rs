//! The Run view: the live (or replayed) curves of one run — train and test overlaid for the
//! chosen metric — with its progress, parameters, final metrics and messages.

use super::{block, num, status_style};
use crate::ui::app::{App, Hit, RunEntry};
use crate::ui::history::Series;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, Gauge, GraphType, Paragraph, Tabs, Wrap};
use ratatui::Frame;

/// The series a metric tab draws: (legend, series).
pub fn tab_series<'a>(r: &'a RunEntry, metric: &str) -> Vec<(&'static str, &'a Series)> {
    let mut out = Vec::new();
    if let Some(s) = r.series.get(&format!("train.{metric}")) {
        out.push(("train", s));
    }
    if let Some(s) = r.series.get(&format!("test.{metric}")) {
        out.push(("test", s));
    }
    if out.is_empty() {
        if let Some(s) = r.series.get(metric) {
            out.push(("value", s));
        }
    }
    out
}

/// Axis bounds with a little headroom, and three labels.
pub fn bounds(sets: &[Vec<(f64, f64)>]) -> ([f64; 2], [f64; 2]) {
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for s in sets {
        for &(x, y) in s {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
    }
    if !x0.is_finite() {
        return ([0.0, 1.0], [0.0, 1.0]);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-9 * y1.abs().max(1.0));
    ([x0, x1], [y0 - pad, y1 + pad])
}

fn labels(b: [f64; 2]) -> Vec<Line<'static>> {
    vec![Line::from(num(b[0])), Line::from(num((b[0] + b[1]) / 2.0)), Line::from(num(b[1]))]
}

/// Sample sizes spanning more than two decades are drawn on a log₁₀ axis, so the small-n
/// end (where priors matter) is not squeezed into the first column.
pub fn wants_log_x(sets: &[Vec<(f64, f64)>]) -> bool {
    let xs = sets.iter().flatten().map(|p| p.0);
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    lo > 0.0 && hi / lo > 100.0
}

/// Replace x by log₁₀ x.
pub fn log_x(sets: &[Vec<(f64, f64)>]) -> Vec<Vec<(f64, f64)>> {
    sets.iter().map(|s| s.iter().map(|&(x, y)| (x.log10(), y)).collect()).collect()
}

/// A line chart of several series; `styles[i]` colours `sets[i]`. Pass sets through
/// [`log_x`] first when [`wants_log_x`] says so, and set `logx`.
pub fn chart<'a>(app: &App, names: &[String], sets: &'a [Vec<(f64, f64)>], styles: &[Style], x_label: &str, title: String, logx: bool) -> Chart<'a> {
    let (xb, yb) = bounds(sets);
    let xlabels = if logx {
        vec![Line::from(num(10f64.powf(xb[0]).round())), Line::from(num(10f64.powf((xb[0] + xb[1]) / 2.0).round())), Line::from(num(10f64.powf(xb[1]).round()))]
    } else {
        labels(xb)
    };
    let x_label = if logx { format!("{x_label} (log)") } else { x_label.to_string() };
    let datasets: Vec<Dataset<'a>> = sets
        .iter()
        .zip(names)
        .zip(styles)
        .map(|((d, n), s)| Dataset::default().name(n.clone()).marker(Marker::Braille).graph_type(GraphType::Line).style(*s).data(d))
        .collect();
    Chart::new(datasets)
        .block(block(app, title, true))
        .x_axis(Axis::default().title(x_label).style(app.theme.dim()).bounds(xb).labels(xlabels))
        .y_axis(Axis::default().style(app.theme.dim()).bounds(yb).labels(labels(yb)))
        .legend_position(Some(ratatui::widgets::LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
}

/// Metric tabs; registers click targets.
pub fn draw_tabs(app: &App, f: &mut Frame<'_>, area: Rect, tabs: &[String], sel: usize) {
    let mut x = area.x + 1;
    for (i, t) in tabs.iter().enumerate() {
        let w = t.chars().count() as u16 + 2;
        app.hits.borrow_mut().push((Rect::new(x, area.y, w, 1), Hit::MetricTab(i)));
        x += w + 1;
    }
    let w = Tabs::new(tabs.iter().map(|t| Line::from(t.clone())).collect::<Vec<_>>()).select(sel).highlight_style(app.theme.selected()).style(app.theme.dim());
    f.render_widget(w, area);
}

pub fn draw(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let Some(r) = app.current_run() else {
        f.render_widget(Paragraph::new(" no run selected: pick one in view 1 (Enter), or start an experiment with r").block(block(app, " Run ", true)), area);
        return;
    };
    let [head, tabs_area, mid, gauge_area, msgs] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(6), Constraint::Length(1), Constraint::Length(5)]).areas(area);
    let (sym, st) = status_style(app, r.status);
    let fold = r.fold.map(|k| format!(" · fold {}", k + 1)).unwrap_or_default();
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!(" {sym} {} ", r.status.as_str()), st),
            Span::styled(r.label(), t.accent()),
            Span::styled(format!("  {} on {} · seed {}{fold} · {:.1}s", r.algorithm, r.backend, r.seed, r.t_ms as f64 / 1000.0), t.dim()),
        ])),
        head,
    );
    let tabs = r.metric_tabs();
    let sel = app.metric_tab.min(tabs.len().saturating_sub(1));
    draw_tabs(app, f, tabs_area, &tabs, sel);
    let [chart_area, side] = Layout::horizontal([Constraint::Min(30), Constraint::Length(34)]).areas(mid);
    match tabs.get(sel) {
        Some(metric) => {
            let series = tab_series(r, metric);
            let sets: Vec<Vec<(f64, f64)>> = series.iter().map(|(_, s)| s.points()).collect();
            let logx = wants_log_x(&sets);
            let sets = if logx { log_x(&sets) } else { sets };
            let names: Vec<String> = series.iter().map(|(n, _)| n.to_string()).collect();
            let styles: Vec<Style> = (0..series.len()).map(|i| t.series(i)).collect();
            let last = series.iter().map(|(n, s)| format!("{n} {}", s.last().map_or(String::new(), |l| num(l.1)))).collect::<Vec<_>>().join("  ");
            f.render_widget(chart(app, &names, &sets, &styles, &r.x_label, format!(" {metric} · {last} "), logx), chart_area);
        }
        None => f.render_widget(Paragraph::new(" waiting for the first step…").block(block(app, " curves ", true)), chart_area),
    }
    // Parameters and final metrics.
    let mut lines = vec![Line::from(Span::styled("parameters", t.dim()))];
    if let Some(o) = r.params.as_object() {
        for (k, v) in o {
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            lines.push(Line::from(format!(" {k} = {v}")));
        }
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("final metrics", t.dim())));
    if r.metrics.is_empty() {
        lines.push(Line::from(Span::styled(" (when it finishes)", t.dim())));
    }
    for (k, v) in &r.metrics {
        lines.push(Line::from(format!(" {k} = {}", num(*v))));
    }
    if let Some(e) = &r.error {
        lines.push(Line::from(Span::styled(format!(" {e}"), t.bad())));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(app, " run ", false)), side);
    // Progress.
    let (ratio, label) = match r.total_steps {
        _ if r.status != crate::experiments::events::Status::Running => (1.0, format!("{} steps · {}", r.steps, r.status.as_str())),
        Some(n) if n > 0 => ((r.steps as f64 / n as f64).min(1.0), format!("{}/{n} steps (at most)", r.steps)),
        _ => (0.0, format!("{} steps", r.steps)),
    };
    f.render_widget(Gauge::default().ratio(ratio).label(label).gauge_style(t.accent()), gauge_area);
    // Messages, newest last.
    let msgs_lines: Vec<Line> = r
        .messages
        .iter()
        .map(|(l, m)| match l {
            crate::experiments::events::Level::Warning => Line::from(Span::styled(format!("! {m}"), t.warn())),
            crate::experiments::events::Level::Info => Line::from(format!("· {m}")),
        })
        .collect();
    // The newest messages that fit (↑↓ scrolls back).
    let n = msgs_lines.len();
    let end = n.saturating_sub(app.scroll as usize);
    let shown: Vec<Line> = msgs_lines.into_iter().take(end).rev().take(3).rev().collect();
    f.render_widget(Paragraph::new(shown).wrap(Wrap { trim: true }).block(block(app, format!(" messages ({n}) "), false)), msgs);
}
