"""``sweeprun agent NAME``: join an existing sweep (config read from the storage)."""

from __future__ import annotations

import socket

from sweeprun.errors import SweepError


def run(
    name: str,
    storage: str | None = None,
    jobs: int = 1,
    count: int | None = None,
    gpus: str | None = None,
    json_out: bool = False,
    quiet: bool = False,
) -> int:
    from sweeprun.config.tracking import check_tracking
    from sweeprun.run import gpus as gpus_mod
    from sweeprun.run.agent import run_agent
    from sweeprun.run.display import make_display
    from sweeprun.storage.urls import resolve
    from sweeprun.sweep import load_sweep

    if jobs < 1:
        raise SweepError("--jobs must be at least 1")
    if count is not None and count < 1:
        raise SweepError("--count must be at least 1")
    spec = resolve(storage, None)
    if spec.kind == "sqlite":
        raise SweepError(
            f"agents cannot share the SQLite file {spec.display}: SQLite serves one process only "
            "(Optuna hands the same queued trial to two processes)\n"
            "    fix: use a journal file (--storage .sweeprun/journal.log, also over a shared "
            "filesystem) or PostgreSQL (--storage postgresql://...)"
        )
    sw = load_sweep(spec, name)
    check_tracking(sw.config.tracking)
    display = make_display(json_out, quiet, count)
    if not (quiet or json_out):
        display.note(
            f"agent on {socket.gethostname()} joined sweep '{name}' in {spec.display} "
            f"with {jobs} slot(s)"
        )
    return run_agent(sw, display, jobs=jobs, count=count, gpus=gpus_mod.detect(gpus))
