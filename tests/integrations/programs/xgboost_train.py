"""A small XGBoost program as users write it, plus the one line that reports to sweeprun
(``callbacks=[SweeprunCallback()]``): regression on a random dataset, ``xgb.train`` with an
evaluation set named ``valid`` (``--api train``, metric ``valid-rmse``) or ``XGBRegressor``
with ``eval_set`` (``--api sklearn``, metric ``validation_0-rmse``) or 3-fold ``xgb.cv``
(``--api cv``, metric ``test-rmse``)."""

import argparse

import numpy as np
import xgboost as xgb

from sweeprun.integrations.xgboost import SweeprunCallback

parser = argparse.ArgumentParser()
parser.add_argument("--eta", type=float, default=0.3)
parser.add_argument("--max_depth", type=int, default=3)
parser.add_argument("--rounds", type=int, default=10)
parser.add_argument("--api", choices=["train", "sklearn", "cv"], default="train")
args = parser.parse_args()

rng = np.random.default_rng(0)
x = rng.normal(size=(300, 5))
y = x @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + rng.normal(scale=0.1, size=300)
x_train, x_valid, y_train, y_valid = x[:200], x[200:], y[:200], y[200:]

params = {"eta": args.eta, "max_depth": args.max_depth, "nthread": 1}
if args.api == "train":
    xgb.train(
        params,
        xgb.DMatrix(x_train, label=y_train),
        num_boost_round=args.rounds,
        evals=[(xgb.DMatrix(x_valid, label=y_valid), "valid")],
        callbacks=[SweeprunCallback()],  # the one line for sweeprun
    )
elif args.api == "cv":
    xgb.cv(
        params,
        xgb.DMatrix(x, label=y),
        num_boost_round=args.rounds,
        nfold=3,
        callbacks=[SweeprunCallback()],  # the one line for sweeprun
    )
else:
    model = xgb.XGBRegressor(
        n_estimators=args.rounds, learning_rate=args.eta, max_depth=args.max_depth, n_jobs=1,
        callbacks=[SweeprunCallback()],  # the one line for sweeprun
    )  # fmt: skip
    model.fit(x_train, y_train, eval_set=[(x_valid, y_valid)])
