"""A training program for the smoke tests; its behaviour is chosen by ``SMOKE_MODE``.

* ``ok``: needs ``SWEEPRUN_SMOKE=1``; reports ``loss`` for ``--max-steps`` steps.
* ``edge``: like ok, but crashes when ``--batch_size`` is 64 (the top of its range).
* ``hang``: like ok, but hangs (prints nothing, never exits) when ``--optimizer`` is adam.
* ``silent``: exits 0 without ever reporting the metric.

    SMOKE_MODE=edge python smoke_train.py --lr=0.01 --batch_size=64 --optimizer=sgd
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch_size", type=int, required=True)
    ap.add_argument("--optimizer", choices=["sgd", "adam"], required=True)
    ap.add_argument("--max-steps", type=int, default=1000)
    args = ap.parse_args()
    mode = os.environ.get("SMOKE_MODE", "ok")
    if os.environ.get("SWEEPRUN_SMOKE") != "1":
        print("error: SWEEPRUN_SMOKE is not set", file=sys.stderr)
        return 3
    print(f"max_steps={args.max_steps} mode={mode}", flush=True)
    if mode == "silent":
        print("training done (but no metric)", flush=True)
        return 0
    if mode == "hang" and args.optimizer == "adam":
        time.sleep(3600)
    for step in range(args.max_steps):
        if mode == "edge" and args.batch_size == 64 and step == 1:
            print("allocating activations...", flush=True)
            raise ValueError(f"batch_size={args.batch_size} overflows the activation buffer")
        loss = 1.0 / (1.0 + step * args.lr * 10)
        print(json.dumps({"step": step, "loss": round(loss, 6)}), flush=True)
        time.sleep(0.01)
    return 0


if __name__ == "__main__":
    sys.exit(main())
