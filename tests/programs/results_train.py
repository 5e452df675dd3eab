"""A tiny deterministic training program for the results tests.

loss at step s = (x - 0.5)**2 + 0.1 * y + 1 / s; also acc and latency for multi-objective
sweeps; a trial with loss > 4 sleeps 5 s per step (so it is pruned). ``x == -1 and y == 2`` fails (exit 3, a message on stderr). ``--sleep`` slows each step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--x", type=float, default=0.0)
ap.add_argument("--y", type=float, default=1.0)
ap.add_argument("--steps", type=int, default=3)
ap.add_argument("--sleep", type=float, default=0.0)
a, _unknown = ap.parse_known_args()
print(f"starting x={a.x} y={a.y}", flush=True)
print(f"warming up x={a.x}", file=sys.stderr, flush=True)
if a.x == -1 and a.y == 2:
    print("RuntimeError: CUDA out of memory (simulated)", file=sys.stderr, flush=True)
    sys.exit(3)
for s in range(1, a.steps + 1):
    time.sleep(a.sleep)
    loss = (a.x - 0.5) ** 2 + 0.1 * a.y + 1 / s
    acc = 1 / (1 + loss)
    latency = 10 * a.y + s
    print(
        json.dumps({"step": s, "loss": round(loss, 6), "acc": round(acc, 6), "latency": latency}),
        flush=True,
    )
    if loss > 4:
        time.sleep(5)  # a hopeless trial is slow: the threshold pruner stops it first
print("done", flush=True)
