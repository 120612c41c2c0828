//! Generation with a KV cache: the prompt is processed once, then each new token attends to the
//! cached keys and values (MLA caches its latent and rotary key and re-projects K/V from it).

use crate::model::{LayerCache, Transformer};
use ratlab::data::lm::{Example, EOS};
use tch::{Device, Kind, Tensor};

/// Continue `prompt` by up to `max_new` bytes: greedy when `temperature` is 0, else sampled
/// from softmax(logits / T) with torch's seeded generator. Stops at [`EOS`] when `stop_at_eos`
/// (the EOS itself is not returned).
pub fn generate(m: &Transformer, prompt: &[u8], max_new: usize, temperature: f64, stop_at_eos: bool, device: Device) -> Vec<u8> {
    tch::no_grad(|| {
        let mut cache: Vec<LayerCache> = (0..m.p.layers).map(|_| LayerCache::default()).collect();
        let mut out = Vec::with_capacity(max_new);
        let start: Vec<i64> = if prompt.is_empty() { vec![b'\n' as i64] } else { prompt.iter().map(|&b| b as i64).collect() };
        let mut input = Tensor::from_slice(&start).unsqueeze(0).to_device(device);
        for _ in 0..max_new {
            let logits = m.forward(&input, Some(&mut cache), false);
            let last = logits.select(1, -1).squeeze_dim(0).to_kind(Kind::Float);
            let next = if temperature <= 0.0 {
                last.argmax(-1, false)
            } else {
                (last / temperature).softmax(-1, Kind::Float).multinomial(1, true).squeeze_dim(0)
            };
            let b = i64::try_from(&next).unwrap_or(0) as u8;
            if stop_at_eos && b == EOS {
                break;
            }
            out.push(b);
            input = next.view([1, 1]);
        }
        out
    })
}

/// The model's greedy answer to an example's prompt, up to EOS, trimmed (for exact match).
pub fn answer(m: &Transformer, e: &Example, device: Device) -> String {
    let expected = e.tokens.len() - e.response_start;
    let got = generate(m, &e.tokens[..e.response_start], expected + 8, 0.0, true, device);
    String::from_utf8_lossy(&got).trim().to_string()
}
