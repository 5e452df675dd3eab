"""Stand-in for a LightGBM training script (the ``lightgbm`` template).

Accepts exactly the template's parameters and prints a plausible validation
``val_binary_logloss`` every 10 boosting rounds; replace it with your script (``lgb.train``
with a callback that prints ``{"iteration": i, "val_binary_logloss": ...}``).

    python lightgbm_sim.py --num_leaves=31 --max_depth=-1 --learning_rate=0.05 \
        --subsample=0.8 --colsample_bytree=0.8 --min_child_weight=1e-3 --n_estimators=500
"""

from __future__ import annotations

import argparse

from _sim import linear_penalty, log_penalty, run_curve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--num_leaves", type=int, required=True)
    ap.add_argument("--max_depth", type=int, required=True)
    ap.add_argument("--learning_rate", type=float, required=True)
    ap.add_argument("--subsample", type=float, required=True)
    ap.add_argument("--colsample_bytree", type=float, required=True)
    ap.add_argument("--min_child_weight", type=float, required=True)
    ap.add_argument("--n_estimators", type=int, required=True)
    a = ap.parse_args()
    depth = 12 if a.max_depth < 0 else a.max_depth  # -1: no limit
    leaves = min(a.num_leaves, 2**depth)
    penalty = (
        0.5 * log_penalty(leaves, 48, 1)
        + 0.5 * log_penalty(a.learning_rate, 0.05)
        + linear_penalty(a.subsample, 0.8, 0.4)
        + linear_penalty(a.colsample_bytree, 0.8, 0.4)
        + 0.1 * log_penalty(a.min_child_weight, 1e-2, 3)
    )
    run_curve(
        penalty=penalty, steps=a.n_estimators, step_every=10, metric="val_binary_logloss",
        step_key="iteration", start=0.69, floor=0.22, speed=0.1 + 2 * a.learning_rate,
        seed=a.num_leaves,
    )  # fmt: skip


if __name__ == "__main__":
    main()
