#!/usr/bin/env python3
"""PyTorch + PEFT in eager mode on the batches torch/benches/lora.rs used (its JSON file).

Same model (SmolLM2-135M-Instruct from the same GGUF, fp32), same LoRA (rank 8, alpha 16, all
seven projections, no dropout), same optimizer (AdamW lr 1e-3, betas 0.9/0.95, weight decay
0.1, clipping 1.0), same consecutive batches, 2 threads:
- SFT: batches of 8, right-padded, labels -100 except the counted (response) tokens, the
  model's own loss (transformers' usual path). tokens/s counts example tokens without padding.
- DPO: batches of 4 pairs, the policy with PEFT adapters and a frozen reference copy of the
  base model; summed log-probabilities of the counted tokens, loss -log sigmoid(beta * margin).
Median of the timed steps after 3 warm-up steps, and the process's peak RSS.
  PYTHONPATH=$(echo ~/.cache/ratlab/venv-torch-2.13.0/lib/python3*/site-packages) \\
      ~/.cache/ratlab/venv-hf/bin/python benches/lora_reference.py /tmp/ratlab-lora-bench.json
"""
import copy
import json
import os
import resource
import statistics
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")


def pad(rows):
    width = max(len(r["ids"]) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(r["ids"])
        ids[i, :n] = torch.tensor(r["ids"])
        mask[i, :n] = 1
        for j in range(n):
            if r["learn"][j]:
                labels[i, j] = r["ids"][j]
    return ids, labels, mask


def seq_logp(model, ids, labels, mask):
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    target = labels[:, 1:]
    keep = target != -100
    lp = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (lp * keep).sum(-1)


def timed(steps, f):
    for i in range(3):
        f(i)
    rates = []
    for i in range(3, 3 + steps):
        t = time.perf_counter()
        n = f(i)
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)


def main():
    torch.set_num_threads(2)
    data = json.load(open(sys.argv[1]))
    steps = data["steps"]
    d, f = os.path.dirname(os.path.realpath(MODEL)), os.path.basename(os.path.realpath(MODEL))
    # RATLAB_ATTN=sdpa measures transformers' default attention instead of the eager one.
    base = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation=os.environ.get("RATLAB_ATTN", "eager"))
    reference = copy.deepcopy(base).eval().requires_grad_(False)
    cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], task_type="CAUSAL_LM")
    model = get_peft_model(base, cfg)
    model.train()
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"== PyTorch {torch.__version__} + PEFT, eager, {torch.get_num_threads()} threads; {trainable} trainable parameters")
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, eps=1e-8)

    def sft(i):
        rows = data["sft"][8 * i:8 * i + 8]
        ids, labels, mask = pad(rows)
        opt.zero_grad()
        model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return sum(len(r["ids"]) for r in rows)

    rate = timed(steps, sft)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = statistics.mean(len(r["ids"]) for r in data["sft"])
    print(f"LoRA SFT, batch 8, {n:.0f} tokens per example: {rate:.0f} tokens/s (median); peak RSS {rss:.0f} MiB (with the reference copy loaded)")

    def dpo(i):
        pairs = data["dpo"][4 * i:4 * i + 4]
        rows = [p["chosen"] for p in pairs] + [p["rejected"] for p in pairs]
        ids, labels, mask = pad(rows)
        opt.zero_grad()
        lp = seq_logp(model, ids, labels, mask)
        with torch.no_grad():
            lr = seq_logp(reference, ids, labels, mask)
        diff = 0.1 * (lp - lr)
        margin = diff[:4] - diff[4:]
        (-torch.nn.functional.logsigmoid(margin).mean()).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return len(pairs)

    rate = timed(steps, dpo)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"LoRA DPO, batch 4 pairs, frozen reference copy: {rate:.2f} pairs/s (median); peak RSS so far {rss:.0f} MiB")


if __name__ == "__main__":
    main()
