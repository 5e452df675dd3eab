"""A small real training program for the ``basic`` template (needs scikit-learn).

A linear classifier (logistic loss) trained by mini-batch SGD on scikit-learn's bundled
digits dataset, one epoch at a time. After each epoch it prints one JSON line such as
``{"epoch": 3, "val_loss": 0.31, "val_accuracy": 0.93}`` — the learning curve sweeprun reads.

    python basic.py --lr=0.01 --batch_size=64 --weight_decay=1e-4 --epochs=10
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--batch_size", type=int, required=True)
    ap.add_argument("--weight_decay", type=float, required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    classes = np.unique(y)
    model = SGDClassifier(
        loss="log_loss", learning_rate="constant", eta0=a.lr, alpha=a.weight_decay,
        random_state=a.seed,
    )  # fmt: skip
    rng = np.random.default_rng(a.seed)
    for epoch in range(1, a.epochs + 1):
        order = rng.permutation(len(x_train))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overflow warnings at a too-high learning rate
            for start in range(0, len(order), a.batch_size):
                idx = order[start : start + a.batch_size]
                model.partial_fit(x_train[idx], y_train[idx], classes=classes)
            proba = model.predict_proba(x_val)
        proba = np.nan_to_num(proba, nan=1.0 / len(classes))
        line = {
            "epoch": epoch,
            "val_loss": round(float(log_loss(y_val, proba, labels=classes)), 6),
            "val_accuracy": round(float(accuracy_score(y_val, model.predict(x_val))), 6),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
