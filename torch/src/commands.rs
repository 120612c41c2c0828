//! The worker's inference commands, `generate` and `score`, as `ratlab generate` and
//! `ratlab score` run them: load the model once, then answer every prompt (streaming on a
//! terminal, one JSON line per prompt with `--json`) or score a file; and `serve`, a model kept
//! loaded for the TUI's Generate view, answering prompts from stdin as they come.

use crate::pretrained::{self, Lm, Sampler};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

fn load(model: &Path, device: &str) -> Result<Lm, ExitCode> {
    Lm::load(model, device).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })
}

/// Text of `ids` without a final stop id.
fn answer_text(lm: &Lm, ids: &[i64]) -> String {
    lm.decode(crate::generate::strip_stop(ids, &lm.stops))
}

/// Turns the ids generated so far into the text not yet shown, once its characters are whole
/// (a multi-byte character can take several tokens).
struct Pieces {
    ids: Vec<i64>,
    shown: usize,
}

impl Pieces {
    fn new() -> Pieces {
        Pieces { ids: Vec::new(), shown: 0 }
    }
    fn push(&mut self, lm: &Lm, id: i64) -> Option<String> {
        self.ids.push(id);
        let t = answer_text(lm, &self.ids);
        if t.len() > self.shown && t.is_char_boundary(self.shown) && !t.ends_with('\u{FFFD}') {
            let piece = t[self.shown..].to_string();
            self.shown = t.len();
            return Some(piece);
        }
        None
    }
}

/// `ratlab-torch serve MODEL`: load once, say `ready`, then answer each [`Ask`] line on stdin
/// with `text` pieces and `done` (or `error`) as JSON lines, until stdin closes. Prompts go
/// through the model's chat template (a tuned run's, or a checkpoint's), so every model in the
/// Generate view answers the same user turn.
pub fn serve(model: &Path, device: &str) -> ExitCode {
    use ratlab::experiments::serve::{Ask, Said};
    let say = |s: &Said| {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{}", serde_json::to_string(s).unwrap_or_default());
        let _ = o.flush();
    };
    let lm = match load(model, device) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let what = format!("{} layers, d {}, {} · {:?}", lm.params.layers, lm.params.d_model, if lm.bytes() { "bytes" } else { "tokenizer" }, lm.device);
    say(&Said::Ready { what });
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let ask: Ask = match serde_json::from_str(&line) {
            Ok(a) => a,
            Err(e) => {
                say(&Said::Error { error: format!("not a prompt: {e}") });
                continue;
            }
        };
        let ids = match lm.prompt(&ask.prompt, true, false).and_then(|t| lm.encode(&t)) {
            Ok(i) => i,
            Err(error) => {
                say(&Said::Error { error });
                continue;
            }
        };
        tch::manual_seed(ask.seed as i64);
        let t0 = Instant::now();
        let mut pieces = Pieces::new();
        let sampler = Sampler { temperature: ask.temperature, top_k: ask.top_k, top_p: ask.top_p };
        let out = pretrained::generate(&lm, &ids, ask.max_tokens, sampler, true, |id| {
            if lm.stops.contains(&id) {
                return;
            }
            if let Some(text) = pieces.push(&lm, id) {
                say(&Said::Text { text });
            }
        });
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        say(&Said::Done { tokens: out.ids.len(), tokens_per_s: out.ids.len() as f64 / dt });
    }
    ExitCode::SUCCESS
}

/// `ratlab-torch generate`: every prompt in turn with one loaded model.
pub fn generate(model: &Path, prompts: &[String], s: &ratlab::cli::Sampling, style: ratlab::cli::PromptStyle) -> ExitCode {
    let ratlab::cli::PromptStyle { chat, raw, json } = style;
    let lm = match load(model, s.device.as_str()) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let sampler = Sampler { temperature: s.temperature, top_k: s.top_k, top_p: s.top_p };
    let stream = !json && std::io::stdout().is_terminal();
    // A byte model's output is its bytes, written as they are (not decoded as UTF-8).
    let bytes = lm.bytes();
    for prompt in prompts {
        tch::manual_seed(s.seed as i64);
        let text = match lm.prompt(prompt, chat, raw) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let ids = match lm.encode(&text) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        };
        let t0 = Instant::now();
        let mut pieces = Pieces::new();
        let mut shown = 0usize;
        let out = pretrained::generate(&lm, &ids, s.max_tokens, sampler, lm.stops_for(chat, raw), |id| {
            if !stream {
                return;
            }
            if bytes {
                if !(lm.stops_for(chat, raw) && lm.stops.contains(&id)) {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(&[id as u8]);
                    let _ = o.flush();
                    shown += 1;
                }
                return;
            }
            if let Some(piece) = pieces.push(&lm, id) {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(piece.as_bytes());
                let _ = o.flush();
                shown += piece.len();
            }
        });
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        let answer = answer_text(&lm, &out.ids);
        let tps = out.ids.len() as f64 / dt;
        let mut o = std::io::stdout().lock();
        if json {
            let line = serde_json::json!({"prompt": prompt, "ids": out.ids, "logprobs": out.logprobs, "text": answer, "tokens_per_s": tps});
            let _ = writeln!(o, "{line}");
        } else {
            if bytes {
                let body = out.ids.iter().filter(|i| !lm.stops.contains(i) || !lm.stops_for(chat, raw));
                let raw: Vec<u8> = body.map(|&i| i as u8).collect();
                let _ = o.write_all(raw.get(shown..).unwrap_or_default());
            } else if shown < answer.len() {
                let _ = o.write_all(answer.get(shown..).unwrap_or(&answer).as_bytes());
            }
            let _ = writeln!(o);
            eprintln!("{} tokens in {dt:.2} s ({tps:.1} tokens/s, prompt {} tokens, {} attention, KV cache {} bytes/token)", out.ids.len(), ids.len(), format!("{:?}", lm.params.attention).to_lowercase(), lm.params.kv_cache_bytes_per_token());
        }
        let _ = o.flush();
    }
    ExitCode::SUCCESS
}

/// `ratlab-torch score`: mean next-token loss of a file, in windows of the model's context.
pub fn score(model: &Path, file: &Path, json: bool, device: &str) -> ExitCode {
    let text = match std::fs::read(file) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {}: not UTF-8 text (byte {})", file.display(), e.utf8_error().valid_up_to());
                return ExitCode::from(2);
            }
        },
        Err(e) => {
            eprintln!("error: {}: cannot read it: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let lm = match load(model, device) {
        Ok(l) => l,
        Err(c) => return c,
    };
    let ids = match lm.encode(&text) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    if ids.len() < 2 {
        eprintln!("error: {}: {} token(s); scoring needs at least 2", file.display(), ids.len());
        return ExitCode::from(2);
    }
    let t0 = Instant::now();
    let s = pretrained::score(&lm, &ids, lm.params.context);
    let dt = t0.elapsed().as_secs_f64().max(1e-9);
    let nll = s.nll_sum / s.tokens as f64;
    let bpb = s.nll_sum / std::f64::consts::LN_2 / text.len().max(1) as f64;
    if json {
        println!("{}", serde_json::json!({"tokens": s.tokens, "nll": nll, "perplexity": nll.exp(), "bits_per_byte": bpb}));
    } else {
        println!("{} tokens predicted in windows of {}: nll {nll:.4} nats/token, perplexity {:.3}, {bpb:.4} bits/byte", s.tokens, lm.params.context, nll.exp());
        eprintln!("{:.2} s ({:.0} tokens/s)", dt, s.tokens as f64 / dt);
    }
    ExitCode::SUCCESS
}
