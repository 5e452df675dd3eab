"""Shared fixtures: the installed ``sweeprun`` command, a private ``.sweeprun`` dir, services."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROGRAMS = HERE / "programs"  # small child programs, some misbehaving on purpose
SWEEPRUN = str(Path(sys.executable).parent / "sweeprun")
REQUIRE_SERVICES = os.environ.get("SWEEPRUN_REQUIRE_SERVICES") == "1"


@pytest.fixture(autouse=True)
def _private_sweeprun_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's real .sweeprun/: the default location is a temp dir."""
    home = tmp_path / "dot-sweeprun"
    monkeypatch.setenv("SWEEPRUN_DIR", str(home))
    monkeypatch.delenv("SWEEPRUN_STORAGE", raising=False)
    return home


@dataclass
class Result:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    def assert_success(self) -> Result:
        assert self.returncode == 0, self.describe()
        return self

    def assert_code(self, code: int) -> Result:
        assert self.returncode == code, self.describe()
        assert "Traceback" not in self.stderr, self.describe()
        return self

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.args)}\nexit {self.returncode}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def run_cli(
    *args: str,
    cwd: Path | str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> Result:
    """Run the installed ``sweeprun`` command as a user would."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    argv = [SWEEPRUN, *args]
    proc = subprocess.run(
        argv,
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        check=False,
    )
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


def assert_fast_path_skips_typer(fast: list[str], typo: list[str], cwd: Path) -> str:
    """``sweeprun.cli.main.main(fast)`` exits 0 without importing typer, then ``main(typo)`` falls
    back to typer and exits 2; returns the child's stderr (typer's message)."""
    script = (
        "import sys\nimport sweeprun.cli.main\n"
        f"try:\n    sweeprun.cli.main.main({fast!r})\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "assert 'typer' not in sys.modules, 'typer imported'\n"
        f"try:\n    sweeprun.cli.main.main({typo!r})\n"
        "except SystemExit as e:\n    assert e.code == 2, e.code\n"
        "assert 'typer' in sys.modules\nprint('clean')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("clean")
    return proc.stderr


def hiding_env(tmp_path: Path, package: str) -> dict[str, str]:
    """An environment in which ``package`` cannot be imported, as if its extra were not
    installed (a ``sitecustomize`` on ``PYTHONPATH`` that refuses it)."""
    hide = tmp_path / f"hide-{package}"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\nclass _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.split('.')[0] == {package!r}:\n"
        "            raise ImportError('hidden', name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n"
    )
    return {"PYTHONPATH": str(hide) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture
def cli() -> object:
    return run_cli


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _service(name: str, port: int) -> None:
    if not _port_open("127.0.0.1", port):
        msg = f"{name} is not reachable on 127.0.0.1:{port}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{msg} (SWEEPRUN_REQUIRE_SERVICES=1 makes this a failure)")
        pytest.skip(msg)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    _service("PostgreSQL", 5432)
    yield "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
def mysql_url() -> Iterator[str]:
    _service("MariaDB", 3306)
    yield "mysql://root@127.0.0.1:3306/test"


@pytest.fixture
def redis_url() -> Iterator[str]:
    _service("Redis", 6379)
    yield "redis://127.0.0.1:6379/0"


TIERS = ("unit", "cli", "distributed")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its tier, the directory it lives in (``-m unit``)."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(HERE).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
