"""A private PostgreSQL server for fault tests: ``initdb`` in a temp dir, ``pg_ctl`` on a free
port, start / stop / restart at will. It never touches the shared servers.

The cluster requires a password (scram-sha-256) for user ``postgres``, so tests can also check
that the password never leaks. As root, the server runs as the ``postgres`` system user
(PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.services import port_open, unavailable
from tests.helpers.wait import wait_until

PASSWORD = "pw-Zq7-s3cret-9xK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """One throw-away cluster: ``url`` (with the password), ``start()``, ``stop()``, ``restart()``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = _free_port()
        self.password = PASSWORD
        self._as: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        res = subprocess.run([*self._as, *argv], capture_output=True, text=True, check=False)
        if res.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {res.stdout}\n{res.stderr}")

    def init(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self._as:
            pw = pwd.getpwnam("postgres")
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=scram-sha-256",
            f"--pwfile={pwfile}", "--no-sync", "-E", "UTF8",
        )  # fmt: skip
        pwfile.unlink()
        with open(self.data / "postgresql.conf", "a") as fh:
            fh.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nfsync = off\n"
                "max_connections = 200\nlog_min_messages = warning\n"
            )

    def _ctl(self, action: str, *extra: str) -> None:
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "-m", "fast",
            action, *extra,
        )  # fmt: skip

    def start(self) -> None:
        self._ctl("start")
        self.wait_ready()

    def stop(self) -> None:
        self._ctl("stop")

    def restart(self) -> None:
        self._ctl("restart")
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        wait_until(
            lambda: port_open("127.0.0.1", self.port),
            timeout,
            f"private PostgreSQL up (see {self.log})",
        )

    def running(self) -> bool:
        res = subprocess.run(
            [*self._as, "pg_ctl", "-D", str(self.data), "status"], capture_output=True, check=False
        )
        return res.returncode == 0


def available() -> str | None:
    """Why a private server cannot be made here, or None."""
    for tool in ("initdb", "pg_ctl"):
        if shutil.which(tool) is None:
            return f"{tool} is not on PATH"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


@pytest.fixture(scope="module", name="private_pg")
def private_pg_fixture() -> Iterator[PrivatePostgres]:
    why = available()
    if why:
        unavailable(f"private PostgreSQL: {why}")
    root = Path(tempfile.mkdtemp(prefix="sweeprun-pg-"))
    server = PrivatePostgres(root)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.data.exists() and server.running():
            with contextlib.suppress(RuntimeError):
                server.stop()
        shutil.rmtree(root, ignore_errors=True)
