//! The terminal UI (ratatui + crossterm). It will be one more consumer of run events, beside
//! the store and the console; until it lands, `ratlab tui` says so and points at `ratlab run`.
