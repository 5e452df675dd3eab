"""Stand-in for a CNN image-classification script (the ``cnn`` template).

Accepts exactly the template's parameters and prints a plausible ``val_accuracy`` (and
``val_loss``) per epoch; replace it with your training script (torchvision, timm, Keras ...).

    python cnn_sim.py --lr=1e-3 --batch_size=256 --momentum=0.9 --weight_decay=1e-4 \
        --label_smoothing=0.0 --epochs=30
"""

from __future__ import annotations

import argparse

from _sim import linear_penalty, log_penalty, run_curve


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch_size", type=int, required=True)
    ap.add_argument("--momentum", type=float, required=True)
    ap.add_argument("--weight_decay", type=float, required=True)
    ap.add_argument("--label_smoothing", type=float, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    a = ap.parse_args()
    penalty = (
        log_penalty(a.lr, 2e-3)
        + 0.2 * log_penalty(a.batch_size, 256, 1)
        + linear_penalty(a.momentum, 0.9, 0.15)
        + 0.5 * log_penalty(a.weight_decay, 1e-4)
        + 0.2 * linear_penalty(a.label_smoothing, 0.1, 0.2)
    )
    run_curve(
        penalty=penalty, steps=a.epochs, metric="val_accuracy", maximize=True, start=2.3,
        floor=0.08, speed=0.2, diverge=0.3 if a.lr > 5e-3 else 0.0, seed=a.batch_size,
        extra={"val_loss": 0.0},
    )  # fmt: skip


if __name__ == "__main__":
    main()
