//! Keys and the mouse: what each does to the model, and the effects it asks of the event loop.

use super::{App, Command, Confirm, Hit, Pane, RunRow, View};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

impl App {
    fn move_sel(&mut self, delta: isize) {
        let clamp = |v: usize, len: usize| -> usize {
            if len == 0 {
                0
            } else {
                (v as isize + delta).clamp(0, len as isize - 1) as usize
            }
        };
        match self.pane {
            Pane::ExperimentList => {
                self.exp_sel = clamp(self.exp_sel, self.visible_experiments().len());
                self.scroll = 0;
            }
            Pane::RunList => self.run_sel = clamp(self.run_sel, self.visible_rows().len()),
            Pane::Single(View::Compare) => self.compare_sel = clamp(self.compare_sel, self.compare_rows().len()),
            Pane::Single(View::Yaml) => {
                let n = self.selected_experiment().and_then(|i| self.experiments[i].plan.as_ref()).map_or(0, |p| p.runs.len());
                self.yaml_run_sel = clamp(self.yaml_run_sel, n);
            }
            Pane::Single(View::Run) => {
                let n = self.current_run().map_or(0, |r| r.messages.len());
                self.scroll = (self.scroll as isize + delta).clamp(0, n as isize) as u16;
            }
            Pane::Single(_) => self.scroll = (self.scroll as isize + delta).max(0) as u16,
        }
    }

    fn start_selected(&mut self, only_spec: bool) -> Vec<Command> {
        let Some(i) = self.selected_experiment() else {
            self.status = "no experiment selected".into();
            return vec![];
        };
        let e = &self.experiments[i];
        if e.plan.is_none() {
            self.status = format!("{} has {} error(s); fix them first (5 shows them)", e.path.display(), e.errors.len());
            return vec![];
        }
        let runs = only_spec.then(|| vec![self.yaml_run_sel]);
        vec![Command::Start { experiment: i, runs }]
    }

    /// Handle a key; returns the effects to carry out.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let cmds = self.handle_key(key);
        self.clamp_selections();
        cmds
    }

    /// Keep the cursors inside their lists after the lists changed under them (a search group
    /// closed, marks cleared, another run selected, so another set compared).
    pub(super) fn clamp_selections(&mut self) {
        let rows = self.visible_rows().len();
        self.run_sel = self.run_sel.min(rows.saturating_sub(1));
        let compared = self.compare_rows().len();
        self.compare_sel = self.compare_sel.min(compared.saturating_sub(1));
    }

    fn handle_key(&mut self, key: KeyEvent) -> Vec<Command> {
        let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
        if let Some(c) = self.confirm {
            return self.answer(c, key.code);
        }
        if self.help {
            if matches!(key.code, KeyCode::Char('?') | KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter) {
                self.help = false;
            }
            return vec![];
        }
        if self.filtering && !ctrl_c {
            match key.code {
                KeyCode::Char(c) => self.filter.push(c),
                KeyCode::Backspace => {
                    self.filter.pop();
                }
                KeyCode::Enter => self.filtering = false,
                KeyCode::Esc => {
                    self.filtering = false;
                    self.filter.clear();
                }
                _ => {}
            }
            self.exp_sel = 0;
            self.run_sel = 0;
            return vec![];
        }
        if ctrl_c {
            return self.ask_quit();
        }
        if self.view == View::Generate {
            if let Some(cmds) = self.generate_key(key) {
                return cmds;
            }
        }
        match key.code {
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('q') => return self.ask_quit(),
            KeyCode::Char(c @ '1'..='6') => self.go(View::ALL[(c as u8 - b'1') as usize]),
            KeyCode::Tab => self.cycle_pane(true),
            KeyCode::BackTab => self.cycle_pane(false),
            KeyCode::Esc => {
                if !self.filter.is_empty() {
                    self.filter.clear();
                } else if let Some(v) = self.back.pop() {
                    self.view = v;
                    self.pane = if v == View::Experiments { Pane::ExperimentList } else { Pane::Single(v) };
                }
            }
            KeyCode::Up | KeyCode::Char('k') => self.move_sel(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_sel(1),
            KeyCode::PageUp => self.move_sel(-10),
            KeyCode::PageDown => self.move_sel(10),
            KeyCode::Home | KeyCode::Char('g') => self.move_sel(-1_000_000),
            KeyCode::End | KeyCode::Char('G') => self.move_sel(1_000_000),
            KeyCode::Left | KeyCode::Char('h') if self.open_group(false) => {}
            KeyCode::Right | KeyCode::Char('l') if self.open_group(true) => {}
            KeyCode::Left | KeyCode::Char('h') => self.metric_tab = self.metric_tab.saturating_sub(1),
            KeyCode::Right | KeyCode::Char('l') => self.metric_tab += 1,
            KeyCode::Enter if self.pane == Pane::RunList && matches!(self.selected_row(), Some(RunRow::Search(_))) => {
                let open = matches!(self.selected_row(), Some(RunRow::Search(g)) if g.open);
                self.open_group(!open);
            }
            KeyCode::Enter => match self.pane {
                Pane::ExperimentList => self.go(View::Yaml),
                Pane::RunList => {
                    self.metric_tab = 0;
                    self.go(View::Run)
                }
                Pane::Single(View::Compare) => {
                    self.metric_tab = 0;
                    self.go(View::Run)
                }
                _ => {}
            },
            KeyCode::Char(' ') => self.toggle_mark(),
            KeyCode::Char('/') if self.view == View::Experiments => {
                self.filtering = true;
            }
            KeyCode::Char('r') if matches!(self.view, View::Experiments | View::Yaml | View::Data) => return self.start_selected(false),
            KeyCode::Char('R') if self.view == View::Yaml => return self.start_selected(true),
            KeyCode::Char('c') if self.view == View::Experiments && matches!(self.selected_row(), Some(RunRow::Search(_))) => {
                if let Some(RunRow::Search(g)) = self.selected_row() {
                    let live = g.members.iter().filter(|&&i| self.runs[i].live).count();
                    if live == 0 {
                        self.status = format!("no trial of {} is running", g.search);
                    } else {
                        self.confirm = Some(Confirm::CancelSearch(g.key));
                        self.status = format!("cancel the {live} running trial(s) of {}? (y/n)", g.search);
                    }
                }
            }
            KeyCode::Char('c') => {
                let id = match self.view {
                    View::Run => self.current_run().map(|r| (r.id, r.live)),
                    _ => self.selected_run().map(|r| (r.id, r.live)),
                };
                match id {
                    Some((id, true)) => {
                        self.confirm = Some(Confirm::Cancel(id));
                        self.status = "cancel this run? (y/n)".into();
                    }
                    Some((_, false)) => self.status = "that run is not running".into(),
                    None => {}
                }
            }
            KeyCode::Char('e') if matches!(self.view, View::Experiments | View::Yaml) => {
                if let Some(i) = self.selected_experiment() {
                    return vec![Command::Edit(i)];
                }
            }
            KeyCode::Char('s') if self.view == View::Compare => {
                let n = Self::compared_metrics(&self.compared()).len();
                self.sort_col = (self.sort_col + 1) % (n + 1);
            }
            KeyCode::Char('S') if self.view == View::Compare => self.sort_desc = !self.sort_desc,
            KeyCode::Char('x') if self.view == View::Compare => self.scatter_param += 1,
            KeyCode::Char('w') if matches!(self.view, View::Run | View::Compare) => return self.save_plot().into_iter().collect(),
            KeyCode::Char('m') if matches!(self.view, View::Run | View::Compare) => {
                self.smoothing = (self.smoothing + 1) % (crate::ui::history::SMOOTHING.len() + 1);
                self.status = match self.smoothing {
                    0 => "smoothing off".into(),
                    k => format!("smoothing: debiased moving average, β = {} (raw curve faint behind)", crate::ui::history::SMOOTHING[k - 1]),
                };
            }
            KeyCode::Char('<') if self.view == View::Run => self.tree_depth = self.tree_depth.saturating_sub(1).max(1),
            KeyCode::Char('>') if self.view == View::Run => self.tree_depth = (self.tree_depth + 1).min(64),
            KeyCode::Char('p') => {
                if let Some(r) = &mut self.replay {
                    r.paused = !r.paused;
                }
            }
            KeyCode::Char('+') | KeyCode::Char('=') => {
                if let Some(r) = &mut self.replay {
                    r.speed = (r.speed * 2.0).min(1024.0);
                }
            }
            KeyCode::Char('-') => {
                if let Some(r) = &mut self.replay {
                    r.speed = (r.speed / 2.0).max(1.0 / 64.0);
                }
            }
            _ => {}
        }
        vec![]
    }

    /// Handle a mouse event using the clickable areas of the last frame.
    pub fn on_mouse(&mut self, m: MouseEvent) {
        self.handle_mouse(m);
        self.clamp_selections();
    }

    fn handle_mouse(&mut self, m: MouseEvent) {
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                let hit = self.hits.borrow().iter().find(|(r, _)| r.contains((m.column, m.row).into())).map(|(_, h)| *h);
                match hit {
                    Some(Hit::Tab(v)) => self.go(v),
                    Some(Hit::Experiment(i)) => {
                        self.pane = Pane::ExperimentList;
                        self.exp_sel = i;
                    }
                    Some(Hit::Run(i)) => {
                        self.pane = Pane::RunList;
                        self.run_sel = i;
                    }
                    Some(Hit::CompareRow(i)) => self.compare_sel = i,
                    Some(Hit::MetricTab(i)) => self.metric_tab = i,
                    None => {}
                }
            }
            MouseEventKind::ScrollDown => self.move_sel(1),
            MouseEventKind::ScrollUp => self.move_sel(-1),
            _ => {}
        }
    }
}
