//! A LLaMA-style decoder: token embeddings, pre-norm blocks (RMSNorm → attention → residual,
//! RMSNorm → SwiGLU → residual), a final RMSNorm and an output projection. ratlab's own models
//! are byte-level with an untied head and no biases; a pretrained checkpoint brings its
//! vocabulary, head width, rotary base (and LLaMA-3 scaling), norm epsilon, a tied head and
//! (qwen2) q/k/v biases ([`NetShape`]). Attention is one of four variants that trade KV-cache
//! size for quality:
//!
//! - **MHA**: every query head has its own K/V head.
//! - **MQA**: one K/V head shared by all query heads.
//! - **GQA**: `kv_heads` K/V heads, each shared by a group of query heads (GQA with
//!   `kv_heads = heads` is MHA, with 1 it is MQA).
//! - **MLA** (DeepSeek-V2): K and V are up-projected per head from a normalized latent
//!   `c = RMSNorm(W_dkv x)` of `kv_lora_rank`; position enters through a decoupled rotary key of
//!   `rope_dim` shared by the heads, and queries are `[q_nope | q_rope]`. The cache holds only
//!   `c` and the rotary key.
//!
//! Rotary embeddings (RoPE) rotate pairs of dimensions by an angle proportional to the
//! position, so a query–key dot product depends only on their distance. LoRA adapters
//! ([`Proj`]) can sit on any projection: `y = W x + (α/r)·B A x` with `B` starting at zero.

use ratlab::backends::params::{AttentionKind, LoraConfig, NetShape, TransformerParams};
use tch::nn::{self, Init};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// A linear map (with a bias only where a checkpoint has one) and an optional LoRA adapter.
pub struct Proj {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub lora: Option<Lora>,
}

/// Where a projection's adapter lives, its settings, and the model-wide switch.
type Adapter<'a> = (nn::Path<'a>, &'a LoraConfig, &'a Arc<AtomicBool>);

/// Low-rank adapter `(α/r)·B A` on a frozen projection.
pub struct Lora {
    /// `[rank, in]`, Kaiming-uniform like a linear layer.
    pub a: Tensor,
    /// `[out, rank]`, zero: a new adapter leaves the model unchanged.
    pub b: Tensor,
    pub scale: f64,
    pub dropout: f64,
    /// Shared by every adapter of a model: off, the model is its base
    /// ([`Transformer::without_adapters`]).
    on: Arc<AtomicBool>,
}

impl Proj {
    fn new(base: nn::Path<'_>, adapters: Option<Adapter<'_>>, name: &str, d_in: i64, d_out: i64, random: bool) -> Proj {
        Proj::with_bias(base, adapters, name, d_in, d_out, false, random)
    }

    /// `random`: draw the weight (a new model) or leave it unset (a checkpoint fills it).
    fn with_bias(base: nn::Path<'_>, adapters: Option<Adapter<'_>>, name: &str, d_in: i64, d_out: i64, bias: bool, random: bool) -> Proj {
        let bound = 1.0 / (d_in as f64).sqrt();
        let weight = var(&(&base / name), "weight", &[d_out, d_in], random.then_some(Init::Uniform { lo: -bound, up: bound }));
        let bias = bias.then(|| var(&(&base / name), "bias", &[d_out], random.then_some(Init::Const(0.0))));
        let lora = adapters.filter(|(_, c, _)| c.targets.iter().any(|t| t == name)).map(|(p, c, on)| Lora {
            a: (&p / name).var("lora_a", &[c.rank as i64, d_in], Init::Uniform { lo: -bound, up: bound }),
            b: (&p / name).var("lora_b", &[d_out, c.rank as i64], Init::Const(0.0)),
            scale: c.alpha / c.rank as f64,
            dropout: c.dropout,
            on: on.clone(),
        });
        Proj { weight, bias, lora }
    }

    pub fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let y = x.linear(&self.weight, self.bias.as_ref());
        match &self.lora {
            Some(l) if l.on.load(Ordering::Relaxed) => {
                let h = if l.dropout > 0.0 { x.dropout(l.dropout, train) } else { x.shallow_clone() };
                y + h.linear::<&Tensor>(&l.a, None).linear::<&Tensor>(&l.b, None) * l.scale
            }
            _ => y,
        }
    }

    /// `W + (α/r)·B A`: the adapter folded into the weight.
    pub fn merged(&self) -> Tensor {
        match &self.lora {
            None => self.weight.shallow_clone(),
            Some(l) => &self.weight + l.b.matmul(&l.a) * l.scale,
        }
    }
}

/// A variable drawn by `init`, or left uninitialized (`None`) for a checkpoint to fill: a
/// checkpoint's weights are written once, straight into the variables
/// (`pretrained::build_from`), instead of drawn, then zeroed, then copied over.
fn var(path: &nn::Path<'_>, name: &str, dims: &[i64], init: Option<Init>) -> Tensor {
    match init {
        Some(init) => path.var(name, dims, init),
        None => path.add(name, Tensor::empty(dims, (Kind::Float, path.device())), true),
    }
}

fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Tensor {
    let d = *x.size().last().unwrap_or(&1);
    let cpu_f32 = |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float && t.is_contiguous();
    if x.numel() as i64 == d && w.numel() as i64 == d && cpu_f32(x) && cpu_f32(w) && !x.requires_grad() {
        return rms_norm_one(x, w, eps, d as usize);
    }
    x.rms_norm([d], Some(w), eps)
}

/// RMSNorm of a single position on the CPU, each decoding step's case, written out: libtorch's
/// kernel spends about 8 µs on 576 values in dispatch and thread hand-off, and a step runs
/// 2 × layers + 1 of them. Same formula and order as libtorch's: `x · rsqrt(mean(x²) + ε) · w`,
/// the mean accumulated in f64 (libtorch's f32 accumulation is no more exact).
fn rms_norm_one(x: &Tensor, w: &Tensor, eps: f64, d: usize) -> Tensor {
    let out = Tensor::empty(x.size(), (Kind::Float, Device::Cpu));
    // SAFETY: the caller checked that `x` and `w` are contiguous CPU f32 tensors of `d`
    // elements; `out` is a new tensor of the same size that nothing else references.
    let (xs, ws, ys) = unsafe {
        (
            std::slice::from_raw_parts(x.data_ptr().cast::<f32>(), d),
            std::slice::from_raw_parts(w.data_ptr().cast::<f32>(), d),
            std::slice::from_raw_parts_mut(out.data_ptr().cast::<f32>(), d),
        )
    };
    let mean = xs.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / d as f64;
    let r = (1.0 / (mean + eps).sqrt()) as f32;
    for ((y, &v), &g) in ys.iter_mut().zip(xs).zip(ws) {
        *y = v * r * g;
    }
    out
}

/// The rotary embedding's cos/sin tables for positions `start..start + t` and `d` rotated
/// dimensions (half-split pairs: dimension i pairs with i + d/2). Built once per forward pass
/// and shared by every layer.
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    /// Frequencies `base^(-2i/d)`, each divided by its factor when the model scales them.
    pub fn new(start: i64, t: i64, d: i64, shape: &NetShape, device: Device) -> Rope {
        let opts = (Kind::Float, device);
        let mut inv = (Tensor::arange(d / 2, opts) * (-2.0 * shape.rope_base.ln() / d as f64)).exp();
        if shape.rope_factors.len() as i64 == d / 2 {
            inv /= Tensor::from_slice(&shape.rope_factors).to_kind(Kind::Float).to_device(device);
        }
        let ang = Tensor::arange_start(start, start + t, opts).unsqueeze(1) * inv.unsqueeze(0); // [T, d/2]
        let (cos, sin) = (ang.cos(), ang.sin());
        Rope { cos: Tensor::cat(&[&cos, &cos], -1), sin: Tensor::cat(&[-&sin, sin], -1) }
    }

    /// Rotate the last dimension of `x` (`[B, H, T, d]`).
    /// `[x1, x2] ↦ [x1 cos − x2 sin, x2 cos + x1 sin]`, as `x·[cos, cos] + [x2, x1]·[−sin, sin]`
    /// (fewer tensor operations per call: this runs twice per layer and token).
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let half = x.size()[3] / 2;
        let swapped = Tensor::cat(&[x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
        x * &self.cos + swapped * &self.sin
    }
}

/// Rotate `x` (`[B, H, T, D]`) for positions `start..start + T` (ratlab's default base).
pub fn rope(x: &Tensor, start: i64) -> Tensor {
    let size = x.size();
    Rope::new(start, size[2], size[3], &NetShape::default(), x.device()).apply(x)
}

/// Where the new tokens of a forward pass sit: their rotary tables and, when they follow a
/// cached prefix, the mask that lets each see the prefix and its own past.
struct Positions {
    rope: Rope,
    mask: Option<Tensor>,
}

/// What a layer keeps between generation steps.
#[derive(Default)]
pub struct LayerCache {
    /// K and V (`[B, kv_heads, T, head_dim]`), or MLA's latent `c` (`[B, T, r]`) and rotary
    /// key (`[B, 1, T, rope_dim]`, already rotated).
    pub a: Option<Slot>,
    pub b: Option<Slot>,
}

/// A cached tensor growing along `dim`: a buffer with room to spare (doubled when full), so
/// that a step writes its new positions in place instead of copying the whole cache.
pub struct Slot {
    buf: Tensor,
    len: i64,
    dim: i64,
}

impl Slot {
    /// The cached positions (a view of the buffer).
    pub fn view(&self) -> Tensor {
        self.buf.narrow(self.dim, 0, self.len)
    }
    pub fn len(&self) -> i64 {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl LayerCache {
    fn append(slot: &mut Option<Slot>, new: Tensor, dim: i64) -> Tensor {
        let n = new.size()[dim as usize];
        let cap = slot.as_ref().map_or(0, |s| s.buf.size()[dim as usize]);
        let len = slot.as_ref().map_or(0, |s| s.len);
        if len + n > cap {
            let mut size = new.size();
            size[dim as usize] = (2 * cap).max(len + n).max(64);
            let buf = new.new_zeros(size.as_slice(), (new.kind(), new.device()));
            if let Some(old) = slot.as_ref() {
                buf.narrow(dim, 0, len).copy_(&old.view());
            }
            *slot = Some(Slot { buf, len, dim });
        }
        let Some(s) = slot.as_mut() else { return new };
        s.buf.narrow(dim, s.len, n).copy_(&new);
        s.len += n;
        s.view()
    }
    /// Bytes the cached positions take.
    pub fn bytes(&self) -> i64 {
        [&self.a, &self.b].iter().filter_map(|t| t.as_ref()).map(|s| s.view().numel() as i64 * s.buf.kind().elt_size_in_bytes() as i64).sum()
    }
}

enum Attn {
    /// MHA, MQA and GQA: separate K and V projections with `kv_heads` heads.
    Grouped { q: Proj, k: Proj, v: Proj, o: Proj, kv_heads: i64 },
    /// MLA: `dkv` makes `[latent | rotary key]`, `uk`/`uv` up-project the normalized latent.
    Latent { q: Proj, dkv: Proj, kv_norm: Tensor, uk: Proj, uv: Proj, o: Proj, rank: i64, rope_dim: i64 },
}

struct Block {
    attn_norm: Tensor,
    attn: Attn,
    mlp_norm: Tensor,
    gate: Proj,
    up: Proj,
    down: Proj,
    /// Inference copies of `[q | k | v]` (with biases) and `[gate | up]` stacked into one
    /// matrix each ([`Transformer::fuse_for_inference`]): one matrix-vector product instead of
    /// three (two) per token, and one rotary pass over q and k together.
    fused: Option<Fused>,
}

struct Fused {
    qkv: Tensor,
    qkv_bias: Option<Tensor>,
    gate_up: Tensor,
}

/// The whole network. Base weights live in one `VarStore`, adapters (when any) in another, so
/// the base can be frozen and the adapters saved on their own.
pub struct Transformer {
    pub p: TransformerParams,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    /// None when tied: the head is the embedding matrix (one variable, so it stays tied when
    /// the whole model trains).
    head: Option<Tensor>,
    /// The switch every adapter reads.
    adapters_on: Arc<AtomicBool>,
}

impl Transformer {
    /// Create the variables under `base` (and adapters under `adapters` when `p.lora` is set).
    pub fn new(base: &nn::Path<'_>, adapters: Option<&nn::Path<'_>>, p: &TransformerParams) -> Transformer {
        Transformer::build(base, adapters, p, true)
    }

    /// As [`Transformer::new`], with the base weights left uninitialized for a checkpoint to
    /// fill (every one of them: `pretrained::build_from` checks).
    pub fn for_checkpoint(base: &nn::Path<'_>, adapters: Option<&nn::Path<'_>>, p: &TransformerParams) -> Transformer {
        Transformer::build(base, adapters, p, false)
    }

    fn build(base: &nn::Path<'_>, adapters: Option<&nn::Path<'_>>, p: &TransformerParams, random: bool) -> Transformer {
        let d = p.d_model as i64;
        let (h, hd) = (p.heads as i64, p.head_dim() as i64);
        let lora = p.lora.as_ref();
        let adapters_on = Arc::new(AtomicBool::new(true));
        let ad = |i: usize, part: &str| adapters.zip(lora).map(|(a, c)| (a / "layers" / i / part, c, &adapters_on));
        let vocab = p.shape.vocab as i64;
        let embed = var(&(base / "embed"), "weight", &[vocab, d], random.then_some(Init::Randn { mean: 0.0, stdev: 1.0 }));
        let bias = p.shape.qkv_bias;
        let mut blocks = Vec::with_capacity(p.layers);
        for i in 0..p.layers {
            let lp = base / "layers" / i;
            let ap = &(&lp / "attn");
            let attn = match p.attention {
                AttentionKind::Mla => {
                    let (r, rd) = (p.kv_lora_rank as i64, p.rope_dim as i64);
                    Attn::Latent {
                        q: Proj::new(ap.clone(), ad(i, "attn"), "q", d, h * (hd + rd), random),
                        dkv: Proj::new(ap.clone(), None, "dkv", d, r + rd, random),
                        kv_norm: (ap / "kv_norm").var("weight", &[r], Init::Const(1.0)),
                        uk: Proj::new(ap.clone(), ad(i, "attn"), "k", r, h * hd, random),
                        uv: Proj::new(ap.clone(), ad(i, "attn"), "v", r, h * hd, random),
                        o: Proj::new(ap.clone(), ad(i, "attn"), "o", h * hd, d, random),
                        rank: r,
                        rope_dim: rd,
                    }
                }
                _ => {
                    let kvh = p.kv_heads_used() as i64;
                    Attn::Grouped {
                        q: Proj::with_bias(ap.clone(), ad(i, "attn"), "q", d, h * hd, bias, random),
                        k: Proj::with_bias(ap.clone(), ad(i, "attn"), "k", d, kvh * hd, bias, random),
                        v: Proj::with_bias(ap.clone(), ad(i, "attn"), "v", d, kvh * hd, bias, random),
                        o: Proj::new(ap.clone(), ad(i, "attn"), "o", h * hd, d, random),
                        kv_heads: kvh,
                    }
                }
            };
            let mp = &lp / "mlp";
            let hidden = p.mlp_hidden as i64;
            blocks.push(Block {
                attn_norm: (&lp / "attn_norm").var("weight", &[d], Init::Const(1.0)),
                attn,
                mlp_norm: (&lp / "mlp_norm").var("weight", &[d], Init::Const(1.0)),
                gate: Proj::new(mp.clone(), ad(i, "mlp"), "gate", d, hidden, random),
                up: Proj::new(mp.clone(), ad(i, "mlp"), "up", d, hidden, random),
                down: Proj::new(mp.clone(), ad(i, "mlp"), "down", hidden, d, random),
                fused: None,
            });
        }
        let norm = (base / "norm").var("weight", &[d], Init::Const(1.0));
        let bound = 1.0 / (d as f64).sqrt();
        let head = (!p.shape.tied).then(|| var(&(base / "head"), "weight", &[vocab, d], random.then_some(Init::Uniform { lo: -bound, up: bound })));
        Transformer { p: p.clone(), embed, blocks, norm, head, adapters_on }
    }

    /// Run `f` on the base model, the adapters switched off: DPO's reference when the policy
    /// trains adapters, with no second copy of the weights.
    pub fn without_adapters<T>(&self, f: impl FnOnce() -> T) -> T {
        let was = self.adapters_on.swap(false, Ordering::SeqCst);
        let out = f();
        self.adapters_on.store(was, Ordering::SeqCst);
        out
    }

    /// Whether any projection carries an adapter.
    pub fn has_adapters(&self) -> bool {
        self.projections().iter().any(|(_, p)| p.lora.is_some())
    }

    /// Logits `[B, T, vocab]` for tokens `[B, T]`. With `cache`, the tokens continue the cached
    /// sequence (positions start after it) and the cache grows; without, the whole sequence is
    /// processed causally.
    pub fn forward(&self, tokens: &Tensor, cache: Option<&mut [LayerCache]>, train: bool) -> Tensor {
        self.logits(&self.hidden(tokens, cache, train))
    }

    /// The output head on final hidden states `[…, d]` (apply it to a slice of positions to
    /// spare the `vocab`-wide logits of the others).
    pub fn logits(&self, hidden: &Tensor) -> Tensor {
        hidden.linear::<&Tensor>(self.head.as_ref().unwrap_or(&self.embed), None)
    }

    /// The final hidden states `[B, T, d]` (after the last norm), before the head.
    // `x = x + a`, not `x += a`: an in-place add would overwrite a tensor autograd still needs.
    #[allow(clippy::assign_op_pattern)]
    pub fn hidden(&self, tokens: &Tensor, mut cache: Option<&mut [LayerCache]>, train: bool) -> Tensor {
        let eps = self.p.shape.norm_eps;
        let mut x = Tensor::embedding(&self.embed, tokens, -1, false, false);
        let pos = self.positions(tokens, cache.as_deref());
        for (i, b) in self.blocks.iter().enumerate() {
            let c = cache.as_deref_mut().map(|c| &mut c[i]);
            let a = self.attention(b, &rms_norm(&x, &b.attn_norm, eps), c, &pos, train);
            x = x + a;
            let hn = rms_norm(&x, &b.mlp_norm, eps);
            let inner = match (&b.fused, train) {
                (Some(f), false) => {
                    let gu = hn.linear::<&Tensor>(&f.gate_up, None);
                    let w = gu.size()[2] / 2;
                    gu.narrow(2, 0, w).silu() * gu.narrow(2, w, w)
                }
                _ => b.gate.forward(&hn, train).silu() * b.up.forward(&hn, train),
            };
            let m = b.down.forward(&inner, train);
            x = x + m;
        }
        rms_norm(&x, &self.norm, eps)
    }

    fn positions(&self, tokens: &Tensor, cache: Option<&[LayerCache]>) -> Positions {
        let t = tokens.size()[1];
        let device = tokens.device();
        // Every layer caches the same positions; the first tells how many.
        let start = cache.and_then(|c| c.first()).and_then(|c| c.a.as_ref()).map_or(0, Slot::len);
        let d = match self.p.attention {
            AttentionKind::Mla => self.p.rope_dim,
            _ => self.p.head_dim(),
        } as i64;
        // Causal within the new tokens; a cached prefix is visible to all of them.
        let mask = (t > 1 && start > 0).then(|| {
            let q_pos = Tensor::arange_start(start, start + t, (Kind::Int64, device)).unsqueeze(1);
            Tensor::arange(start + t, (Kind::Int64, device)).unsqueeze(0).le_tensor(&q_pos)
        });
        Positions { rope: Rope::new(start, t, d, &self.p.shape, device), mask }
    }

    fn attention(&self, b: &Block, x: &Tensor, cache: Option<&mut LayerCache>, pos: &Positions, train: bool) -> Tensor {
        let size = x.size();
        let (bsz, t) = (size[0], size[1]);
        let (h, hd) = (self.p.heads as i64, self.p.head_dim() as i64);
        let (causal, mask, rope) = (t > 1, &pos.mask, |x: &Tensor| pos.rope.apply(x));
        let sdpa = |q: &Tensor, k: &Tensor, v: &Tensor, gqa: bool| match mask {
            Some(m) => Tensor::scaled_dot_product_attention(q, k, v, Some(m), 0.0, false, None, gqa),
            None => Tensor::scaled_dot_product_attention::<Tensor>(q, k, v, None, 0.0, causal, None, gqa),
        };
        let out = match &b.attn {
            Attn::Grouped { q, k, v, o: _, kv_heads } => {
                let (q, mut k, mut v) = match (&b.fused, train) {
                    (Some(f), false) => {
                        // [q | k | v] heads from one product; q and k rotated in one pass.
                        let all = x.linear(&f.qkv, f.qkv_bias.as_ref()).view([bsz, t, h + 2 * kv_heads, hd]).transpose(1, 2);
                        let qk = rope(&all.narrow(1, 0, h + kv_heads));
                        (qk.narrow(1, 0, h), qk.narrow(1, h, *kv_heads), all.narrow(1, h + kv_heads, *kv_heads))
                    }
                    _ => (
                        rope(&q.forward(x, train).view([bsz, t, h, hd]).transpose(1, 2)),
                        rope(&k.forward(x, train).view([bsz, t, *kv_heads, hd]).transpose(1, 2)),
                        v.forward(x, train).view([bsz, t, *kv_heads, hd]).transpose(1, 2),
                    ),
                };
                if let Some(c) = cache {
                    k = LayerCache::append(&mut c.a, k, 2);
                    v = LayerCache::append(&mut c.b, v, 2);
                }
                if *kv_heads != h && t == 1 {
                    // Decoding one token: SDPA groups the heads itself, sparing a copy of the
                    // whole cache per layer and step.
                    sdpa(&q, &k, &v, true)
                } else if *kv_heads != h {
                    // Each K/V head serves a group of query heads. Expanding the (small) K/V to
                    // every head lets SDPA take its fused kernel; with enable_gqa it falls back
                    // to the unfused one on CPU (measured 15-35% slower training).
                    let (tk, g) = (k.size()[2], h / kv_heads);
                    let widen = |t: &Tensor| t.unsqueeze(2).expand([bsz, *kv_heads, g, tk, hd], false).reshape([bsz, h, tk, hd]);
                    sdpa(&q, &widen(&k), &widen(&v), false)
                } else {
                    sdpa(&q, &k, &v, false)
                }
            }
            Attn::Latent { q, dkv, kv_norm, uk, uv, o: _, rank, rope_dim } => {
                let (r, rd) = (*rank, *rope_dim);
                let qa = q.forward(x, train).view([bsz, t, h, hd + rd]).transpose(1, 2);
                let q_nope = qa.narrow(-1, 0, hd);
                let q_rope = rope(&qa.narrow(-1, hd, rd));
                let kv = dkv.forward(x, train);
                let mut latent = rms_norm(&kv.narrow(-1, 0, r), kv_norm, self.p.shape.norm_eps);
                let mut k_rope = rope(&kv.narrow(-1, r, rd).unsqueeze(1)); // [B, 1, T, rd]
                if let Some(c) = cache {
                    latent = LayerCache::append(&mut c.a, latent, 1);
                    k_rope = LayerCache::append(&mut c.b, k_rope, 2);
                }
                let tk = latent.size()[1];
                let k_nope = uk.forward(&latent, train).view([bsz, tk, h, hd]).transpose(1, 2);
                let v = uv.forward(&latent, train).view([bsz, tk, h, hd]).transpose(1, 2);
                let k = Tensor::cat(&[k_nope, k_rope.expand([bsz, h, tk, rd], false)], -1);
                let q = Tensor::cat(&[q_nope, q_rope], -1);
                sdpa(&q, &k, &v, false)
            }
        };
        let o = match &b.attn {
            Attn::Grouped { o, .. } | Attn::Latent { o, .. } => o,
        };
        // One position: [B, H, 1, hd] already lies in memory as [B, 1, H·hd].
        let out = if t == 1 { out.reshape([bsz, 1, h * hd]) } else { out.transpose(1, 2).contiguous().view([bsz, t, h * hd]) };
        o.forward(&out, train)
    }

    /// Stack each block's q/k/v and gate/up weights for inference (grouped attention without
    /// adapters). The copies take the weights as they are now: call it on a model that will
    /// not train again (a loaded checkpoint).
    pub fn fuse_for_inference(&mut self) {
        tch::no_grad(|| {
            for b in &mut self.blocks {
                let Attn::Grouped { q, k, v, .. } = &b.attn else { continue };
                if [q, k, v, &b.gate, &b.up].iter().any(|p| p.lora.is_some()) {
                    continue;
                }
                let qkv = Tensor::cat(&[&q.weight, &k.weight, &v.weight], 0);
                let qkv_bias = match (&q.bias, &k.bias, &v.bias) {
                    (Some(a), Some(b2), Some(c)) => Some(Tensor::cat(&[a, b2, c], 0)),
                    _ => None,
                };
                let gate_up = Tensor::cat(&[&b.gate.weight, &b.up.weight], 0);
                b.fused = Some(Fused { qkv, qkv_bias, gate_up });
            }
        });
    }

    /// Every projection with its name relative to the base store (for merging adapters).
    fn projections(&self) -> Vec<(String, &Proj)> {
        let mut v = Vec::new();
        for (i, b) in self.blocks.iter().enumerate() {
            let a = format!("layers.{i}.attn");
            match &b.attn {
                Attn::Grouped { q, k, v: vv, o, .. } => {
                    v.extend([(format!("{a}.q.weight"), q), (format!("{a}.k.weight"), k), (format!("{a}.v.weight"), vv), (format!("{a}.o.weight"), o)]);
                }
                Attn::Latent { q, dkv, uk, uv, o, .. } => {
                    v.extend([
                        (format!("{a}.q.weight"), q),
                        (format!("{a}.dkv.weight"), dkv),
                        (format!("{a}.k.weight"), uk),
                        (format!("{a}.v.weight"), uv),
                        (format!("{a}.o.weight"), o),
                    ]);
                }
            }
            let m = format!("layers.{i}.mlp");
            v.extend([(format!("{m}.gate.weight"), &b.gate), (format!("{m}.up.weight"), &b.up), (format!("{m}.down.weight"), &b.down)]);
        }
        v
    }

    /// The base weights with every adapter folded in, named as in the base store: a LoRA run's
    /// merged model, loadable without adapters. Every adapter must land on a base weight of its
    /// name and shape: one that does not would leave its base weight unmerged and the saved
    /// model silently without its fine-tuning, so that is an error naming the adapters.
    pub fn merged_weights(&self, base: &nn::VarStore) -> Result<Vec<(String, Tensor)>, String> {
        let mut merged: std::collections::HashMap<String, Tensor> =
            tch::no_grad(|| self.projections().into_iter().filter(|(_, p)| p.lora.is_some()).map(|(n, p)| (n, p.merged())).collect());
        let mut out = Vec::new();
        for (name, t) in base.variables() {
            let folded = match merged.remove(&name) {
                Some(m) if m.size() == t.size() => m,
                Some(m) => return Err(format!("the adapter of {name} gives a {:?} weight, but the base weight is {:?}", m.size(), t.size())),
                None => t,
            };
            out.push((name, folded));
        }
        if !merged.is_empty() {
            let mut left: Vec<String> = merged.into_keys().collect();
            left.sort();
            return Err(format!("{} adapter(s) match no base weight and would be left unmerged: {}", left.len(), left.join(", ")));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// Resolve `device: auto | cpu | cuda`.
pub fn device(name: &str) -> Result<Device, String> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        "cuda" => Err("device: cuda, but libtorch sees no CUDA device here; use device: auto or cpu".into()),
        _ => Ok(if tch::Cuda::is_available() { Device::Cuda(0) } else { Device::Cpu }),
    }
}

/// Number of elements over a set of tensors.
pub fn count(ts: &[Tensor]) -> i64 {
    ts.iter().map(Tensor::numel).sum::<usize>() as i64
}
