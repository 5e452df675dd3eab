"""A controller killed with -9 at each step of a trial's launch leaves nothing behind: the next
``start`` stops whatever of the trial still runs and runs its parameters exactly once.

The steps, each held open by the test so the kill lands in it:

* ``asked``: the trial is asked for, its files are being written (a FIFO in place of its
  ``params.json`` blocks the write), nothing is recorded or started;
* ``recording``: the files are written and the launch record waits for the journal's lock,
  which the test holds (a busy shared journal or database);
* ``spawned``: the program runs, the pid is not recorded yet (it rides the trial's next write);
* ``recorded``: the program runs and its pid is in the storage.

Through the installed ``sweeprun start`` on the journal file.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli, spawn
from tests.helpers.paths import PROGRAMS
from tests.helpers.processes import (
    alive,
    kill_sweep_processes,
    signal_pending,
    sweep_processes,
)
from tests.helpers.studies import study_exists, trials_of, unique
from tests.helpers.wait import wait_until

PROGRAM = PROGRAMS / "launch_window.py"
XS = (1, 2, 3)


@pytest.fixture
def name() -> Iterator[str]:
    sweep = unique("launch-window")
    yield sweep
    kill_sweep_processes(sweep)


def _sweep(tmp: Path, name: str) -> Path:
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: {name}\nprogram: {PROGRAM}\n"
        'command: ["${interpreter}", "${program}", "${args_json_file}"]\n'
        "method: grid\nmetric: {name: loss}\n"
        "trial: {lease_grace: 2s, heartbeat: 0.2s, kill_grace: 0.5s}\n"
        f"parameters:\n  x: {{values: {list(XS)}}}\n"
    )
    return path


def _blocked_on_lock(pid: int) -> bool:
    """``pid`` waits for a POSIX record lock (a ``->`` line of /proc/locks)."""
    lines = Path("/proc/locks").read_text().splitlines()
    return any("->" in ln and ln.split()[5] == str(pid) for ln in lines)


def _first_trial(url: str, name: str) -> dict[str, object] | None:
    """Trial 0's attributes once it is RUNNING."""
    if not study_exists(url, name):
        return None
    trials = [t for t in trials_of(url, name) if t.number == 0 and t.state.name == "RUNNING"]
    return dict(trials[0].user_attrs) if trials else None


def _pids(out: Path) -> set[int]:
    return {int(p.name.split("-")[1]) for p in out.glob("pid-*")}


@pytest.mark.parametrize("step", ["asked", "recording", "spawned", "recorded"])
def test_a_kill_at_any_launch_step_leaves_no_child_and_runs_the_point_once(
    tmp_path: Path,
    name: str,
    procs: list[subprocess.Popen[str]],
    step: str,
) -> None:
    sweep = _sweep(tmp_path, name)
    url = str(tmp_path / "journal.log")
    out = tmp_path / "out"
    out.mkdir()
    hold = tmp_path / "hold"
    hold.touch()  # the first controller's programs wait while it exists
    env = {"LW_DIR": str(out), "LW_HOLD": str(hold)}
    trial_dir = Path(os.environ["SWEEPRUN_DIR"]) / name / "trial-00000"
    trial_dir.mkdir(parents=True)
    fifo = trial_dir / "params.json"
    if step in ("asked", "recording"):
        os.mkfifo(fifo)  # writing the trial's files blocks until the test opens it
    agent = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path, env=env)
    lock_fd = None
    if step == "asked":
        wait_until(lambda: _first_trial(url, name) is not None, 60, "trial 0 asked for")
    elif step == "recording":
        wait_until(lambda: _first_trial(url, name) is not None, 60, "trial 0 asked for")
        lock_fd = os.open(url + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(lock_fd, fcntl.LOCK_EX)  # the journal is busy from now on
        with open(fifo, encoding="utf-8") as fh:  # the trial's files are written
            assert json.loads(fh.read()) == {"x": 1}
        wait_until(lambda: _blocked_on_lock(agent.pid), 60, "the launch record waits")
    elif step == "spawned":
        wait_until(lambda: _pids(out), 60, "the program runs")
    else:
        wait_until(lambda: (_first_trial(url, name) or {}).get("sweeprun.pid"), 60, "the pid")
    agent.kill()
    agent.communicate(timeout=30)
    if lock_fd is not None:
        os.close(lock_fd)
    first = _pids(out)
    if step in ("spawned", "recorded"):
        assert first and all(alive(pid) for pid in first)  # left running by the kill
    # the resume (its programs do not wait) stops what is left and runs every point once
    res = run_cli("start", str(sweep), "--storage", url, cwd=tmp_path, env={"LW_DIR": str(out)})
    res.assert_success()
    assert sweep_processes(name) == [], res.describe()
    assert not any(alive(pid) for pid in first)
    trials = trials_of(url, name)
    done = sorted(
        t.user_attrs["sweeprun.params"]["x"] for t in trials if t.state.name == "COMPLETE"
    )
    assert done == list(XS), res.describe()
    assert sorted(int(x) for x in (out / "runs.log").read_text().split()) == list(XS)
    (first_trial,) = (t for t in trials if t.number == 0)
    assert first_trial.state.name == "FAIL"
    assert first_trial.user_attrs["sweeprun.reason"] == "orphaned"
    assert not any(t.state.name == "RUNNING" for t in trials)


@pytest.mark.parametrize("step", ["asked", "recording"])
@pytest.mark.parametrize("signals", ["SIGTERM", "SIGHUP", "SIGINT SIGINT"])
def test_a_stop_signal_during_a_launch_stops_that_trial(
    tmp_path: Path,
    name: str,
    procs: list[subprocess.Popen[str]],
    step: str,
    signals: str,
) -> None:
    """SIGTERM, SIGHUP or a second Ctrl-C that arrives while a trial is being launched (its
    files being written, or its launch record waiting for a busy journal) stops that trial as
    well: the agent exits within its kill grace instead of waiting for the program (which
    would run until the test ends), the trial is recorded interrupted, not counted, and runs
    again on resume."""
    sweep = _sweep(tmp_path, name)
    url = str(tmp_path / "journal.log")
    out = tmp_path / "out"
    out.mkdir()
    hold = tmp_path / "hold"
    hold.touch()  # the programs wait while it exists: only a stop ends them
    env = {"LW_DIR": str(out), "LW_HOLD": str(hold)}
    trial_dir = Path(os.environ["SWEEPRUN_DIR"]) / name / "trial-00000"
    trial_dir.mkdir(parents=True)
    fifo = trial_dir / "params.json"
    os.mkfifo(fifo)  # writing the trial's files blocks until the test opens it
    agent = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path, env=env)
    wait_until(lambda: _first_trial(url, name) is not None, 60, "trial 0 asked for")
    lock_fd = None
    if step == "recording":
        lock_fd = os.open(url + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(lock_fd, fcntl.LOCK_EX)  # the journal is busy from now on
        with open(fifo, encoding="utf-8") as fh:  # the trial's files are written
            assert json.loads(fh.read()) == {"x": 1}
        wait_until(lambda: _blocked_on_lock(agent.pid), 60, "the launch record waits")
    for sig in (signal.Signals[s] for s in signals.split()):
        agent.send_signal(sig)

        def taken(sig: signal.Signals = sig) -> bool:
            return not signal_pending(agent.pid, sig)

        # delivered before the next one is sent (two pending signals would arrive as one)
        wait_until(taken, 30, f"{sig.name} taken")
    if lock_fd is not None:
        os.close(lock_fd)  # the launch goes on
    else:
        with open(fifo, encoding="utf-8") as fh:
            assert json.loads(fh.read()) == {"x": 1}
    try:
        agent.communicate(timeout=60)  # the program waits for `hold`: only a stop ends it
    except subprocess.TimeoutExpired:
        pytest.fail("the agent waited for the trial being launched when the stop came")
    assert agent.returncode not in (0, None)
    first = _pids(out)
    assert first and not any(alive(pid) for pid in first)  # it had started, and was stopped
    assert not (out / "runs.log").exists()  # stopped before it could finish
    (trial0,) = (t for t in trials_of(url, name) if t.number == 0)
    assert trial0.state.name == "FAIL", trial0.user_attrs
    assert trial0.user_attrs["sweeprun.reason"] == "interrupted"
    assert trial0.user_attrs["sweeprun.counted"] is False
    hold.unlink()
    res = run_cli("start", str(sweep), "--storage", url, cwd=tmp_path, env={"LW_DIR": str(out)})
    res.assert_success()
    done = sorted(
        t.user_attrs["sweeprun.params"]["x"]
        for t in trials_of(url, name)
        if t.state.name == "COMPLETE"
    )
    assert done == list(XS), res.describe()
