"""Failing a trial that must run again (orphaned: its agent died; interrupted: its agent was
stopped) and queueing its copy are two writes. A process killed between them must not lose the
parameters: on a grid, every point still runs exactly once.

The kill lands between the two writes because the test holds a lock that only the queueing
write needs: ``LOCK TABLE trial_system_attributes IN SHARE MODE`` blocks the insert of the
copy's fixed parameters, while failing the trial (its attributes and state) goes through. The
test waits until the writer is blocked on that lock, kills it with -9, releases the lock, and
runs ``sweeprun start`` once more. On PostgreSQL, in a database of its own (the lock would stall
every other test on the shared one).
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.helpers.cli import run_cli, spawn
from tests.helpers.paths import PROGRAMS
from tests.helpers.processes import kill_sweep_processes
from tests.helpers.services import POSTGRES_URL, require_service
from tests.helpers.studies import study_exists, trials_of, unique
from tests.helpers.wait import wait_until

XS = (1, 2, 3)


@pytest.fixture
def own_db() -> Iterator[str]:
    """A fresh database on this machine's PostgreSQL, dropped afterwards."""
    require_service("PostgreSQL", 5432)
    db = f"reap_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + db
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")


def _sweep(tmp: Path, name: str) -> Path:
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: {name}\nprogram: {PROGRAMS / 'run_trial.py'}\nmethod: grid\n"
        "metric: {name: loss}\n"
        "trial: {lease_grace: 60s, heartbeat: 1s, kill_grace: 0.5s}\n"
        f"parameters:\n  x: {{values: {list(XS)}}}\n  epochs: {{value: 300}}\n"
        "  sleep: {value: 0.01}\n"
    )
    return path


def _running(url: str, name: str) -> int | None:
    """The number of a RUNNING trial whose program's pid is recorded."""
    if not study_exists(url, name):
        return None
    for t in trials_of(url, name):
        if t.state.name == "RUNNING" and "sweeprun.pid" in t.user_attrs:
            return t.number
    return None


def _blocked_on_system_attrs(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    """Some session waits for a lock on trial_system_attributes (the copy's insert)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted"
        " AND relation = 'trial_system_attributes'::regclass"
    ).fetchone()
    return bool(row and row[0])


@pytest.mark.parametrize("how", ["orphaned", "interrupted"])
def test_a_kill_between_failing_a_trial_and_queueing_its_copy_loses_no_grid_point(
    tmp_path: Path, own_db: str, procs: list[subprocess.Popen[str]], how: str
) -> None:
    url = own_db
    name = unique("reap-requeue")
    sweep = _sweep(tmp_path, name)
    first = spawn(procs, "start", str(sweep), "--storage", url, "--jobs", "1", cwd=tmp_path)
    try:
        number = wait_until(lambda: _running(url, name), 60, "a trial running")
        with psycopg.connect(url) as lock:
            lock.execute("LOCK TABLE trial_system_attributes IN SHARE MODE")
            if how == "orphaned":
                # its agent dies; the next start reaps the trial and is killed while doing so
                first.send_signal(signal.SIGKILL)
                first.wait()
                writer = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path)
            else:
                # its agent is stopped: the trial ends interrupted, to run again
                first.send_signal(signal.SIGTERM)
                writer = first
            with psycopg.connect(url, autocommit=True) as watch:
                wait_until(lambda: _blocked_on_system_attrs(watch), 60, "the writer blocked")
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            lock.rollback()
        res = run_cli("start", str(sweep), "--storage", url, cwd=tmp_path, timeout=300)
        res.assert_code(0)
        trials = trials_of(url, name)
        done = Counter(
            t.user_attrs["sweeprun.params"]["x"] for t in trials if t.state.name == "COMPLETE"
        )
        assert done == Counter(XS), (
            number,
            [(t.number, t.state.name, t.user_attrs) for t in trials],
        )
    finally:
        kill_sweep_processes(name)
