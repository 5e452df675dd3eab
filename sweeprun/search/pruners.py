"""``early_terminate`` → Optuna pruner; the only place that names Optuna's pruners.

W&B's ``hyperband`` is :class:`sweeprun.search.hyperband.WandbHyperbandPruner`, which
reproduces W&B's band rule; ``patience`` wraps any rule in Optuna's ``PatientPruner``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sweeprun.errors import SweepError
from sweeprun.search.samplers import class_at

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import EarlyTerminate

PRUNERS = {
    "median": "optuna.pruners.MedianPruner",
    "percentile": "optuna.pruners.PercentilePruner",
    "asha": "optuna.pruners.SuccessiveHalvingPruner",
    "successive_halving": "optuna.pruners.SuccessiveHalvingPruner",
    "threshold": "optuna.pruners.ThresholdPruner",
    "wilcoxon": "optuna.pruners.WilcoxonPruner",
    "optuna_hyperband": "optuna.pruners.HyperbandPruner",
    "hyperband": "sweeprun.search.hyperband.WandbHyperbandPruner",
}


def make_pruner(et: EarlyTerminate | None, goal: str = "minimize") -> optuna.pruners.BasePruner:
    import optuna

    if et is None:
        return optuna.pruners.NopPruner()
    options = dict(et.options())
    patience = options.pop("patience", None)
    min_delta = options.pop("min_delta", 0.0)
    cls = class_at(PRUNERS[et.type])
    if et.type == "hyperband":
        options["goal"] = goal
    try:
        pruner = cls(**options)
    except (TypeError, ValueError) as exc:
        raise SweepError(f"early_terminate: invalid option for '{et.type}': {exc}") from None
    if patience is not None:
        pruner = optuna.pruners.PatientPruner(pruner, patience=patience, min_delta=min_delta)
    return pruner
