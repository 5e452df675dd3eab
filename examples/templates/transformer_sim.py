"""Stand-in for a transformer fine-tuning script (the ``transformer`` template).

Accepts exactly the template's parameters and prints a plausible ``val_loss`` per epoch;
replace it with your training script (Hugging Face Trainer, Lightning, plain PyTorch ...).

    python transformer_sim.py --lr=3e-4 --batch_size=32 --warmup_ratio=0.06 \
        --weight_decay=0.01 --dropout=0.1 --epochs=10
"""

from __future__ import annotations

import argparse

from _sim import linear_penalty, log_penalty, run_curve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch_size", type=int, required=True)
    ap.add_argument("--warmup_ratio", type=float, required=True)
    ap.add_argument("--weight_decay", type=float, required=True)
    ap.add_argument("--dropout", type=float, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    a = ap.parse_args()
    # without warmup a large learning rate is unstable
    unstable = a.lr > 1e-3 and a.warmup_ratio < 0.02
    penalty = (
        log_penalty(a.lr, 3e-4)
        + 0.3 * log_penalty(a.batch_size, 32, 2)
        + linear_penalty(a.warmup_ratio, 0.06, 0.2)
        + 0.3 * linear_penalty(a.weight_decay, 0.01, 0.2)
        + linear_penalty(a.dropout, 0.1, 0.3)
    )
    run_curve(
        penalty=penalty, steps=a.epochs, metric="val_loss", start=3.0, floor=1.6,
        diverge=0.4 if unstable else 0.0, seed=a.batch_size,
    )  # fmt: skip


if __name__ == "__main__":
    main()
