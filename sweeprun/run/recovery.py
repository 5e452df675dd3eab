"""No trial stays RUNNING forever: find trials whose agent died and re-queue them.

Each trial records its owner (``sweeprun.owner``: host, pid and the process start time, so a
reused pid is not mistaken for the owner) and stays alive through a heartbeat or lease
(:mod:`sweeprun.run.liveness`). Any agent, at start and then every heartbeat, fails a RUNNING trial
as ``orphaned`` when its owner is a dead process on this host, or its lease / heartbeat ran out
(on any host: a live agent that renews nothing is hung);
it stops what is left of the trial on this host (its process group and every process carrying
its ``SWEEPRUN_LAUNCH`` marker) and re-queues the parameters.
Orphaned trials do not count toward the budget. The copy is queued before the trial is failed
(see :mod:`sweeprun.run.requeue`): when two agents reap the same trial at once, the storage lets
only one of them mark it failed, and the other withdraws the copy it may have queued.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

import psutil
from optuna.trial import TrialState

from sweeprun.run.liveness import LEASE_ATTR
from sweeprun.run.process.tree import LAUNCH_VAR, TrialTree, stop_tree
from sweeprun.run.requeue import requeue_once, withdraw_duplicates
from sweeprun.storage import records
from sweeprun.storage.batching import trial_writer
from sweeprun.storage.optuna_adapter import (
    HeartbeatStorage,
    stale_trial_ids,
    storage_of,
    study_id_of,
    trial_id_of,
)

if TYPE_CHECKING:
    import optuna

    from sweeprun.space.distributions import SearchSpace

HOST = socket.gethostname()
ORPHANED = "orphaned"
# two create times of one process agree to the clock tick; a reused pid is seconds apart at least
_SAME_PROCESS = 0.5


def _create_time(pid: int) -> float | None:
    """When process ``pid`` was created (psutil: from the process table, on Linux and macOS);
    None when it is gone or a zombie."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None  # a zombie is dead
        return float(proc.create_time())
    except psutil.Error:
        return None


def owner_tag() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": HOST, "pid": pid, "start": _create_time(pid)}


def owner_alive(owner: dict[str, Any]) -> bool:
    """Whether the agent that recorded ``owner`` still runs: its pid lives and was created
    when the record says (a reused pid is another process)."""
    pid = int(owner.get("pid", 0))
    if pid <= 0:
        return False
    created = _create_time(pid)
    if created is None:
        return False
    start = owner.get("start")
    if not isinstance(start, (int, float)):
        return True  # no create time recorded: the pid alone
    return abs(created - float(start)) < _SAME_PROCESS


def trial_tree(pid: int | None, launch: str | None, sweep: str, number: int) -> TrialTree:
    """What is left of an orphaned trial on this host: the processes carrying its launch
    marker, in its process group or not (``pid`` None: its agent died before recording it, so
    by the marker alone). A trial recorded without a marker is known by its sweep and number,
    in its process group only. Strict: the group id may have been reused."""
    if launch:
        return TrialTree(pid, {LAUNCH_VAR: launch}, strict=True)
    if pid is None:
        return TrialTree(None)
    marker = {"SWEEPRUN_SWEEP": sweep, "SWEEPRUN_TRIAL": str(number)}
    return TrialTree(pid, marker, since=float("inf"), strict=True)


def kill_leftover(tree: TrialTree, grace: float = 3.0) -> None:
    """Stop what is left of an orphaned trial on this host (the launcher's kill ladder)."""
    stop_tree(tree, grace)


def is_orphan(trial: optuna.trial.FrozenTrial, lease_grace: float, now: float) -> bool:
    """Whether a RUNNING trial's agent is gone: dead here (at once), or its lease ran out, on
    this host too (a live pid with a stale lease is hung: stopped, deadlocked, stuck on a
    disk), or it never recorded an owner and started more than ``lease_grace`` ago."""
    attrs = trial.user_attrs
    owner = attrs.get("sweeprun.owner")
    if owner is not None and owner.get("host") == HOST and not owner_alive(owner):
        return True
    lease = attrs.get(LEASE_ATTR)
    if lease is not None:
        return now > float(lease)
    started = trial.datetime_start
    if started is None:
        return False
    if started.tzinfo is None:
        started = started.astimezone()
    return now > started.timestamp() + lease_grace


def recover_orphans(
    study: optuna.Study,
    space: SearchSpace,
    lease_grace: float,
    *,
    rdb: HeartbeatStorage | None = None,
) -> int:
    """Fail and re-queue trials whose agent is gone; return how many this agent reaped.

    A trial whose owner is a dead process on this host is reaped at once. Otherwise its
    liveness decides, on this host too (a live pid whose lease is stale is a hung agent): with
    ``rdb`` (a storage with Optuna's heartbeat on, RDB) Optuna's heartbeat table (the stale ids
    ``fail_stale_trials`` would fail), else the trial's lease; a trial with no owner yet is
    judged by its start time."""
    stale = set(stale_trial_ids(rdb, study_id_of(study))) if rdb is not None else set()
    now = time.time()
    count = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get("sweeprun.owner")
        if owner is not None and owner.get("host") == HOST and not owner_alive(owner):
            orphan = True  # dead here
        elif rdb is not None and owner is not None:
            orphan = trial_id_of(t) in stale  # gone elsewhere, or hung here
        else:
            orphan = is_orphan(t, lease_grace, now)
        if orphan and reap(study, space, t):
            count += 1
    return count


def reap(study: optuna.Study, space: SearchSpace, t: optuna.trial.FrozenTrial) -> bool:
    pid = t.user_attrs.get(records.PID)
    launch = t.user_attrs.get(records.LAUNCH)
    owner = t.user_attrs.get(records.OWNER) or {}
    if (pid or launch) and owner.get("host") == HOST:
        tree = trial_tree(int(pid) if pid else None, launch, study.study_name, t.number)
        kill_leftover(tree)
    # the copy first, then the fail: an agent killed between the two leaves the trial RUNNING
    # with its copy queued, and the next reaper fails it without queueing another
    attempt = int(t.user_attrs.get("sweeprun.attempt", 1))  # the orphaned one never finished
    params = params_of(space, t)
    if params is not None:
        requeue_once(study, params, t.user_attrs, retry_of=t.number, attempt=attempt)
    storage = storage_of(study)
    trial_id = trial_id_of(t)
    try:
        # the reason and the failed state in one append / transaction
        attrs = {"sweeprun.counted": False, "sweeprun.reason": ORPHANED}
        trial_writer(storage).write_records(trial_id, attrs, hold=True)
        reaped = storage.set_trial_state_values(trial_id, TrialState.FAIL)
    except (RuntimeError, KeyError):  # finished or reaped meanwhile by another agent
        reaped = False
    if not reaped:
        withdraw_duplicates(study, t)
    return reaped


def params_of(space: SearchSpace, t: optuna.trial.FrozenTrial) -> dict[str, Any] | None:
    """The Optuna parameters of a reaped trial, to queue them again; None when it has none to
    keep: a sampled trial whose agent died (or froze) before its launch record holds no
    recorded parameters, and a fresh draw replaces it as well as a copy would (a copy of
    nothing would even disagree with the parameters a frozen agent's late launch record might
    still write)."""
    values = t.user_attrs.get("sweeprun.params")
    if values is not None:
        return space.from_values(values)
    # killed before its launch record: a queued trial's parameters are in fixed_params
    fixed = t.system_attrs.get("fixed_params")
    if fixed:
        return dict(fixed)
    return dict(t.params) or None
