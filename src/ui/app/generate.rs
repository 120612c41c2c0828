//! The Generate view's state: the prompt being typed, the experiment's earlier prompts (kept in
//! the run store, so they can be asked again after the next run), and one column per model
//! answering it — the pretrained checkpoints the experiment's runs started from, then the runs
//! themselves (the marked ones, or every finished transformer run of the experiment).

use super::{App, Command};
use crate::experiments::events::Status;
use crate::experiments::serve::{Ask, Said};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::path::{Path, PathBuf};

/// What a column's model is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnState {
    /// Loading the model (the first prompt), or waiting for the answer's first piece.
    Waiting,
    Answering,
    Done,
    Failed(String),
}

/// One model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub label: String,
    pub model: PathBuf,
    pub state: ColumnState,
    pub text: String,
    pub tokens_per_s: Option<f64>,
}

/// Everything the Generate view shows.
#[derive(Debug, Default)]
pub struct Generate {
    pub input: String,
    /// Earlier prompts of the experiment, oldest first.
    pub history: Vec<String>,
    /// Where ↑/↓ is in the history (None: the prompt being typed).
    hist_pos: Option<usize>,
    pub columns: Vec<Column>,
    /// Sample at temperature 0.8 instead of greedy (Ctrl-S).
    pub sampled: bool,
    /// The prompt last asked.
    pub asked: Option<String>,
    /// The experiment whose history is loaded.
    loaded_for: Option<String>,
}

/// New tokens per answer.
pub const MAX_TOKENS: usize = 96;

impl App {
    /// The experiment the view works for: the selected one.
    fn generate_experiment(&self) -> Option<String> {
        self.selected_experiment().map(|i| self.experiments[i].name.clone())
    }

    /// Where an experiment's prompts are kept: one JSON string per line.
    fn prompts_file(&self, experiment: &str) -> PathBuf {
        self.runs_dir.join("prompts").join(format!("{experiment}.jsonl"))
    }

    /// Read the experiment's earlier prompts when the view opens on another experiment.
    pub(super) fn load_prompts(&mut self) {
        let exp = self.generate_experiment();
        if exp == self.generate.loaded_for {
            return;
        }
        self.generate.history = exp
            .as_deref()
            .and_then(|e| std::fs::read_to_string(self.prompts_file(e)).ok())
            .map(|t| t.lines().filter_map(|l| serde_json::from_str::<String>(l).ok()).collect())
            .unwrap_or_default();
        self.generate.hist_pos = None;
        self.generate.loaded_for = exp;
    }

    /// The models that answer: each checkpoint the runs were tuned from (the base), then the
    /// runs with a saved model — the marked runs, else the experiment's finished transformer
    /// runs (the latest of each name).
    pub fn generate_targets(&self) -> Vec<(String, PathBuf)> {
        let exp = self.generate_experiment();
        let marked: Vec<_> = self.runs.iter().filter(|r| r.marked).collect();
        let mut pool: Vec<_> = if marked.is_empty() {
            self.runs.iter().filter(|r| Some(&r.experiment) == exp.as_ref() && r.algorithm == "transformer" && r.status == Status::Finished).collect()
        } else {
            marked
        };
        pool.sort_by(|a, b| b.started_at.cmp(&a.started_at));
        let mut bases: Vec<(String, PathBuf)> = Vec::new();
        let mut runs: Vec<(String, PathBuf)> = Vec::new();
        for r in pool {
            let Some(dir) = r.dir.as_ref().filter(|d| d.join("model.safetensors").is_file()) else { continue };
            if runs.iter().any(|(l, _)| *l == r.label()) {
                continue;
            }
            let doc: serde_json::Value = std::fs::read_to_string(dir.join("model.json")).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default();
            if let Some(base) = doc["tokenizer"]["path"].as_str().map(PathBuf::from) {
                if !bases.iter().any(|(_, p)| *p == base) {
                    let name = base.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                    bases.push((format!("{name} (base)"), base));
                }
            }
            runs.push((r.label(), dir.clone()));
        }
        runs.reverse();
        bases.extend(runs);
        bases
    }

    /// Keys of the Generate view: typing edits the prompt, Enter asks it, ↑/↓ recall earlier
    /// prompts, Ctrl-S switches greedy/sampled. Esc, Tab and Ctrl-C keep their global meaning
    /// (`None`: not handled here).
    pub(super) fn generate_key(&mut self, key: KeyEvent) -> Option<Vec<Command>> {
        let g = &mut self.generate;
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('s') if ctrl => g.sampled = !g.sampled,
            KeyCode::Char(_) if ctrl => return None,
            KeyCode::Char(c) => {
                g.input.push(c);
                g.hist_pos = None;
            }
            KeyCode::Backspace => {
                g.input.pop();
            }
            KeyCode::Up if !g.history.is_empty() => {
                let i = g.hist_pos.map_or(g.history.len() - 1, |i| i.saturating_sub(1));
                g.hist_pos = Some(i);
                g.input = g.history[i].clone();
            }
            KeyCode::Down => match g.hist_pos {
                Some(i) if i + 1 < g.history.len() => {
                    g.hist_pos = Some(i + 1);
                    g.input = g.history[i + 1].clone();
                }
                _ => {
                    g.hist_pos = None;
                    g.input.clear();
                }
            },
            KeyCode::Enter => return Some(self.ask_prompt()),
            _ => return None,
        }
        Some(vec![])
    }

    /// Ask the typed prompt of every target model, and keep it in the experiment's history.
    fn ask_prompt(&mut self) -> Vec<Command> {
        let prompt = self.generate.input.trim().to_string();
        if prompt.is_empty() {
            self.status = "type a prompt, then Enter".into();
            return vec![];
        }
        let targets = self.generate_targets();
        if targets.is_empty() {
            self.status = "no model to ask: run a transformer experiment first (or mark runs in view 1 with space)".into();
            return vec![];
        }
        if let Some(exp) = self.generate_experiment() {
            if self.generate.history.last() != Some(&prompt) {
                self.generate.history.push(prompt.clone());
                let file = self.prompts_file(&exp);
                let line = serde_json::to_string(&prompt).unwrap_or_default();
                let saved = file.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| {
                    use std::io::Write;
                    std::fs::OpenOptions::new().create(true).append(true).open(&file).and_then(|mut f| writeln!(f, "{line}"))
                });
                if let Err(e) = saved {
                    self.status = format!("could not keep the prompt in {}: {e}", file.display());
                }
            }
        }
        self.generate.hist_pos = None;
        self.generate.asked = Some(prompt.clone());
        self.generate.input.clear();
        self.generate.columns = targets.iter().map(|(label, model)| Column { label: label.clone(), model: model.clone(), state: ColumnState::Waiting, text: String::new(), tokens_per_s: None }).collect();
        let ask = Ask { prompt, max_tokens: MAX_TOKENS, temperature: if self.generate.sampled { 0.8 } else { 0.0 }, top_k: 0, top_p: if self.generate.sampled { 0.95 } else { 1.0 }, seed: 0 };
        vec![Command::Ask { models: targets.into_iter().map(|(_, m)| m).collect(), ask }]
    }

    /// What a model's worker said about the current prompt.
    pub fn on_said(&mut self, model: &Path, said: Said) {
        let Some(c) = self.generate.columns.iter_mut().find(|c| c.model == model) else { return };
        match said {
            Said::Ready { .. } => {}
            Said::Text { text } => {
                c.state = ColumnState::Answering;
                c.text.push_str(&text);
            }
            Said::Done { tokens_per_s, .. } => {
                c.state = ColumnState::Done;
                c.tokens_per_s = Some(tokens_per_s);
            }
            Said::Error { error } => c.state = ColumnState::Failed(error),
        }
    }
}
