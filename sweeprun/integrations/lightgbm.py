"""LightGBM: one added line reports each boosting round's evaluation results to sweeprun.

.. code-block:: python

    from sweeprun.integrations.lightgbm import SweeprunCallback
    booster = lgb.train(params, train, valid_sets=[valid], callbacks=[SweeprunCallback()])

After every round the callback reports ``env.evaluation_result_list`` through
:func:`sweeprun.report` as ``<data>_<metric>`` — ``valid_0_l2``, ``valid_auc`` for a set named
``valid`` (the names W&B's LightGBM callback logs) — with the round (``env.iteration``, from 0)
as the step. With ``lgb.cv`` the mean is reported as ``valid_l2-mean`` and the deviation as
``valid_l2-stdv``.
It works with the scikit-learn API too (``LGBMRegressor().fit(..., callbacks=[...])``).
``metrics=["valid_0_l2"]`` limits what is reported.

LightGBM takes any callable as a callback, so this module never imports LightGBM. A pruned
trial is stopped by sweeprun (SIGTERM, SIGKILL after ``trial.kill_grace``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sweeprun.integrations.scalars import as_float, report_at, wanted

__all__ = ["SweeprunCallback", "round_values"]


def round_values(results: Iterable[Sequence[Any]] | None) -> dict[str, float]:
    """LightGBM's evaluation results as ``{name: value}``. Each is ``(data, metric, value,
    higher is better)`` in training; ``lgb.cv`` adds the deviation as a fifth field, and
    LightGBM before 4.7 names the data ``cv_agg`` and the metric ``"valid l2"`` there."""
    out: dict[str, float] = {}
    for item in results or ():
        if len(item) < 3:
            continue
        data, metric, value = str(item[0]), str(item[1]), as_float(item[2])
        std = as_float(item[4]) if len(item) >= 5 and item[4] is not None else None
        if data == "cv_agg" and " " in metric:
            data, metric = metric.split(maxsplit=1)
        name = f"{data}_{metric}"
        if std is None:
            if value is not None:
                out[name] = value
            continue
        if value is not None:
            out[f"{name}-mean"] = value
        out[f"{name}-stdv"] = std
    return out


class SweeprunCallback:
    """Reports each round's evaluation results to sweeprun; never stops training."""

    order = 25  # after log_evaluation (10) and record_evaluation (20), before early_stopping (30)
    before_iteration = False

    def __init__(self, metrics: Iterable[str] | None = None) -> None:
        self.metrics = None if metrics is None else list(metrics)

    def __call__(self, env: Any) -> None:
        values = round_values(env.evaluation_result_list)
        report_at(env.iteration, wanted(values, self.metrics))
