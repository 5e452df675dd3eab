"""``sweeprun.report(val_loss=0.31, step=3)``: the metrics channel for training programs.

Stdlib only and cheap to import (``import sweeprun`` imports this module and nothing heavy).

Where a report goes, first that works:

1. ``SWEEPRUN_REPORT_FD``: the write end of a pipe sweeprun passes to each trial. One JSON
   line per call, written with ``os.write`` in a loop (no partial lines), under a lock, so
   stdout noise cannot corrupt it. The pipe is verified against ``SWEEPRUN_REPORT_PIPE``
   (``device:inode``) so that a wrapper which closed the fd and reused the number for some
   other file never receives our bytes.
2. ``SWEEPRUN_REPORT_FILE``: a path to append JSON lines to, for programs started through
   wrappers that close inherited fds (``torchrun``, some schedulers). sweeprun sets it for
   every trial and reads it while the trial runs; set it yourself to collect reports to a
   file outside sweeprun.
3. Otherwise (not under sweeprun) a friendly ``sweeprun.report: {"val_loss": 0.31, "step": 3}``
   line on stdout; sweeprun also reads such lines if they reach it.

A broken pipe (the agent went away) is not an error: the fd channel is dropped silently and
the next channel is used.
"""

from __future__ import annotations

import os
import sys
import threading

TYPE_CHECKING = False
if TYPE_CHECKING:  # keep ``typing`` out of the import cost of user programs
    from typing import Any

_lock = threading.Lock()
_fd_state: tuple[str, int | None] | None = None  # (env value it was resolved from, fd)
_fd_broken: set[int] = set()


def _json(metrics: dict[str, Any]) -> str:
    import json  # lazy: ``import sweeprun`` in a training program stays cheaper than json

    return json.dumps(metrics, default=str, allow_nan=True)


def _resolve_fd() -> int | None:
    """The report fd from the environment, checked to still be our pipe; cached per value."""
    global _fd_state
    raw = os.environ.get("SWEEPRUN_REPORT_FD")
    if raw is None:
        return None
    if _fd_state is not None and _fd_state[0] == raw:
        cached = _fd_state[1]
        return None if cached is None or cached in _fd_broken else cached
    fd: int | None
    try:
        fd = int(raw)
        st = os.fstat(fd)
        expected = os.environ.get("SWEEPRUN_REPORT_PIPE")
        if expected and expected != f"{st.st_dev}:{st.st_ino}":
            fd = None
    except (ValueError, OSError):
        fd = None
    _fd_state = (raw, fd)
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _append_file(path: str, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return False
    try:
        _write_all(fd, data)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def report(step: int | None = None, **metrics: float) -> None:
    """Report metric values of the current trial, e.g. ``report(val_loss=0.31, step=3)``.

    Thread-safe; never raises for a closed channel. Outside sweeprun it prints one line.
    """
    payload: dict[str, Any] = dict(metrics)
    if step is not None:
        payload["step"] = step
    line = _json(payload)
    data = (line + "\n").encode("utf-8", errors="replace")
    with _lock:
        fd = _resolve_fd()
        if fd is not None:
            try:
                _write_all(fd, data)
                return
            except OSError:
                _fd_broken.add(fd)  # EPIPE/EBADF: the agent is gone; stop using the pipe
        path = os.environ.get("SWEEPRUN_REPORT_FILE")
        if path:
            _append_file(path, data)
            return
        try:
            sys.stdout.write(f"sweeprun.report: {line}\n")
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
