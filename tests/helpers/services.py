"""This machine's database servers: a test that needs one (or root, for a tmpfs or a
hostname namespace) skips without it, except with ``SWEEPRUN_REQUIRE_SERVICES=1`` (CI), where
what is missing is a failure."""

from __future__ import annotations

import os
import socket
from typing import NoReturn

import pytest

REQUIRE_SERVICES = os.environ.get("SWEEPRUN_REQUIRE_SERVICES") == "1"
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
MYSQL_URL = "mysql://root@127.0.0.1:3306/test"
REDIS_URL = "redis://127.0.0.1:6379/0"


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def unavailable(msg: str) -> NoReturn:
    """Skip the test because something this machine should have is missing (a server, root
    for a tmpfs or a hostname namespace, a browser); in CI, fail it."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{msg} (SWEEPRUN_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(msg)


def require_service(name: str, port: int) -> None:
    """Skip the test (fail it in CI) unless ``name`` answers on 127.0.0.1:``port``."""
    if not port_open("127.0.0.1", port):
        unavailable(f"{name} is not reachable on 127.0.0.1:{port}")
