"""``sweeprun stop`` with agents running (graceful and ``--now``, then resume) and
``sweeprun serve`` (URL printed, loopback by default, warning otherwise, Ctrl-C, missing grpcio,
storages it refuses)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.agents import start_serve, stop_serve, write_sweep
from tests.helpers.cli import finish, run_cli, spawn
from tests.helpers.processes import free_port
from tests.helpers.studies import counted, study_exists, trials_of, unique
from tests.helpers.wait import wait_until

STOPPED = "stopped by `sweeprun stop --now`"


def slow_sweep(tmp: Path, name: str, cap: int) -> Path:
    return write_sweep(
        tmp,
        name,
        f"method: random\nmetric: {{name: loss}}\nrun_cap: {cap}\n"
        "trial: {kill_grace: 1s}\nparameters:\n  x: {min: 0.0, max: 2.0}\n"
        "  epochs: {value: 25}\n  sleep: {value: 0.1}\n",
    )


def two_agents(
    procs: list[subprocess.Popen[str]], sweep: Path, url: str, name: str, cwd: Path
) -> list[subprocess.Popen[str]]:
    """``start`` + one ``agent``, returned once both are running a trial."""
    first = spawn(procs, "start", str(sweep), "--storage", url, cwd=cwd)
    wait_until(lambda: study_exists(url, name), what="sweep created")
    second = spawn(procs, "agent", name, "--storage", url, cwd=cwd)

    def both_running() -> bool:
        owners = {
            (t.user_attrs.get("sweeprun.owner") or {}).get("pid")
            for t in trials_of(url, name)
            if t.state.name == "RUNNING"
        }
        return {first.pid, second.pid} <= owners

    wait_until(both_running, what="both agents running a trial")
    return [first, second]


@pytest.mark.parametrize("kind", ["journal", "postgres"])
def test_stop_lets_running_trials_finish_and_every_agent_exits_0(
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
    name = unique(f"stop-{kind}")
    cleanup(url, name)
    sweep = slow_sweep(tmp_path, name, cap=30)
    agents = two_agents(procs, sweep, url, name, tmp_path)
    res = run_cli("stop", name, "--storage", url, cwd=tmp_path)
    res.assert_code(0)
    assert f"asked every agent of sweep '{name}'" in res.stdout
    assert "no new trial starts" in res.stdout and "running trial(s) on 2 agent(s)" in res.stdout
    for p in agents:
        out = finish(p, timeout=120)
        out.assert_code(0)
        assert "stopped by `sweeprun stop`" in out.stdout
    trials = trials_of(url, name)
    assert {t.state.name for t in trials} == {"COMPLETE"}  # running trials finished, counted
    assert 2 <= len(trials) < 30


@pytest.mark.slow
def test_stop_now_stops_trials_uncounted_and_start_resumes_the_budget(
    tmp_path: Path,
    postgres_url: str,
    cleanup: Callable[[str, str], None],
    procs: list[subprocess.Popen[str]],
) -> None:
    url = postgres_url
    name = unique("stopnow")
    cleanup(url, name)
    sweep = slow_sweep(tmp_path, name, cap=6)
    agents = two_agents(procs, sweep, url, name, tmp_path)
    wait_until(
        lambda: any(t.state.name == "COMPLETE" for t in trials_of(url, name)),
        what="a trial done",
    )
    res = run_cli("stop", name, "--storage", url, "--now", cwd=tmp_path)
    res.assert_code(0)
    assert "are stopped now (SIGTERM, then SIGKILL after trial.kill_grace = 1s)" in res.stdout
    for p in agents:
        finish(p, timeout=60).assert_code(0)
    trials = trials_of(url, name)
    stopped = [t for t in trials if t.state.name == "FAIL"]
    assert stopped, [t.state.name for t in trials]
    for t in stopped:
        assert t.user_attrs["sweeprun.reason"] == STOPPED
        assert t.user_attrs["sweeprun.counted"] is False
        assert len(t.intermediate_values) < 25  # stopped early, not run to the end
    assert not any(t.state.name == "RUNNING" for t in trials)
    # a later start clears the request and completes exactly the budget
    again = run_cli("start", str(sweep), "--storage", url, "--jobs", "2", cwd=tmp_path, timeout=180)
    again.assert_code(0)
    assert "had been stopped with `sweeprun stop`; resuming it" in again.stdout
    trials = trials_of(url, name)
    assert counted(trials) == 6
    assert not any(t.state.name in ("RUNNING", "WAITING") for t in trials)
    rerun = {t.user_attrs.get("sweeprun.retry_of") for t in trials} - {None}
    assert {t.number for t in stopped} <= rerun


def test_stop_of_an_unknown_sweep_is_a_usage_error(tmp_path: Path, postgres_url: str) -> None:
    res = run_cli("stop", unique("nosuch"), "--storage", postgres_url, cwd=tmp_path)
    res.assert_code(2)
    assert "no sweep named" in res.stderr


# ---- serve --------------------------------------------------------------------------------
def test_serve_prints_the_url_and_ctrl_c_exits_130(
    tmp_path: Path, postgres_url: str, procs: list[subprocess.Popen[str]]
) -> None:
    serve, url = start_serve(procs, postgres_url, tmp_path)
    status = run_cli("status", "--storage", url, cwd=tmp_path)
    status.assert_code(0)
    res = stop_serve(serve)
    res.assert_code(130)
    assert "warning" not in res.stderr  # loopback: nothing to warn about
    assert "interrupted" in res.stderr


def test_serve_on_all_interfaces_warns_and_sigterm_exits_0(
    tmp_path: Path, postgres_url: str, procs: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    p = spawn(
        procs, "serve", "--storage", postgres_url, "--host", "0.0.0.0", "--port", str(port),
        cwd=tmp_path,
    )  # fmt: skip
    assert p.stdout is not None
    wait_until(lambda: "agents:" in p.stdout.readline(), what="serve ready")  # type: ignore[union-attr]
    p.send_signal(signal.SIGTERM)
    res = finish(p, timeout=30)
    res.assert_code(0)
    assert "warning: sweeprun serve listens on 0.0.0.0" in res.stderr
    assert "no login or encryption" in res.stderr


def test_serve_refuses_a_journal_and_a_busy_port(tmp_path: Path, postgres_url: str) -> None:
    res = run_cli("serve", "--storage", str(tmp_path / "j.log"), cwd=tmp_path)
    res.assert_code(2)
    assert "supports RDB storages only" in res.stderr and "postgresql://" in res.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = run_cli("serve", "--storage", postgres_url, "--port", str(port), cwd=tmp_path)
    res.assert_code(2)
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr and "--port" in res.stderr


def test_serve_without_grpcio_says_how_to_install_it(tmp_path: Path) -> None:
    fake = tmp_path / "nogrpc" / "grpc"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ImportError(\"No module named 'grpc'\", name='grpc')\n"
    )
    res = run_cli(
        "serve", "--storage", "postgresql://x@127.0.0.1:1/db", cwd=tmp_path,
        env={"PYTHONPATH": str(fake.parent)},
    )  # fmt: skip
    res.assert_code(2)
    assert "needs grpcio" in res.stderr and "pip install 'sweeprun[grpc]'" in res.stderr


def test_agent_on_a_proxy_that_is_not_running_fails_fast(tmp_path: Path) -> None:
    res = run_cli("agent", "x", "--storage", f"grpc://127.0.0.1:{free_port()}", cwd=tmp_path)
    res.assert_code(2)
    assert "cannot reach the storage proxy at grpc://127.0.0.1:" in res.stderr
    assert "sweeprun serve" in res.stderr
