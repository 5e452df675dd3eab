"""XGBoost: one added line reports each boosting round's evaluation metrics to sweeprun.

.. code-block:: python

    from sweeprun.integrations.xgboost import SweeprunCallback
    booster = xgb.train(params, dtrain, evals=[(dvalid, "valid")], callbacks=[SweeprunCallback()])

After every round (``TrainingCallback.after_iteration``) the last value of each evaluation
metric is reported through :func:`sweeprun.report` as ``<data>-<metric>`` — ``valid-rmse``,
``validation_0-logloss`` with the scikit-learn API (``XGBRegressor(callbacks=[...])``,
``eval_set=``) — the names XGBoost prints and W&B's XGBoost callback logs, with the round (from
0) as the step. With ``xgb.cv`` the mean is reported (``test-rmse``) and the standard deviation
as ``test-rmse-std``. ``metrics=["valid-rmse"]`` limits what is reported.

A pruned trial is stopped by sweeprun (SIGTERM, SIGKILL after ``trial.kill_grace``).
XGBoost is imported when the class is first used.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from sweeprun.integrations.scalars import as_float, report_at, wanted

__all__ = ["SweeprunCallback", "round_values"]

if TYPE_CHECKING:  # built on first use (module __getattr__), when the framework is imported
    SweeprunCallback: Any


def round_values(evals_log: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The last value of every metric of XGBoost's ``evals_log`` (``{data: {metric: [...]}}``;
    ``xgb.cv`` keeps ``(mean, std)`` pairs)."""
    out: dict[str, float] = {}
    for data, metrics in evals_log.items():
        for metric, history in metrics.items():
            if not history:
                continue
            last = history[-1]
            name = f"{data}-{metric}"
            if isinstance(last, tuple | list):
                mean, std = (as_float(v) for v in last[:2])
                if std is not None:
                    out[f"{name}-std"] = std
            else:
                mean = as_float(last)
            if mean is not None:
                out[name] = mean
    return out


@functools.cache
def _callback_class() -> type:
    base = importlib.import_module("xgboost.callback").TrainingCallback

    class SweeprunCallback(base):  # type: ignore[misc, valid-type]
        """Reports each round's evaluation metrics to sweeprun; never stops training."""

        def __init__(self, metrics: Iterable[str] | None = None) -> None:
            super().__init__()
            self.metrics = None if metrics is None else list(metrics)

        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            report_at(epoch, wanted(round_values(evals_log), self.metrics))
            return False

    SweeprunCallback.__module__ = __name__
    return SweeprunCallback


def __getattr__(name: str) -> Any:
    if name == "SweeprunCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
