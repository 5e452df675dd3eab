"""No trial stays RUNNING forever: find trials whose agent died and re-queue them.

Each trial records its owner (``sweeprun.owner``: host, pid and the process start time, so a
reused pid is not mistaken for the owner) and stays alive through a heartbeat or lease
(:mod:`sweeprun.liveness`). Any agent, at start and then every heartbeat, fails a RUNNING trial
as ``orphaned`` when its owner is a dead process on this host, or its lease / heartbeat ran out;
it stops what is left of the trial's process group on this host and re-queues the parameters.
Orphaned trials do not count toward the budget. When two agents reap the same trial at once,
the storage lets only one of them mark it failed, and only that one re-queues it.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import TYPE_CHECKING, Any

from sweeprun.attrs import set_user_attrs
from sweeprun.liveness import LEASE_ATTR

if TYPE_CHECKING:
    import optuna

    from sweeprun.space import SearchSpace

HOST = socket.gethostname()
ORPHANED = "orphaned"


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode(errors="replace")
    except OSError:
        return None
    fields = data.rpartition(")")[2].split()
    if fields and fields[0] in ("Z", "X"):
        return None  # a zombie is dead
    return fields[19]


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
    return f"SWEEPRUN_SWEEP={sweep}".encode() in env and f"SWEEPRUN_TRIAL={number}".encode() in env


def kill_leftover_group(pid: int, sweep: str, number: int, grace: float = 3.0) -> None:
    """Stop the process group of an orphaned trial's child, if it still runs here."""
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


def is_orphan(trial: optuna.trial.FrozenTrial, lease_grace: float, now: float) -> bool:
    """Whether a RUNNING trial's agent is gone (dead here, or its lease ran out)."""
    attrs = trial.user_attrs
    owner = attrs.get("sweeprun.owner")
    if owner is not None and owner.get("host") == HOST:
        return not owner_alive(owner)
    lease = attrs.get(LEASE_ATTR)
    if lease is not None:
        return now > float(lease)
    started = trial.datetime_start
    if started is None:
        return False
    if started.tzinfo is None:
        started = started.astimezone()
    return now > started.timestamp() + lease_grace


class StaleCallback:
    """The RDB heartbeat's stale-trial callback: re-queue the trial's parameters."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.count = 0

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        requeue(study, self.space, trial)
        self.count += 1


def recover_orphans(
    study: optuna.Study,
    space: SearchSpace,
    lease_grace: float,
    *,
    stale: StaleCallback | None = None,
) -> int:
    """Fail and re-queue trials whose agent is gone; return how many this agent reaped.

    With ``stale`` (RDB storages with the heartbeat on), other hosts' trials are judged by
    Optuna's ``fail_stale_trials``; this host's by their owner's pid."""
    from optuna.trial import TrialState

    count = 0
    if stale is not None:
        from optuna.storages import fail_stale_trials

        before = stale.count
        fail_stale_trials(study)
        count += stale.count - before
    now = time.time()
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("sweeprun.owner")
        if stale is not None and not (owner and owner.get("host") == HOST):
            continue  # RDB: other hosts' trials are judged by the heartbeat
        if is_orphan(t, lease_grace, now) and reap(study, space, t):
            count += 1
    return count


def reap(study: optuna.Study, space: SearchSpace, t: optuna.trial.FrozenTrial) -> bool:
    from optuna.trial import TrialState

    pid = t.user_attrs.get("sweeprun.pid")
    owner = t.user_attrs.get("sweeprun.owner") or {}
    if pid and owner.get("host") == HOST:
        kill_leftover_group(int(pid), study.study_name, t.number)
    storage = study._storage
    try:
        set_user_attrs(
            storage, t._trial_id, {"sweeprun.counted": False, "sweeprun.reason": ORPHANED}
        )
        if not storage.set_trial_state_values(t._trial_id, TrialState.FAIL):
            return False
    except (RuntimeError, KeyError):  # finished or reaped meanwhile by another agent
        return False
    requeue(study, space, t)
    return True


def requeue(study: optuna.Study, space: SearchSpace, t: optuna.trial.FrozenTrial) -> None:
    values = t.user_attrs.get("sweeprun.params")
    params = space.from_values(values) if values is not None else dict(t.params)
    attrs: dict[str, Any] = {
        "sweeprun.retry_of": t.number,
        "sweeprun.attempt": int(t.user_attrs.get("sweeprun.attempt", 1)),
    }
    for key in ("sweeprun.grid_index", "sweeprun.baseline", "sweeprun.smoke_case"):
        if key in t.user_attrs:
            attrs[key] = t.user_attrs[key]
    study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)

