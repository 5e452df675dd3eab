"""A trial's processes, and the one kill ladder that stops them.

A trial's tree is its process group (the child starts in a session of its own) plus every live
process that carries the trial's launch marker (``SWEEPRUN_LAUNCH=<token>``) in its environment.
Helpers that called ``setsid``, double-forked daemons, TensorBoard or data servers keep the
environment they inherited, so they are found after they left the group and were re-parented.
psutil reads the process table, on Linux and macOS alike. A process is known by its pid and its
create time: psutil checks both before it sends a signal, so a reused pid is never signalled.

The launcher (timeout, prune, stop, helpers left after the program exits) and the recovery of
orphaned trials (:mod:`sweeprun.run.recovery`) both stop a trial with :func:`stop_tree`.
A process that cleared its environment (``env -i``) and left the group is out of reach.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

__all__ = ["LAUNCH_VAR", "TrialTree", "stop_tree"]

LAUNCH_VAR = "SWEEPRUN_LAUNCH"
# create times come from the boot time plus a tick count; allow for the boot time drifting
_SINCE_SLACK = 5.0
_POLL_MAX = 0.1
_Gone = (psutil.NoSuchProcess, psutil.ZombieProcess)


@dataclass(frozen=True)
class TrialTree:
    """The processes of one trial.

    ``pgid``: the trial's process group (the child's pid), or None. ``marker``: environment
    entries every process of the trial carries (all must match); empty means the group only.
    ``since``: a wall-clock time before the trial's first process was created; the marker scan
    reads the environment of processes created since then only. ``strict``: a member of the
    group counts only when it carries the marker (recovery: the pgid may belong to someone else
    by now)."""

    pgid: int | None
    marker: Mapping[str, str] = field(default_factory=dict)
    since: float = 0.0
    strict: bool = False

    def members(self) -> list[psutil.Process]:
        """The live (non-zombie) processes of the trial. Zombies don't count: a container's
        PID 1 may never reap the orphans it inherits."""
        found: dict[int, psutil.Process] = {}
        if self.pgid is not None and _group_exists(self.pgid):
            for pid in psutil.pids():
                try:
                    if os.getpgid(pid) != self.pgid:
                        continue
                    proc = psutil.Process(pid)
                    if _live(proc) and (not self.strict or self._marked(proc)):
                        found[pid] = proc
                except (OSError, psutil.Error):
                    continue
        if self.marker:
            since = self.since - _SINCE_SLACK
            for pid, created, env in _INDEX.scan():
                if pid in found or created < since:
                    continue
                if all(env.get(k) == v for k, v in self.marker.items()):
                    with contextlib.suppress(psutil.Error):
                        proc = psutil.Process(pid)
                        if _live(proc) and self._marked(proc):  # still that process
                            found[pid] = proc
        return list(found.values())

    def alive(self) -> bool:
        return bool(self.members())

    def signal(self, sig: int, procs: list[psutil.Process]) -> None:
        """Send ``sig`` to the group (when it is surely the trial's) and to ``procs``."""
        if self.pgid is not None and not self.strict:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pgid, sig)
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)  # psutil checks the create time: never a reused pid

    def wait_gone(self, seconds: float) -> bool:
        """Wait until no process of the trial lives; False when ``seconds`` ran out first."""
        deadline = time.monotonic() + seconds
        delay = 0.005
        while self.alive():
            if time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)
        return True

    def _marked(self, proc: psutil.Process) -> bool:
        try:
            env = proc.environ()
        except psutil.Error:
            return False
        return all(env.get(k) == v for k, v in self.marker.items())


class _MarkerIndex:
    """The create time and the marker variables of every process on this host, read once per
    process: a scan lists the pids (cheap) and reads only those it has not seen in the last
    listing, so a trial's end costs a directory listing, not a read of every process. A pid
    that vanished from a listing is read again when it comes back (a reused pid)."""

    _KEYS = (LAUNCH_VAR, "SWEEPRUN_SWEEP", "SWEEPRUN_TRIAL")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[int, tuple[float, dict[str, str]]] = {}

    def scan(self) -> list[tuple[int, float, dict[str, str]]]:
        with self._lock:
            pids = psutil.pids()
            self._known = {pid: self._known.get(pid) or self._read(pid) for pid in pids}
            return [(pid, created, env) for pid, (created, env) in self._known.items()]

    def _read(self, pid: int) -> tuple[float, dict[str, str]]:
        """A process that is gone or not ours to read (kernel threads, other users' processes)
        is known as unmarked until its pid leaves the listing."""
        try:
            proc = psutil.Process(pid)
            created = proc.create_time()
            env = proc.environ()
        except psutil.Error:
            return 0.0, {}
        return created, {k: env[k] for k in self._KEYS if k in env}


_INDEX = _MarkerIndex()


def _group_exists(pgid: int) -> bool:
    """Whether any process (a zombie included) is in the group: one system call, where
    listing the group's members asks every process of the host for its group."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there, but not ours (recovery: the pgid was reused)
        return True
    return True


def _live(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except _Gone:
        return False


def stop_tree(tree: TrialTree, grace: float, kill_wait: float = 5.0) -> bool:
    """The kill ladder: SIGTERM to every process of the trial, up to ``grace`` seconds for
    them to end, then SIGKILL to whatever is left (new processes included) and up to
    ``kill_wait`` seconds. True when nothing of the trial is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, kill_wait)):
        procs = tree.members()
        if not procs:
            return True
        tree.signal(sig, procs)
        if tree.wait_gone(wait):
            return True
    return False
