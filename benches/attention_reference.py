#!/usr/bin/env python3
"""The attention experiment's quality check: eager PyTorch trains the same models as ratlab
(model code from benches/transformer_reference.py) with ratlab's recipe: AdamW (0.9, 0.95, weight
decay 0.1), lr 3e-4 with 30 warm-up steps then cosine decay to 10%, clipping 1.0, batch 16 x 128,
300 steps on datasets/tiny-stories.txt (the last 10% held out), then bits per byte on 128
consecutive held-out windows, as ratlab's evaluation takes them. Compare with

    ratlab run experiments/attention.yaml --set runs.mha.params.steps=300 ...   (or any YAML with
    steps: 300, eval_every: 300 and the experiment seed 1 or 2)

Environment: KINDS=mha,mla (default), SEEDS=1,2, N=300 steps, SCHED=const for a constant lr.
    ~/.cache/ratlab/venv-torch-2.13.0/bin/python benches/attention_reference.py
"""
import math, os, sys, torch
import torch.nn.functional as F
sys.argv = [sys.argv[0]]
src = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "transformer_reference.py")).read().split("data = torch.tensor")[0]
exec(src)
STEPS_N = int(os.environ.get("N", "300"))
raw = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "tiny-stories.txt"), "rb").read()
cut = len(raw) - round(len(raw) * 0.1)
train_d = torch.tensor(list(raw[:cut]), dtype=torch.long); test_d = torch.tensor(list(raw[cut:]), dtype=torch.long)
def lr_at(s, peak=3e-4, w=30, n=STEPS_N):
    if os.environ.get("SCHED") == "const": return peak
    if s <= w: return peak * s / w
    p = min((s - w) / (n - w), 1.0); mn = 0.1 * peak
    return mn + 0.5 * (peak - mn) * (1 + math.cos(math.pi * p))
def run(kind, seed):
    torch.manual_seed(seed); m = Model(kind)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    for s in range(1, STEPS_N + 1):
        for g in opt.param_groups: g["lr"] = lr_at(s)
        i = torch.randint(len(train_d) - T - 1, (B, 1)) + torch.arange(T + 1)[None]; w = train_d[i]
        loss = F.cross_entropy(m(w[:, :-1]).reshape(-1, V), w[:, 1:].reshape(-1))
        opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step()
    with torch.no_grad():
        n = min((len(test_d) - 1) // T, 8 * B); tot = 0
        for j in range(n):
            x = test_d[j*T:(j+1)*T][None]; y = test_d[j*T+1:(j+1)*T+1][None]
            tot += F.cross_entropy(m(x).reshape(-1, V), y.reshape(-1)).item()
    return tot / n / math.log(2)
for kind in os.environ.get("KINDS", "mha,mla").split(","):
    r = [run(kind, s) for s in [int(x) for x in os.environ.get("SEEDS", "1,2").split(",")]]
    print(kind, "bits/byte", [round(v, 4) for v in r], flush=True)
