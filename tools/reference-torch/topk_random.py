"""Regenerates test/analysis/torch-topk-random.json: torch.topk (CPU, float32) on 160 seeded random tie-heavy vectors,
covering the introselect path (small sizes, insertion-sort ranges, deep recursion) and the heap-select path
(k * 64 <= n), with and without NaN. Each case stores the vector as a string, one character per value ('0'-'9', or
'n' for NaN), k, and the sorted indices torch keeps.

    /usr/bin/python3 tools/reference-torch/topk_random.py > test/analysis/torch-topk-random.json
"""
import json
import random

import torch

rng = random.Random(20261207)
cases = []
for t in range(160):
    heap = t % 4 == 0
    if heap:
        k = rng.randint(1, 6)
        n = rng.randint(64 * k, 64 * k + 200)
    else:
        n = rng.choice([rng.randint(1, 20), rng.randint(21, 80), rng.randint(81, 300)])
        k = rng.randint(1, n)
    levels = rng.randint(1, 6)
    chars = [str(rng.randrange(levels)) for _ in range(n)]
    if t % 3 == 0:
        for _ in range(rng.randint(1, 3)):
            chars[rng.randrange(n)] = "n"
    v = torch.tensor([[float("nan") if c == "n" else float(c) for c in chars]], dtype=torch.float32)
    kept = sorted(torch.topk(v, k).indices[0].tolist())
    cases.append({"values": "".join(chars), "k": k, "torch": kept})

print(json.dumps({"torch": torch.__version__, "seed": 20261207, "cases": cases}, separators=(",", ":")))
