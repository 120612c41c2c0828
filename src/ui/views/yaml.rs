//! The Experiment (YAML) view: the file with line numbers, validation errors marked on their
//! lines, and the file's runs (R runs the selected one alone).

use super::block;
use crate::ui::app::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn draw(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let Some(i) = app.selected_experiment() else {
        f.render_widget(Paragraph::new(" select an experiment in view 1").block(block(app, " YAML ", true)), area);
        return;
    };
    let e = &app.experiments[i];
    let [left, right] = Layout::horizontal([Constraint::Percentage(65), Constraint::Percentage(35)]).areas(area);
    let mut lines = Vec::new();
    for (n, text) in e.text.lines().enumerate() {
        let ln = n as u64 + 1;
        let errs: Vec<&crate::error::InputError> = e.errors.iter().filter(|er| er.pos.is_some_and(|p| p.line == ln)).collect();
        let style = if errs.is_empty() { ratatui::style::Style::default() } else { t.bad() };
        lines.push(Line::from(vec![Span::styled(format!("{ln:>4} │ "), t.dim()), Span::styled(text.to_string(), style)]));
        for er in errs {
            let col = er.pos.map_or(0, |p| p.column as usize);
            lines.push(Line::from(vec![
                Span::styled("     │ ".to_string(), t.dim()),
                Span::styled(format!("{}└ {}{}", " ".repeat(col.saturating_sub(1)), er.field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default(), er.message), t.bad()),
            ]));
        }
    }
    let title = format!(" {} {} ", e.path.display(), if e.errors.is_empty() { "✓ valid" } else { "✗ invalid" });
    f.render_widget(Paragraph::new(lines).scroll((app.scroll, 0)).block(block(app, title, true)), left);
    // Runs and errors without a line.
    let mut side = Vec::new();
    match &e.plan {
        Some(p) => {
            side.push(Line::from(Span::styled("runs (R runs the selected one)", t.dim())));
            for (k, r) in p.runs.iter().enumerate() {
                let l = Line::from(format!(" {} · {} · {}", r.name, r.algorithm, r.backend));
                side.push(if k == app.yaml_run_sel { l.style(t.selected()) } else { l });
            }
            side.push(Line::raw(""));
            side.push(Line::from(Span::styled(format!("seed {} · metrics {}", p.seed, p.metrics.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")), t.dim())));
        }
        None => {
            side.push(Line::from(Span::styled(format!("{} error(s):", e.errors.len()), t.bad())));
            for er in &e.errors {
                let at = er.pos.map(|p| format!("{}:{} ", p.line, p.column)).unwrap_or_default();
                side.push(Line::from(Span::styled(format!("{at}{}{}", er.field.as_ref().map(|f| format!("{f}: ")).unwrap_or_default(), er.message), t.bad())));
            }
        }
    }
    side.push(Line::raw(""));
    side.push(Line::from(Span::styled("e edits a copy in $EDITOR; r runs it", t.dim())));
    f.render_widget(Paragraph::new(side).wrap(Wrap { trim: false }).block(block(app, " runs ", false)), right);
}
