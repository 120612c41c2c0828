//! The key map: one table that drives key handling, the footer and the help overlay, so the
//! three can never disagree.

use super::app::View;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Only(&'static [View]),
    /// Everywhere but these (the Generate view, where keys type the prompt).
    Except(&'static [View]),
}

/// One key binding as shown to the user.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static str,
    pub action: &'static str,
    pub scope: Scope,
    /// Its short label in the footer; "" shows it only in the help overlay.
    pub footer: &'static str,
}

use View::*;

const fn b(keys: &'static str, action: &'static str, scope: Scope, footer: &'static str) -> Binding {
    Binding { keys, action, scope, footer }
}

/// Every binding ratlab has.
pub const BINDINGS: &[Binding] = &[
    b("?", "help", Scope::Except(&[Generate]), "help"),
    b("q", "quit (Ctrl-C in Generate)", Scope::Except(&[Generate]), "quit"),
    b("1-6", "views: experiments, data, run, compare, yaml, generate", Scope::Except(&[Generate]), ""),
    b("type, Enter", "ask every model, side by side (↑↓: earlier prompts)", Scope::Only(&[Generate]), "ask  ↑↓ earlier"),
    b("Ctrl-S", "greedy / sampled (temperature 0.8, top-p 0.95)", Scope::Only(&[Generate]), "greedy/sampled"),
    b("Ctrl-C", "quit", Scope::Only(&[Generate]), "quit"),
    b("Tab / S-Tab", "next / previous pane", Scope::Global, "pane"),
    b("↑↓/jk", "move", Scope::Global, ""),
    b("PgUp/PgDn g/G", "page, first/last", Scope::Global, ""),
    b("Enter", "open", Scope::Only(&[Experiments, Compare]), "open"),
    b("→/← on a search", "open / close its trials", Scope::Only(&[Experiments]), ""),
    b("Esc", "back / close", Scope::Global, ""),
    b("Space", "mark", Scope::Only(&[Experiments, Compare]), "mark"),
    b("Space on a search", "mark all its trials", Scope::Only(&[Experiments]), ""),
    b("/", "filter", Scope::Only(&[Experiments]), "filter"),
    b("r", "run", Scope::Only(&[Experiments, Yaml, Data]), "run"),
    b("R", "run selected only", Scope::Only(&[Yaml]), "run selected only"),
    b("c", "cancel", Scope::Only(&[Experiments, Run]), "cancel"),
    b("e", "edit copy", Scope::Only(&[Experiments, Yaml]), "edit copy"),
    b("←→", "metric", Scope::Only(&[Run, Compare]), "metric"),
    b("s/S", "sort / reverse", Scope::Only(&[Compare]), "sort / reverse"),
    b("x", "scatter: next differing parameter on x (█: best run and cursor)", Scope::Only(&[Compare]), "scatter x"),
    b("w", "save the chart in view as PNG under RUNS/plots", Scope::Only(&[Run, Compare]), "save chart"),
    b("m", "smoothing: off, then debiased EMA β 0.6 / 0.9 / 0.99", Scope::Only(&[Run, Compare]), "smooth"),
    b("< / >", "fold/unfold tree levels", Scope::Only(&[Run]), ""),
    b("p, + / -", "replay: pause/resume, faster/slower", Scope::Only(&[Run, Compare, Experiments]), ""),
    b("mouse", "click selects, wheel scrolls", Scope::Global, ""),
];

impl Binding {
    pub fn applies(&self, view: View) -> bool {
        match self.scope {
            Scope::Global => true,
            Scope::Only(v) => v.contains(&view),
            Scope::Except(v) => !v.contains(&view),
        }
    }
}

/// The footer's bindings for a view.
pub fn footer(view: View) -> Vec<&'static Binding> {
    BINDINGS.iter().filter(|b| !b.footer.is_empty() && b.applies(view)).collect()
}
