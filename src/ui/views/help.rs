//! The help overlay, generated from the key map.

use super::centered;
use crate::ui::app::App;
use crate::ui::keys::{Scope, BINDINGS};
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

pub fn draw(app: &App, f: &mut Frame<'_>, area: Rect) {
    let t = &app.theme;
    let mut lines = vec![Line::from(Span::styled("Keys (those of the current view are bright)", t.accent())), Line::raw("")];
    for b in BINDINGS {
        let here = b.applies(app.view);
        let scope = match b.scope {
            Scope::Global | Scope::Except(_) => String::new(),
            Scope::Only(v) => format!("  [{}]", v.iter().map(|v| v.title()).collect::<Vec<_>>().join(", ")),
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:>17}  ", b.keys), if here { t.accent() } else { t.dim() }),
            Span::styled(b.action.to_string(), if here { ratatui::style::Style::default() } else { t.dim() }),
            Span::styled(scope, t.dim()),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::from(Span::styled("? or Esc closes this help", t.dim())));
    let r = centered(area, 90, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" help ").border_style(t.accent())), r);
}
