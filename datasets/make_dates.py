#!/usr/bin/env python3
"""Generate the bundled data of experiments/smollm2-lora.yaml (run once; the outputs are committed).

A systematic task a small pretrained model does not do on its own: write an ISO date
(YYYY-MM-DD) in words, day first, as "4 July 2021". SmolLM2-135M-Instruct answers in sentences
and in the American order; a few dozen LoRA steps teach it the rule.

- dates-sft.jsonl: instructions (the date in the instruction, or in the input field) and the
  answer, for SFT.
- dates-dpo.jsonl: the same prompts with the right answer (chosen) and a plausible wrong one
  (rejected: the American order, a neighbouring month, the day and month swapped, or the ISO
  date left as it was), for DPO.

Deterministic: the same seed always writes the same files.
"""
import json
import random

rng = random.Random(20261204)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def date():
    y, m = rng.randrange(1950, 2040), rng.randrange(12)
    d = rng.randrange(1, DAYS[m] + 1)
    return y, m, d


def prompt(y, m, d):
    iso = f"{y}-{m + 1:02d}-{d:02d}"
    if rng.random() < 0.5:
        return {"instruction": f"Write the date {iso} in words, day first."}
    return {"instruction": "Write this date in words, day first.", "input": iso}


def wrong(y, m, d):
    kind = rng.randrange(4)
    if kind == 0:
        return f"{MONTHS[m]} {d}, {y}"
    if kind == 1:
        return f"{d} {MONTHS[(m + rng.choice([-1, 1])) % 12]} {y}"
    if kind == 2 and d <= 12 and d != m + 1:
        return f"{m + 1} {MONTHS[d - 1]} {y}"
    return f"{y}-{m + 1:02d}-{d:02d}"


def main():
    with open("datasets/dates-sft.jsonl", "w") as f:
        for _ in range(640):
            y, m, d = date()
            row = prompt(y, m, d)
            row["output"] = f"{d} {MONTHS[m]} {y}"
            f.write(json.dumps(row) + "\n")
    with open("datasets/dates-dpo.jsonl", "w") as f:
        for _ in range(320):
            y, m, d = date()
            p = prompt(y, m, d)
            text = p["instruction"] + ("\n\n" + p["input"] if "input" in p else "")
            f.write(json.dumps({"prompt": text, "chosen": f"{d} {MONTHS[m]} {y}", "rejected": wrong(y, m, d)}) + "\n")


if __name__ == "__main__":
    main()
