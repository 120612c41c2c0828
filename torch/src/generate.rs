//! Generation with a KV cache: the prompt is processed once, then each new token attends to the
//! cached keys and values (MLA caches its latent and rotary key and re-projects K/V from it).
//! Greedy, or sampled from softmax(logits / T) within top-k and the top-p nucleus.

use crate::model::{LayerCache, Transformer};
use ratlab::data::lm::{Codec, Example};
use tch::{Device, Kind, Tensor};

/// How to pick the next token.
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    /// 0: greedy.
    pub temperature: f64,
    /// Keep the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of tokens whose probability reaches `top_p` (1: all).
    pub top_p: f64,
}

impl Sampler {
    pub const GREEDY: Sampler = Sampler { temperature: 0.0, top_k: 0, top_p: 1.0 };
}

/// One generated continuation.
pub struct Generated {
    pub ids: Vec<i64>,
    /// log-softmax of the model's distribution (before temperature) at each generated id.
    pub logprobs: Vec<f64>,
}

/// Continue `prompt` (ids) by up to `max_new` tokens, never past the model's context, calling
/// `each` with every new id as it comes. Generation ends after an id of `stops` (which is kept).
pub fn generate(m: &Transformer, device: Device, prompt: &[i64], max_new: usize, s: Sampler, stops: &[i64], mut each: impl FnMut(i64)) -> Generated {
    tch::no_grad(|| {
        let mut cache: Vec<LayerCache> = (0..m.p.layers).map(|_| LayerCache::default()).collect();
        let mut out = Generated { ids: Vec::with_capacity(max_new), logprobs: Vec::with_capacity(max_new) };
        let start: Vec<i64> = if prompt.is_empty() { vec![stops.first().copied().unwrap_or(b'\n' as i64)] } else { prompt.to_vec() };
        let context = m.p.context.max(1);
        let mut input = Tensor::from_slice(&start).unsqueeze(0).to_device(device);
        for step in 0..max_new {
            if start.len() + step >= context {
                break;
            }
            let h = m.hidden(&input, Some(&mut cache), false);
            let last = m.logits(&h.select(1, -1)).squeeze_dim(0).to_kind(Kind::Float);
            let next = pick(&last, s);
            let id = i64::try_from(&next).unwrap_or(0);
            out.logprobs.push(f64::try_from(last.log_softmax(-1, Kind::Float).get(id)).unwrap_or(f64::NAN));
            out.ids.push(id);
            each(id);
            if stops.contains(&id) {
                break;
            }
            input = next.view([1, 1]);
        }
        out
    })
}

/// Greedy, or a sample from softmax(logits / T) restricted to the top-k and the top-p nucleus,
/// with torch's seeded generator.
fn pick(logits: &Tensor, s: Sampler) -> Tensor {
    if s.temperature <= 0.0 {
        return logits.argmax(-1, false);
    }
    let mut l = logits / s.temperature;
    let n = l.size()[0];
    if s.top_k > 0 && (s.top_k as i64) < n {
        let (vals, _) = l.topk(s.top_k as i64, -1, true, true);
        let kth = vals.get(s.top_k as i64 - 1);
        l = l.masked_fill(&l.lt_tensor(&kth), f64::NEG_INFINITY);
    }
    if s.top_p < 1.0 {
        let (sorted, idx) = l.sort(-1, true);
        let probs = sorted.softmax(-1, Kind::Float);
        // Drop a token when the tokens ranked above it already reach top_p.
        let before = probs.cumsum(-1, Kind::Float) - &probs;
        let drop_sorted = before.ge(s.top_p);
        let drop = Tensor::zeros_like(&drop_sorted).scatter(-1, &idx, &drop_sorted.to_kind(Kind::Int64)).to_kind(Kind::Bool);
        l = l.masked_fill(&drop, f64::NEG_INFINITY);
    }
    l.softmax(-1, Kind::Float).multinomial(1, true).squeeze_dim(0)
}

/// Ids without a final stop id.
pub fn strip_stop<'a>(ids: &'a [i64], stops: &[i64]) -> &'a [i64] {
    match ids.last() {
        Some(l) if stops.contains(l) => &ids[..ids.len() - 1],
        _ => ids,
    }
}

/// The model's greedy answer to an example's prompt, up to the end of its turn, trimmed (for
/// exact match).
pub fn answer(m: &Transformer, codec: &Codec, e: &Example, device: Device) -> String {
    let n = e.prompt_len();
    let prompt: Vec<i64> = e.tokens[..n].iter().map(|&i| i64::from(i)).collect();
    let stops: Vec<i64> = codec.stops().into_iter().map(i64::from).collect();
    let got = generate(m, device, &prompt, e.tokens.len() - n + 8, Sampler::GREEDY, &stops, |_| {});
    let ids: Vec<u32> = strip_stop(&got.ids, &stops).iter().map(|&i| i as u32).collect();
    codec.decode(&ids).trim().to_string()
}
