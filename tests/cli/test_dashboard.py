"""``sweeprun dashboard``: optuna-dashboard on the sweep storage, as a real server process."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import hiding_env, run_cli
from tests.helpers.paths import SWEEPRUN
from tests.helpers.sweeps import make_sweeps
from tests.helpers.wait import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    pytest.importorskip("optuna_dashboard", reason="optuna-dashboard ([dashboard]) missing")
    root = tmp_path_factory.mktemp("dash")
    path = str(root / "journal.log")
    make_sweeps(root, path)
    return path


@pytest.fixture
def server(
    storage: str, request: pytest.FixtureRequest
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    host = getattr(request, "param", "127.0.0.1")
    proc = subprocess.Popen(
        [SWEEPRUN, "dashboard", "--storage", storage, "--port", str(port), "--host", host],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def get_json(url: str, timeout: float = 30) -> object:
    """The JSON at ``url`` once the server answers."""

    def fetch() -> object:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return json.loads(resp.read())
        except OSError:
            return None

    return wait_until(fetch, timeout, f"an answer from {url}")


def test_dashboard_serves_the_sweeps(server: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = server
    data = get_json(f"http://127.0.0.1:{port}/api/studies")
    assert isinstance(data, dict)
    names = {s["study_name"] for s in data["study_summaries"]}
    assert {"rgrid", "rmulti"} <= names
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert f"at http://127.0.0.1:{port}/" in out
    assert "warning" not in err


@pytest.mark.parametrize("server", ["0.0.0.0"], indirect=True)
def test_dashboard_warns_off_loopback(server: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = server
    get_json(f"http://127.0.0.1:{port}/api/studies")
    proc.terminate()
    _, err = proc.communicate(timeout=10)
    assert "warning: the dashboard listens on 0.0.0.0, reachable from other machines" in err


def test_dashboard_port_in_use(storage: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        res = run_cli("dashboard", "--storage", storage, "--port", str(port)).assert_code(2)
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr


def test_dashboard_without_the_extra(tmp_path: Path) -> None:
    env = hiding_env(tmp_path, "optuna_dashboard")
    res = run_cli("dashboard", env=env).assert_code(2)
    assert "the dashboard needs optuna-dashboard" in res.stderr
    assert "pip install 'sweeprun[dashboard]'" in res.stderr
