//! Rendering: one function per view plus the frame around them (tabs, status line, footer)
//! and the overlays (help, confirmations). Everything drawn comes from the [`App`] model and
//! the run events — never from the wall clock — so frames are reproducible in snapshot tests.

mod compare;
mod data;
mod experiments;
mod generate;
mod help;
mod run;
mod yaml;

pub use data::preview_key as data_preview_key;

use super::app::{App, Confirm, Hit, View};
use super::keys;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

/// Below this size ratlab shows a message instead of a squeezed layout.
pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;

/// Draw the whole UI.
pub fn draw(app: &App, f: &mut Frame<'_>) {
    app.hits.borrow_mut().clear();
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!("ratlab needs at least {MIN_WIDTH}×{MIN_HEIGHT}; this terminal is {}×{}. Enlarge it, or press q to quit.", area.width, area.height);
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let [tabs, body, status, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(8), Constraint::Length(1), Constraint::Length(1)]).areas(area);
    draw_tabs(app, f, tabs);
    match app.view {
        View::Experiments => experiments::draw(app, f, body),
        View::Data => data::draw(app, f, body),
        View::Run => run::draw(app, f, body),
        View::Compare => compare::draw(app, f, body),
        View::Yaml => yaml::draw(app, f, body),
        View::Generate => generate::draw(app, f, body),
    }
    draw_status(app, f, status);
    draw_footer(app, f, footer);
    if app.help {
        help::draw(app, f, area);
    }
    if let Some(c) = app.confirm {
        draw_confirm(app, f, area, c);
    }
}

fn draw_tabs(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" ratlab ", t.accent())];
    let mut x = area.x + 8;
    for (i, v) in View::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, v.title());
        let w = label.chars().count() as u16;
        app.hits.borrow_mut().push((Rect::new(x, area.y, w, 1), Hit::Tab(*v)));
        x += w + 1;
        spans.push(Span::styled(label, if *v == app.view { t.selected() } else { t.dim() }));
        spans.push(Span::raw(" "));
    }
    let active = app.active_runs();
    let mut right = String::new();
    if active > 0 {
        right.push_str(&format!("{active} running "));
    }
    if let Some(r) = &app.replay {
        let done = r.pos >= r.events.len();
        right.push_str(&format!("replay {}×{} ", fmt_speed(r.speed), if done { " done" } else if r.paused { " paused" } else { "" }));
    }
    let used: usize = spans.iter().map(|s| s.content.chars().count()).sum();
    let pad = (area.width as usize).saturating_sub(used + right.chars().count());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(Span::styled(right, t.warn()));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn fmt_speed(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.0}")
    } else {
        format!("1/{:.0}", 1.0 / s)
    }
}

fn draw_status(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let line = if app.filtering {
        Line::from(vec![Span::styled("/", t.accent()), Span::raw(app.filter.clone()), Span::styled("█", t.dim())])
    } else if !app.filter.is_empty() {
        Line::from(vec![Span::styled(format!("filter: {}", app.filter), t.accent()), Span::styled("  (Esc clears)", t.dim())])
    } else {
        Line::from(Span::styled(app.status.clone(), t.warn()))
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_footer(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let mut spans = Vec::new();
    for b in keys::footer(app.view) {
        spans.push(Span::styled(format!(" {} ", b.keys), t.selected()));
        spans.push(Span::styled(format!(" {}  ", b.footer), t.dim()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_confirm(app: &App, f: &mut Frame<'_>, area: Rect, c: Confirm) {
    let text = match c {
        Confirm::Quit => format!("{} run(s) are still running.\nQuit and cancel them?", app.active_runs()),
        Confirm::Cancel(id) => format!("Cancel {}?", app.run_by_id(id).map(|r| r.label()).unwrap_or_default()),
        Confirm::CancelSearch(_) => app.status.clone(),
    };
    let r = centered(area, 46, 6);
    f.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).title(" confirm ").border_style(app.theme.bad());
    let p = Paragraph::new(format!("{text}\n\n  y: yes    n / Esc: no")).block(block);
    f.render_widget(p, r);
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(area.x + (area.width - w) / 2, area.y + (area.height - h) / 2, w, h)
}

/// A bordered block whose border shows focus.
pub fn block<'a>(app: &App, title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    Block::default().borders(Borders::ALL).title(title).border_style(app.theme.border(focused))
}

pub use crate::metrics::format_value as num;

/// A style for a run status.
pub fn status_style(app: &App, s: crate::experiments::events::Status) -> (String, Style) {
    use crate::experiments::events::Status::*;
    let t = &app.theme;
    match s {
        Running => ("▶".into(), t.accent()),
        Finished => ("✓".into(), t.ok()),
        Failed => ("✗".into(), t.bad()),
        Cancelled => ("■".into(), t.warn()),
        Pruned => ("✂".into(), t.warn()),
        Interrupted => ("↯".into(), t.bad()),
    }
}
