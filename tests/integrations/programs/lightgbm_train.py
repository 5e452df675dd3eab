"""A small LightGBM program as users write it, plus the one line that reports to sweeprun
(``callbacks=[SweeprunCallback()]``): regression on a random dataset with one validation set,
through ``lgb.train`` (``--api train``) or ``LGBMRegressor`` (``--api sklearn``), metric
``valid_0_l2`` either way, or 3-fold ``lgb.cv`` (``--api cv``, metric ``valid_l2-mean``)."""

import argparse

import lightgbm as lgb
import numpy as np

from sweeprun.integrations.lightgbm import SweeprunCallback

parser = argparse.ArgumentParser()
parser.add_argument("--learning_rate", type=float, default=0.1)
parser.add_argument("--num_leaves", type=int, default=7)
parser.add_argument("--rounds", type=int, default=10)
parser.add_argument("--api", choices=["train", "sklearn", "cv"], default="train")
args = parser.parse_args()

rng = np.random.default_rng(0)
x = rng.normal(size=(300, 5))
y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + rng.normal(scale=0.1, size=300)
x_train, x_valid, y_train, y_valid = x[:200], x[200:], y[:200], y[200:]
params = {"learning_rate": args.learning_rate, "num_leaves": args.num_leaves,
          "min_data_in_leaf": 5, "num_threads": 1, "verbose": -1}  # fmt: skip

if args.api == "train":
    train = lgb.Dataset(x_train, label=y_train)
    lgb.train(
        {**params, "objective": "regression"},
        train,
        num_boost_round=args.rounds,
        valid_sets=[lgb.Dataset(x_valid, label=y_valid, reference=train)],
        callbacks=[lgb.log_evaluation(1), SweeprunCallback()],  # the one line for sweeprun
    )
elif args.api == "cv":
    lgb.cv(
        {**params, "objective": "regression"},
        lgb.Dataset(x, label=y),
        num_boost_round=args.rounds,
        nfold=3,
        stratified=False,
        callbacks=[SweeprunCallback()],  # the one line for sweeprun
    )
else:
    model = lgb.LGBMRegressor(n_estimators=args.rounds, **params)
    model.fit(x_train, y_train, eval_set=[(x_valid, y_valid)], callbacks=[SweeprunCallback()])
