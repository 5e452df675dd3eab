"""Waiting on a condition: tests poll a predicate with a timeout, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = 60.0,
    what: str = "condition",
    interval: float = 0.05,
) -> T:
    """Call ``predicate`` until it returns something truthy and return that; fail with
    ``what`` in the message after ``timeout`` seconds (the predicate is tried once more at
    the deadline, so a slow machine is not failed by its last sleep)."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= end:
            raise AssertionError(f"{what}: not reached in {timeout}s")
        time.sleep(interval)
