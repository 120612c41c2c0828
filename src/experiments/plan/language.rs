//! Language-model runs: their data must fit their mode (text, instructions, preferences), and
//! `init_from` names an earlier transformer run or a run directory whose checkpoint gives the
//! network's shape.

use super::data::{not_found, resolve_path};
use super::{pos, Checker, InitFrom, LmRun, RunPlan};
use crate::backends::params::{self, AlgoParams};
use crate::backends::Algorithm;
use crate::data::lm::{LmDataConfig, LmFormat};
use crate::error::{quote, Pos};
use crate::experiments::spec::{DataSpec, ExperimentSpec, S};
use serde_json::Value;
use std::path::{Path, PathBuf};

impl Checker {
    /// Language-model runs: their data (own or the experiment's) must fit their mode,
    /// `init_from` must name an earlier transformer run or a run directory (whose architecture
    /// the run takes), and the torch worker must be there to train them.
    pub(super) fn language_runs(&mut self, spec: &ExperimentSpec, runs: &mut [RunPlan], exp_lm: Option<&LmDataConfig>) {
        let mut worker_checked = false;
        for i in 0..runs.len() {
            let idx = runs[i].spec_index;
            let rs = &spec.runs.value[idx].value;
            let field = |s: &str| format!("runs[{idx}].{s}");
            if !runs[i].algorithm.is_language_model() {
                if let Some(d) = &rs.data {
                    self.err(Some(pos(d)), &field("data"), "only language-model runs (algorithm: transformer) take their own data; use the experiment's data section");
                }
                continue;
            }
            let AlgoParams::Transformer(tp) = runs[i].params.clone() else { continue };
            if !worker_checked {
                worker_checked = true;
                if let Err(why) = crate::experiments::worker::locate() {
                    self.err(Some(pos(&rs.algorithm)), &field("algorithm"), why);
                }
            }
            let data = match &rs.data {
                Some(d) => self.lm_data(d, &field("data")),
                None => {
                    if exp_lm.is_none() && spec.data.is_none() {
                        self.err(Some(pos(&rs.algorithm)), &field("data"), format!(
                            "a transformer needs language data: data: {{path: FILE, format: {}}} in the run or the experiment",
                            tp.mode.format().as_str()
                        ));
                    } else if exp_lm.is_none() && !spec.data.as_ref().is_some_and(is_lm_spec) {
                        self.err(spec.data.as_ref().map(pos), "data", format!(
                            "is a table, but run {} is a transformer; give the run its own data: {{path: FILE, format: {}}}",
                            quote(&runs[i].name),
                            tp.mode.format().as_str()
                        ));
                    }
                    exp_lm.cloned()
                }
            };
            if let Some(d) = &data {
                if d.format != tp.mode.format() {
                    let at = rs.params.as_ref().and_then(|p| p.value.get("mode")).map(pos).or(Some(pos(&rs.algorithm)));
                    self.err(at, &field("params.mode"), format!(
                        "{} learns from {} data, but the run's data is {}; use format: {} (or mode: {})",
                        tp.mode.as_str(),
                        tp.mode.format().as_str(),
                        d.format.as_str(),
                        tp.mode.format().as_str(),
                        match d.format {
                            LmFormat::Text => "pretrain",
                            LmFormat::Instructions => "sft",
                            LmFormat::Preferences => "dpo",
                        }
                    ));
                }
            }
            let init_from = tp.init_from.as_ref().and_then(|name| {
                let at = rs.params.as_ref().and_then(|p| p.value.get("init_from")).map(pos);
                let f = field("params.init_from");
                let given: Vec<String> = rs.params.as_ref().map(|p| p.value.keys().cloned().collect()).unwrap_or_default();
                let (source, json) = if let Some(j) = runs.iter().position(|r| &r.name == name) {
                    let src = &runs[j];
                    if src.spec_index >= idx || !src.algorithm.is_language_model() {
                        self.err(at, &f, format!(
                            "{} must be a transformer run listed before this one (it runs first)",
                            quote(name)
                        ));
                        return None;
                    }
                    (InitFrom::Run(src.index), src.params_json.clone())
                } else if spec.runs.value.iter().any(|r| &r.value.name.value == name) {
                    return None; // that run is invalid; its own errors say why
                } else {
                    match resolve_dir(name, &self.base) {
                        Some(path) if crate::data::pretrained::Pretrained::is_checkpoint(&path) => match pretrained_params(&path, &runs[i].params_json) {
                            Ok((json, context, codec)) => {
                                // The model's chat template must render every conversation.
                                for f in data.iter().flat_map(|d| std::iter::once(&d.path).chain(d.test_path.as_ref())) {
                                    let format = data.as_ref().map_or(LmFormat::Text, |d| d.format);
                                    let failed = crate::data::lm::read(f, format).ok().and_then(|rows| codec.as_ref().and_then(|c| c.check_template(&rows).err()));
                                    if let Some((row, why)) = failed {
                                        self.err(at, &field("params.init_from"), format!("the chat template of {} fails on row {row} of {}: {why}", quote(name), f.display()));
                                    }
                                }
                                if tp.context > context {
                                    let at = rs.params.as_ref().and_then(|p| p.value.get("context")).map(pos).or(at);
                                    self.err(at, &field("params.context"), format!("{} is longer than the {context} tokens {} was trained on; use context: {context} or less", tp.context, quote(name)));
                                }
                                if tp.max_length > context {
                                    let at = rs.params.as_ref().and_then(|p| p.value.get("max_length")).map(pos).or(at);
                                    self.err(at, &field("params.max_length"), format!("{} is longer than the {context} tokens {} was trained on; use max_length: {context} or less", tp.max_length, quote(name)));
                                }
                                (InitFrom::Dir(path), json)
                            }
                            Err(why) => {
                                self.err(at, &f, why);
                                return None;
                            }
                        },
                        Some(dir) => match read_checkpoint_params(&dir) {
                            Ok(json) => (InitFrom::Dir(dir), json),
                            Err(why) => {
                                self.err(at, &f, why);
                                return None;
                            }
                        },
                        None => {
                            let hint = if name.ends_with(".gguf") { " (no such file; `make models` fetches models/SmolLM2-135M-Instruct.Q4_1.gguf)" } else { "" };
                            self.err(at, &f, format!(
                                "{} is neither a run of this experiment (runs: {}) nor a run directory or a pretrained model (.gguf file or model directory){hint}",
                                quote(name),
                                spec.runs.value.iter().map(|r| r.value.name.value.as_str()).collect::<Vec<_>>().join(", ")
                            ));
                            return None;
                        }
                    }
                };
                // The network's shape comes from the checkpoint.
                let mut mine = runs[i].params_json.clone();
                for k in params::ARCHITECTURE {
                    let theirs = json.get(k).cloned().unwrap_or(Value::Null);
                    if given.iter().any(|g| g == k) && mine.get(k) != Some(&theirs) {
                        let at = rs.params.as_ref().and_then(|p| p.value.get(k)).map(pos);
                        self.err(at, &field(&format!("params.{k}")), format!(
                            "is {} here but {} in init_from {}, whose weights this run starts from; remove it (the run takes the checkpoint's)",
                            mine.get(k).cloned().unwrap_or(Value::Null),
                            theirs,
                            quote(name)
                        ));
                    } else if let Value::Object(m) = &mut mine {
                        m.insert(k.to_string(), theirs);
                    }
                }
                // LoRA without targets: all seven projections on a pretrained model (as
                // unsloth and LLaMA-Factory do), the query and value on ratlab's own.
                if let Some(Value::Object(lora)) = mine.get_mut("lora") {
                    if lora.get("targets").is_none_or(|t| t.as_array().is_some_and(Vec::is_empty)) {
                        let targets: &[&str] = if starts_pretrained(runs, &source) { &params::LoraConfig::TARGETS } else { &["q", "v"] };
                        lora.insert("targets".into(), serde_json::json!(targets));
                    }
                }
                let map = params::map_from_json(Algorithm::Transformer, &mine);
                runs[i].params = AlgoParams::from_map(Algorithm::Transformer, &map);
                runs[i].params_json = mine;
                Some(source)
            });
            if let Some(data) = data {
                runs[i].lm = Some(LmRun { data, init_from });
            }
        }
    }

    /// A language-model data section: `{path, format, split: {test | test_path}}`.
    pub(super) fn lm_data(&mut self, d: &S<DataSpec>, field: &str) -> Option<LmDataConfig> {
        let at = Some(pos(d));
        let d = &d.value;
        let f = |s: &str| format!("{field}.{s}");
        let formats: Vec<(&str, Option<LmFormat>)> = LmFormat::ALL.iter().map(|(n, v)| (*n, Some(*v))).collect();
        let format = match &d.format {
            None => {
                self.err(at, &f("format"), "is missing; a language model's data needs format: text, instructions or preferences");
                None
            }
            Some(s) if s.value == "table" => {
                self.err(Some(pos(s)), &f("format"), "a transformer learns from language data; use format: text, instructions or preferences");
                None
            }
            Some(s) => self.choice(&Some(s.clone()), &f("format"), &formats, None),
        };
        let bad: [(&str, Option<Pos>); 11] = [
            ("generate", d.generate.as_ref().map(pos)),
            ("target", d.target.as_ref().map(pos)),
            ("task", d.task.as_ref().map(pos)),
            ("features", d.features.as_ref().map(pos)),
            ("drop", d.drop.as_ref().map(pos)),
            ("encoding", d.encoding.as_ref().map(pos)),
            ("missing", d.missing.as_ref().map(pos)),
            ("standardize", d.standardize.as_ref().map(pos)),
            ("cv", d.cv.as_ref().map(pos)),
            ("eval_train_rows", d.eval_train_rows.as_ref().map(pos)),
            ("chunk_rows", d.chunk_rows.as_ref().map(pos)),
        ];
        for (k, p) in bad {
            if p.is_some() {
                self.err(p, &f(k), "does not apply to language-model data; it takes path, format, split: {test: FRACTION} or test_path");
            }
        }
        let path = match &d.path {
            None => {
                self.err(at, &f("path"), "is missing; name the file (a .txt, .jsonl, .csv or .parquet file)");
                None
            }
            Some(p) => self.lm_file(p, &f("path")),
        };
        let mut test = 0.1;
        let mut test_path = d.test_path.as_ref().and_then(|p| self.lm_file(p, &f("test_path")));
        if let Some(sp) = &d.split {
            if let Some(t) = &sp.value.test {
                if !(t.value > 0.0 && t.value < 1.0) {
                    self.err(Some(pos(t)), &f("split.test"), format!("{} is not allowed; expected a fraction in (0, 1), e.g. 0.1", t.value));
                }
                test = t.value;
            }
            for (k, p) in [("cv", sp.value.cv.as_ref().map(pos)), ("stratify", sp.value.stratify.as_ref().map(pos))] {
                if p.is_some() {
                    self.err(p, &f(&format!("split.{k}")), "does not apply to language-model data; use split: {test: FRACTION} or test_path");
                }
            }
            if let Some(tp) = &sp.value.test_path {
                test_path = self.lm_file(tp, &f("split.test_path"));
            }
        }
        Some(LmDataConfig { path: path?, format: format?, test, test_path })
    }

    fn lm_file(&mut self, p: &S<String>, field: &str) -> Option<PathBuf> {
        match resolve_path(&p.value, &self.base) {
            Ok(path) => Some(path),
            Err(tried) => {
                self.err(Some(pos(p)), field, not_found(&p.value, &self.base, &tried));
                None
            }
        }
    }
}

/// Whether a data section describes language-model data (`format` other than `table`).
pub(super) fn is_lm_spec(d: &S<DataSpec>) -> bool {
    d.value.format.as_ref().is_some_and(|f| f.value != "table")
}

/// A run directory given by path: as given from the current directory, or relative to the
/// experiment file's directory.
/// A run directory or a pretrained checkpoint (a `.gguf` file or a model directory), as given
/// or beside the experiment file.
fn resolve_dir(p: &str, experiment: &Path) -> Option<PathBuf> {
    let given = PathBuf::from(p);
    let mut candidates = vec![given.clone()];
    if let Some(dir) = experiment.parent() {
        candidates.push(dir.join(&given));
    }
    candidates.into_iter().find(|c| c.is_dir() || crate::data::pretrained::Pretrained::is_checkpoint(c)).map(|c| c.canonicalize().unwrap_or(c))
}

/// A pretrained checkpoint's shape as the architecture parameters a run takes (MLA's fields
/// stay the run's own: a checkpoint has none), and its context.
/// Whether a run starting from `source` tunes a pretrained checkpoint: the checkpoint itself,
/// or a run (recorded or of this experiment) that was tuned from one.
fn starts_pretrained(runs: &[RunPlan], source: &InitFrom) -> bool {
    match source {
        InitFrom::Dir(p) => crate::data::pretrained::Pretrained::is_checkpoint(p) || read_checkpoint(p).is_ok_and(|doc| doc["tokenizer"]["kind"] == "checkpoint"),
        InitFrom::Run(j) => runs.iter().find(|r| r.index == *j).and_then(|r| r.lm.as_ref()).and_then(|l| l.init_from.as_ref()).is_some_and(|s| starts_pretrained(runs, s)),
    }
}

/// A checkpoint's architecture (as `params` JSON), its context, and how its data is read (its
/// tokenizer and chat template; None when they cannot be built, which the run reports).
fn pretrained_params(path: &Path, mine: &Value) -> Result<(Value, usize, Option<crate::data::lm::Codec>), String> {
    let pre = crate::data::pretrained::Pretrained::open(path)?;
    let c = &pre.config;
    let json = serde_json::json!({
        "layers": c.layers,
        "d_model": c.d_model,
        "heads": c.heads,
        "mlp_hidden": c.ffn,
        "attention": if c.kv_heads == c.heads { "mha" } else { "gqa" },
        "kv_heads": c.kv_heads,
        "kv_lora_rank": mine.get("kv_lora_rank").cloned().unwrap_or(Value::Null),
        "rope_dim": mine.get("rope_dim").cloned().unwrap_or(Value::Null),
    });
    let codec = crate::data::lm::Codec::from_checkpoint(&pre).ok();
    Ok((json, c.context, codec))
}

/// A transformer checkpoint's `model.json`, once the directory is checked to hold a finished
/// transformer run (`model.safetensors` beside it).
pub fn read_checkpoint(dir: &Path) -> Result<Value, String> {
    let meta = dir.join("model.json");
    if !dir.join("model.safetensors").is_file() {
        return Err(format!("{} holds no model.safetensors; a finished transformer run is needed", dir.display()));
    }
    let text = std::fs::read_to_string(&meta).map_err(|e| format!("cannot read {}: {e}", meta.display()))?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", meta.display()))?;
    if doc.get("algorithm").and_then(Value::as_str) != Some("transformer") {
        return Err(format!("{} is not a transformer run (`ratlab predict` applies table models)", dir.display()));
    }
    Ok(doc)
}

/// The parameters a transformer checkpoint was trained with (its `model.json`).
pub fn read_checkpoint_params(dir: &Path) -> Result<Value, String> {
    read_checkpoint(dir)?.get("params").cloned().ok_or_else(|| format!("{} has no params", dir.join("model.json").display()))
}
