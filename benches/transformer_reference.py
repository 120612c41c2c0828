#!/usr/bin/env python3
"""The same tiny LLaMA-style model in eager PyTorch, measured like torch/benches/transformer.rs
(training tokens/s per attention variant, full vs LoRA fine-tuning, DPO pairs/s, greedy
generation tokens/s with a KV cache), for a side-by-side check on one machine:

    ~/.cache/ratlab/venv-torch-2.13.0/bin/python benches/transformer_reference.py
"""
import math, os, time
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
STEPS = int(os.environ.get("RATLAB_BENCH_STEPS", "20"))
V, L, D, H, T, B, HID = 256, 4, 128, 4, 128, 16, 352
HD = D // H

def rope(x, start=0):
    d = x.shape[-1]; half = d // 2
    inv = torch.exp(torch.arange(half, dtype=torch.float32) * (-2 * math.log(10000.0) / d))
    ang = torch.arange(start, start + x.shape[2], dtype=torch.float32)[:, None] * inv[None]
    c, s = ang.cos(), ang.sin()
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], -1)

class Lin(nn.Module):
    def __init__(s, i, o, r=0):
        super().__init__(); s.w = nn.Linear(i, o, bias=False); s.r = r
        if r:
            s.a = nn.Parameter(torch.randn(r, i) / math.sqrt(i)); s.b = nn.Parameter(torch.zeros(o, r))
    def forward(s, x):
        y = s.w(x)
        return y + (x @ s.a.t() @ s.b.t()) * 2.0 if s.r else y

class Attn(nn.Module):
    def __init__(s, kind, kv=2, r=0):
        super().__init__(); s.kind = kind
        if kind == "mla":
            s.q = Lin(D, H * (HD + 16)); s.dkv = Lin(D, 32 + 16); s.n = nn.RMSNorm(32, eps=1e-5)
            s.uk = Lin(32, H * HD); s.uv = Lin(32, H * HD)
        else:
            s.kvh = {"mha": H, "mqa": 1, "gqa": kv}[kind]
            s.q = Lin(D, H * HD, r); s.k = Lin(D, s.kvh * HD); s.v = Lin(D, s.kvh * HD, r)
        s.o = Lin(H * HD, D)
    def forward(s, x, cache=None):
        b, t, _ = x.shape
        start = 0 if cache is None or not cache else (cache["a"].shape[1] if s.kind == "mla" else cache["a"].shape[2])
        if s.kind == "mla":
            qa = s.q(x).view(b, t, H, HD + 16).transpose(1, 2)
            q = torch.cat([qa[..., :HD], rope(qa[..., HD:], start)], -1)
            kv = s.dkv(x); c = s.n(kv[..., :32]); kr = rope(kv[..., 32:].unsqueeze(1), start)
            if cache is not None:
                if cache: c = torch.cat([cache["a"], c], 1); kr = torch.cat([cache["b"], kr], 2)
                cache["a"], cache["b"] = c, kr
            tk = c.shape[1]
            k = torch.cat([s.uk(c).view(b, tk, H, HD).transpose(1, 2), kr.expand(b, H, tk, 16)], -1)
            v = s.uv(c).view(b, tk, H, HD).transpose(1, 2)
        else:
            q = rope(s.q(x).view(b, t, H, HD).transpose(1, 2), start)
            k = rope(s.k(x).view(b, t, s.kvh, HD).transpose(1, 2), start)
            v = s.v(x).view(b, t, s.kvh, HD).transpose(1, 2)
            if cache is not None:
                if cache: k = torch.cat([cache["a"], k], 2); v = torch.cat([cache["b"], v], 2)
                cache["a"], cache["b"] = k, v
            if s.kvh != H:
                k = k.repeat_interleave(H // s.kvh, 1); v = v.repeat_interleave(H // s.kvh, 1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=t > 1)
        return s.o(y.transpose(1, 2).reshape(b, t, H * HD))

class Block(nn.Module):
    def __init__(s, kind, r):
        super().__init__(); s.n1 = nn.RMSNorm(D, eps=1e-5); s.a = Attn(kind, r=r); s.n2 = nn.RMSNorm(D, eps=1e-5)
        s.g = Lin(D, HID); s.u = Lin(D, HID); s.d = Lin(HID, D)
    def forward(s, x, cache=None):
        x = x + s.a(s.n1(x), cache)
        h = s.n2(x)
        return x + s.d(F.silu(s.g(h)) * s.u(h))

class Model(nn.Module):
    def __init__(s, kind="mha", r=0):
        super().__init__(); s.e = nn.Embedding(V, D); s.bs = nn.ModuleList([Block(kind, r) for _ in range(L)])
        s.n = nn.RMSNorm(D, eps=1e-5); s.h = nn.Linear(D, V, bias=False)
    def forward(s, x, caches=None):
        x = s.e(x)
        for i, b in enumerate(s.bs):
            x = b(x, None if caches is None else caches[i])
        return s.h(s.n(x))

data = torch.tensor(list(open(os.path.join(os.path.dirname(__file__), "../datasets/tiny-stories.txt"), "rb").read()), dtype=torch.long)

def batch():
    i = torch.randint(len(data) - T - 1, (B, 1)) + torch.arange(T + 1)[None]
    w = data[i]
    return w[:, :-1], w[:, 1:]

def timed(f):
    for _ in range(3): f()
    ts = []
    for _ in range(STEPS):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2]

def train(kind, r=0):
    torch.manual_seed(1); m = Model(kind, r)
    if r:
        for n, p in m.named_parameters(): p.requires_grad = n.endswith(".a") or n.endswith(".b")
    ps = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(ps, lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    def step():
        x, y = batch()
        loss = F.cross_entropy(m(x).view(-1, V), y.reshape(-1))
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(ps, 1.0); opt.step(); loss.item()
    return B * T / timed(step), sum(p.numel() for p in m.parameters()), sum(p.numel() for p in ps)

print(f"== eager PyTorch {torch.__version__}, {torch.get_num_threads()} threads, median of {STEPS} steps")
for name, k in [("pretrain, MHA", "mha"), ("pretrain, MQA", "mqa"), ("pretrain, GQA (2 KV heads)", "gqa"), ("pretrain, MLA", "mla")]:
    tps, n, _ = train(k); print(f"{name:<28} {n:>10} {tps:>12.0f}")
tps, n, _ = train("mha"); print(f"{'fine-tune, full':<28} {n:>10} {tps:>12.0f}")
tps, _, tr = train("mha", 8); print(f"{'fine-tune, LoRA r=8 q,v':<28} {tr:>10} {tps:>12.0f}")

torch.manual_seed(4); pol, ref = Model(), Model()
for p in ref.parameters(): p.requires_grad = False
opt = torch.optim.AdamW(pol.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
x, _ = batch(); x = torch.cat([x, x.flip(0)]); y = torch.roll(x, -1, 1); mask = torch.zeros_like(y, dtype=torch.float); mask[:, 64:] = 1
def logp(m, x):
    return (m(x).log_softmax(-1).gather(-1, y[..., None]).squeeze(-1) * mask).sum(-1)
def dpo():
    lp = logp(pol, x)
    with torch.no_grad(): lr = logp(ref, x)
    d = (lp - lr) * 0.1
    loss = -F.logsigmoid(d[:16] - d[16:]).mean()
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(pol.parameters(), 1.0); opt.step(); loss.item()
print(f"DPO (16 pairs x 128 tokens, policy + reference): {16 / timed(dpo):.1f} pairs/s")

print("greedy generation, 256 new tokens, batch 1, KV cache:")
prompt = torch.tensor([list(b"Once upon a time")])
for name, k in [("MHA", "mha"), ("MQA", "mqa"), ("GQA", "gqa"), ("MLA (latent cached)", "mla")]:
    torch.manual_seed(5); m = Model(k)
    with torch.no_grad():
        def gen(n):
            caches = [{} for _ in range(L)]; x = prompt
            for _ in range(n):
                nxt = m(x, caches)[:, -1].argmax(-1, keepdim=True); x = nxt
        gen(16); t = time.perf_counter(); gen(256)
        print(f"  {name:<22} {256 / (time.perf_counter() - t):>8.0f} tokens/s")
