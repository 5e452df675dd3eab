"""``sweeprun logs NAME TRIAL [--follow] [--stderr]``: a trial's output, live while it runs."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from sweeprun.errors import SweepError

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from sweeprun.results.read import Loaded

POLL = 0.25  # seconds between reads of a followed log
STATE_EVERY = 1.0  # seconds between storage checks of a followed trial's state


def _copy(fh: TextIO, out: TextIO) -> int:
    data = fh.read(1 << 20)
    if data:
        out.write(data)
        out.flush()
    return len(data)


def _missing(t: FrozenTrial, path: Path | None, number: int) -> SweepError:
    host = t.user_attrs.get("sweeprun.host")
    tail = t.user_attrs.get("sweeprun.tail")
    if tail:
        print(f"(last lines recorded in the storage for trial {number})", file=sys.stderr)
        sys.stdout.write("\n".join(str(x) for x in tail) + "\n")
    if t.state.name == "WAITING" or path is None:
        return SweepError(f"trial {number} has not started yet (state {t.state.name.lower()})")
    if host and host != socket.gethostname():
        return SweepError(
            f"trial {number} ran on host '{host}'; its logs are in {path} on that machine\n"
            f"    fix: run `sweeprun logs` there, or copy the directory from {host}:{path}"
        )
    return SweepError(f"the logs of trial {number} are gone: {path} does not exist")


def _follow(loaded: Loaded, t: FrozenTrial, file: Path) -> None:
    from sweeprun.storage.optuna_adapter import storage_of, trial_id_of

    storage = storage_of(loaded.sweep.study)
    out = sys.stdout
    deadline_wait = time.monotonic() + 30  # the file appears right after launch
    while not file.exists():
        if time.monotonic() > deadline_wait:
            raise SweepError(f"{file} did not appear")
        time.sleep(POLL)
    with open(file, encoding="utf-8", errors="replace") as fh:
        last_check = 0.0
        while True:
            while _copy(fh, out):
                pass
            now = time.monotonic()
            if now - last_check >= STATE_EVERY:
                last_check = now
                if storage.get_trial(trial_id_of(t)).state.name != "RUNNING":
                    time.sleep(POLL)
                    while _copy(fh, out):  # whatever the child wrote last
                        pass
                    return
            time.sleep(POLL)


def run(
    name: str,
    trial: int,
    storage: str | None = None,
    follow: bool = False,
    stderr: bool = False,
) -> int:
    from sweeprun.results.read import load
    from sweeprun.run.request import find_trial_dir
    from sweeprun.storage.records import LOG_DIR
    from sweeprun.storage.urls import sweeprun_dir

    loaded = load(storage, name)
    if trial < 0:
        raise SweepError(f"trial numbers start at 0 (got {trial})")
    t = loaded.trial(trial)
    log_dir = t.user_attrs.get(LOG_DIR)  # recorded: a sweep made before the mapping changed
    fname = "stderr.log" if stderr else "stdout.log"
    path = find_trial_dir(log_dir, sweeprun_dir(), name, trial)
    if path is None:
        raise _missing(t, Path(log_dir) if log_dir else None, trial)
    file = path / fname
    running = t.state.name == "RUNNING"
    if follow and running:
        host = t.user_attrs.get("sweeprun.host")
        if host and host != socket.gethostname():
            raise SweepError(
                f"trial {trial} runs on host '{host}'; follow it there with "
                f"`sweeprun logs {name} {trial} --follow`"
            )
        try:
            _follow(loaded, t, file)
        except KeyboardInterrupt:
            return 0
        return 0
    other = path / "stderr.log"
    empty = not file.is_file() or file.stat().st_size == 0
    if not stderr and empty and other.is_file() and other.stat().st_size:
        # the program wrote only to stderr (a traceback, logging's default stream): show it
        print(
            f"(trial {trial} wrote nothing to stdout; this is its stderr, "
            f"also shown by `sweeprun logs {name} {trial} --stderr`)",
            file=sys.stderr,
        )
        file = other
    if not file.exists():
        raise SweepError(f"trial {trial} has no {fname} in {path}")
    with open(file, encoding="utf-8", errors="replace") as fh:
        while _copy(fh, sys.stdout):
            pass
    if follow and not running:
        print(f"(trial {trial} is {t.state.name.lower()}; nothing to follow)", file=sys.stderr)
    sys.stdout.flush()
    return 0
