"""The program's own wandb, unchanged: what a trial's environment gets so that its
``wandb.log`` values and ``run.summary`` writes reach sweeprun (the hook in
``integrations/wandb_path``, put first on the trial's ``PYTHONPATH``), and so that wandb runs
offline when no W&B credentials are found. ``tracking.wandb: false`` turns all of it off.

The user's own settings always win: a ``WANDB_MODE``, ``WANDB_API_KEY`` or ``PYTHONPATH`` of
their environment or of ``trial.env`` is kept (the hook is put in front of ``PYTHONPATH``, never
in its place). ``SWEEPRUN_WANDB_HOOK=0`` leaves the hook out while keeping the rest.
"""

from __future__ import annotations

import functools
import netrc
import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["HOOK_DIR", "credentials_found", "offline_note", "trial_wandb_env", "uses_wandb"]

#: the directory holding sweeprun's ``sitecustomize`` for trials
HOOK_DIR = Path(__file__).resolve().with_name("wandb_path")
_DEFAULT_HOST = "api.wandb.ai"


def credentials_found(environ: Mapping[str, str]) -> bool:
    """Whether wandb would find an API key: ``WANDB_API_KEY``, or a netrc entry (``NETRC``,
    else ``~/.netrc``) for the W&B host (``WANDB_BASE_URL``, default api.wandb.ai)."""
    if environ.get("WANDB_API_KEY"):
        return True
    return _netrc_has(environ.get("WANDB_BASE_URL"), environ.get("NETRC"), environ.get("HOME"))


@functools.lru_cache(maxsize=8)
def _netrc_has(base_url: str | None, netrc_path: str | None, home: str | None) -> bool:
    """Read once per agent and setting (every trial asks; the file is not re-read)."""
    host = urlparse(base_url or f"https://{_DEFAULT_HOST}").hostname
    path = netrc_path or os.path.join(home or "~", ".netrc")
    try:
        entries = netrc.netrc(os.path.expanduser(path))
    except (OSError, netrc.NetrcParseError):
        return False
    return entries.authenticators(host or _DEFAULT_HOST) is not None


def trial_wandb_env(environ: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Variables to add to a trial's environment (``extra`` is what the sweep already adds:
    ``trial.env`` and the grouping variables; they win over ``environ``)."""
    env: dict[str, str] = {}
    if (extra.get("SWEEPRUN_WANDB_HOOK") or environ.get("SWEEPRUN_WANDB_HOOK")) != "0":
        current = extra.get("PYTHONPATH", environ.get("PYTHONPATH", ""))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HOOK_DIR), current) if p)
    if offline_note(environ, extra) is not None:
        env["WANDB_MODE"] = "offline"
    return env


def uses_wandb(program: str | None, cwd: str) -> bool:
    """Whether the program's file mentions wandb (for the one note at start; the hook itself
    is on every trial's path and costs nothing to a program that does not import wandb)."""
    if not program:
        return False
    try:
        with open(os.path.join(cwd, program), "rb") as fh:
            return b"wandb" in fh.read(1 << 20)
    except OSError:
        return False


def offline_note(environ: Mapping[str, str], extra: Mapping[str, str]) -> str | None:
    """The one note ``start`` prints when trials will run wandb offline."""
    if "WANDB_MODE" in extra or "WANDB_MODE" in environ or credentials_found({**environ, **extra}):
        return None
    return (
        "no W&B credentials found: trials that use wandb run it offline (WANDB_MODE=offline;"
        " `wandb sync` uploads later); set WANDB_API_KEY or WANDB_MODE to change this"
    )
