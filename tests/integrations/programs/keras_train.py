"""A small Keras 3 program as users write it on a machine with PyTorch and no TensorFlow
(``KERAS_BACKEND=torch``), plus the one line that reports to sweeprun
(``callbacks=[SweeprunCallback()]``): a dense regression on random data, ``val_loss`` from
``validation_split`` every epoch."""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # type: ignore[import-untyped]
import numpy as np

from sweeprun.integrations.keras import SweeprunCallback

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--epochs", type=int, default=3)
args = parser.parse_args()

keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 8)).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=args.lr), loss="mse")
model.fit(
    x, y, validation_split=0.25, epochs=args.epochs, batch_size=32, verbose=2,
    callbacks=[SweeprunCallback()],  # the one line for sweeprun
)  # fmt: skip
