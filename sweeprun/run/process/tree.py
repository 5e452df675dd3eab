"""A trial's process group: who is still in it (from /proc), signalling it, waiting for it to
be gone. The launcher's kill ladder and the recovery of orphaned trials use these."""

from __future__ import annotations

import contextlib
import os
import time

__all__ = ["group_alive", "group_members", "signal_group", "wait_gone"]


def group_members(pgid: int) -> list[int] | None:
    """Live (non-zombie) processes of a process group, from /proc; None without /proc."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return None
    members = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
            state, _ppid, pgrp = data[data.rfind(b")") + 2 :].split(b" ", 3)[:3]
        except (OSError, ValueError):
            continue
        if state not in (b"Z", b"X") and int(pgrp) == pgid:
            members.append(int(name))
    return members


def group_alive(pgid: int) -> bool:
    """True while a process of the group lives. Zombies don't count: a container's PID 1
    may never reap the orphans it inherits."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    members = group_members(pgid)
    return members is None or bool(members)


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_gone(pgid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    delay = 0.005
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
    return True
