"""Hydra programs: each trial gets its own output directory, ``hydra.run.dir=<trial dir>/hydra``.

Hydra's default run directory is ``outputs/<date>/<time>``, to the second: trials that start
in the same second share it (their ``.hydra/config.yaml`` and logs overwrite each other). So
for a Hydra program each trial's argv gets one more override, ``hydra.run.dir=<trial
dir>/hydra``, unless the user already passes ``hydra.run.dir`` (in ``command:``, as a
parameter or an extra argument). The trial's directory is kept with its logs.

A sweep is taken for a Hydra one when (no process, a cheap look at the command and at most one
read of the program's file per agent):

* its command uses ``${args_append_hydra}`` or ``${args_override_hydra}`` (Hydra's own
  syntax, ``+k=v`` / ``++k=v``), or
* its program file uses ``@hydra.main`` (``hydra.main`` or ``from hydra import main``: what
  reads overrides from argv; a program that only calls Hydra's compose API parses its argv
  itself), or
* its command uses ``${args_no_hyphens}`` (the macro W&B documents for Hydra) and there is no
  program file to look into (e.g. ``python -m pkg.train``). A readable program without
  ``hydra.main`` is left alone: ``k=v`` arguments are not Hydra's alone.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence

__all__ = ["HYDRA_MACROS", "RUN_DIR", "hydra_main", "run_dir_args", "uses_hydra"]

#: the ``command:`` macros that write Hydra overrides
HYDRA_MACROS = ("${args_append_hydra}", "${args_override_hydra}")
NO_HYPHENS = "${args_no_hyphens}"
RUN_DIR = "hydra.run.dir"
_MAIN = re.compile(rb"\bhydra\.main\b|^\s*from\s+hydra\s+import\s[^\n]*\bmain\b", re.MULTILINE)
_BARE = re.compile(r"[A-Za-z0-9_./:@%+-]+")


@functools.lru_cache(maxsize=16)
def _file_has_hydra_main(path: str) -> bool | None:
    """Read once per agent and file; None: no such file."""
    try:
        with open(path, "rb") as fh:
            return _MAIN.search(fh.read(1 << 20)) is not None
    except OSError:
        return None


def hydra_main(program: str | None, cwd: str) -> bool | None:
    """Whether the program's file uses ``@hydra.main``; None when there is no file to read."""
    if not program:
        return None
    return _file_has_hydra_main(os.path.join(cwd, program))


def uses_hydra(command: Sequence[object] | None, program: str | None, cwd: str) -> bool:
    """Whether trials of this sweep run a Hydra program (the rules in the module's doc)."""
    elements = [str(e) for e in command or ()]
    if any(m in elements for m in HYDRA_MACROS):
        return True
    found = hydra_main(program, cwd)
    if found is not None:
        return found
    return NO_HYPHENS in elements


def _override_key(arg: str) -> str:
    return arg.split("=", 1)[0].lstrip("+~")


def _value(path: str) -> str:
    """A path as a Hydra override value: bare when Hydra's grammar reads it as is, else
    single-quoted (backslash and quote escaped)."""
    if _BARE.fullmatch(path):
        return path
    return "'" + path.replace("\\", "\\\\").replace("'", "\\'") + "'"


def run_dir_args(argv: Sequence[str], trial_dir: str) -> list[str]:
    """The override to append to a Hydra trial's ``argv``: ``[hydra.run.dir=...]``, or
    nothing when the argv sets ``hydra.run.dir`` already."""
    if any(_override_key(a) == RUN_DIR for a in argv[1:]):
        return []
    return [f"{RUN_DIR}={_value(os.path.join(trial_dir, 'hydra'))}"]
