"""The one module that uses Optuna's private names, behind a version gate.

Everything sweeprun needs from Optuna beyond its public API is reached through the functions
here; no other module imports ``optuna.*._x`` or touches a private attribute of an Optuna
object, and nothing patches Optuna at run time. :func:`check_version` refuses an Optuna
release these functions were not tested against, with a message that says what to do.

Sections: the version gate; the write path (storages, trials, journal, heartbeats); the read
path (Optuna's RDB schema for the fast SQL reads).
"""

from __future__ import annotations

from sweeprun.errors import SweepError

# Optuna releases whose private names the functions below were checked against (major.minor)
TESTED = ("5.0", "5.1")
ENV_UNCHECKED = "SWEEPRUN_OPTUNA_UNCHECKED"  # =1: run on an untested Optuna anyway (CI compat job)


def check_version(version: str | None = None) -> None:
    """Refuse an Optuna whose major.minor is not in :data:`TESTED` (unless $ENV_UNCHECKED=1)."""
    import os

    if version is None:
        import optuna

        version = optuna.__version__
    if ".".join(version.split(".")[:2]) in TESTED or os.environ.get(ENV_UNCHECKED) == "1":
        return
    raise SweepError(
        f"sweeprun was tested with Optuna {', '.join(TESTED)}, but Optuna {version} is "
        "installed\n    fix: pip install 'optuna>=5.0,<5.2' (or upgrade sweeprun); "
        f"{ENV_UNCHECKED}=1 runs anyway, at your own risk"
    )


# ---- write path ---------------------------------------------------------------------------


# ---- read path ----------------------------------------------------------------------------
