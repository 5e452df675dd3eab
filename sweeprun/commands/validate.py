"""``sweeprun validate FILE...``: check sweep files and describe each one.

One line per file (method, metric, parameter count, search-space size) and its notes, or
one JSON object per file with ``--json``. Every file is checked as ``start`` checks it (the
``command:`` template too, :func:`lenient_check`); an invalid file's errors go to stderr (in
``--json`` also its object, ``"ok": false``) and the others are still reported; exit 2 if any
file is invalid. Where W&B is lenient (an unknown macro, an unset ``${envvar:...}``, a
duplicate key) sweeprun follows it with a warning on stderr, an error with ``--strict``.
Never imports optuna.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeprun.config.checks import iter_parameters
from sweeprun.config.load import load_config
from sweeprun.config.models import SweepConfig
from sweeprun.config.parameters import ParamSpec
from sweeprun.config.yamlread import load_yaml, render_path
from sweeprun.errors import EXIT_OK, EXIT_USAGE, ConfigError, ConfigProblem
from sweeprun.run.argv import TRIAL_VARIABLES, template_problems

if TYPE_CHECKING:
    from sweeprun.config.lint import LenientWarning, LintWarning

#: variables sweeprun adds to a trial's environment when ``tracking.wandb`` is set
_WANDB_VARIABLES = frozenset(
    {"WANDB_RUN_GROUP", "WANDB_JOB_TYPE", "WANDB_TAGS", "WANDB_SWEEP_ID", "WANDB_MODE",
     "PYTHONPATH"}
)  # fmt: skip


def run(files: list[Path], json_out: bool = False, strict: bool = False) -> int:
    """Validate every file; print a summary line (or JSON object) per file, with its notes
    and the lint warnings about what the program will be handed (``nested-args``); exit 2
    when any file is invalid (with ``--strict``: or has a W&B-leniency warning)."""
    code = EXIT_OK
    for file in files:
        try:
            cfg = load_config(file)
            lenient = lenient_check(file, cfg, strict=strict)
        except ConfigError as err:
            if len(files) == 1 and not json_out:
                raise  # the one file: the CLI prints it and exits 2
            code = EXIT_USAGE
            if json_out:
                doc = {
                    "file": str(file),
                    "ok": False,
                    "errors": [_problem(p) for p in err.problems],
                }
                print(json.dumps(doc), flush=True)
            print(f"sweeprun: {err}", file=sys.stderr, flush=True)
            continue
        summary = describe(cfg)
        found = [*_nested_args(cfg), *lenient]
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
        for w in found[: len(found) - len(lenient)]:
            print("  " + w.render().replace("\n", "\n  "), flush=True)
        for w in lenient:
            print(w.render(), file=sys.stderr, flush=True)
    return code


def _problem(p: ConfigProblem) -> dict[str, Any]:
    return {"path": p.path, "message": p.message, "line": p.line, "fix": p.fix}


def lenient_check(file: Path, cfg: SweepConfig, *, strict: bool = False) -> list[LenientWarning]:
    """What ``start`` would refuse in the ``command:`` template (``${program}`` without
    ``program:``), raised as a :class:`ConfigError` naming ``file``; and where W&B is lenient
    and sweeprun follows it (an unknown macro is dropped, an unset ``${envvar:NAME}`` gives
    ``NAME``, a duplicate key keeps its last value), the warnings, which ``strict`` raises as
    errors too. ``validate``, ``start`` and ``smoke`` call this after ``load_config``."""
    known = {*os.environ, *cfg.trial.env, *TRIAL_VARIABLES, "PYTHONUNBUFFERED"}
    if cfg.tracking.wandb is not None:
        known |= _WANDB_VARIABLES
    found = template_problems(cfg.command, program=cfg.program, environ=known)
    loaded = load_yaml(file)  # again: the key lines and duplicates (load_config keeps neither)
    if not found and not loaded.duplicates:
        return []
    from sweeprun.config.lint import LenientWarning

    errors: list[ConfigProblem] = []
    warnings: list[LenientWarning] = []
    for d in loaded.duplicates:
        key = d.path[-1]
        warnings.append(LenientWarning(
            "duplicate-key", render_path(d.path),
            f"duplicate key '{key}': first at line {d.first_line}, again at line {d.line}; the "
            "last one is used, as W&B's YAML loader (PyYAML) does",
            "keep one of them", d.line,
        ))  # fmt: skip
    for t in found:
        line = loaded.line_of(t.path)
        if t.rule is None:
            errors.append(ConfigProblem(render_path(t.path), t.message, line, t.fix))
        else:
            warnings.append(LenientWarning(t.rule, render_path(t.path), t.message, t.fix, line))
    if strict:
        errors += [w.problem() for w in warnings]
    if errors:
        raise ConfigError(str(file), errors)
    return warnings


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
