"""Helpers that escape a trial's process group (a new session, ``setsid``, a double-forked
daemon, one of them ignoring SIGTERM) are gone after every way a trial ends: it completes, it
times out, it is pruned, the controller gets Ctrl-C twice, or the controller is killed with -9
and the next ``start`` recovers the trial. Found by the trial's launch marker, through the
installed ``sweeprun start``."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import read_until, run_cli, spawn
from tests.helpers.paths import PROGRAMS
from tests.helpers.processes import kill_sweep_processes, sweep_processes
from tests.helpers.studies import states, trials_of, unique
from tests.helpers.wait import wait_until

DAEMONIZE = PROGRAMS / "daemonize.py"
HELPERS = 3  # each trial starts three helpers that leave its process group


@pytest.fixture
def name() -> Iterator[str]:
    """A fresh sweep name; whatever of it still runs at the end is killed (and fails the test
    through its own assertion, not by leaking)."""
    sweep = unique("escape")
    yield sweep
    kill_sweep_processes(sweep)


def _sweep(
    tmp: Path, name: str, extra: str = "", *, loss: float = 1.0, epochs: int = 3,
    trial: str = "{kill_grace: 0.5s}",
) -> Path:  # fmt: skip
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: {name}\nprogram: {DAEMONIZE}\nmethod: random\nmetric: {{name: loss}}\n"
        f"run_cap: 1\ntrial: {trial}\n{extra}parameters:\n"
        f"  loss: {{value: {loss}}}\n  epochs: {{value: {epochs}}}\n  sleep: {{value: 0.1}}\n"
    )
    return path


def _helpers_running(name: str) -> list[int] | None:
    """The sweep's processes once the trial and all its helpers run."""
    found = sweep_processes(name)
    return found if len(found) >= 1 + HELPERS else None


def _helpers_line(log: Path) -> str | None:
    """``helpers <pid> <pid> <pid>``, once the trial has printed it."""
    text = log.read_text() if log.exists() else ""
    return next((ln for ln in text.splitlines() if ln.startswith("helpers ")), None)


def _start(tmp: Path, sweep: Path, url: str) -> None:
    res = run_cli("start", str(sweep), "--storage", url, cwd=tmp, timeout=120)
    assert res.returncode in (0, 1), res.describe()  # 1: the sweep failed its policy


@pytest.mark.parametrize(
    ("case", "extra", "loss", "epochs", "state"),
    [
        ("complete", "", 1.0, 3, "COMPLETE"),
        ("timeout", "", 1.0, 10_000, "FAIL"),
        ("pruned", "early_terminate: {type: threshold, upper: 2.0}\n", 5.0, 10_000, "PRUNED"),
    ],
)
def test_helpers_are_gone_when_the_trial_ends(
    tmp_path: Path, name: str, case: str, extra: str, loss: float, epochs: int, state: str
) -> None:
    trial = "{kill_grace: 0.5s, timeout: 2s}" if case == "timeout" else "{kill_grace: 0.5s}"
    sweep = _sweep(tmp_path, name, extra, loss=loss, epochs=epochs, trial=trial)
    url = str(tmp_path / "journal.log")
    _start(tmp_path, sweep, url)
    trials = trials_of(url, name)
    assert states(trials) == {state: 1}, [t.user_attrs for t in trials]
    log = (Path(trials[0].user_attrs["sweeprun.log_dir"]) / "stdout.log").read_text()
    assert log.startswith("helpers "), log  # the helpers did start
    assert sweep_processes(name) == []


def test_helpers_are_gone_after_two_ctrl_c(
    tmp_path: Path, name: str, procs: list[subprocess.Popen[str]]
) -> None:
    sweep = _sweep(tmp_path, name, epochs=10_000)
    url = str(tmp_path / "journal.log")
    agent = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path)
    wait_until(lambda: _helpers_running(name), 60, "the trial and its helpers run")
    agent.send_signal(signal.SIGINT)
    # the second Ctrl-C once the first is handled (two signals at once are delivered as one)
    read_until(agent, "(Ctrl-C again to stop them)")
    agent.send_signal(signal.SIGINT)
    _out, err = agent.communicate(timeout=60)
    assert agent.returncode == 130, err
    assert sweep_processes(name) == []


def test_helpers_are_gone_after_kill_9_and_a_resume(
    tmp_path: Path, name: str, procs: list[subprocess.Popen[str]]
) -> None:
    sweep = _sweep(tmp_path, name, epochs=10_000)
    url = str(tmp_path / "journal.log")
    agent = spawn(procs, "start", str(sweep), "--storage", url, cwd=tmp_path)
    wait_until(lambda: _helpers_running(name), 60, "the trial and its helpers run")

    def launched() -> bool:
        return any("sweeprun.launch" in t.user_attrs for t in trials_of(url, name))

    wait_until(launched, 60, "the trial's launch record")
    agent.kill()
    agent.communicate(timeout=30)
    # the controller is gone; every helper still runs (the trial itself may have died of the
    # broken stdout pipe at its next epoch's print: that is the program's own behaviour)
    (trial,) = trials_of(url, name)
    log = Path(trial.user_attrs["sweeprun.log_dir"]) / "stdout.log"
    line = wait_until(lambda: _helpers_line(log), 30, "the trial's helpers line")
    helpers = {int(pid) for pid in line.split()[1:]}  # what the program started and printed
    assert len(helpers) == HELPERS and helpers <= set(sweep_processes(name))
    # the resume recovers the orphaned trial (stopping what is left of it) and re-runs it
    (tmp_path / "release").touch()  # the re-run ends after its first epoch
    _start(tmp_path, sweep, url)
    assert sweep_processes(name) == []
    reasons = [t.user_attrs.get("sweeprun.reason") for t in trials_of(url, name)]
    assert "orphaned" in reasons
