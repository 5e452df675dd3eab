"""A frozen agent (SIGSTOP, a paused VM) outlives ``trial.lease_grace``: another agent reaps its
trial (FAIL "orphaned", not counted, its parameters queued again). When the frozen agent
resumes, every write it makes for the reaped trial (intermediate values, lease or heartbeat,
the end attributes and state) is refused with one note; it carries on and exits as a normal
run does, and its late result is counted nowhere: the re-run is the one that counts. On the
journal file, PostgreSQL, MariaDB and Redis.

The frozen agent runs as "another machine" (its own hostname, ``unshare -u``): on one host a
stopped agent is a live pid, and its trials are rightly left alone.
"""

from __future__ import annotations

import fcntl
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import psutil
import pytest

from tests.helpers.agents import write_sweep
from tests.helpers.cli import finish, spawn
from tests.helpers.processes import alive, other_host_prefix
from tests.helpers.studies import (
    counted,
    is_counted,
    states,
    storage_of,
    study_exists,
    trials_of,
    unique,
)
from tests.helpers.wait import wait_until

CAP = 5
FIXTURES = {"postgresql": "postgres_url", "mysql": "mysql_url", "redis": "redis_url"}
NOTE = "could not record result"


def trials_or_none(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return trials_of(url, name)
    except (KeyError, FileNotFoundError):
        return []


def reporting(url: str, name: str, pid: int) -> optuna.trial.FrozenTrial | None:
    """A running trial of agent ``pid`` with intermediate values written."""
    for t in trials_or_none(url, name):
        owner = t.user_attrs.get("sweeprun.owner") or {}
        if t.state.name == "RUNNING" and owner.get("pid") == pid and t.intermediate_values:
            return t
    return None


_RDB: dict[str, Any] = {}  # the tests' own connection to each database


def holds_locks(kind: str, url: str, pid: int) -> bool:
    """Whether process ``pid`` holds a lock of the storage: the journal file's record lock, or
    the row locks of an open write transaction. A process frozen holding one blocks every
    other agent's writes until it resumes (the reaper could not reap it): a limit of locks,
    not what these tests are about."""
    if kind == "journal":
        with open(url + ".lock", "a+b") as fh:
            try:
                fcntl.lockf(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.lockf(fh.fileno(), fcntl.LOCK_UN)
            return False
    if kind == "redis":
        return False  # one command per append
    import sqlalchemy

    from sweeprun.storage.optuna_adapter import rdb_of

    ports = [c.laddr.port for c in psutil.Process(pid).net_connections("tcp") if c.raddr]
    if not ports:
        return False
    rdb = _RDB.get(url) or _RDB.setdefault(url, rdb_of(storage_of(url)))
    assert rdb is not None
    listed = ", ".join(str(port) for port in ports)
    if kind == "postgresql":
        query = (
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            f"WHERE a.client_port IN ({listed}) "
            "AND l.mode IN ('RowShareLock', 'RowExclusiveLock')"
        )
    else:
        hosts = ", ".join(f"'127.0.0.1:{port}'" for port in ports)
        query = (
            "SELECT count(*) FROM information_schema.innodb_trx t "
            "JOIN information_schema.processlist p ON p.id = t.trx_mysql_thread_id "
            f"WHERE p.host IN ({hosts}) AND t.trx_lock_structs > 0"
        )
    with rdb.engine.connect() as conn:
        return bool(conn.execute(sqlalchemy.text(query)).scalar())


def freeze(p: subprocess.Popen[str], kind: str, url: str) -> None:
    """SIGSTOP ``p`` at a moment it holds no lock of the storage (see :func:`holds_locks`)."""

    def frozen_clear() -> bool:
        p.send_signal(signal.SIGSTOP)
        if not holds_locks(kind, url, p.pid):
            return True
        p.send_signal(signal.SIGCONT)
        return False

    wait_until(frozen_clear, timeout=30, what="frozen holding no storage lock")


def reaped(url: str, name: str, number: int) -> optuna.trial.FrozenTrial | None:
    for t in trials_or_none(url, name):
        if t.number == number and t.state.name == "FAIL":
            return t
    return None


# a pruner that never prunes (the loss stays below 1000) still reads and writes every value at
# once (Optuna's ``report`` / ``should_prune``); without one they are written in batches
WRITES = {"batched": "", "pruner": "early_terminate: {type: threshold, upper: 1000}\n"}


@pytest.mark.parametrize(
    ("writes", "resume"),
    [
        ("batched", "after its program ended"),
        ("pruner", "after its program ended"),
        # resumed with its program still running: the next write is refused and the program
        # stopped (its re-run is under way elsewhere)
        ("batched", "while its program runs"),
    ],
)
@pytest.mark.parametrize("kind", ["journal", "postgresql", "mysql", "redis"])
def test_a_frozen_agent_resumes_after_its_trial_was_reaped(
    kind: str,
    writes: str,
    resume: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    prefix = other_host_prefix("frozen-node")
    if kind == "journal":
        url = str(tmp_path / "shared" / "journal.log")
    else:
        url = request.getfixturevalue(FIXTURES[kind])
    name = unique(f"frozen-{kind}")
    cleanup(url, name)
    ended = resume == "after its program ended"
    # trials printing a value every 0.1 s (3 s, or 15 s to be resumed while they run);
    # liveness checked every second, 3 s of grace
    epochs, cap = (30, CAP) if ended else (150, 2)
    sweep = write_sweep(
        tmp_path,
        name,
        f"method: random\nmetric: {{name: loss}}\nrun_cap: {cap}\n"
        "trial: {heartbeat: 1s, lease_grace: 3s, kill_grace: 1s}\n"
        + WRITES[writes]
        + f"parameters:\n  x: {{min: 0.0, max: 2.0}}\n  epochs: {{value: {epochs}}}\n"
        "  sleep: {value: 0.1}\n",
    )
    argv = ["--storage", url]
    if ended:  # the reaper looks for dead agents' trials between its own trials
        other = spawn(procs, "start", str(sweep), *argv, cwd=tmp_path)
        wait_until(lambda: study_exists(url, name), what="sweep created")
        frozen = spawn(procs, "agent", name, *argv, cwd=tmp_path, prefix=prefix)
    else:  # the reaper joins later, with a slot left free to look for them meanwhile
        frozen = spawn(procs, "start", str(sweep), *argv, cwd=tmp_path, prefix=prefix)
    # wait until the frozen agent's trial has been written some intermediate values
    trial = wait_until(
        lambda: reporting(url, name, frozen.pid),
        timeout=60,
        what="the frozen agent's trial running",
    )
    freeze(frozen, kind, url)
    if not ended:
        other = spawn(procs, "agent", name, *argv, "--jobs", "2", cwd=tmp_path)
    try:
        lost = wait_until(
            lambda: reaped(url, name, trial.number), timeout=60, what="its trial reaped"
        )
        # its program runs on (the reaper cannot stop it on "another machine")
        pid = int(lost.user_attrs["sweeprun.pid"])
        if ended:  # the agent resumes to a finished trial
            wait_until(lambda: not alive(pid), timeout=60, what="its program ended")
        else:
            assert alive(pid)
        held = dict(lost.intermediate_values)
    finally:
        frozen.send_signal(signal.SIGCONT)
    if not ended:
        # stopped by its agent well before its own end (15 s after its start)
        start = lost.datetime_start
        assert start is not None
        left = start.timestamp() + epochs * 0.1 - time.time()
        assert left > 5, f"too slow to tell a stopped program from one that ended: {left}"
        wait_until(lambda: not alive(pid), timeout=left - 2, what="its program stopped")
    results = [finish(p, timeout=180) for p in (other, frozen)]
    for res in results:
        res.assert_code(0)
    late = results[1]
    notes = [line for line in late.stdout.splitlines() if NOTE in line]
    assert len(notes) == 1 and f"trial {trial.number}:" in notes[0], late.describe()
    # nor is its late result shown as one of this agent's results
    assert not re.search(rf"^trial {trial.number} (COMPLETE|PRUNED|FAIL)", late.stdout, re.M)

    trials = trials_of(url, name)
    by_number = {t.number: t for t in trials}
    gone = by_number[trial.number]
    # the reaped trial stays as the reaper left it: the late writes were all refused
    assert gone.state.name == "FAIL", gone
    assert gone.user_attrs.get("sweeprun.reason") == "orphaned", gone.user_attrs
    assert gone.user_attrs.get("sweeprun.counted") is False, gone.user_attrs
    assert "sweeprun.exit_code" not in gone.user_attrs, gone.user_attrs
    assert gone.values is None
    assert dict(gone.intermediate_values) == held
    # its parameters ran again, once, and that run counts
    reruns = [t for t in trials if t.user_attrs.get("sweeprun.retry_of") == trial.number]
    assert len(reruns) == 1, [t.user_attrs for t in trials]
    assert reruns[0].state.name == "COMPLETE"
    assert reruns[0].user_attrs["sweeprun.params"] == gone.user_attrs["sweeprun.params"]
    # the budget: every parameter set counted once, run_cap in all, nothing left running
    s = states(trials)
    assert counted(trials) == cap and s["RUNNING"] == 0 and s["WAITING"] == 0, s
    sets = Counter(repr(sorted(t.params.items())) for t in trials if is_counted(t))
    assert set(sets.values()) == {1}, sets


@pytest.mark.parametrize("kind", ["journal", "postgresql", "mysql", "redis"])
def test_a_reaped_trials_lease_or_heartbeat_is_refused(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
) -> None:
    """What the liveness thread of a frozen agent writes when it resumes: a heartbeat (RDB)
    or a lease (journal file, Redis) of a trial another agent reaped meanwhile is refused, not recorded,
    as a finished trial refuses every other write (the thread then stops renewing it)."""
    import warnings

    from sweeprun.run.liveness import LEASE_ATTR, enable_rdb_heartbeat
    from sweeprun.storage.batching import trial_writer
    from sweeprun.storage.open import open_storage
    from sweeprun.storage.optuna_adapter import storage_of as study_storage
    from sweeprun.storage.optuna_adapter import trial_id_of
    from sweeprun.storage.urls import classify

    if kind == "journal":
        url = str(tmp_path / "journal.log")
    else:
        url = request.getfixturevalue(FIXTURES[kind])
    name = unique(f"frozen-beat-{kind}")
    cleanup(url, name)
    agent = optuna.create_study(storage=open_storage(classify(url)), study_name=name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna: heartbeat outside Study.optimize
        beats = enable_rdb_heartbeat(agent, 1.0, 3.0)
        trial = agent.ask()
    tid = trial_id_of(trial)
    writer = trial_writer(study_storage(agent))

    def renew(lease: float) -> None:
        if beats is not None:
            beats.record_heartbeat(tid)
        else:
            writer.write_records(tid, {LEASE_ATTR: lease})

    leased = kind in ("journal", "redis")
    assert (beats is None) == leased
    renew(1.0)  # running: renewed
    reaper = optuna.load_study(study_name=name, storage=open_storage(classify(url)))
    reaper.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        renew(2.0)
    seen = trials_of(url, name)[0]
    assert seen.state.name == "FAIL"
    assert seen.user_attrs.get(LEASE_ATTR) == (1.0 if leased else None)


@pytest.mark.parametrize("kind", ["journal", "postgresql", "redis"])
def test_a_hung_agent_on_the_same_host_is_reclaimed_after_lease_grace(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    """An agent on this host that renews nothing (stopped, deadlocked, stuck on a disk) is
    alive by its pid but hung by its lease or heartbeat: another agent on the same host reaps
    its trial after ``lease_grace``, stops the trial's program and runs its parameters again;
    the hung agent, resumed, has its late result refused."""
    if kind == "journal":
        url = str(tmp_path / "shared" / "journal.log")
    else:
        url = request.getfixturevalue(FIXTURES[kind])
    name = unique(f"hung-{kind}")
    cleanup(url, name)
    cap = 3
    sweep = write_sweep(
        tmp_path,
        name,
        f"method: random\nmetric: {{name: loss}}\nrun_cap: {cap}\n"
        "trial: {heartbeat: 1s, lease_grace: 3s, kill_grace: 1s}\n"
        "parameters:\n  x: {min: 0.0, max: 2.0}\n  epochs: {value: 100}\n"
        "  sleep: {value: 0.1}\n",
    )
    argv = ["--storage", url]
    hung = spawn(procs, "start", str(sweep), *argv, cwd=tmp_path)
    trial = wait_until(
        lambda: reporting(url, name, hung.pid), timeout=60, what="the hung agent's trial running"
    )
    freeze(hung, kind, url)
    try:
        other = spawn(procs, "agent", name, *argv, "--jobs", "2", cwd=tmp_path)
        lost = wait_until(
            lambda: reaped(url, name, trial.number), timeout=60, what="its trial reaped"
        )
        pid = int(lost.user_attrs["sweeprun.pid"])
        # on the same host the reaper stops the program (10 s long) as well
        wait_until(lambda: not alive(pid), timeout=30, what="its program stopped by the reaper")
        finish(other, timeout=180).assert_code(0)  # the budget done while the agent hangs
    finally:
        hung.send_signal(signal.SIGCONT)
    late = finish(hung, timeout=180)
    late.assert_code(0)
    notes = [line for line in late.stdout.splitlines() if NOTE in line]
    assert len(notes) == 1 and f"trial {trial.number}:" in notes[0], late.describe()
    trials = trials_of(url, name)
    gone = {t.number: t for t in trials}[trial.number]
    assert gone.state.name == "FAIL" and gone.user_attrs.get("sweeprun.reason") == "orphaned"
    reruns = [t for t in trials if t.user_attrs.get("sweeprun.retry_of") == trial.number]
    assert [t.state.name for t in reruns] == ["COMPLETE"], [t.user_attrs for t in trials]
    s = states(trials)
    assert counted(trials) == cap and s["RUNNING"] == 0 and s["WAITING"] == 0, s
