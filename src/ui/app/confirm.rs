//! Questions the user answers before something is lost: quitting with runs active, cancelling
//! a run or a search's running trials.

use super::{App, Command, RunRow};
use ratatui::crossterm::event::KeyCode;

/// A confirmation the user must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirm {
    Quit,
    Cancel(usize),
    /// Every live trial of the search group with this key.
    CancelSearch(usize),
}

impl App {
    /// The answer to the open question: `y` (or Enter) carries it out, any other key drops it.
    pub(super) fn answer(&mut self, c: Confirm, code: KeyCode) -> Vec<Command> {
        self.confirm = None;
        match code {
            KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => match c {
                Confirm::Quit => vec![Command::Quit],
                Confirm::Cancel(id) => {
                    self.status = "cancelling after the current step…".into();
                    vec![Command::Cancel(id)]
                }
                Confirm::CancelSearch(key) => {
                    let rows = self.visible_rows();
                    let ids: Vec<usize> = rows
                        .iter()
                        .filter_map(|r| match r {
                            RunRow::Search(g) if g.key == key => Some(g.members.iter().filter(|&&i| self.runs[i].live).map(|&i| self.runs[i].id).collect::<Vec<_>>()),
                            _ => None,
                        })
                        .flatten()
                        .collect();
                    self.status = format!("cancelling {} trial(s) after their current step…", ids.len());
                    ids.into_iter().map(Command::Cancel).collect()
                }
            },
            _ => {
                self.status.clear();
                vec![]
            }
        }
    }

    /// `q` or Ctrl-C: leave at once, or ask first while runs are active.
    pub(super) fn ask_quit(&mut self) -> Vec<Command> {
        let n = self.active_runs();
        if n > 0 {
            self.confirm = Some(Confirm::Quit);
            self.status = format!("{n} run(s) active: quit and cancel them? (y/n)");
            vec![]
        } else {
            vec![Command::Quit]
        }
    }
}
