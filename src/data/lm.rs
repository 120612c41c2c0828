//! Data for language models: text corpora, instruction sets (Alpaca's fields) and preference
//! pairs, read from UTF-8 text, JSONL, CSV or Parquet files, split into train and test parts,
//! and turned into bytes — ratlab's tokenizer is byte-level, so nothing is ever downloaded.
//!
//! The vocabulary is the 256 byte values. The one special token a chat-style model needs, the
//! end of a response, is the ASCII control byte ETX (`0x03`, "end of text"), which ordinary
//! text never contains; padding needs no token because padded positions are masked out.

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

/// One instruction-tuning example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instruction {
    pub instruction: String,
    #[serde(default)]
    pub input: String,
    pub output: String,
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
            rows.into_iter().map(|mut r| Instruction { output: r.pop().unwrap_or_default(), input: r.pop().unwrap_or_default(), instruction: r.pop().unwrap_or_default() }).collect(),
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

/// One tokenized example: prompt bytes, then the response bytes and [`EOS`]; the loss (and a
/// preference's log-probability) counts only the response part.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub tokens: Vec<u8>,
    /// Index of the first response token.
    pub response_start: usize,
}

impl Example {
    /// Prompt then response + EOS, kept within `context` tokens by dropping the prompt's
    /// beginning (the response is what is learned) and, if still too long, the response's end.
    pub fn new(prompt: &str, response: &str, context: usize) -> Example {
        let (p, mut r) = (prompt.as_bytes(), response.as_bytes().to_vec());
        r.push(EOS);
        r.truncate(context.saturating_sub(1).max(1));
        let keep = context.saturating_sub(r.len()).min(p.len());
        let mut tokens = p[p.len() - keep..].to_vec();
        let response_start = tokens.len();
        tokens.extend_from_slice(&r);
        Example { tokens, response_start }
    }
    /// Whether tokens had to be dropped to fit.
    pub fn fits(prompt: &str, response: &str, context: usize) -> bool {
        prompt.len() + response.len() < context
    }
}

/// Instruction rows as examples in the Alpaca template.
pub fn instruction_examples(rows: &[Instruction], context: usize) -> Vec<Example> {
    rows.iter().map(|r| Example::new(&alpaca_prompt(&r.instruction, &r.input), &r.output, context)).collect()
}

/// A preference pair as (chosen, rejected) examples sharing the prompt, rendered with the same
/// template as instructions so that DPO continues where SFT left off.
pub fn preference_examples(rows: &[Preference], context: usize) -> Vec<(Example, Example)> {
    rows.iter()
        .map(|r| {
            let p = alpaca_prompt(&r.prompt, "");
            (Example::new(&p, &r.chosen, context), Example::new(&p, &r.rejected, context))
        })
        .collect()
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

    #[test]
    fn examples_keep_the_response_and_mark_where_it_starts() {
        let e = Example::new("PROMPT:", "yes", 100);
        assert_eq!(e.tokens, b"PROMPT:yes\x03".to_vec());
        assert_eq!(e.response_start, 7);
        // Too long: the prompt's beginning goes first.
        let e = Example::new("0123456789", "ab", 6);
        assert_eq!(e.tokens, b"789ab\x03".to_vec());
        assert_eq!(e.response_start, 3);
    }
}
