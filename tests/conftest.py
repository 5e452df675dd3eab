"""Shared fixtures: a private ``.sweeprun`` dir, a user's environment, the database services,
background processes; each test marked with its tier. Helpers live in ``tests/helpers/``."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.paths import TESTS
from tests.helpers.services import MYSQL_URL, POSTGRES_URL, REDIS_URL, require_service

# set on this machine for every process, but not on a user's: tests and their children run
# without them, so buffering and start-up behave as users see them
MACHINE_ONLY_ENV = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")


@pytest.fixture(autouse=True)
def _users_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's environment has neither PYTHONUNBUFFERED nor PYTHONDONTWRITEBYTECODE, and the
    venv sweeprun and the trial programs' packages live in is active (its bin first on PATH:
    trials run the ``python`` found there, as ``wandb agent``'s do)."""
    for name in MACHINE_ONLY_ENV:
        monkeypatch.delenv(name, raising=False)
    venv_bin = str(Path(sys.executable).parent)
    monkeypatch.setenv("PATH", os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))


@pytest.fixture(autouse=True)
def _private_sweeprun_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the user's real .sweeprun/: the default location is a temp dir."""
    home = tmp_path / "dot-sweeprun"
    monkeypatch.setenv("SWEEPRUN_DIR", str(home))
    monkeypatch.delenv("SWEEPRUN_STORAGE", raising=False)
    return home


@pytest.fixture
def cli() -> object:
    return run_cli


@pytest.fixture
def postgres_url() -> Iterator[str]:
    require_service("PostgreSQL", 5432)
    yield POSTGRES_URL


@pytest.fixture
def mysql_url() -> Iterator[str]:
    require_service("MariaDB", 3306)
    yield MYSQL_URL


@pytest.fixture
def redis_url() -> Iterator[str]:
    require_service("Redis", 6379)
    yield REDIS_URL


@pytest.fixture
def cleanup() -> Iterator[Callable[[str, str], None]]:
    """Register (storage URL, sweep name) pairs; their studies are deleted afterwards."""
    from tests.helpers.studies import delete_study  # optuna: only for tests that use it

    made: list[tuple[str, str]] = []
    yield lambda url, name: made.append((url, name))
    for url, name in made:
        with contextlib.suppress(Exception):
            delete_study(url, name)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    """Background processes of a test; any still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.communicate()


TIERS = ("unit", "cli", "distributed", "integrations")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test is marked with its tier, the directory it lives in (``-m unit``)."""
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
