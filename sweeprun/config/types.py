"""The vocabulary of sweep.yaml: method names, early-stopping options, and the value
types (integers, numbers, durations, text maps) the models in :mod:`sweeprun.config.models`
are built from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, WithJsonSchema

from sweeprun.config.limits import (
    MAX_STEP,
    MAX_SWEEP_SECONDS,
    MAX_TRIAL_SECONDS,
    bound_text,
    env_problems,
)
from sweeprun.config.parameters import as_number, at_key

METHODS = ("grid", "random", "bayes", "tpe", "gp", "cmaes", "qmc", "nsga2", "bruteforce", "auto")
#: methods that model the objective and so need a metric
METRIC_METHODS = frozenset({"bayes", "tpe", "gp", "cmaes", "nsga2", "auto"})
#: methods whose Optuna sampler handles several objectives
MULTI_OBJECTIVE_METHODS = frozenset({"nsga2", "tpe", "random", "grid", "auto", "bayes"})
#: accepted for W&B compatibility and ignored (one note each)
WANDB_ONLY_KEYS = (
    "project", "entity", "controller", "apiVersion", "kind", "job", "image_uri", "scheduler"
)  # fmt: skip

_SCHEDULE = ("n_startup_trials", "n_warmup_steps", "interval_steps", "n_min_trials")
_HALVING = ("min_resource", "reduction_factor", "min_early_stopping_rate", "bootstrap_count")
#: the options of each early_terminate type (besides `type`, `patience`, `min_delta`)
EARLY_TERMINATE_OPTIONS: dict[str, tuple[str, ...]] = {
    "hyperband": ("min_iter", "max_iter", "s", "eta", "strict"),
    "median": _SCHEDULE,
    "percentile": ("percentile", *_SCHEDULE),
    "asha": _HALVING,
    "successive_halving": _HALVING,
    "optuna_hyperband": ("min_resource", "max_resource", "reduction_factor", "bootstrap_count"),
    "threshold": ("lower", "upper", "n_warmup_steps", "interval_steps"),
    "wilcoxon": ("p_threshold", "n_startup_steps"),
}
WRAPPER_OPTIONS = ("patience", "min_delta")

_NUM = r"(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"
_DURATION_TEXT = re.compile(rf"(?:{_NUM}\s*[dhms]\s*)+")
_DURATION_PART = re.compile(rf"({_NUM})\s*([dhms])")
_UNIT_SECONDS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION_HELP = "write seconds (90) or numbers with units s, m, h, d: 30s, 5m, 4h, 1h30m, 2d"


def parse_duration(text: str | int | float) -> float:
    """Seconds in ``text``: ``90``, ``"90"``, ``"30s"``, ``"5m"``, ``"4h"``, ``"1h30m"``, ``"2d"``.

    Raises ``ValueError`` naming the accepted forms.
    """
    if isinstance(text, bool) or not isinstance(text, str | int | float):
        raise ValueError(f"a duration must be a number or text, got {text!r}: {_DURATION_HELP}")
    if isinstance(text, str):
        clean = text.strip().lower()
        number = as_number(clean)
        if isinstance(number, int | float):
            seconds = float(number)
        elif _DURATION_TEXT.fullmatch(clean):
            parts = _DURATION_PART.findall(clean)
            units = [unit for _, unit in parts]
            order = [u for u in "dhms" if u in units]
            if units != order:
                raise ValueError(
                    f"invalid duration {text!r}: give each unit once, largest first (1h30m)"
                )
            seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
        else:
            raise ValueError(f"invalid duration {text!r}: {_DURATION_HELP}")
    else:
        seconds = float(text)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"invalid duration {text!r}: must be a finite number of seconds >= 0")
    return seconds


def _int(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be an integer, got {value!r}")
    value = as_number(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    value = as_number(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value!r}")
    return value


def _duration_upto(limit: float) -> Callable[[Any], Any]:
    """A duration validator refusing more than ``limit`` seconds (what the agent can wait)."""

    def duration(value: Any) -> Any:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds > limit:
            shown = f"{seconds:g} seconds"
            if isinstance(value, str):
                shown = f"{value!r} ({shown})"
            raise ValueError(
                f"{shown} is longer than sweeprun can wait: use at most {bound_text(limit)}"
            )
        return seconds

    return duration


def _env_map(value: Any) -> Any:
    """An environment mapping: values as text, and only what a program can be started with."""
    if not isinstance(value, Mapping):
        return value
    out: dict[Any, Any] = {}
    for key, item in value.items():
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        elif not isinstance(item, str):
            raise ValueError(at_key(str(key), f"must be text, got {item!r}: quote the value"))
        out[key] = item
    problems = [p if k is None else at_key(k, p) for k, p in env_problems(out)]
    if problems:
        raise ValueError("\n".join(problems))
    return out


def _words(value: Any) -> Any:
    if isinstance(value, list):
        return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
                for v in value]  # fmt: skip
    return value


def _resource(value: Any) -> Any:
    if value is None or value == "auto":
        return value
    value = _int(value)
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"must be an integer >= 1 or 'auto', got {value!r}")
    if value > MAX_STEP:
        raise ValueError(
            f"must be at most {MAX_STEP} steps, got {value!r}: Optuna's database storages keep "
            "a step in a 32-bit integer"
        )
    return value


def _duration_schema(limit: float) -> dict[str, Any]:
    return {
        "anyOf": [
            {"type": "number", "minimum": 0, "maximum": limit},
            {
                "type": "string",
                "pattern": r"^\s*((\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*[dhmsDHMS]?\s*)+$",
            },
        ],
        "description": f"Seconds, or text such as 30s, 5m, 4h, 1h30m, 2d; at most "
        f"{bound_text(limit)}.",
    }


Int = Annotated[int, BeforeValidator(_int)]
Number = Annotated[float, BeforeValidator(_number)]
#: a sweep-wide duration (``budget.time``, ``budget.deadline``): at most 365 days
Duration = Annotated[
    float,
    BeforeValidator(_duration_upto(MAX_SWEEP_SECONDS)),
    WithJsonSchema(_duration_schema(MAX_SWEEP_SECONDS)),
]
#: a per-trial or liveness duration (timeouts, grace periods, heartbeat): at most 30 days
TrialDuration = Annotated[
    float,
    BeforeValidator(_duration_upto(MAX_TRIAL_SECONDS)),
    WithJsonSchema(_duration_schema(MAX_TRIAL_SECONDS)),
]
#: environment variables of a trial: text values, names without '=', no NUL, each < 128 KiB
TextMap = Annotated[
    dict[str, str],
    BeforeValidator(_env_map),
    WithJsonSchema({"type": "object", "additionalProperties": {"type": ["string", "number"]}}),
]
Resource = Annotated[int | Literal["auto"] | None, BeforeValidator(_resource)]
