//! The Generate view: a prompt, and the models of an experiment (its base checkpoint, then its
//! SFT, DPO, … runs) answering it side by side as they generate.

use super::block;
use crate::ui::app::{App, ColumnState};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

pub fn draw(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let g = &app.generate;
    let [input, answers] = Layout::vertical([Constraint::Length(3), Constraint::Min(4)]).areas(area);
    let exp = app.selected_experiment().map(|i| app.experiments[i].name.clone()).unwrap_or_else(|| "no experiment".into());
    let mode = if g.sampled { "sampled: temperature 0.8, top-p 0.95" } else { "greedy" };
    let kept = if g.history.is_empty() { String::new() } else { format!(" · {} earlier prompt(s), ↑↓", g.history.len()) };
    let title = format!(" Generate · {exp} · {mode}{kept} ");
    let line = Line::from(vec![Span::styled("> ", t.accent()), Span::raw(g.input.clone()), Span::styled("█", t.dim())]);
    f.render_widget(Paragraph::new(line).block(block(app, title, true)), input);
    if g.columns.is_empty() {
        let targets = app.generate_targets();
        let mut lines = vec![Line::from(Span::styled(" Type a prompt and press Enter: every model below answers it, side by side.", t.dim()))];
        if targets.is_empty() {
            lines.push(Line::from(Span::styled(" No model yet: run a transformer experiment (r in view 1), or mark runs there with space.", t.warn())));
        }
        for (label, _) in targets {
            lines.push(Line::from(format!("  · {label}")));
        }
        f.render_widget(Paragraph::new(lines).block(block(app, " models ", false)), answers);
        return;
    }
    let n = g.columns.len() as u32;
    let cols = Layout::horizontal((0..n).map(|_| Constraint::Ratio(1, n))).split(answers);
    for (c, area) in g.columns.iter().zip(cols.iter()) {
        let (state, style) = match &c.state {
            ColumnState::Waiting => ("loading…".to_string(), t.dim()),
            ColumnState::Answering => ("answering…".to_string(), t.accent()),
            ColumnState::Done => (c.tokens_per_s.map(|s| format!("{s:.0} tokens/s")).unwrap_or_default(), t.dim()),
            ColumnState::Failed(_) => ("failed".to_string(), t.bad()),
        };
        let mut lines: Vec<Line> = c.text.split('\n').map(|l| Line::from(l.chars().map(|ch| if ch.is_control() { '·' } else { ch }).collect::<String>())).collect();
        if let ColumnState::Failed(e) = &c.state {
            lines.push(Line::from(Span::styled(e.clone(), t.bad())));
        }
        lines.push(Line::from(Span::styled(state, style)));
        f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(block(app, format!(" {} ", c.label), false)), *area);
    }
}
