"""Stand-in for an XGBoost training script (the ``xgboost`` template).

Accepts exactly the template's parameters and prints a plausible validation ``val_logloss``
every 10 boosting rounds; replace it with your script (``xgb.train`` with an evaluation
callback that prints ``{"iteration": i, "val_logloss": ...}``).

    python xgboost_sim.py --max_depth=6 --eta=0.1 --subsample=0.8 --colsample_bytree=0.8 \
        --min_child_weight=1 --reg_lambda=1 --n_estimators=500
"""

from __future__ import annotations

import argparse

from _sim import linear_penalty, log_penalty, run_curve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max_depth", type=int, required=True)
    ap.add_argument("--eta", type=float, required=True)
    ap.add_argument("--subsample", type=float, required=True)
    ap.add_argument("--colsample_bytree", type=float, required=True)
    ap.add_argument("--min_child_weight", type=float, required=True)
    ap.add_argument("--reg_lambda", type=float, required=True)
    ap.add_argument("--n_estimators", type=int, required=True)
    a = ap.parse_args()
    penalty = (
        linear_penalty(a.max_depth, 6, 5)
        + 0.5 * log_penalty(a.eta, 0.08)
        + linear_penalty(a.subsample, 0.8, 0.4)
        + linear_penalty(a.colsample_bytree, 0.8, 0.4)
        + 0.3 * log_penalty(a.min_child_weight, 2, 1.5)
        + 0.2 * log_penalty(a.reg_lambda, 1, 2)
    )
    run_curve(
        penalty=penalty, steps=a.n_estimators, step_every=10, metric="val_logloss",
        step_key="iteration", start=0.69, floor=0.25, speed=0.1 + 2 * a.eta, seed=a.max_depth,
    )  # fmt: skip


if __name__ == "__main__":
    main()
