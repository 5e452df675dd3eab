"""A small real training program for the ``sklearn-mlp`` template (needs scikit-learn).

A multi-layer perceptron (``MLPClassifier``, Adam) on scikit-learn's bundled digits dataset,
trained one epoch at a time with ``partial_fit``. After each epoch it prints one JSON line
such as ``{"epoch": 3, "val_loss": 0.21, "val_accuracy": 0.95}``.

    python sklearn_mlp.py --learning_rate_init=1e-3 --hidden_units=128 --layers=1 \
        --alpha=1e-4 --batch_size=128 --activation=relu --epochs=20
"""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--learning_rate_init", type=float, required=True)
    ap.add_argument("--hidden_units", type=int, required=True)
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--alpha", type=float, required=True)
    ap.add_argument("--batch_size", type=int, required=True)
    ap.add_argument("--activation", choices=["relu", "tanh", "logistic"], required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x, y, test_size=0.25, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_val = scaler.transform(x_train), scaler.transform(x_val)
    classes = np.unique(y)
    model = MLPClassifier(
        hidden_layer_sizes=(a.hidden_units,) * a.layers,
        activation=a.activation,
        alpha=a.alpha,
        batch_size=a.batch_size,
        learning_rate_init=a.learning_rate_init,
        random_state=a.seed,
    )
    for epoch in range(1, a.epochs + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_train, y_train, classes=classes)  # one pass over the data
        proba = model.predict_proba(x_val)
        line = {
            "epoch": epoch,
            "val_loss": round(float(log_loss(y_val, proba, labels=classes)), 6),
            "val_accuracy": round(float(accuracy_score(y_val, model.predict(x_val))), 6),
        }
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
