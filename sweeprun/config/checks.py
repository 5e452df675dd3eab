"""Checks across keys of a sweep configuration (metric and method, grid and distributions,
baseline values inside the search space), run by :class:`sweeprun.config.models.SweepConfig`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sweeprun.config.parameters import GRID_DISTRIBUTIONS, ParamSpec, as_number, at_key
from sweeprun.config.types import METRIC_METHODS, MULTI_OBJECTIVE_METHODS
from sweeprun.errors import did_you_mean
from sweeprun.space.grid_index import grid_refusal

if TYPE_CHECKING:
    from sweeprun.config.models import SweepConfig


def iter_parameters(
    params: Mapping[str, ParamSpec], prefix: tuple[str, ...] = ("parameters",)
) -> Iterator[tuple[tuple[str, ...], ParamSpec]]:
    """Every leaf parameter with its key path.

    For example ``("parameters", "opt", "parameters", "lr")`` for a nested ``lr``.
    """
    for name, spec in params.items():
        if spec.parameters is not None:
            yield from iter_parameters(spec.parameters, (*prefix, name, "parameters"))
        else:
            yield (*prefix, name), spec


def _cross_problems(cfg: SweepConfig) -> Iterator[str]:
    has_metric = cfg.metric is not None or cfg.metrics is not None
    if cfg.metric is not None and cfg.metrics is not None:
        yield at_key("metrics", "give either `metric` or `metrics`, not both")
    if cfg.metrics is not None and cfg.method not in MULTI_OBJECTIVE_METHODS:
        yield at_key(
            "metrics",
            f"method '{cfg.method}' cannot optimize several metrics: use one of "
            f"{', '.join(sorted(MULTI_OBJECTIVE_METHODS))}, or a single `metric`",
        )
    if cfg.metrics is not None and cfg.early_terminate is not None:
        yield at_key(
            "early_terminate",
            "Optuna cannot prune multi-objective trials: remove `early_terminate` "
            "or optimize a single `metric`",
        )
    elif cfg.early_terminate is not None and not has_metric:
        yield at_key(
            "early_terminate", "early_terminate needs a `metric: {name: ..., goal: ...}` to compare"
        )
    if cfg.method in METRIC_METHODS and not has_metric:
        yield at_key(
            "method",
            f"method '{cfg.method}' needs a `metric: {{name: ..., goal: minimize}}` to optimize "
            "(or use random or grid)",
        )
    if cfg.method == "grid":
        for path, spec in iter_parameters(cfg.parameters):
            if spec.dist == "categorical_w_probabilities":
                yield at_key(
                    (*path, "probabilities"),
                    "grid runs every value once and cannot honour `probabilities`: "
                    "remove them, or change method",
                )
            elif spec.dist not in GRID_DISTRIBUTIONS:
                yield at_key(
                    path,
                    f"grid needs discrete values: use `values:` or `q_uniform`, or change "
                    f"method (distribution '{spec.dist}' is continuous)",
                )
        too_large = grid_refusal(cfg.parameters)
        if too_large:
            yield at_key("parameters", too_large)
    if cfg.method == "bruteforce":
        for path, spec in iter_parameters(cfg.parameters):
            if spec.dist not in ("constant", "categorical", "int_uniform"):
                yield at_key(
                    path,
                    "bruteforce enumerates discrete values only: use `values:` or integer "
                    f"`min`/`max`, or change method (distribution '{spec.dist}')",
                )
    for i, entry in enumerate(cfg.baseline):
        yield from _baseline_problems(entry, cfg.parameters, ("baseline", i))


def _baseline_problems(
    entry: Mapping[str, Any], params: Mapping[str, ParamSpec], path: tuple[str | int, ...]
) -> Iterator[str]:
    for key, value in entry.items():
        spec = params.get(key)
        where = (*path, key)
        if spec is None:
            hint = did_you_mean(str(key), params)
            yield at_key(where, f"unknown parameter '{key}'{': ' + hint if hint else ''} "
                                f"(parameters here: {', '.join(params)})")  # fmt: skip
        elif spec.parameters is not None:
            if isinstance(value, Mapping):
                yield from _baseline_problems(value, spec.parameters, where)
            else:
                yield at_key(where, f"'{key}' is a nested block: give a mapping of its parameters")
        else:
            problem = _value_problem(spec, value)
            if problem:
                yield at_key(where, problem)


def _value_problem(spec: ParamSpec, value: Any) -> str:
    d = spec.dist
    if d in {"categorical", "categorical_w_probabilities"}:
        assert spec.values is not None
        ok = any(value == v and isinstance(value, bool) == isinstance(v, bool) for v in spec.values)
        return "" if ok else f"{value!r} is not one of the parameter's values {spec.values}"
    if d == "constant":
        return "" if value == spec.value else f"the parameter is constant {spec.value!r}"
    value = as_number(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {value!r}"
    if d == "int_uniform" and not isinstance(value, int):
        return f"must be an integer, got {value!r}"
    bounded = {"int_uniform", "uniform", "q_uniform", "log_uniform_values",
               "q_log_uniform_values", "inv_log_uniform_values"}  # fmt: skip
    lo, hi = spec.min, spec.max
    if d in bounded and lo is not None and hi is not None and not lo <= value <= hi:
        return f"{value!r} is outside [{spec.min}, {spec.max}]"
    return ""
