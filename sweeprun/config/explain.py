"""pydantic's validation errors → :class:`~sweeprun.errors.ConfigProblem` at key paths, each
with its line, a plain message and a fix ("did you mean", the allowed keys)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from sweeprun.config.limits import (
    MAX_BRACKETS,
    MAX_COUNT,
    MAX_GPUS_PER_TRIAL,
    MAX_JOBS,
    MAX_RUNG_OFFSET,
    MAX_SEED,
    MAX_STEP,
)
from sweeprun.config.models import (
    Budget,
    EarlyTerminate,
    Failures,
    MetricSpec,
    ReportSettings,
    Resources,
    SmokeSettings,
    SweepConfig,
    TrialSettings,
)
from sweeprun.config.parameters import ALLOWED_KEYS, PARAM_KEYS, infer_distribution
from sweeprun.config.tracking import MlflowTracking, Tracking, WandbTracking
from sweeprun.config.types import EARLY_TERMINATE_OPTIONS, METHODS, WANDB_ONLY_KEYS, WRAPPER_OPTIONS
from sweeprun.config.yamlread import line_of, render_path
from sweeprun.errors import ConfigProblem, did_you_mean


def explain(
    exc: ValidationError, data: Any, lines: Mapping[tuple[str | int, ...], int]
) -> list[ConfigProblem]:
    """Turn pydantic's errors into problems at key paths, sorted by line."""
    found: dict[tuple[str | int, ...], ConfigProblem] = {}
    for err in exc.errors(include_url=False):
        for path, message, fix in _explain_one(err, data):
            if path in found and found[path].message == message:
                continue
            if path in found and not message.startswith("unknown key"):
                continue  # one problem per key: the first (union branches repeat themselves)
            found[path] = ConfigProblem(render_path(path), message, line_of(dict(lines), path), fix)
    if not found:
        found[()] = ConfigProblem("", str(exc))
    return sorted(found.values(), key=lambda p: p.line if p.line is not None else 10**9)


def _explain_one(err: Any, data: Any) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    loc: tuple[str | int, ...] = tuple(err["loc"])
    kind: str = err["type"]
    path = _data_path(loc, data)
    given = _show(err.get("input"))
    if kind == "missing":
        key = loc[len(path)] if len(loc) > len(path) else "?"
        yield (*path, key), f"missing required key '{key}'", _MISSING_FIX.get(str(key), "")
    elif kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = sorted(_allowed_keys(path[:-1], data))
        hint = did_you_mean(key, allowed)
        fix = f"allowed keys here: {', '.join(allowed)}" if allowed else "remove it"
        yield path, f"unknown key '{key}'" + (f": {hint}" if hint else ""), fix
    elif kind == "literal_error":
        expected = str(err.get("ctx", {}).get("expected", ""))
        choices = re.findall(r"'([^']*)'", expected)
        hint = did_you_mean(str(err.get("input")), choices)
        yield path, f"{given} is not allowed{': ' + hint if hint else ''}", f"use {expected}"
    elif kind in {"value_error", "assertion_error"}:
        text = re.sub(r"^(Value error|Assertion failed), ", "", err["msg"])
        for line in text.split("\n"):
            sub, message = _split_at(line)
            fix = ""
            if ": " in message and not message.startswith("at "):
                pass
            yield (*path, *sub), message, fix
    elif kind == "too_short":
        ctx = err.get("ctx", {})
        yield (
            path,
            (
                f"needs at least {ctx.get('min_length')} items, got {ctx.get('actual_length')}"
                + (" (use `metric:` for a single metric)" if path == ("metrics",) else "")
            ),
            "",
        )
    elif kind == "less_than_equal":
        bound = err.get("ctx", {}).get("le")
        key = str(path[-1]) if path else ""
        message = err["msg"].replace("Input should be", "must be")
        yield path, f"{message}, got {given}", _bound_fix(key, bound)
    elif kind in _REWORD:
        yield path, f"{_REWORD[kind]}, got {given}", ""
    else:
        message = err["msg"].replace("Input should be", "must be")
        if message.startswith(("List", "Dictionary", "String")):
            message = "must have " + message.split(" should have ", 1)[-1]
        yield path, f"{message}, got {given}", ""


def _bound_fix(key: str, bound: Any) -> str:
    """Why ``key`` stops at ``bound``, and what to write instead."""
    if key == "parallelism":
        return f"use at most {MAX_JOBS} trials at once per agent; run more agents for more"
    if key == "seed":
        return f"use at most {MAX_SEED} (2**32 - 1): Optuna's samplers seed NumPy with 32 bits"
    if bound == MAX_STEP:
        return f"use at most {MAX_STEP}: Optuna's database storages keep a step in 32 bits"
    if bound == MAX_COUNT:
        return f"use at most {MAX_COUNT} (2**63 - 1), or leave it out for no limit"
    if key == "gpus_per_trial":
        return f"use at most {MAX_GPUS_PER_TRIAL:g} GPUs per trial"
    if key == "s":
        return f"use at most {MAX_BRACKETS} brackets (W&B sweeps use a few)"
    if key == "min_early_stopping_rate":
        return (
            f"use at most {MAX_RUNG_OFFSET}: the first rung, at min_resource * "
            f"reduction_factor ** {MAX_RUNG_OFFSET} steps, is past any step already"
        )
    return ""


_MISSING_FIX = {
    "method": f"add `method: random` (or one of {', '.join(METHODS)})",
    "parameters": "add a `parameters:` block, e.g. `lr: {min: 0.0001, max: 0.1}`",
    "name": "add `name: <metric name>` as the program reports it",
    "type": f"add `type:` (one of {', '.join(EARLY_TERMINATE_OPTIONS)})",
}
_REWORD = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "list_type": "must be a list",
    "string_too_short": "must not be empty",
}


def _split_at(line: str) -> tuple[tuple[str | int, ...], str]:
    """``at ["min"]: text`` → ``(("min",), "text")``; other lines have no sub-path."""
    if line.startswith("at ["):
        try:
            keys, end = json.JSONDecoder().raw_decode(line, 3)
        except ValueError:
            return (), line
        if line[end : end + 2] == ": " and isinstance(keys, list):
            return tuple(keys), line[end + 2 :]
    return (), line


def _data_path(loc: tuple[str | int, ...], data: Any) -> tuple[str | int, ...]:
    """The longest prefix of ``loc`` that exists in ``data`` (drops pydantic's union tags)."""
    out: list[str | int] = []
    cur = data
    for part in loc:
        in_map = isinstance(cur, Mapping) and part in cur
        in_list = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if not (in_map or in_list):
            break
        cur = cur[part]
        out.append(part)
    return tuple(out)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_SUBMODELS: dict[str, type[BaseModel]] = {
    "budget": Budget, "trial": TrialSettings, "resources": Resources, "failures": Failures,
    "report": ReportSettings, "smoke": SmokeSettings, "metric": MetricSpec,
    "tracking": Tracking,
}  # fmt: skip
#: blocks one level further down (``tracking.mlflow``)
_SUBSUBMODELS: dict[tuple[str, str], type[BaseModel]] = {
    ("tracking", "mlflow"): MlflowTracking, ("tracking", "wandb"): WandbTracking,
}  # fmt: skip


def _allowed_keys(parent: tuple[str | int, ...], data: Any) -> set[str]:
    """The keys allowed in the object at ``parent`` (for "did you mean")."""
    if not parent:
        return set(SweepConfig.model_fields) | set(WANDB_ONLY_KEYS)
    head = parent[0]
    node = data
    for part in parent:
        node = node[part]
    if head == "metrics" and len(parent) == 2:
        return set(MetricSpec.model_fields)
    if head == "early_terminate" and len(parent) == 1:
        kind = node.get("type") if isinstance(node, Mapping) else None
        if isinstance(kind, str) and kind in EARLY_TERMINATE_OPTIONS:
            return {"type", *EARLY_TERMINATE_OPTIONS[kind], *WRAPPER_OPTIONS}
        return set(EarlyTerminate.model_fields)
    if head == "parameters" and len(parent) % 2 == 0 and isinstance(node, Mapping):
        dist = node.get("distribution")
        if isinstance(dist, str) and dist in ALLOWED_KEYS:
            return {"distribution", *ALLOWED_KEYS[dist]}
        known = {k: v for k, v in node.items() if k in PARAM_KEYS}
        if "parameters" in known:
            return {"parameters"}
        try:
            return {"distribution", *ALLOWED_KEYS[infer_distribution(known)]}
        except (ValueError, TypeError):
            return set(PARAM_KEYS)
    if isinstance(head, str) and head in _SUBMODELS and len(parent) == 1:
        return set(_SUBMODELS[head].model_fields)
    if len(parent) == 2 and parent in _SUBSUBMODELS:
        return set(_SUBSUBMODELS[parent].model_fields)
    return set()
