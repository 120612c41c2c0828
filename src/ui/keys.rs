//! The key map: one table that drives key handling, the footer and the help overlay, so the
//! three can never disagree.

use super::app::View;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Only(&'static [View]),
}

/// One key binding as shown to the user.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static str,
    pub action: &'static str,
    pub scope: Scope,
    /// Shown in the footer (the rest only in the help overlay).
    pub footer: bool,
}

use View::*;

const fn b(keys: &'static str, action: &'static str, scope: Scope, footer: bool) -> Binding {
    Binding { keys, action, scope, footer }
}

/// Every binding ratlab has.
pub const BINDINGS: &[Binding] = &[
    b("?", "help", Scope::Global, true),
    b("q", "quit", Scope::Global, true),
    b("1-5", "views: experiments, data, run, compare, yaml", Scope::Global, false),
    b("S-Tab", "previous pane", Scope::Global, false),
    b("Tab", "pane", Scope::Global, true),
    b("↑↓/jk", "move", Scope::Global, false),
    b("PgUp/PgDn g/G", "page, first/last", Scope::Global, false),
    b("Enter", "open", Scope::Only(&[Experiments, Compare]), true),
    b("Esc", "back / close", Scope::Global, false),
    b("Space", "mark", Scope::Only(&[Experiments, Compare]), true),
    b("/", "filter", Scope::Only(&[Experiments]), true),
    b("r", "run", Scope::Only(&[Experiments, Yaml, Data]), true),
    b("R", "run selected only", Scope::Only(&[Yaml]), true),
    b("c", "cancel", Scope::Only(&[Experiments, Run]), true),
    b("e", "edit copy", Scope::Only(&[Experiments, Yaml]), true),
    b("←→", "metric", Scope::Only(&[Run, Compare]), true),
    b("s/S", "sort / reverse", Scope::Only(&[Compare]), true),
    b("< / >", "fold/unfold tree levels", Scope::Only(&[Run]), false),
    b("p", "replay: pause/resume", Scope::Only(&[Run, Compare, Experiments]), false),
    b("+ / -", "replay: faster/slower", Scope::Only(&[Run, Compare, Experiments]), false),
    b("mouse", "click selects, wheel scrolls", Scope::Global, false),
];

impl Binding {
    pub fn applies(&self, view: View) -> bool {
        match self.scope {
            Scope::Global => true,
            Scope::Only(v) => v.contains(&view),
        }
    }
}

/// The footer's bindings for a view.
pub fn footer(view: View) -> Vec<&'static Binding> {
    BINDINGS.iter().filter(|b| b.footer && b.applies(view)).collect()
}
