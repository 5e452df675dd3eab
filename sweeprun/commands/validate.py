"""``sweeprun validate FILE...``: check sweep files and describe each one.

One line per file (method, metric, parameter count, search-space size) and its notes, or
one JSON object per file with ``--json``. The first invalid file raises its
:class:`~sweeprun.errors.ConfigError` (the CLI prints it and exits 2). Never imports optuna.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeprun.config.checks import iter_parameters
from sweeprun.config.load import load_config
from sweeprun.config.models import SweepConfig
from sweeprun.config.parameters import ParamSpec
from sweeprun.errors import EXIT_OK

if TYPE_CHECKING:
    from sweeprun.config.lint import LintWarning


def run(files: list[Path], json_out: bool = False) -> int:
    """Validate every file; print a summary line (or JSON object) per file, with its notes
    and the lint warnings about what the program will be handed (``nested-args``)."""
    for file in files:
        cfg = load_config(file)
        summary = describe(cfg)
        found = _nested_args(cfg)
        if json_out:
            doc = {
                "file": str(file),
                "ok": True,
                **summary,
                "warnings": [w.as_dict() for w in found],
            }
            print(json.dumps(doc), flush=True)
            continue
        print(f"{file}: ok — {_one_line(summary)}", flush=True)
        for note in cfg.notes:
            print(f"  {note}", flush=True)
        for w in found:
            print("  " + w.render().replace("\n", "\n  "), flush=True)
    return EXIT_OK


def _nested_args(cfg: SweepConfig) -> list[LintWarning]:
    if not any(spec.parameters for spec in cfg.parameters.values()):
        return []  # the common case needs no lint module (10 ms of start-up)
    from sweeprun.config.lint import nested_args

    return nested_args(cfg)


def describe(cfg: SweepConfig) -> dict[str, Any]:
    """The facts ``validate`` reports about one config, as JSON-ready data."""
    metrics = cfg.metrics or ([cfg.metric] if cfg.metric else [])
    return {
        "method": cfg.method,
        "metrics": [{"name": m.name, "goal": m.goal} for m in metrics],
        "parameters": sum(1 for _ in iter_parameters(cfg.parameters)),
        "search_space": search_space_size(cfg.parameters),
        "early_terminate": cfg.early_terminate.type if cfg.early_terminate else None,
        "notes": list(cfg.notes),
    }


def search_space_size(parameters: Mapping[str, ParamSpec]) -> int | None:
    """Distinct configurations, or None when the space is continuous (imports no optuna)."""
    from sweeprun.space.distributions import space_size

    return space_size(parameters)


def _one_line(summary: Mapping[str, Any]) -> str:
    metrics = summary["metrics"]
    if not metrics:
        metric = "no metric"
    else:
        word = "metric" if len(metrics) == 1 else "metrics"
        metric = f"{word} " + ", ".join(f"{m['name']} ({m['goal']})" for m in metrics)
    n = summary["parameters"]
    size = summary["search_space"]
    space = "continuous" if size is None else f"{size} point{'s' if size != 1 else ''}"
    text = f"method {summary['method']}, {metric}, {n} parameter{'s' if n != 1 else ''}, "
    text += f"search space {space}"
    if summary["early_terminate"]:
        text += f", early_terminate {summary['early_terminate']}"
    return text
