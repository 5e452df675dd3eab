"""Many agents on one sweep: ``sweeprun start`` + ``sweeprun agent`` as separate processes on
PostgreSQL, MySQL, Redis, a journal file and ``sweeprun serve``; no grid point runs twice.

The helpers here are shared by ``test_agents_faults.py`` and ``test_serve_stop.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest

from tests.conftest import PROGRAMS, SWEEPRUN, Result, run_cli

RUN_TRIAL = PROGRAMS / "run_trial.py"
optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---- helpers ------------------------------------------------------------------------------
def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def write_sweep(tmp: Path, name: str, body: str) -> Path:
    path = tmp / f"{name}.yaml"
    path.write_text(f"name: {name}\nprogram: {RUN_TRIAL}\n" + body)
    return path


def storage_of(url: str) -> optuna.storages.BaseStorage:
    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import classify

    return open_storage(classify(url), retry=False)


def trials_of(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    study = optuna.load_study(study_name=name, storage=storage_of(url))
    return study.get_trials(deepcopy=False)


def study_exists(url: str, name: str) -> bool:
    try:
        st = storage_of(url)
        sid = st.get_study_id_from_name(name)
        return "sweeprun.config" in st.get_study_user_attrs(sid)
    except Exception:
        return False


def delete_study(url: str, name: str) -> None:
    with contextlib.suppress(KeyError):
        optuna.delete_study(study_name=name, storage=storage_of(url))


@pytest.fixture(name="cleanup")
def cleanup_fixture() -> Iterator[Callable[[str, str], None]]:
    """Register (storage URL, sweep name) pairs; their studies are deleted afterwards."""
    made: list[tuple[str, str]] = []
    yield lambda url, name: made.append((url, name))
    for url, name in made:
        with contextlib.suppress(Exception):
            delete_study(url, name)


@pytest.fixture(name="procs")
def procs_fixture() -> Iterator[list[subprocess.Popen[str]]]:
    """Background processes of a test; any still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.communicate()


def spawn(
    procs: list[subprocess.Popen[str]],
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    prefix: list[str] | None = None,
) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [*(prefix or []), SWEEPRUN, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.append(p)
    return p


def finish(p: subprocess.Popen[str], timeout: float = 120) -> Result:
    argv = [str(a) for a in p.args]  # type: ignore[union-attr]
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        res = Result(argv, -9, out, err)
        raise AssertionError(f"still running after {timeout}s:\n{res.describe()}") from None
    return Result(argv, p.returncode, out, err)


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout}s")


def counted(trials: list[optuna.trial.FrozenTrial]) -> int:
    from sweeprun.run.budget import is_counted

    return sum(is_counted(t) for t in trials)


def states(trials: list[optuna.trial.FrozenTrial]) -> Counter[str]:
    return Counter(t.state.name for t in trials)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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
    wait_for(lambda: study_exists(url, name) or first.poll() is not None, what="sweep created")
    others = [
        spawn(procs, "agent", name, "--storage", url, cwd=cwd, env=env) for _ in range(agents - 1)
    ]
    return [finish(p, timeout=180) for p in [first, *others]]


BODY = """method: random
metric: {name: loss}
run_cap: 6
parameters:
  x: {min: 0.0, max: 2.0}
  epochs: {value: 3}
  sleep: {value: 0.4}
"""


def check_complete(url: str, name: str, cap: int) -> list[optuna.trial.FrozenTrial]:
    trials = trials_of(url, name)
    s = states(trials)
    assert s["COMPLETE"] == cap and counted(trials) == cap, s
    assert s["RUNNING"] == 0 and s["WAITING"] == 0, s
    return trials


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
