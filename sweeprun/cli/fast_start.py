"""``sweeprun start SWEEP.yaml [options]`` parsed without typer, for the common plain forms.

:func:`parse_start` accepts only what typer would parse to the same values: one path, each
option at most once, written ``--opt VALUE``, ``--opt=VALUE`` or ``-j VALUE``, integers as
ASCII digits, and no value that is empty or starts with ``-``. Anything else (``--help``,
``--``, an unknown or repeated option, ``-qj2``, a bad integer, ...) returns None and typer
parses the command line, with its own messages and exit codes. The options mirror
``start`` in :mod:`sweeprun.cli.app`; a test compares both parsers on many command lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# option spelling -> (keyword, kind): "int" and "str" take a value, "flag" does not
START_OPTIONS: dict[str, tuple[str, str]] = {
    "--jobs": ("jobs", "int"),
    "-j": ("jobs", "int"),
    "--storage": ("storage", "str"),
    "--name": ("name", "str"),
    "--gpus": ("gpus", "str"),
    "--max-trials": ("max_trials", "int"),
    "--timeout": ("timeout", "str"),
    "--dry-run": ("dry_run", "flag"),
    "--json": ("json_out", "flag"),
    "--quiet": ("quiet", "flag"),
    "-q": ("quiet", "flag"),
}
DEFAULTS: dict[str, Any] = {
    "jobs": None, "storage": None, "name": None, "gpus": None, "max_trials": None,
    "timeout": None, "dry_run": False, "json_out": False, "quiet": False,
}  # fmt: skip


def parse_start(args: list[str]) -> dict[str, Any] | None:
    """The keyword arguments of ``commands.start.run`` for ``args`` (after ``start``), or
    None when the form is not a plain one and typer must parse it."""
    out = dict(DEFAULTS)
    seen: set[str] = set()
    sweep: Path | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg:
            return None
        if not arg.startswith("-"):
            if sweep is not None:
                return None  # an extra argument: typer's message
            sweep = Path(arg)
            continue
        opt, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        spec = START_OPTIONS.get(opt)
        if spec is None:
            return None
        key, kind = spec
        if key in seen:
            return None
        seen.add(key)
        if kind == "flag":
            if eq:
                return None
            out[key] = True
            continue
        if not eq:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        if not value or value.startswith("-"):
            return None
        if kind == "int":
            if not (value.isascii() and value.isdigit()):
                return None
            out[key] = int(value)
        else:
            out[key] = value
    if sweep is None:
        return None
    out["sweep"] = sweep
    return out
