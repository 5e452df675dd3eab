"""Many agents on one sweep: ``sweeprun start`` + ``sweeprun agent`` as separate processes on
PostgreSQL, MySQL, Redis, a journal file and ``sweeprun serve``; no grid point runs twice.

The agents' helpers are in tests/helpers/agents.py, shared with ``test_agents_faults.py`` and
``test_serve_stop.py``.
"""

from __future__ import annotations

import socket
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.agents import (
    check_complete,
    run_agents,
    start_serve,
    stop_serve,
    write_sweep,
)
from tests.helpers.cli import finish, run_cli, spawn
from tests.helpers.studies import counted, trials_of, unique

BODY = """method: random
metric: {name: loss}
run_cap: 6
parameters:
  x: {min: 0.0, max: 2.0}
  epochs: {value: 3}
  sleep: {value: 0.4}
"""


# ---- every storage ----------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["postgres", "mysql", "redis", "journal", "grpc"])
def test_agents_share_a_sweep_on_every_storage(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    serve = None
    if kind == "journal":
        url = str(tmp_path / "shared" / "journal.log")
    elif kind == "grpc":
        backend = request.getfixturevalue("postgres_url")
        serve, url = start_serve(procs, backend, tmp_path)
    else:
        url = request.getfixturevalue(f"{kind}_url")
    name = unique(f"agents-{kind}")
    cleanup(url if kind != "grpc" else backend, name)
    sweep = write_sweep(tmp_path, name, BODY)
    results = run_agents(procs, sweep, url, name, tmp_path, agents=3)
    for res in results:
        res.assert_code(0)
    assert "joined sweep" in results[1].stdout
    trials = check_complete(url, name, 6)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    owners = {t.user_attrs["sweeprun.owner"]["pid"] for t in done}
    assert len(owners) >= 2, "the sweep was shared by several agents"
    for t in done:  # every agent recorded where it ran
        assert t.user_attrs["sweeprun.host"] == socket.gethostname()
    for t in trials:
        if t.state.name != "COMPLETE":  # a benign race near the cap: asked, never run
            assert t.user_attrs["sweeprun.reason"] == "trial budget reached", t.user_attrs
    if serve is not None:
        res = stop_serve(serve)
        res.assert_code(130)


def test_sqlite_refuses_a_second_agent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'one.db'}"
    sweep = write_sweep(tmp_path, "lite", BODY.replace("run_cap: 6", "run_cap: 1"))
    run_cli("start", str(sweep), "--storage", url, cwd=tmp_path).assert_code(0)
    res = run_cli("agent", "lite", "--storage", url, cwd=tmp_path)
    res.assert_code(2)
    assert "SQLite serves one process only" in res.stderr
    assert "journal file" in res.stderr and "postgresql://" in res.stderr
    assert len(trials_of(url, "lite")) == 1  # nothing was launched


# ---- grid points run once ---------------------------------------------------------------
GRID = """method: grid
metric: {name: loss}
parameters:
  x: {values: [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]}
  epochs: {values: [1, 2]}
"""


@pytest.mark.parametrize("kind", ["postgres", "journal"])
def test_eight_starts_at_once_run_every_grid_point_once(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    url = (
        str(tmp_path / "shared" / "journal.log")
        if kind == "journal"
        else request.getfixturevalue("postgres_url")
    )
    name = unique(f"grid-{kind}")
    cleanup(url, name)
    sweep = write_sweep(tmp_path, name, GRID)
    starters = [spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path) for _ in range(8)]
    results = [finish(p, timeout=180) for p in starters]
    for res in results:
        res.assert_code(0)
    trials = trials_of(url, name)
    per_point = Counter(
        t.user_attrs["sweeprun.grid_index"] for t in trials if t.state.name == "COMPLETE"
    )
    assert per_point == dict.fromkeys(range(16), 1), per_point
    others = [t for t in trials if t.state.name != "COMPLETE"]
    for t in others:  # a benign race: asked after the last point was taken; never counted
        assert t.state.name == "FAIL", t
        assert t.user_attrs.get("sweeprun.reason") == "no grid point left", t.user_attrs
        assert t.user_attrs.get("sweeprun.counted") is False
    assert counted(trials) == 16
