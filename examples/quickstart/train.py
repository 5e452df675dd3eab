"""A small real training program for the quickstart sweep.

Logistic regression trained by mini-batch SGD on a synthetic two-class problem, one epoch at a
time. After each epoch it prints a JSON line such as ``{"epoch": 3, "val_loss": 0.41}`` — the
learning curve sweeprun reads, so bad runs can be pruned early.

    python examples/quickstart/train.py --lr=0.1 --batch_size=32 --l2=1e-4 --epochs=15
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time


def make_data(n: int, dim: int, seed: int) -> tuple[list[list[float]], list[int]]:
    rng = random.Random(seed)
    w = [rng.gauss(0, 1) for _ in range(dim)]
    xs, ys = [], []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(dim)]
        margin = sum(a * b for a, b in zip(w, x, strict=True)) + rng.gauss(0, 1.0)
        xs.append(x)
        ys.append(1 if margin > 0 else 0)
    return xs, ys


def sigmoid(z: float) -> float:
    if z < -30:
        return 1e-13
    if z > 30:
        return 1 - 1e-13
    return 1 / (1 + math.exp(-z))


def loss(w: list[float], xs: list[list[float]], ys: list[int]) -> float:
    total = 0.0
    for x, y in zip(xs, ys, strict=True):
        p = sigmoid(sum(a * b for a, b in zip(w, x, strict=True)))
        total -= y * math.log(p) + (1 - y) * math.log(1 - p)
    return total / len(xs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--batch_size", type=int, default=32)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epoch_seconds", type=float, default=0.1, help="simulated extra work")
    args = ap.parse_args()

    dim = 8
    xs, ys = make_data(600, dim, seed=1)
    train_x, train_y, val_x, val_y = xs[:400], ys[:400], xs[400:], ys[400:]
    rng = random.Random(args.seed)
    w = [0.0] * dim
    order = list(range(len(train_x)))
    for epoch in range(1, args.epochs + 1):
        rng.shuffle(order)
        for start in range(0, len(order), args.batch_size):
            batch = order[start : start + args.batch_size]
            grad = [args.l2 * wi for wi in w]
            for i in batch:
                err = sigmoid(sum(a * b for a, b in zip(w, train_x[i], strict=True))) - train_y[i]
                for j in range(dim):
                    grad[j] += err * train_x[i][j] / len(batch)
            w = [wi - args.lr * g for wi, g in zip(w, grad, strict=True)]
        time.sleep(args.epoch_seconds)
        print(json.dumps({"epoch": epoch, "val_loss": round(loss(w, val_x, val_y), 6)}), flush=True)


if __name__ == "__main__":
    main()
