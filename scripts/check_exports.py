#!/usr/bin/env python3
"""Load ratlab's exports of a tuned run in the tools they are for, and compare with ratlab.

    check_exports.py RUN_DIR [--hf DIR] [--gguf FILE] [--peft DIR --base CHECKPOINT] [--prompt TEXT ...]

- --hf: transformers' AutoModelForCausalLM and AutoTokenizer load the directory; the tokenizer
  gives ratlab's ids for each prompt in the chat template, and greedy generation gives the ids
  of `ratlab generate RUN_DIR --json`.
- --gguf: transformers loads the file (gguf_file=), and its logits on the prompt match the HF
  export's (f32 exports) or come close (f16, q8_0).
- --peft: PeftModel.from_pretrained(base, DIR) on the base the run started from (a .gguf file
  or a model directory) gives the HF export's logits: the merged model and base + adapter agree.

Needs transformers, gguf, accelerate and peft, with the project's torch:
  PYTHONPATH=$(echo ~/.cache/ratlab/venv-torch-2.13.0/lib/python3*/site-packages) \\
      ~/.cache/ratlab/venv-hf/bin/python scripts/check_exports.py RUN_DIR --hf OUT ...
Exits 1 on the first disagreement.
"""
import argparse
import json
import os
import subprocess
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATLAB = os.environ.get("RATLAB", os.path.join(os.path.expanduser("~/.cache/ratlab/target/release/ratlab")))


def ratlab_generate(run, prompt, n):
    out = subprocess.run([RATLAB, "generate", run, "--prompt", prompt, "--max-tokens", str(n), "--json", "--device", "cpu"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.splitlines()[0])


def load(path):
    if path.endswith(".gguf"):
        d, f = os.path.dirname(os.path.abspath(path)), os.path.basename(path)
        return AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32).eval()
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("--hf")
    ap.add_argument("--gguf")
    ap.add_argument("--peft")
    ap.add_argument("--base")
    ap.add_argument("--prompt", action="append")
    ap.add_argument("--max-tokens", type=int, default=16)
    a = ap.parse_args()
    torch.set_num_threads(2)
    prompts = a.prompt or ["Say the number 7"]
    hf = load(a.hf)
    tok = AutoTokenizer.from_pretrained(a.hf)
    for p in prompts:
        r = ratlab_generate(a.run, p, a.max_tokens)
        text = tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
        ids = tok(text, add_special_tokens=False, return_tensors="pt").input_ids
        # ratlab's prompt ids are what it continued; transformers' template must give the same.
        with torch.no_grad():
            out = hf.generate(ids, max_new_tokens=a.max_tokens, do_sample=False, pad_token_id=tok.eos_token_id or 0)
        new = out[0, ids.shape[1]:].tolist()
        if new != r["ids"]:
            fail(f"hf greedy answer to {p!r}: transformers {new}, ratlab {r['ids']}")
        print(f"hf: greedy answer to {p!r} matches ratlab ({len(new)} tokens): {tok.decode(new)!r}")
        with torch.no_grad():
            ref = hf(ids).logits[0]
        if a.gguf:
            g = load(a.gguf)
            with torch.no_grad():
                got = g(ids).logits[0]
            diff = (got - ref).abs().max().item()
            print(f"gguf: max |logit difference| from the hf export {diff:.2e}")
            if diff > (1e-3 if "f32" in a.gguf or diff < 1e-3 else 0.5):
                fail(f"gguf logits differ by {diff}")
        if a.peft:
            from peft import PeftModel
            base = load(a.base)
            pm = PeftModel.from_pretrained(base, a.peft).eval()
            with torch.no_grad():
                got = pm(ids).logits[0]
            diff = (got - ref).abs().max().item()
            print(f"peft: base + adapter against the merged hf export, max |logit difference| {diff:.2e}")
            if diff > 1e-3:
                fail(f"peft logits differ by {diff}")
            with torch.no_grad():
                pout = pm.generate(input_ids=ids, max_new_tokens=a.max_tokens, do_sample=False, pad_token_id=tok.eos_token_id or 0)
            if pout[0, ids.shape[1]:].tolist() != r["ids"]:
                fail(f"peft greedy answer differs: {pout[0, ids.shape[1]:].tolist()} vs {r['ids']}")
            print("peft: greedy answer matches ratlab")
    print("ok")


if __name__ == "__main__":
    main()
