"""Several agents on one sweep: sweep files for ``tests/programs/run_trial.py``, ``sweeprun
start`` plus ``sweeprun agent`` processes, ``sweeprun serve`` in front of a storage."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import optuna

from tests.helpers.cli import Result, finish, spawn
from tests.helpers.paths import PROGRAMS
from tests.helpers.processes import free_port
from tests.helpers.studies import counted, states, study_exists, trials_of
from tests.helpers.wait import wait_until

RUN_TRIAL = PROGRAMS / "run_trial.py"


def write_sweep(tmp: Path, name: str, body: str) -> Path:
    """``tmp/NAME.yaml``: sweep ``name`` running run_trial.py, then ``body``."""
    path = tmp / f"{name}.yaml"
    path.write_text(f"name: {name}\nprogram: {RUN_TRIAL}\n" + body)
    return path


def start_serve(
    procs: list[subprocess.Popen[str]], backend: str, cwd: Path, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    """``sweeprun serve`` in front of ``backend``; (process, grpc URL it printed)."""
    port = free_port()
    p = spawn(procs, "serve", "--storage", backend, "--port", str(port), *extra, cwd=cwd)
    assert p.stdout is not None
    line = ""
    while "agents:" not in line:
        line = p.stdout.readline()
        assert line, f"serve exited: {p.wait()} {p.stderr.read() if p.stderr else ''}"
    url = line.split("--storage", 1)[1].strip()
    assert url == f"grpc://127.0.0.1:{port}"
    return p, url


def stop_serve(p: subprocess.Popen[str]) -> Result:
    p.send_signal(signal.SIGINT)
    return finish(p, timeout=30)


def run_agents(
    procs: list[subprocess.Popen[str]],
    sweep: Path,
    url: str,
    name: str,
    cwd: Path,
    agents: int,
    env: dict[str, str] | None = None,
) -> list[Result]:
    """``sweeprun start`` creates the sweep; ``agents - 1`` more join with ``sweeprun agent``."""
    first = spawn(procs, "start", str(sweep), "--storage", url, cwd=cwd, env=env)
    wait_until(lambda: study_exists(url, name) or first.poll() is not None, what="sweep created")
    others = [
        spawn(procs, "agent", name, "--storage", url, cwd=cwd, env=env) for _ in range(agents - 1)
    ]
    return [finish(p, timeout=180) for p in [first, *others]]


def check_complete(url: str, name: str, cap: int) -> list[optuna.trial.FrozenTrial]:
    """The sweep ran its whole budget: ``cap`` trials complete, none left running or waiting."""
    trials = trials_of(url, name)
    s = states(trials)
    assert s["COMPLETE"] == cap and counted(trials) == cap, s
    assert s["RUNNING"] == 0 and s["WAITING"] == 0, s
    return trials
