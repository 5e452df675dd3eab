"""The processes of a sweep, found by the ``SWEEPRUN_SWEEP`` variable in their environment
(psutil, as sweeprun itself finds a trial's processes), free ports for servers, and a command
run as "another machine" (its own hostname)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess

import psutil

from tests.helpers.services import unavailable


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def sweep_processes(name: str) -> list[int]:
    """Live (non-zombie) processes whose environment says they belong to sweep ``name``."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("SWEEPRUN_SWEEP") == name and alive(proc.pid):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def signal_pending(pid: int, sig: signal.Signals) -> bool:
    """``sig`` is pending for process ``pid`` (sent, not yet delivered to its handler); two
    signals sent while one is pending arrive as one (Linux ``/proc``)."""
    bit = 1 << (sig - 1)
    try:
        with open(f"/proc/{pid}/status") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return False
    return any(
        line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & bit for line in lines
    )


def describe_process(pid: int) -> str:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            cmd = " ".join(proc.cmdline())
            trial = proc.environ().get("SWEEPRUN_TRIAL")
            ppid, pgrp = proc.ppid(), _pgid(pid)
    except psutil.Error:
        return f"{pid} (gone)"
    return f"{pid} ppid={ppid} pgrp={pgrp} trial={trial} {cmd[-120:]}"


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def kill_sweep_processes(name: str) -> list[str]:
    """Clean up after a failed test: SIGKILL whatever of the sweep still runs; returns what
    was found (for the failure message)."""
    pids = sweep_processes(name)
    found = [describe_process(pid) for pid in pids]
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).send_signal(signal.SIGKILL)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def other_host_prefix(host: str) -> list[str]:
    """argv prefix that runs a command with its own hostname (root + unshare needed)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        unavailable("needs root and unshare to fake another machine")
    probe = subprocess.run(["unshare", "-u", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        unavailable(f"unshare -u is not allowed here: {probe.stderr.decode().strip()}")
    return ["unshare", "-u", "sh", "-c", 'hostname "$0" && exec "$@"', host]
