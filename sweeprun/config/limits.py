"""The largest values sweeprun can honour, and what one program argument or environment
variable can hold.

A sweep file is refused (exit 2, at its key path) rather than accepted and then failing at run
time: a number past what the agent can wait for, count or store, or a string that no trial
could be started with. Stdlib only.
"""

from __future__ import annotations

import os

#: Linux ``MAX_ARG_STRLEN`` (32 pages of 4 KiB): the bytes of one argv element or one
#: ``NAME=value`` environment string, its terminating NUL included; ``execve`` refuses more
MAX_ARG_STRLEN = 131072
#: trials one agent runs at once (``parallelism``, ``--jobs``)
MAX_JOBS = 4096
#: counts (trials, retries, failures): a signed 64-bit integer, as every storage holds one
MAX_COUNT = 2**63 - 1
#: steps: Optuna's database storages keep a step in a 32-bit integer column
MAX_STEP = 2**31 - 1
#: ``seed``: Optuna's samplers seed NumPy, which takes 32 bits
MAX_SEED = 2**32 - 1
#: W&B hyperband ``s`` (brackets below ``max_iter``)
MAX_BRACKETS = 10_000
#: ``min_early_stopping_rate``: the first rung is at ``min_resource * reduction_factor ** rate``
#: steps, beyond any step from 32 on; the power itself must stay cheap to compute
MAX_RUNG_OFFSET = 64
#: per-trial and liveness durations (timeouts, grace periods, heartbeat): what
#: ``threading.Event.wait`` and Optuna's heartbeat (a ``timedelta``) take, with a wide margin
MAX_TRIAL_SECONDS = 30 * 86400.0
#: sweep-wide durations (``budget.time``, ``budget.deadline``)
MAX_SWEEP_SECONDS = 365 * 86400.0
#: the shortest ``trial.heartbeat``: renewing leases more often only loads the storage
MIN_HEARTBEAT = 0.1
#: GPUs a trial takes: at most this many, and a fraction at least 1/1000 of a GPU
MAX_GPUS_PER_TRIAL = 4096.0
MIN_GPU_FRACTION = 0.001


def os_size(text: str) -> int | None:
    """The bytes ``text`` is handed to the operating system as (the encoding ``subprocess``
    uses for argv and environment), or None when it cannot be encoded (a lone surrogate)."""
    try:
        return len(os.fsencode(text))
    except UnicodeError:
        return None


def preview(text: str, width: int = 24) -> str:
    """``text`` shortened for a message: ``'--blob=aaaaaaaaaaa…'``."""
    return repr(text if len(text) <= width else text[:width] + "…")


def string_problem(text: str, what: str) -> str:
    """Why ``text`` cannot be one program argument or environment string (``what`` names it:
    "the argument '--x=…'"), with the fix; "" when it can."""
    if "\0" in text:
        return (
            f"{what} contains a NUL character (\\0), which no program argument or environment "
            "variable can hold: remove it"
        )
    size = os_size(text)
    if size is None:
        return (
            f"{what} contains a character the operating system cannot take (a lone surrogate "
            "such as \\ud800): remove it"
        )
    if size >= MAX_ARG_STRLEN:
        return too_long(size, what)
    return ""


def too_long(size: int, what: str) -> str:
    return (
        f"{what} would be {size:,} bytes, more than the {MAX_ARG_STRLEN - 1:,} bytes the "
        "operating system accepts in one program argument or environment variable (Linux: "
        "128 KiB, its NUL included): shorten it, e.g. pass the path of a file that holds it"
    )


def env_problems(env: dict[str, str]) -> list[tuple[str | None, str]]:
    """(name, problem) for each variable of ``env`` no program could be started with; the name
    None for a problem of the whole mapping (an empty name)."""
    out: list[tuple[str | None, str]] = []
    for name, value in env.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue  # the type check reports it
        if name == "":
            out.append((None, "an environment variable name is empty: give the variable a name"))
        elif "=" in name:
            out.append(
                (
                    name,
                    f"the environment variable name {preview(name)} contains '=', which ends a "
                    "name (the program would see another variable): remove the '='",
                )
            )
        else:
            problem = string_problem(f"{name}={value}", f"the variable {preview(name)}")
            if problem:
                out.append((name, problem))
    return out


def bound_text(seconds: float) -> str:
    """``2592000.0`` → ``30 days (30d)``."""
    days = seconds / 86400
    return f"{days:g} days ({days:g}d)"
