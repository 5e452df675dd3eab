"""Stand-in for a LoRA fine-tuning script (the ``lora`` template).

Accepts exactly the template's parameters and prints a plausible ``eval_loss`` at every
evaluation (10 per epoch); replace it with your script (PEFT + Trainer, Axolotl, ...).

    python lora_sim.py --lr=1e-4 --r=16 --alpha=32 --dropout=0.05 --epochs=3
"""

from __future__ import annotations

import argparse

from _sim import linear_penalty, log_penalty, run_curve

EVALS_PER_EPOCH = 10


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--r", type=int, required=True)
    ap.add_argument("--alpha", type=int, required=True)
    ap.add_argument("--dropout", type=float, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    a = ap.parse_args()
    scale = a.alpha / a.r  # LoRA scales the update by alpha / r
    penalty = (
        log_penalty(a.lr * scale, 2e-4)
        + 0.2 * log_penalty(a.r, 16, 1)
        + linear_penalty(a.dropout, 0.05, 0.15)
    )
    run_curve(
        penalty=penalty, steps=a.epochs * EVALS_PER_EPOCH, metric="eval_loss", step_key="step",
        start=2.2, floor=1.1, speed=0.3, diverge=0.3 if a.lr * scale > 2e-3 else 0.0, seed=a.r,
    )  # fmt: skip


if __name__ == "__main__":
    main()
