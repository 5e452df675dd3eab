"""Agents share a grid larger than the queue kept ahead of them (sweeprun/space/grid_queue.py):
every point runs exactly once, on a journal file and on PostgreSQL, also when the agent that
took a chunk's first point (the one that queues a further chunk) is killed with kill -9."""

from __future__ import annotations

import re
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest

from tests.helpers.cli import finish, spawn
from tests.helpers.studies import counted, study_exists, trials_of, unique
from tests.helpers.wait import wait_until

POINTS = 150  # the queue holds 64 points ahead (two chunks of 32): two chunks are added
# the program: its grid point is --a; with $HANG_DIR set, the first run of a point that opens
# a chunk (a multiple of 32) hangs, after leaving a file saying so
PROGRAM = """import json, os, sys, time
a = int(sys.argv[1].split("=")[1])
hang = os.environ.get("HANG_DIR")
if hang and a and a % 32 == 0:
    mark = os.path.join(hang, str(a))
    if not os.path.exists(mark):
        open(mark, "w").close()
        time.sleep(600)
print(json.dumps({"loss": a}))
"""
SWEEP = """name: {name}
program: {program}
method: grid
metric: {{name: loss}}
parameters:
  a: {{min: 0, max: {top}}}
"""


def grid_sweep(tmp: Path, name: str) -> Path:
    program = tmp / "point.py"
    program.write_text(PROGRAM)
    path = tmp / f"{name}.yaml"
    path.write_text(SWEEP.format(name=name, program=program, top=POINTS - 1))
    return path


def check_every_point_once(trials: list[optuna.trial.FrozenTrial]) -> None:
    per_point = Counter(
        t.user_attrs["sweeprun.grid_index"] for t in trials if t.state.name == "COMPLETE"
    )
    assert per_point == dict.fromkeys(range(POINTS), 1), per_point
    for t in trials:
        if t.state.name == "COMPLETE":
            assert t.params == {"a": t.user_attrs["sweeprun.grid_index"]}
        else:  # asked after the last point was taken, or orphaned and re-run: never counted
            assert t.state.name == "FAIL", t
            assert t.user_attrs.get("sweeprun.counted") is False, t.user_attrs
            reason = t.user_attrs.get("sweeprun.reason")
            assert reason in ("no grid point left", "orphaned"), t.user_attrs
    assert counted(trials) == POINTS


def url_of(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    if kind == "journal":
        return str(tmp / "shared" / "journal.log")
    return str(request.getfixturevalue("postgres_url"))


@pytest.mark.parametrize("kind", ["journal", "postgres"])
def test_two_agents_run_every_point_of_a_grid_larger_than_its_queue_once(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    url = url_of(kind, tmp_path, request)
    name = unique(f"grid2-{kind}")
    cleanup(url, name)
    sweep = grid_sweep(tmp_path, name)
    first = spawn(procs, "start", str(sweep), "--storage", url, "--jobs", "2", cwd=tmp_path)
    wait_until(lambda: study_exists(url, name) or first.poll() is not None, what="sweep created")
    second = spawn(procs, "agent", name, "--storage", url, "--jobs", "2", cwd=tmp_path)
    for p in (first, second):
        res = finish(p, timeout=240)
        res.assert_code(0)
        assert "grid exhausted" in res.stdout + res.stderr, res.describe()
    trials = trials_of(url, name)
    check_every_point_once(trials)
    owners = Counter(
        t.user_attrs["sweeprun.owner"]["pid"] for t in trials if t.state.name == "COMPLETE"
    )
    assert set(owners) == {first.pid, second.pid}, owners  # both agents took points


@pytest.mark.parametrize("kind", ["journal", "postgres"])
def test_kill_9_of_the_agent_holding_a_chunks_first_point_loses_and_repeats_nothing(
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    url = url_of(kind, tmp_path, request)
    name = unique(f"grid-kill-{kind}")
    cleanup(url, name)
    sweep = grid_sweep(tmp_path, name)
    hang = tmp_path / "hang"
    hang.mkdir()
    env = {"HANG_DIR": str(hang)}
    # the victim starts the sweep alone: it takes point 32, the first of the second chunk
    victim = spawn(
        procs, "start", str(sweep), "--storage", url, "--jobs", "2", cwd=tmp_path, env=env
    )
    opened = wait_until(lambda: list(hang.iterdir()), timeout=120, what="victim on point 32")
    survivor = spawn(procs, "agent", name, "--storage", url, "--jobs", "2", cwd=tmp_path)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    res = finish(survivor, timeout=240)
    res.assert_code(0)
    assert re.search(r"recovered \d+ orphaned trial", res.stdout), res.describe()
    trials = trials_of(url, name)
    check_every_point_once(trials)
    assert [p.name for p in opened] == ["32"]
    lost = [
        t
        for t in trials
        if t.user_attrs.get("sweeprun.grid_index") == 32 and t.state.name == "FAIL"
    ]
    assert [t.user_attrs.get("sweeprun.reason") for t in lost] == ["orphaned"]
