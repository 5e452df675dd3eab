"""No trial stays RUNNING forever: find trials whose agent died and re-queue them.

Each trial records its owner (``sweeprun.owner``: host, pid and the process start time, so a
reused pid is not mistaken for the owner). At start, an agent fails every RUNNING trial owned by
a dead agent on this host as ``orphaned``, stops what is left of its process group, and
re-queues its parameters (orphaned trials do not count toward the budget).
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from sweeprun.space import SearchSpace

HOST = socket.gethostname()
NO_OWNER_GRACE = 120.0  # a RUNNING trial with no owner yet is orphaned after this long


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode(errors="replace")
    except OSError:
        return None
    # the command name may contain spaces: fields after the last ')'
    return data.rpartition(")")[2].split()[19]


def owner_tag() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": HOST, "pid": pid, "start": _start_time(pid)}


def owner_alive(owner: dict[str, Any]) -> bool:
    pid = int(owner.get("pid", 0))
    if pid <= 0:
        return False
    start = _start_time(pid)
    if start is None:
        return False
    return owner.get("start") in (None, start)


def _child_belongs(pid: int, sweep: str, number: int) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            env = fh.read().split(b"\0")
    except OSError:
        return False
    return (
        f"SWEEPRUN_SWEEP={sweep}".encode() in env
        and f"SWEEPRUN_TRIAL={number}".encode() in env
    )


def kill_leftover_group(pid: int, sweep: str, number: int, grace: float = 3.0) -> None:
    """Stop the process group of an orphaned trial's child, if it still runs."""
    if not _child_belongs(pid, sweep, number):
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if not _child_belongs(pid, sweep, number):
                return
            time.sleep(0.05)


def is_orphan(trial: optuna.trial.FrozenTrial) -> bool:
    owner = trial.user_attrs.get("sweeprun.owner")
    if owner is None:
        started = trial.datetime_start
        if started is None:
            return False
        age = datetime.datetime.now() - started
        return age.total_seconds() > NO_OWNER_GRACE
    if owner.get("host") != HOST:
        return False  # another machine's trial: leases (agents) decide
    return not owner_alive(owner)


def recover_orphans(study: optuna.Study, space: SearchSpace) -> int:
    """Fail and re-queue this host's trials whose agent died; return how many."""
    from optuna.trial import TrialState

    storage = study._storage
    count = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not is_orphan(t):
            continue
        pid = t.user_attrs.get("sweeprun.pid")
        if pid:
            kill_leftover_group(int(pid), study.study_name, t.number)
        requeue(study, space, t)
        tid = t._trial_id
        storage.set_trial_user_attr(tid, "sweeprun.counted", False)
        storage.set_trial_user_attr(tid, "sweeprun.reason", "orphaned")
        try:
            storage.set_trial_state_values(tid, TrialState.FAIL)
        except RuntimeError:
            continue  # finished meanwhile by another agent
        count += 1
    return count


def requeue(study: optuna.Study, space: SearchSpace, t: optuna.trial.FrozenTrial) -> None:
    values = t.user_attrs.get("sweeprun.params")
    params = space.from_values(values) if values is not None else dict(t.params)
    attrs: dict[str, Any] = {
        "sweeprun.retry_of": t.number,
        "sweeprun.attempt": int(t.user_attrs.get("sweeprun.attempt", 1)),
    }
    for key in ("sweeprun.grid_index", "sweeprun.baseline"):
        if key in t.user_attrs:
            attrs[key] = t.user_attrs[key]
    study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)
