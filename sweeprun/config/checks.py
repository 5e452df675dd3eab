"""Checks across keys of a sweep configuration (metric and method, grid and distributions,
baseline values inside the search space), run by :class:`sweeprun.config.models.SweepConfig`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sweeprun.config.limits import MAX_ARG_STRLEN, os_size, preview, string_problem, too_long
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
    yield from _argv_problems(cfg.parameters)


#: the longest ``repr`` of a float (``-2.2250738585072014e-308``): a sampled value's width
_WIDEST_FLOAT = -2.2250738585072014e-308
_PARAMS_VAR = "SWEEPRUN_PARAMS"


def _candidates(spec: ParamSpec) -> list[tuple[tuple[str | int, ...], Any]]:
    """(key under the parameter, value) of each value a trial can get; a sampled range gives
    one stand-in value as wide as its widest number."""
    if spec.dist == "constant":
        return [(("value",), spec.value)]
    if spec.values is not None:
        return [(("values", i), v) for i, v in enumerate(spec.values)]
    ends = [v for v in (spec.min, spec.max) if v is not None]
    return [((), max([_WIDEST_FLOAT, *ends], key=lambda v: len(repr(v))))]


def _argv_problems(params: Mapping[str, ParamSpec]) -> Iterator[str]:
    """The parameter values no trial could be started with: a NUL in a value the program gets
    as an argument, or a value that makes one argument (``--name=value``, a nested block's
    ``--block={...}``) or ``SWEEPRUN_PARAMS`` (the JSON of all values) exceed what
    ``execve`` takes. Each value is judged alone first (at its key path), then the longest
    values of every parameter together (at the block, or at ``parameters``)."""
    found = False
    widest: dict[str, Any] = {}  # per top-level name: the value (or block) with the longest text
    widest_json: dict[str, Any] = {}  # the same by JSON length
    for name, spec in params.items():
        for problem in _value_problems(name, (), spec, ("parameters", name)):
            found = True
            yield problem
        widest[name] = _widest(spec, lambda v, top: len(str(v) if top else repr(v)), top=True)
        widest_json[name] = _widest(spec, lambda v, top: len(json.dumps(v, default=str)))
    if found:
        return
    for name, spec in params.items():
        if spec.parameters is not None:
            size = os_size(f"--{name}={widest[name]}") or 0
            if size >= MAX_ARG_STRLEN:
                yield at_key(
                    ("parameters", name),
                    too_long(size, f"with its longest values, the argument '--{name}={{...}}'"),
                )
    size = len(f"{_PARAMS_VAR}={json.dumps(widest_json, default=str)}")
    if size >= MAX_ARG_STRLEN:
        yield at_key(
            "parameters",
            too_long(size, f"with the longest value of each parameter, {_PARAMS_VAR} (the JSON "
                           "of a trial's values, also ${args_json})"),
        )  # fmt: skip


def _widest(spec: ParamSpec, width: Callable[[Any, bool], int], top: bool = False) -> Any:
    """The value of ``spec`` (a dict of the widest values for a nested block) with the largest
    ``width(value, top)``."""
    if spec.parameters is not None:
        return {n: _widest(s, width) for n, s in spec.parameters.items()}
    return max((v for _, v in _candidates(spec)), key=lambda v: width(v, top))


def _value_problems(
    top: str, inner: tuple[str, ...], spec: ParamSpec, path: tuple[str | int, ...]
) -> Iterator[str]:
    if spec.parameters is not None:
        for name, sub in spec.parameters.items():
            yield from _value_problems(top, (*inner, name), sub, (*path, "parameters", name))
        return
    for key, value in _candidates(spec):
        if not key:
            continue  # a sampled number: always a short argument
        alone: Any = value
        for name in reversed(inner):
            alone = {name: alone}
        argument = f"--{top}={alone}"  # as ${args} writes it (a nested block: the dict's str)
        problem = string_problem(argument, f"the trial's argument {preview(argument)}")
        if not problem:
            variable = f"{_PARAMS_VAR}={json.dumps({top: alone}, default=str)}"
            size = len(variable)
            what = f"the trial's environment variable {_PARAMS_VAR} (the JSON of its values)"
            problem = too_long(size, what) if size >= MAX_ARG_STRLEN else ""
        if problem:
            yield at_key((*path, *key), problem)


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
