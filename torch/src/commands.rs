//! The worker's inference commands, `generate` and `score`, as `ratlab generate` and
//! `ratlab score` run them: load the model once, then answer every prompt (streaming on a
//! terminal, one JSON line per prompt with `--json`) or score a file.

use crate::pretrained::{self, Lm, Sampler};
use std::io::{IsTerminal, Write};
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
        let mut so_far: Vec<i64> = Vec::new();
        let mut shown = 0usize;
        let out = pretrained::generate(&lm, &ids, s.max_tokens, sampler, lm.stops_for(chat, raw), |id| {
            if !stream {
                return;
            }
            so_far.push(id);
            if bytes {
                if !(lm.stops_for(chat, raw) && lm.stops.contains(&id)) {
                    let mut o = std::io::stdout().lock();
                    let _ = o.write_all(&[id as u8]);
                    let _ = o.flush();
                    shown += 1;
                }
                return;
            }
            // Decode what has come so far; print the new part once its characters are whole.
            let t = answer_text(&lm, &so_far);
            if t.len() > shown && t.is_char_boundary(shown) && !t.ends_with('\u{FFFD}') {
                let mut o = std::io::stdout().lock();
                let _ = o.write_all(&t.as_bytes()[shown..]);
                let _ = o.flush();
                shown = t.len();
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
