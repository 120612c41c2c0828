#!/usr/bin/env python3
"""transformers on the same SmolLM2 GGUF and the same ids as torch/benches/pretrained.rs.

Load (dequantize to fp32), eager greedy generation of 128 new tokens with its KV cache at batch
1 (prefill included), and the forward pass over the bundled text in windows of 256. The ids
come from ratlab (`ratlab tokenize --json`), since transformers' GGUF tokenizer for this file
lacks SmolLM2's digit split. Needs transformers, gguf and accelerate, with the project's torch:
  PYTHONPATH=$(echo ~/.cache/ratlab/venv-torch-2.13.0/lib/python3*/site-packages) \\
      ~/.cache/ratlab/venv-hf/bin/python benches/pretrained_reference.py
"""
import json
import os
import statistics
import subprocess
import time

import torch
from transformers import AutoModelForCausalLM

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
RATLAB = os.path.join(ROOT, "target", "release", "ratlab")


def ids(text):
    out = subprocess.run([RATLAB, "tokenize", MODEL, "--text", text, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)["ids"]


def main():
    torch.set_num_threads(2)
    print(f"== transformers on SmolLM2-135M-Instruct (Q4_1 GGUF), {torch.get_num_threads()} threads")
    d, f = os.path.dirname(os.path.realpath(MODEL)), os.path.basename(os.path.realpath(MODEL))
    t = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32, attn_implementation="eager").eval()
    print(f"load (dequantize to fp32): {time.perf_counter() - t:.2f} s")
    prompt = torch.tensor([ids("Once upon a time, in a small village by the sea,")])
    speeds = []
    with torch.no_grad():
        model.generate(prompt, max_new_tokens=8, min_new_tokens=8, do_sample=False, pad_token_id=2)
        for _ in range(3):
            t = time.perf_counter()
            out = model.generate(prompt, max_new_tokens=128, min_new_tokens=128, do_sample=False, pad_token_id=2)
            speeds.append((out.shape[1] - prompt.shape[1]) / (time.perf_counter() - t))
    print(f"greedy generation, {prompt.shape[1]} prompt tokens + 128 new, batch 1, KV cache (eager): {statistics.median(speeds):.1f} tokens/s (median of 3)")
    text = open(os.path.join(ROOT, "datasets", "smollm2-eval.txt"), encoding="utf-8").read()
    all_ids = ids(text)
    windows = [all_ids[i:i + 256] for i in range(0, len(all_ids), 256) if len(all_ids[i:i + 256]) >= 2]
    speeds, nll = [], 0.0
    with torch.no_grad():
        model(torch.tensor([windows[0]]))
        for _ in range(3):
            t = time.perf_counter()
            total, n = 0.0, 0
            for w in windows:
                x = torch.tensor([w])
                logits = model(x).logits[0]
                total += torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="sum").item()
                n += len(w) - 1
            speeds.append(n / (time.perf_counter() - t))
            nll = total / n
    print(f"score (forward), {len(all_ids)} tokens in windows of 256: {statistics.median(speeds):.0f} tokens/s (median of 3), nll {nll:.4f}")


if __name__ == "__main__":
    main()
