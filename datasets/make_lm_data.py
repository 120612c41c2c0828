#!/usr/bin/env python3
"""Generate ratlab's bundled language-model data (run once; the outputs are committed).

- tiny-stories.txt: short children's stories from a small grammar (public domain: generated
  here). A byte-level model learns its spelling and phrasing quickly, so bits per byte falls
  well under 8 within a few hundred steps.
- instructions.jsonl: Alpaca-style rows (instruction, input, output) of tasks with one checkable
  answer: reverse a word, upper-case it, add two numbers, sort letters, count letters.
- preferences.jsonl: the same kinds of prompts with the right answer (chosen) and a plausible
  wrong one (rejected), for DPO.

Deterministic: the same seed always writes the same files.
"""
import json
import random

rng = random.Random(20261129)

NAMES = ["Mia", "Tom", "Lily", "Ben", "Sara", "Max", "Anna", "Leo", "Zoe", "Sam", "Ella", "Finn"]
ANIMALS = ["cat", "dog", "bird", "frog", "fox", "bear", "duck", "owl", "fish", "horse", "mouse", "rabbit"]
PLACES = ["park", "garden", "forest", "beach", "river", "farm", "hill", "town", "lake", "school"]
THINGS = ["ball", "kite", "hat", "cake", "book", "boat", "box", "drum", "lamp", "apple", "stone", "shell"]
COLORS = ["red", "blue", "green", "yellow", "big", "small", "shiny", "old", "new", "soft"]
FEELINGS = ["happy", "sad", "tired", "excited", "scared", "proud", "calm", "curious"]
VERBS = ["found", "lost", "saw", "made", "wanted", "shared", "painted", "carried"]

def story():
    n, a, p, t = rng.choice(NAMES), rng.choice(ANIMALS), rng.choice(PLACES), rng.choice(THINGS)
    c, f, v = rng.choice(COLORS), rng.choice(FEELINGS), rng.choice(VERBS)
    f2 = rng.choice(FEELINGS)
    lines = [
        f"Once upon a time, {n} went to the {p}.",
        f"At the {p}, {n} {v} a {c} {t}.",
        rng.choice([
            f"A little {a} came to look at the {t}.",
            f"The {a} wanted to play with the {t} too.",
            f"{n} showed the {t} to a friendly {a}.",
        ]),
        rng.choice([
            f"{n} felt {f}, so {n} shared the {t} with the {a}.",
            f"The {a} was {f} and ran around the {p}.",
            f"They played together until the sun went down.",
        ]),
        f"In the end, {n} was {f2} and went home.",
    ]
    return " ".join(lines)

def words(k):
    return rng.choice(ANIMALS + THINGS + PLACES + COLORS)

def task():
    """One (instruction, input, output, wrong) with a single right answer."""
    kind = rng.randrange(5)
    w = words(1)
    if kind == 0:
        right = w[::-1]
        wrong = rng.choice([w, w[::-1][1:] + w[0] if len(w) > 2 else w + w, w[1:][::-1]])
        return "Reverse the word", w, right, wrong
    if kind == 1:
        right = w.upper()
        wrong = rng.choice([w, w.capitalize(), w.upper()[:-1] + w[-1]])
        return "Write the word in capital letters", w, right, wrong
    if kind == 2:
        x, y = rng.randrange(50), rng.randrange(50)
        right = str(x + y)
        wrong = str(x + y + rng.choice([-10, -2, -1, 1, 2, 10]))
        if int(wrong) < 0:
            wrong = str(x + y + 1)
        return "Add the two numbers", f"{x} + {y}", right, wrong
    if kind == 3:
        right = "".join(sorted(w))
        wrong = w if w != right else w[::-1]
        return "Sort the letters of the word alphabetically", w, right, wrong
    right = str(len(w))
    wrong = str(len(w) + rng.choice([-1, 1, 2]))
    return "Count the letters in the word", w, right, wrong

def main():
    text = "\n".join(story() for _ in range(2400)) + "\n"
    with open("datasets/tiny-stories.txt", "w") as f:
        f.write(text)
    with open("datasets/instructions.jsonl", "w") as f:
        for _ in range(4000):
            ins, inp, out, _ = task()
            if rng.random() < 0.7:
                # Most rows carry the word in the instruction (the short Alpaca template).
                row = {"instruction": f"{ins}: {inp}", "output": out}
            else:
                row = {"instruction": f"{ins}.", "input": inp, "output": out}
            f.write(json.dumps(row) + "\n")
    with open("datasets/preferences.jsonl", "w") as f:
        for _ in range(3000):
            ins, inp, out, wrong = task()
            if wrong == out:
                wrong = out + out
            f.write(json.dumps({"prompt": f"{ins}: {inp}", "chosen": out, "rejected": wrong}) + "\n")

if __name__ == "__main__":
    main()
