"""W&B Launch sweep configs: ``job:`` (a W&B Launch job: a container image or code artifact
that W&B Launch runs on a queue) and ``scheduler:`` (W&B's sweep scheduler job, e.g. its Optuna
scheduler with ``settings.sampler``/``settings.pruner``). sweeprun runs a local program, so such
a file needs ``program:`` (or ``command:``) and ``method:``; these problems say exactly that,
and which ``method:`` / ``early_terminate:`` the scheduler's Optuna settings mean, instead of a
bare "missing required key 'method'"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweeprun.errors import ConfigProblem

#: Optuna sampler class (W&B's Optuna scheduler ``settings.sampler.type``) -> sweeprun method
SAMPLERS = {
    "TPESampler": "tpe",
    "RandomSampler": "random",
    "CmaEsSampler": "cmaes",
    "NSGAIISampler": "nsga2",
    "GridSampler": "grid",
    "QMCSampler": "qmc",
    "GPSampler": "gp",
    "BruteForceSampler": "bruteforce",
}
#: Optuna pruner class (``settings.pruner.type``) -> sweeprun ``early_terminate.type``
PRUNERS = {
    "MedianPruner": "median",
    "PercentilePruner": "percentile",
    "SuccessiveHalvingPruner": "successive_halving",
    "HyperbandPruner": "optuna_hyperband",
    "ThresholdPruner": "threshold",
    "WilcoxonPruner": "wilcoxon",
}


def _settings_type(data: Mapping[str, Any], which: str) -> str | None:
    scheduler = data.get("scheduler")
    settings = scheduler.get("settings") if isinstance(scheduler, Mapping) else None
    spec = settings.get(which) if isinstance(settings, Mapping) else None
    kind = spec.get("type") if isinstance(spec, Mapping) else None
    return kind if isinstance(kind, str) else None


def launch_problems(
    data: Mapping[str, Any], lines: Mapping[tuple[str | int, ...], int]
) -> list[ConfigProblem]:
    """What a W&B Launch sweep config lacks to run locally (nothing for other files)."""
    keys = [k for k in ("job", "image_uri", "scheduler") if k in data]
    if not keys:
        return []
    problems = []
    if "program" not in data and "command" not in data:
        key = keys[0]
        what = {
            "job": f"`job: {data.get('job')}` is a W&B Launch job (a container image or code "
            "artifact that W&B Launch runs on its queue)",
            "image_uri": f"`image_uri: {data.get('image_uri')}` is a container image that W&B "
            "Launch runs",
        }.get(
            key, "`scheduler:` is W&B Launch's sweep scheduler, which runs a Launch job per trial"
        )
        problems.append(
            ConfigProblem(
                key,
                f"this is a W&B Launch sweep: {what}; sweeprun runs a program on this machine "
                "and cannot run a Launch job",
                lines.get((key,)),
                fix="add `program: train.py` (the script the job runs; parameters arrive as "
                "--name=value) or `command: [...]`; `job:` and `scheduler:` are then ignored",
            )
        )
    if "method" not in data:
        sampler = _settings_type(data, "sampler")
        method = SAMPLERS.get(sampler or "", "tpe")
        said = f"its Optuna scheduler's {sampler}" if sampler else "W&B's Optuna scheduler (TPE)"
        pruner = _settings_type(data, "pruner")
        also = ""
        if pruner in PRUNERS:
            also = f", and `early_terminate: {{type: {PRUNERS[pruner]}}}` for its {pruner}"
        problems.append(
            ConfigProblem(
                "method",
                "a W&B Launch sweep leaves the search to its scheduler; sweeprun needs `method:`",
                lines.get(("scheduler",)),
                fix=f"add `method: {method}` (the same search as {said}){also}",
            )
        )
    return problems
