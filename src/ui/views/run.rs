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
        .map(|((d, n), s)| {
            let d = Dataset::default().marker(Marker::Braille).graph_type(GraphType::Line).style(*s).data(d);
            // Unnamed lines (a smoothed curve's raw values) stay out of the legend.
            if n.is_empty() { d } else { d.name(n.clone()) }
        })
        .collect();
    Chart::new(datasets)
        .block(block(app, title, true))
        .x_axis(Axis::default().title(x_label).style(app.theme.dim()).bounds(xb).labels(xlabels))
        .y_axis(Axis::default().style(app.theme.dim()).bounds(yb).labels(labels(yb)))
        .legend_position(Some(ratatui::widgets::LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)))
}

/// Lines for [`chart`]: legend names, points and styles, in drawing order.
pub type Lines = (Vec<String>, Vec<Vec<(f64, f64)>>, Vec<Style>);

/// The lines of some series as drawn: each raw, or (with smoothing on) raw and faint behind its
/// debiased moving average. Returns (legend names, points, styles), raw lines unnamed.
pub fn lines_of(app: &App, named: &[(String, &Series, Style)]) -> Lines {
    let (mut names, mut sets, mut styles) = (Vec::new(), Vec::new(), Vec::new());
    if app.smoothing > 0 {
        for (_, s, _) in named {
            names.push(String::new());
            sets.push(s.points());
            styles.push(app.theme.dim());
        }
    }
    for (n, s, st) in named {
        names.push(n.clone());
        sets.push(s.smoothed(app.smoothing));
        styles.push(*st);
    }
    (names, sets, styles)
}

/// " · smoothed β=0.9" when smoothing is on.
pub fn smoothing_note(app: &App) -> String {
    match app.smoothing {
        0 => String::new(),
        k => format!(" · smoothed β={}", crate::ui::history::SMOOTHING[k - 1]),
    }
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
    let phase = match (&r.phase, r.status) {
        (Some(p), crate::experiments::events::Status::Running) => format!(" · {p}"),
        _ => String::new(),
    };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(format!(" {sym} {} ", r.status.as_str()), st),
            Span::styled(r.label(), t.accent()),
            Span::styled(format!("  {} on {} · seed {}{fold} · {:.1}s{phase}", r.algorithm, r.backend, r.seed, r.t_ms as f64 / 1000.0), t.dim()),
        ])),
        head,
    );
    let tabs = r.metric_tabs();
    let sel = app.metric_tab.min(tabs.len().saturating_sub(1));
    draw_tabs(app, f, tabs_area, &tabs, sel);
    let kind = r.artifacts.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    if kind == "pca" {
        draw_pca(app, f, mid, r);
    }
    let (chart_area, side) = if kind == "tree" {
        let [c, tree_area, side] = Layout::horizontal([Constraint::Percentage(35), Constraint::Min(30), Constraint::Length(30)]).areas(mid);
        draw_tree(app, f, tree_area, r);
        (c, side)
    } else if kind == "importances" {
        let [c, imp_area, side] = Layout::horizontal([Constraint::Min(30), Constraint::Length(40), Constraint::Length(30)]).areas(mid);
        draw_importances(app, f, imp_area, r);
        (c, side)
    } else if !r.samples.is_empty() {
        let [c, sample_area, side] = Layout::horizontal([Constraint::Min(30), Constraint::Percentage(35), Constraint::Length(30)]).areas(mid);
        draw_samples(app, f, sample_area, &r.samples);
        (c, side)
    } else {
        let [c, side] = Layout::horizontal([Constraint::Min(30), Constraint::Length(34)]).areas(mid);
        (c, side)
    };
    match tabs.get(sel) {
        _ if kind == "pca" => {}
        Some(metric) => {
            let series = tab_series(r, metric);
            let named: Vec<(String, &Series, Style)> = series.iter().enumerate().map(|(i, (n, s))| (n.to_string(), *s, t.series(i))).collect();
            let (names, sets, styles) = lines_of(app, &named);
            let logx = wants_log_x(&sets);
            let sets = if logx { log_x(&sets) } else { sets };
            let last = series.iter().map(|(n, s)| format!("{n} {}", s.last().map_or(String::new(), |l| num(l.1)))).collect::<Vec<_>>().join("  ");
            f.render_widget(chart(app, &names, &sets, &styles, &r.x_label, format!(" {metric} · {last}{} ", smoothing_note(app)), logx), chart_area);
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
    if kind != "pca" {
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(app, " run ", false)), side);
    }
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

/// A language model's samples from its latest evaluation: each prompt dimmed, then what the
/// model wrote, with control bytes shown as `·` so the end-of-response marker cannot upset the
/// terminal.
fn draw_samples(app: &App, f: &mut Frame<'_>, area: Rect, samples: &[(u64, String, String)]) {
    let t = &app.theme;
    let clean = |s: &str| s.chars().map(|c| if c.is_control() && c != '\n' { '·' } else { c }).collect::<String>();
    let mut lines: Vec<Line> = Vec::new();
    for (i, (_, prompt, text)) in samples.iter().enumerate() {
        if i > 0 {
            lines.push(Line::raw(""));
        }
        let start = lines.len();
        lines.extend(clean(prompt).lines().map(|l| Line::from(Span::styled(l.to_string(), t.dim()))));
        let body = clean(text);
        let mut body_lines = body.split('\n');
        match (body_lines.next(), lines.len() > start) {
            (Some(first), true) => lines.last_mut().into_iter().for_each(|last| last.push_span(Span::styled(first.to_string(), t.accent()))),
            (Some(first), false) => lines.push(Line::from(Span::styled(first.to_string(), t.accent()))),
            (None, _) => {}
        }
        lines.extend(body_lines.map(|l| Line::from(Span::styled(l.to_string(), t.accent()))));
    }
    let step = samples.first().map_or(0, |s| s.0);
    let title = if samples.len() == 1 { format!(" sample · step {step} ") } else { format!(" {} samples · step {step} ", samples.len()) };
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(app, title, false)), area);
}

/// Feature importances of boosting and forests as bars, largest first: xgboost's gain (mean
/// loss reduction per split) or a forest's impurity decrease, each as a share of the total,
/// with the split count (weight) when the model reports it.
fn draw_importances(app: &App, f: &mut Frame<'_>, area: Rect, r: &RunEntry) {
    let t = &app.theme;
    let nums = |v: &serde_json::Value| -> Vec<f64> { v.as_array().map(|a| a.iter().filter_map(|x| x.as_f64()).collect()).unwrap_or_default() };
    let gain = nums(&r.artifacts["importances"]["gain"]);
    let weight = nums(&r.artifacts["importances"]["weight"]);
    // Mean |SHAP| on the test rows, when the run has it: the features ordered and drawn by it,
    // the gain share beside it.
    let shap = Some(nums(&r.artifacts["shap"]["mean_abs"])).filter(|s| s.len() == gain.len() && !s.is_empty());
    let names = feature_names(r);
    let total: f64 = gain.iter().sum();
    let key = shap.as_ref().unwrap_or(&gain);
    let mut order: Vec<usize> = (0..gain.len()).filter(|&j| gain[j] > 0.0 || key[j] > 0.0).collect();
    order.sort_by(|&a, &b| key[b].total_cmp(&key[a]).then(a.cmp(&b)));
    let top = order.first().map_or(1.0, |&b| key[b]).max(1e-300);
    let width = area.width.saturating_sub(2) as usize;
    let mut lines = Vec::new();
    for &j in order.iter().skip(app.scroll as usize) {
        let share = if total > 0.0 { gain[j] / total } else { 0.0 };
        let name: String = feature_name(&names, j).chars().take(12).collect();
        let splits = weight.get(j).map_or(String::new(), |w| format!(" {w:.0}×"));
        let figures = match &shap {
            Some(s) => format!(" {:.3}  gain {share:.3}{splits}", s[j]),
            None => format!(" {share:.3}{splits}"),
        };
        let bar_w = width.saturating_sub(if shap.is_some() { 14 + figures.chars().count() } else { 26 });
        let bar = "█".repeat((key[j] / top * bar_w as f64).round() as usize);
        lines.push(Line::from(vec![Span::raw(format!("{name:>12} ")), Span::styled(bar, t.accent()), Span::styled(figures, t.dim())]));
    }
    if lines.is_empty() {
        lines.push(Line::from(Span::styled(" no splits", t.dim())));
    }
    let rounds = r.artifacts["rounds"].as_u64().map(|n| format!(" · {n} rounds")).unwrap_or_default();
    let title = match (&shap, r.artifacts["shap"]["rows"].as_u64()) {
        (Some(_), Some(rows)) => format!(" mean |SHAP| · {rows} test rows "),
        _ => format!(" gain importance{rounds} "),
    };
    f.render_widget(Paragraph::new(lines).block(block(app, title, false)), area);
}

/// PCA's own view: the scree plot (bars: each component's share of the variance; line: the
/// cumulative share, with the chosen count marked) and the data on the first two components,
/// coloured by class.
fn draw_pca(app: &App, f: &mut Frame<'_>, area: Rect, r: &RunEntry) {
    let t = &app.theme;
    let scree: Vec<f64> = r.artifacts["scree"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
    let chosen = r.artifacts["chosen"].as_u64().unwrap_or(0) as usize;
    let [left, right] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area);
    let bars: Vec<(f64, f64)> = scree.iter().enumerate().map(|(i, v)| ((i + 1) as f64, *v)).collect();
    let mut cum = 0.0;
    let line: Vec<(f64, f64)> = scree.iter().enumerate().map(|(i, v)| {
        cum += v;
        ((i + 1) as f64, cum)
    }).collect();
    let mark: Vec<(f64, f64)> = if chosen > 0 && chosen <= line.len() { vec![line[chosen - 1]] } else { vec![] };
    let n = scree.len().max(1) as f64;
    let scree_chart = Chart::new(vec![
        Dataset::default().name("component").marker(Marker::HalfBlock).graph_type(GraphType::Bar).style(t.series(0)).data(&bars),
        Dataset::default().name("cumulative").marker(Marker::Braille).graph_type(GraphType::Line).style(t.series(1)).data(&line),
        Dataset::default().name(format!("chosen: {chosen}")).marker(Marker::Dot).graph_type(GraphType::Scatter).style(t.series(2)).data(&mark),
    ])
    .block(block(app, " scree: variance explained per component ", true))
    .x_axis(Axis::default().title("component").style(t.dim()).bounds([0.5, n + 0.5]).labels(vec![Line::from("1"), Line::from(num(n))]))
    .y_axis(Axis::default().style(t.dim()).bounds([0.0, 1.0]).labels(vec![Line::from("0"), Line::from("0.5"), Line::from("1")]))
    .legend_position(Some(ratatui::widgets::LegendPosition::Right))
    .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    f.render_widget(scree_chart, left);
    // Projection, one dataset per class.
    let xs: Vec<f64> = r.artifacts["projection"]["x"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
    let ys: Vec<f64> = r.artifacts["projection"]["y"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
    let cs: Vec<f64> = r.artifacts["projection"]["class"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
    let mut by_class: std::collections::BTreeMap<i64, Vec<(f64, f64)>> = Default::default();
    for ((x, y), c) in xs.iter().zip(&ys).zip(cs.iter().chain(std::iter::repeat(&0.0))) {
        by_class.entry(*c as i64).or_default().push((*x, *y));
    }
    let sets: Vec<Vec<(f64, f64)>> = by_class.values().cloned().collect();
    let (xb, yb) = bounds(&sets);
    let datasets: Vec<Dataset> = by_class
        .keys()
        .zip(&sets)
        .enumerate()
        .map(|(i, (c, d))| Dataset::default().name(format!("class {c}")).marker(Marker::Braille).graph_type(GraphType::Scatter).style(t.series(i)).data(d))
        .collect();
    let scatter = Chart::new(datasets)
        .block(block(app, " data on components 1 and 2 ", false))
        .x_axis(Axis::default().title("PC1").style(t.dim()).bounds(xb).labels(labels(xb)))
        .y_axis(Axis::default().title("PC2").style(t.dim()).bounds(yb).labels(labels(yb)))
        .legend_position(Some(ratatui::widgets::LegendPosition::TopRight))
        .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 2)));
    f.render_widget(scatter, right);
}

/// The data's column names of a run's features (its artifacts carry them when the features are
/// the data's own, not components of a preprocessing step).
fn feature_names(r: &RunEntry) -> Vec<String> {
    r.artifacts["feature_names"].as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Feature `j` by its column name, or `x[j]` when the run does not know the names.
fn feature_name(names: &[String], j: usize) -> String {
    names.get(j).cloned().unwrap_or_else(|| format!("x[{j}]"))
}

/// Per feature, its category names when it is a native category feature (else empty).
fn category_names(r: &RunEntry) -> Vec<Vec<String>> {
    r.artifacts["category_names"]
        .as_array()
        .map(|a| a.iter().map(|c| c.as_array().map(|v| v.iter().filter_map(|s| s.as_str().map(str::to_string)).collect()).unwrap_or_default()).collect())
        .unwrap_or_default()
}

/// A line of a tree's text with its `x[j]` split feature named by its column, and the codes
/// of a category split (`x[j] in {3, 70, … 12 in all}`) by their category names.
fn named_split(line: &str, names: &[String], cats: &[Vec<String>]) -> String {
    let body = line.trim_start();
    let pad = &line[..line.len() - body.len()];
    let index = body.strip_prefix("x[").and_then(|rest| rest.split_once(']'));
    let Some((j, rest)) = index.and_then(|(j, rest)| Some((j.parse::<usize>().ok()?, rest))) else {
        return line.to_string();
    };
    let mut rest = rest.to_string();
    if let (Some(names), Some(set)) = (cats.get(j).filter(|c| !c.is_empty()), rest.strip_prefix(" in {")) {
        if let Some((inside, after)) = set.split_once('}') {
            let (codes, more) = inside.split_once(", …").map_or((inside, ""), |(c, m)| (c, m));
            let named: Option<Vec<&str>> = codes.split(", ").map(|c| c.parse::<usize>().ok().and_then(|c| names.get(c)).map(String::as_str)).collect();
            if let Some(named) = named {
                let more = if more.is_empty() { String::new() } else { format!(", …{more}") };
                rest = format!(" in {{{}{more}}}{after}", named.join(", "));
            }
        }
    }
    match names.get(j) {
        Some(n) => format!("{pad}{n}{rest}"),
        None => format!("{pad}x[{j}]{rest}"),
    }
}

/// A fitted tree as text, folded below the chosen depth, with the most important features.
fn draw_tree(app: &App, f: &mut Frame<'_>, area: Rect, r: &RunEntry) {
    let t = &app.theme;
    let names = feature_names(r);
    let cats = category_names(r);
    let text: Vec<&str> = r.artifacts["text"].as_array().map(|a| a.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
    let depth_of = |l: &str| (l.len() - l.trim_start().len()) / 2;
    let max_depth = text.iter().map(|l| depth_of(l)).max().unwrap_or(0);
    let mut lines: Vec<Line> = Vec::new();
    let mut hidden = 0usize;
    for l in &text {
        let d = depth_of(l);
        if d > app.tree_depth {
            hidden += 1;
            continue;
        }
        let folded = d == app.tree_depth && !l.contains('→');
        let style = if l.contains('→') { t.ok() } else { ratatui::style::Style::default() };
        lines.push(Line::from(vec![Span::styled(named_split(l, &names, &cats), style), Span::styled(if folded { " …" } else { "" }, t.dim())]));
    }
    let imp: Vec<f64> = r.artifacts["importances"].as_array().map(|a| a.iter().filter_map(|v| v.as_f64()).collect()).unwrap_or_default();
    let mut order: Vec<usize> = (0..imp.len()).collect();
    order.sort_by(|&a, &b| imp[b].total_cmp(&imp[a]));
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("importance", t.dim())));
    for &j in order.iter().take(5).filter(|&&j| imp[j] > 0.0) {
        let bar = "█".repeat((imp[j] * 20.0).round() as usize);
        lines.push(Line::from(vec![Span::raw(format!(" {} ", feature_name(&names, j))), Span::styled(bar, t.accent()), Span::styled(format!(" {:.3}", imp[j]), t.dim())]));
    }
    let title = format!(" tree: levels 0–{} of {max_depth}{} (< >) ", app.tree_depth.min(max_depth), if hidden > 0 { format!(", {hidden} nodes folded") } else { String::new() });
    f.render_widget(Paragraph::new(lines).scroll((app.scroll, 0)).block(block(app, title, false)), area);
}

#[cfg(test)]
mod tests {
    use super::named_split;

    /// A tree's lines name the column, and a category split its categories (a long set keeps
    /// its count); a line the run has no names for stays as it was.
    #[test]
    fn splits_name_their_column_and_categories() {
        let names = ["price".to_string(), "city".to_string()];
        let cats = vec![vec![], vec!["Leeds".to_string(), "York".to_string(), "Hull".to_string()]];
        assert_eq!(named_split("  x[0] ≤ 2.5000   (impurity −0.1)", &names, &cats), "  price ≤ 2.5000   (impurity −0.1)");
        assert_eq!(named_split("x[1] in {0, 2}   (impurity −0.2)", &names, &cats), "city in {Leeds, Hull}   (impurity −0.2)");
        assert_eq!(named_split("x[1] in {1, 2, … 9 in all}   (i)", &names, &cats), "city in {York, Hull, … 9 in all}   (i)");
        assert_eq!(named_split("x[1] is present", &names, &[]), "city is present");
        assert_eq!(named_split("x[7] ≤ 1.0", &names, &cats), "x[7] ≤ 1.0");
        assert_eq!(named_split("    → class 1", &names, &cats), "    → class 1");
    }
}
