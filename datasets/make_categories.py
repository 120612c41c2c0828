#!/usr/bin/env python3
"""Generate datasets/categories.csv, the data of experiments/categorical.yaml (run once; the
output is committed).

Whether a customer buys (target 0/1) from two category columns and four numbers:
- `city`: 300 cities as text (c0..c299) with skewed frequencies (a few large, many small;
  1% of the cells empty), each with its own effect on the label;
- `store`: 40 stores as integer codes (0..39), also with their own effect: integers, so
  `data.categorical` must name the column for the trees to treat it as categories;
- `price`, `age`, `visits`, `discount`: numbers, two of them interacting.
The effects of cities and stores are unordered: neither the codes nor any order of the names
carries them, so a split on a code threshold finds little and a split on a set of categories
finds it all.

Deterministic: the same seed always writes the same file.
"""
import math
import random

rng = random.Random(20261205)
ROWS = 8000
CITY_EFFECT = [rng.gauss(0, 1) for _ in range(300)]
STORE_EFFECT = [rng.gauss(0, 0.8) for _ in range(40)]

with open("datasets/categories.csv", "w") as f:
    f.write("city,store,price,age,visits,discount,target\n")
    for _ in range(ROWS):
        city = int(300 * rng.random() * rng.random())
        store = rng.randrange(40)
        price, age, visits, discount = (rng.gauss(0, 1) for _ in range(4))
        z = CITY_EFFECT[city] + STORE_EFFECT[store] - 0.8 * price + 0.5 * visits + 0.6 * age * discount
        y = int(z + rng.gauss(0, 1) > 0)
        cell = "" if rng.random() < 0.01 else f"c{city}"
        f.write(f"{cell},{store},{price:.4f},{age:.4f},{visits:.4f},{discount:.4f},{y}\n")
