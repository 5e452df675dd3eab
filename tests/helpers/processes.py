"""The processes of a sweep, found by the ``SWEEPRUN_SWEEP`` variable in their environment
(Linux ``/proc``: the tests run on Linux), and free ports for servers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def sweep_processes(name: str) -> list[int]:
    """Live (non-zombie) processes whose environment says they belong to sweep ``name``."""
    needle = f"SWEEPRUN_SWEEP={name}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as fh:
                state = fh.read().rpartition(b")")[2].split()[0]
        except (OSError, IndexError):
            continue
        if needle in env and state not in (b"Z", b"X"):
            found.append(int(pid))
    return found


def describe_process(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/environ", "rb") as fh:
            env = dict(
                kv.decode(errors="replace").partition("=")[::2] for kv in fh.read().split(b"\0")
            )
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rpartition(b")")[2].split()
    except OSError:
        return f"{pid} (gone)"
    return (
        f"{pid} ppid={int(fields[1])} pgrp={int(fields[2])} trial={env.get('SWEEPRUN_TRIAL')} "
        f"{cmd[-120:]}"
    )


def kill_sweep_processes(name: str) -> list[str]:
    """Clean up after a failed test: SIGKILL whatever of the sweep still runs; returns what
    was found (for the failure message)."""
    pids = sweep_processes(name)
    found = [describe_process(pid) for pid in pids]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
