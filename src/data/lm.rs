//! Data for language models: text corpora, instruction sets (Alpaca's fields) and preference
//! pairs, read from UTF-8 text, JSONL, CSV or Parquet files, split into train and test parts,
//! and turned into bytes — ratlab's tokenizer is byte-level, so nothing is ever downloaded.
//!
//! The vocabulary is the 256 byte values. The one special token a chat-style model needs, the
//! end of a response, is the ASCII control byte ETX (`0x03`, "end of text"), which ordinary
//! text never contains; padding needs no token because padded positions are masked out.

use super::pretrained::chat::{ChatTemplate, Message};
use super::pretrained::tokenizer::ModelTokenizer;
use super::pretrained::Pretrained;
use super::table;
use crate::error::{quote, InputError};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Vocabulary size of the byte-level tokenizer.
pub const VOCAB: i64 = 256;
/// The byte that ends a response (ASCII ETX).
pub const EOS: u8 = 0x03;

/// What the rows of a language-model data file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LmFormat {
    /// Running text, cut into training windows.
    Text,
    /// `instruction`, optional `input`, `output` (Alpaca's fields).
    Instructions,
    /// `prompt`, `chosen`, `rejected`.
    Preferences,
}

impl LmFormat {
    pub const ALL: [(&'static str, LmFormat); 3] =
        [("text", LmFormat::Text), ("instructions", LmFormat::Instructions), ("preferences", LmFormat::Preferences)];
    pub fn as_str(self) -> &'static str {
        match self {
            LmFormat::Text => "text",
            LmFormat::Instructions => "instructions",
            LmFormat::Preferences => "preferences",
        }
    }
    /// The fields each row must have (the optional `input` of instructions aside).
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            LmFormat::Text => &["text"],
            LmFormat::Instructions => &["instruction", "output"],
            LmFormat::Preferences => &["prompt", "chosen", "rejected"],
        }
    }
}

/// A validated language-model data section: which file, what its rows are, and how the test
/// part is taken. Serializable because the torch worker receives it with its job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LmDataConfig {
    pub path: PathBuf,
    pub format: LmFormat,
    /// Fraction held out for testing (the tail of a text, a seeded sample of rows).
    pub test: f64,
    /// A separate test file instead of `test`.
    pub test_path: Option<PathBuf>,
}

/// One instruction-tuning example: an instruction (with an optional input) and its output, or a
/// conversation in the chat form `{"messages": [{"role", "content"}, …]}` (then `messages` holds
/// it and the other fields are empty).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instruction {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub output: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<Message>,
}

impl Instruction {
    /// The conversation: the instruction as the user turn (then a blank line and the input when
    /// there is one) and the output as the assistant's, or the chat form's turns.
    pub fn turns(&self) -> Vec<Message> {
        if !self.messages.is_empty() {
            return self.messages.clone();
        }
        let user = if self.input.is_empty() { self.instruction.clone() } else { format!("{}\n\n{}", self.instruction, self.input) };
        vec![Message::new("user", &user), Message::new("assistant", &self.output)]
    }
    /// What the model should answer first (exact match): the output, or the first assistant turn.
    pub fn expected(&self) -> &str {
        match self.messages.iter().find(|m| m.role == "assistant") {
            Some(m) => &m.content,
            None => &self.output,
        }
    }
}

/// One preference pair: a prompt with a preferred and a dispreferred answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preference {
    pub prompt: String,
    pub chosen: String,
    pub rejected: String,
}

/// The rows of one part (train or test).
#[derive(Debug, Clone, PartialEq)]
pub enum LmRows {
    Text(Vec<u8>),
    Instructions(Vec<Instruction>),
    Preferences(Vec<Preference>),
}

impl LmRows {
    /// Rows (pairs, examples) or bytes of text.
    pub fn len(&self) -> usize {
        match self {
            LmRows::Text(t) => t.len(),
            LmRows::Instructions(r) => r.len(),
            LmRows::Preferences(r) => r.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn split_at(self, test: f64, seed: u64) -> (LmRows, LmRows) {
        fn rows<T: Clone>(mut v: Vec<T>, test: f64, seed: u64) -> (Vec<T>, Vec<T>) {
            let mut rng = rand_xoshiro::Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x6c6d);
            v.shuffle(&mut rng);
            let n_test = ((v.len() as f64 * test).round() as usize).clamp(1, v.len().saturating_sub(1).max(1));
            let train = v.split_off(n_test);
            (train, v)
        }
        match self {
            LmRows::Text(t) => {
                // The held-out tail, cut at a character boundary.
                let mut cut = t.len() - ((t.len() as f64 * test).round() as usize).min(t.len());
                while cut < t.len() && (t[cut] & 0xC0) == 0x80 {
                    cut += 1;
                }
                (LmRows::Text(t[..cut].to_vec()), LmRows::Text(t[cut..].to_vec()))
            }
            LmRows::Instructions(v) => {
                let (a, b) = rows(v, test, seed);
                (LmRows::Instructions(a), LmRows::Instructions(b))
            }
            LmRows::Preferences(v) => {
                let (a, b) = rows(v, test, seed);
                (LmRows::Preferences(a), LmRows::Preferences(b))
            }
        }
    }
}

/// Train and test parts of a language-model dataset.
#[derive(Debug, Clone)]
pub struct LmSplit {
    pub train: LmRows,
    pub test: LmRows,
}

/// Read and split the data of a config. Every problem is an [`InputError`] naming the file and
/// the line (or row) and field: a missing field, an empty file, text that is not UTF-8.
pub fn load(cfg: &LmDataConfig, seed: u64) -> Result<LmSplit, InputError> {
    let all = read(&cfg.path, cfg.format)?;
    let split = match &cfg.test_path {
        Some(p) => LmSplit { train: all, test: read(p, cfg.format)? },
        None => {
            let (train, test) = all.split_at(cfg.test, seed);
            LmSplit { train, test }
        }
    };
    let min = if cfg.format == LmFormat::Text { 2 } else { 1 };
    if split.train.len() < min || split.test.len() < min {
        return Err(InputError::new(format!(
            "the {} part is empty ({} {} for training, {} for testing); give more data or another split.test",
            if split.train.len() < min { "training" } else { "test" },
            split.train.len(),
            if cfg.format == LmFormat::Text { "bytes" } else { "rows" },
            split.test.len()
        ))
        .file(&cfg.path));
    }
    Ok(split)
}

/// Read one file in a format. `.txt`/`.md` (and any other extension) is UTF-8 text for
/// `format: text`; `.jsonl`, `.csv` and `.parquet` hold rows.
pub fn read(path: &Path, format: LmFormat) -> Result<LmRows, InputError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let rows: Vec<Vec<String>> = match ext.as_str() {
        "jsonl" | "ndjson" => read_jsonl(path, format)?,
        "csv" | "parquet" | "pq" => read_table(path, format)?,
        _ if format == LmFormat::Text => {
            let bytes = std::fs::read(path).map_err(|e| InputError::new(format!("cannot read the text file: {e}")).file(path))?;
            if let Err(e) = std::str::from_utf8(&bytes) {
                let line = bytes[..e.valid_up_to()].iter().filter(|b| **b == b'\n').count() + 1;
                return Err(InputError::new(format!("is not UTF-8 text (invalid byte at offset {})", e.valid_up_to()))
                    .file(path)
                    .at(crate::error::Pos { line: line as u64, column: 1 }));
            }
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Err(InputError::new("the file is empty; a text corpus needs some text").file(path));
            }
            return Ok(LmRows::Text(bytes));
        }
        other => {
            return Err(InputError::new(format!(
                "{} files cannot hold {} rows; use .jsonl, .csv or .parquet",
                quote(other),
                format.as_str()
            ))
            .file(path))
        }
    };
    if rows.is_empty() {
        return Err(InputError::new(format!("the file has no rows; {} data needs rows with {}", format.as_str(), format.fields().join(", "))).file(path));
    }
    Ok(match format {
        LmFormat::Text => {
            let mut t = Vec::new();
            for r in rows {
                t.extend_from_slice(r[0].as_bytes());
                t.push(b'\n');
            }
            LmRows::Text(t)
        }
        LmFormat::Instructions => LmRows::Instructions(
            rows.into_iter()
                .map(|mut r| match r.pop() {
                    Some(chat) if r.is_empty() => Instruction { instruction: String::new(), input: String::new(), output: String::new(), messages: serde_json::from_str(&chat).unwrap_or_default() },
                    out => Instruction { output: out.unwrap_or_default(), input: r.pop().unwrap_or_default(), instruction: r.pop().unwrap_or_default(), messages: Vec::new() },
                })
                .collect(),
        ),
        LmFormat::Preferences => LmRows::Preferences(
            rows.into_iter().map(|mut r| Preference { rejected: r.pop().unwrap_or_default(), chosen: r.pop().unwrap_or_default(), prompt: r.pop().unwrap_or_default() }).collect(),
        ),
    })
}

/// The columns read for a format, in order; instructions read `input` as optional.
fn columns(format: LmFormat) -> Vec<(&'static str, bool)> {
    match format {
        LmFormat::Instructions => vec![("instruction", true), ("input", false), ("output", true)],
        f => f.fields().iter().map(|c| (*c, true)).collect(),
    }
}

/// JSONL: one object per line; blank lines are skipped. Errors give the line number.
fn read_jsonl(path: &Path, format: LmFormat) -> Result<Vec<Vec<String>>, InputError> {
    let text = std::fs::read_to_string(path).map_err(|e| InputError::new(format!("cannot read the file: {e}")).file(path))?;
    let cols = columns(format);
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let at = crate::error::Pos { line: i as u64 + 1, column: 1 };
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| InputError::new(format!("is not a JSON object: {e}")).file(path).at(at))?;
        let obj = v.as_object().ok_or_else(|| InputError::new("is not a JSON object; each line holds one row, e.g. {\"text\": \"…\"}").file(path).at(at))?;
        if format == LmFormat::Instructions && obj.contains_key("messages") {
            rows.push(vec![chat_row(&obj["messages"]).map_err(|e| InputError::new(e).file(path).at(at).field("messages"))?]);
            continue;
        }
        let mut row = Vec::new();
        for (c, required) in &cols {
            match obj.get(*c) {
                Some(serde_json::Value::String(s)) => row.push(s.clone()),
                None | Some(serde_json::Value::Null) if !required => row.push(String::new()),
                None | Some(serde_json::Value::Null) => {
                    return Err(InputError::new(format!(
                        "the row has no {}; {} rows need {} (found: {})",
                        quote(c),
                        format.as_str(),
                        format.fields().join(", "),
                        obj.keys().cloned().collect::<Vec<_>>().join(", ")
                    ))
                    .file(path)
                    .at(at)
                    .field(*c))
                }
                Some(other) => {
                    return Err(InputError::new(format!("{} is not allowed; expected a string", other)).file(path).at(at).field(*c));
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// A chat-form row, checked: a non-empty list of `{role, content}` with roles system, user or
/// assistant, at least one assistant turn (what is learned). Returned as its JSON text (one
/// string per row, as the other forms' fields are).
fn chat_row(v: &serde_json::Value) -> Result<String, String> {
    let turns: Vec<Message> = serde_json::from_value(v.clone()).map_err(|e| format!("is not a list of {{\"role\", \"content\"}} turns: {e}"))?;
    if let Some(m) = turns.iter().find(|m| !["system", "user", "assistant"].contains(&m.role.as_str())) {
        return Err(format!("role {} is not allowed; expected system, user or assistant", quote(&m.role)));
    }
    if !turns.iter().any(|m| m.role == "assistant") {
        return Err("has no assistant turn; the loss covers the assistant's turns, so a row needs one".into());
    }
    serde_json::to_string(&turns).map_err(|e| e.to_string())
}

/// CSV or Parquet through polars; text columns only.
fn read_table(path: &Path, format: LmFormat) -> Result<Vec<Vec<String>>, InputError> {
    let t = table::read_table(path)?;
    let cols = columns(format);
    let mut picked = Vec::new();
    for (c, required) in &cols {
        match t.column(c) {
            Some(col) => match &col.values {
                table::RawValues::Text(v) => picked.push((c, *required, Some(v))),
                table::RawValues::Numeric(_) => {
                    return Err(InputError::new(format!("column {} holds numbers ({}); {} needs text", quote(c), col.dtype, format.as_str())).file(path).field(*c))
                }
            },
            None if !required => picked.push((c, false, None)),
            None => {
                return Err(InputError::new(format!(
                    "has no column {}; {} data needs the columns {} (found: {})",
                    quote(c),
                    format.as_str(),
                    format.fields().join(", "),
                    t.names().join(", ")
                ))
                .file(path)
                .field(*c))
            }
        }
    }
    let mut rows = Vec::with_capacity(t.height);
    for r in 0..t.height {
        let mut row = Vec::new();
        for (c, required, v) in &picked {
            match v.and_then(|v| v[r].clone()) {
                Some(s) => row.push(s),
                None if !required => row.push(String::new()),
                None => return Err(InputError::new(format!("{} is empty in {}", quote(c), t.where_row(r))).file(path).field(**c)),
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// The Alpaca prompt template, up to and including the `### Response:` line. The model learns
/// to continue it with the response and [`EOS`].
pub fn alpaca_prompt(instruction: &str, input: &str) -> String {
    if input.is_empty() {
        format!(
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Response:\n"
        )
    } else {
        format!(
            "Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
        )
    }
}

/// One tokenized example: token ids, and per token whether predicting it counts in the loss
/// (and in a preference's log-probability): the response and its end token, or every assistant
/// turn with its end-of-turn token.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub tokens: Vec<u32>,
    pub learn: Vec<bool>,
}

impl Example {
    /// ratlab's byte models: prompt bytes, then the response bytes and [`EOS`].
    pub fn new(prompt: &str, response: &str, context: usize) -> Example {
        let mut tokens: Vec<u32> = prompt.bytes().map(u32::from).collect();
        let mut learn = vec![false; tokens.len()];
        tokens.extend(response.bytes().map(u32::from).chain([u32::from(EOS)]));
        learn.resize(tokens.len(), true);
        Example::fit(tokens, learn, context)
    }

    /// Kept within `context` tokens by dropping the beginning up to the first learned token
    /// (what is learned stays; one token before it remains to predict it from) and, if still too
    /// long, the end.
    pub fn fit(mut tokens: Vec<u32>, mut learn: Vec<bool>, context: usize) -> Example {
        let context = context.max(2);
        if tokens.len() > context {
            let drop = (tokens.len() - context).min(first_learned(&learn).saturating_sub(1));
            tokens.drain(..drop);
            learn.drain(..drop);
            tokens.truncate(context);
            learn.truncate(context);
        }
        Example { tokens, learn }
    }

    /// Tokens before the first learned one: the prompt to generate from.
    pub fn prompt_len(&self) -> usize {
        first_learned(&self.learn)
    }
}

/// Index of the first learned token (the length when none is).
fn first_learned(learn: &[bool]) -> usize {
    learn.iter().position(|&l| l).unwrap_or(learn.len())
}

/// How a language model's data becomes ids: bytes for ratlab's own models, or a pretrained
/// model's tokenizer and chat template. Chat turns are built from ids: the template's text is
/// tokenized with its special tokens, each turn's content without them, so a turn's content can
/// never open or close a turn of its own.
pub enum Codec {
    Bytes,
    Model { tokenizer: Box<ModelTokenizer>, template: Box<ChatTemplate> },
}

/// Marks a turn's place in a rendered template: private-use characters no template emits.
const OPEN: char = '\u{F0000}';
const CLOSE: char = '\u{F0001}';

impl Codec {
    /// A checkpoint's tokenizer and chat template (the Alpaca template when it has none).
    pub fn from_checkpoint(p: &Pretrained) -> Result<Codec, String> {
        let tokenizer = p.tokenizer()?;
        let name = |id: Option<u32>| id.map(|i| tokenizer.token(i)).unwrap_or_default();
        let template = ChatTemplate::new(p.chat_template().as_deref(), &name(tokenizer.bos), &name(tokenizer.eos))?;
        Ok(Codec::Model { tokenizer: Box::new(tokenizer), template: Box::new(template) })
    }

    /// Ids of a text corpus.
    pub fn text(&self, text: &[u8]) -> Result<Vec<u32>, String> {
        match self {
            Codec::Bytes => Ok(text.iter().map(|&b| u32::from(b)).collect()),
            Codec::Model { tokenizer, .. } => tokenizer.encode(&String::from_utf8_lossy(text)),
        }
    }

    /// Ids that end an answer.
    pub fn stops(&self) -> Vec<u32> {
        match self {
            Codec::Bytes => vec![u32::from(EOS)],
            Codec::Model { tokenizer, .. } => tokenizer.stops.clone(),
        }
    }

    /// Text of ids (bytes decoded lossily).
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Codec::Bytes => String::from_utf8_lossy(&ids.iter().map(|&i| i as u8).collect::<Vec<_>>()).into_owned(),
            Codec::Model { tokenizer, .. } => tokenizer.decode(ids),
        }
    }

    /// An instruction row: the Alpaca prompt and the output for byte models (as they have always
    /// been trained), the model's chat template otherwise.
    pub fn instruction(&self, r: &Instruction, context: usize) -> Result<Example, String> {
        match self {
            Codec::Bytes if r.messages.is_empty() => Ok(Example::new(&alpaca_prompt(&r.instruction, &r.input), &r.output, context)),
            _ => self.chat(&r.turns(), context),
        }
    }

    /// Render every conversation of `rows` with the chat template, as training will, so that a
    /// template that fails on some row (a system turn it refuses, say) is found before anything
    /// runs: the first failure as (row number from 1, in file order; the template's error).
    pub fn check_template(&self, rows: &LmRows) -> Result<(), (usize, String)> {
        let Codec::Model { template, .. } = self else { return Ok(()) };
        let conversations: Vec<Vec<Message>> = match rows {
            LmRows::Text(_) => return Ok(()),
            LmRows::Instructions(r) => r.iter().map(Instruction::turns).collect(),
            LmRows::Preferences(r) => r.iter().map(|p| vec![Message::new("user", &p.prompt), Message::new("assistant", &p.chosen)]).collect(),
        };
        for (k, turns) in conversations.iter().enumerate() {
            template.render(turns, false).map_err(|e| (k + 1, e))?;
        }
        Ok(())
    }

    /// A preference pair as (chosen, rejected) examples sharing the prompt.
    pub fn preference(&self, r: &Preference, context: usize) -> Result<(Example, Example), String> {
        match self {
            Codec::Bytes => {
                let p = alpaca_prompt(&r.prompt, "");
                Ok((Example::new(&p, &r.chosen, context), Example::new(&p, &r.rejected, context)))
            }
            Codec::Model { .. } => {
                let user = Message::new("user", &r.prompt);
                Ok((self.chat(&[user.clone(), Message::new("assistant", &r.chosen)], context)?, self.chat(&[user, Message::new("assistant", &r.rejected)], context)?))
            }
        }
    }

    /// A conversation as one example: every assistant turn and the end-of-turn token after it
    /// are learned.
    pub fn chat(&self, turns: &[Message], context: usize) -> Result<Example, String> {
        let (tokenizer, template) = match self {
            Codec::Bytes => return self.chat_bytes(turns, context),
            Codec::Model { tokenizer, template } => (tokenizer, template),
        };
        let marked: Vec<Message> = turns.iter().enumerate().map(|(k, m)| Message::new(&m.role, &format!("{OPEN}{k}{CLOSE}"))).collect();
        let text = template.render(&marked, false)?;
        let stops = tokenizer.stops.clone();
        let (mut tokens, mut learn) = (Vec::new(), Vec::new());
        let mut after_assistant = false;
        let mut rest = text.as_str();
        loop {
            let (frame, next) = match rest.find(OPEN) {
                Some(i) => (&rest[..i], Some(&rest[i + OPEN.len_utf8()..])),
                None => (rest, None),
            };
            // Template text: after an assistant turn, its end-of-turn token is learned.
            for id in tokenizer.encode_fragment(frame)? {
                tokens.push(id);
                let end = after_assistant && stops.contains(&id);
                learn.push(end);
                if end {
                    after_assistant = false;
                }
            }
            let Some(next) = next else { break };
            let close = next.find(CLOSE).ok_or("the chat template changed a turn's content; ratlab cannot tell where the turns are")?;
            let k: usize = next[..close].parse().map_err(|_| "the chat template changed a turn's content")?;
            let turn = turns.get(k).ok_or("the chat template repeated a turn")?;
            let ids = tokenizer.encode_content(&turn.content)?;
            let assistant = turn.role == "assistant";
            learn.extend(std::iter::repeat_n(assistant, ids.len()));
            tokens.extend(ids);
            after_assistant = assistant;
            rest = &next[close + CLOSE.len_utf8()..];
        }
        Ok(Example::fit(tokens, learn, context))
    }

    /// Byte models' conversations: each user turn as an Alpaca prompt, each assistant turn as
    /// its response and EOS.
    fn chat_bytes(&self, turns: &[Message], context: usize) -> Result<Example, String> {
        let (mut tokens, mut learn) = (Vec::new(), Vec::new());
        for t in turns {
            let (text, learned) = match t.role.as_str() {
                "assistant" => (format!("{}{}", t.content, EOS as char), true),
                "user" => (alpaca_prompt(&t.content, ""), false),
                _ => (format!("{}\n\n", t.content), false),
            };
            learn.extend(std::iter::repeat_n(learned, text.len()));
            tokens.extend(text.bytes().map(u32::from));
        }
        Ok(Example::fit(tokens, learn, context))
    }

    /// The prompt a model answers an instruction from (with the generation prompt).
    pub fn prompt(&self, instruction: &str) -> Result<Vec<u32>, String> {
        match self {
            Codec::Bytes => Ok(alpaca_prompt(instruction, "").bytes().map(u32::from).collect()),
            Codec::Model { tokenizer, template } => tokenizer.encode_fragment(&template.render(&[Message::new("user", instruction)], true)?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(name);
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn a_jsonl_row_without_a_required_field_names_its_line_and_field() {
        let (_d, p) = tmp("i.jsonl", "{\"instruction\": \"a\", \"output\": \"b\"}\n\n{\"instruction\": \"c\"}\n");
        let e = read(&p, LmFormat::Instructions).unwrap_err();
        assert_eq!(e.pos.map(|p| p.line), Some(3));
        assert_eq!(e.field.as_deref(), Some("output"));
        assert!(e.message.contains("'output'"), "{}", e.message);
    }

    #[test]
    fn an_empty_file_is_an_error() {
        let (_d, p) = tmp("e.jsonl", "\n\n");
        assert!(read(&p, LmFormat::Preferences).unwrap_err().message.contains("no rows"));
        let (_d2, t) = tmp("e.txt", "  \n");
        assert!(read(&t, LmFormat::Text).unwrap_err().message.contains("empty"));
    }

    #[test]
    fn text_test_part_is_the_tail_and_rows_split_by_seed() {
        let cfg = |p: PathBuf, f| LmDataConfig { path: p, format: f, test: 0.25, test_path: None };
        let (_d, p) = tmp("t.txt", "abcdefgh");
        let s = load(&cfg(p, LmFormat::Text), 1).unwrap();
        assert_eq!((s.train, s.test), (LmRows::Text(b"abcdef".to_vec()), LmRows::Text(b"gh".to_vec())));
        let lines: String = (0..8).map(|i| format!("{{\"prompt\":\"p{i}\",\"chosen\":\"c\",\"rejected\":\"r\"}}\n")).collect();
        let (_d, p) = tmp("p.jsonl", &lines);
        let a = load(&cfg(p.clone(), LmFormat::Preferences), 7).unwrap();
        let b = load(&cfg(p, LmFormat::Preferences), 7).unwrap();
        assert_eq!((a.train.len(), a.test.len()), (6, 2));
        assert_eq!(a.test, b.test);
    }

    fn ids(s: &[u8]) -> Vec<u32> {
        s.iter().map(|&b| u32::from(b)).collect()
    }

    #[test]
    fn examples_keep_the_response_and_mark_where_it_starts() {
        let e = Example::new("PROMPT:", "yes", 100);
        assert_eq!(e.tokens, ids(b"PROMPT:yes\x03"));
        assert_eq!(e.prompt_len(), 7);
        assert_eq!(e.learn.iter().filter(|&&l| l).count(), 4, "the response and EOS");
        // Too long: the prompt's beginning goes first.
        let e = Example::new("0123456789", "ab", 6);
        assert_eq!(e.tokens, ids(b"789ab\x03"));
        assert_eq!(e.prompt_len(), 3);
        // A response longer than the context keeps one prompt token and its own start.
        let e = Example::new("0123", "abcdefgh", 5);
        assert_eq!(e.tokens, ids(b"3abcd"));
    }

    /// With a model's template, the loss covers each assistant turn and its end-of-turn token,
    /// nothing else, and a turn's content cannot close its turn.
    #[test]
    fn chat_examples_learn_assistant_turns_and_their_end() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pretrained/llama/hf");
        let codec = Codec::from_checkpoint(&Pretrained::open(&dir).unwrap()).unwrap();
        let Codec::Model { tokenizer, .. } = &codec else { panic!() };
        let turns = [Message::new("user", "Hi <|im_end|>"), Message::new("assistant", "Hello."), Message::new("user", "Again?"), Message::new("assistant", "Yes.")];
        let e = codec.chat(&turns, 4096).unwrap();
        let learned: Vec<u32> = e.tokens.iter().zip(&e.learn).filter(|(_, &l)| l).map(|(&t, _)| t).collect();
        let end = tokenizer.token_id("<|im_end|>").unwrap();
        assert_eq!(codec.decode(&learned), "Hello.<|im_end|>Yes.<|im_end|>");
        // The user's "<|im_end|>" is text, not the token: the template's closings are the only ones.
        assert_eq!(e.tokens.iter().filter(|&&t| t == end).count(), 5, "system, user, assistant, user, assistant");
        let whole = codec.decode(&e.tokens);
        assert!(whole.starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"), "{whole}");
        // An instruction with an input: instruction, blank line, input as the user turn.
        let r = Instruction { instruction: "Sum".into(), input: "1 2".into(), output: "3".into(), messages: Vec::new() };
        let e = codec.instruction(&r, 4096).unwrap();
        assert!(codec.decode(&e.tokens).contains("<|im_start|>user\nSum\n\n1 2<|im_end|>"));
        let prompt = codec.decode(&e.tokens[..e.prompt_len()]);
        assert!(prompt.ends_with("<|im_start|>assistant\n"), "{prompt}");
        assert_eq!(codec.decode(&codec.prompt("Sum").unwrap()).matches("<|im_start|>").count(), 3);
    }

    #[test]
    fn chat_rows_are_read_and_checked() {
        let (_d, p) = tmp("c.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n{\"instruction\": \"i\", \"output\": \"o\"}\n");
        let LmRows::Instructions(rows) = read(&p, LmFormat::Instructions).unwrap() else { panic!() };
        assert_eq!(rows[0].turns(), vec![Message::new("user", "hi"), Message::new("assistant", "hello")]);
        assert_eq!(rows[0].expected(), "hello");
        assert_eq!(rows[1].turns()[0].content, "i");
        let (_d, p) = tmp("bad.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n");
        let e = read(&p, LmFormat::Instructions).unwrap_err();
        assert!(e.message.contains("assistant") && e.field.as_deref() == Some("messages"), "{e}");
        let (_d, p) = tmp("bad2.jsonl", "{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}\n");
        assert!(read(&p, LmFormat::Instructions).unwrap_err().message.contains("bot") && read(&p, LmFormat::Instructions).unwrap_err().message.contains("not allowed"));
    }
}
