"""Telling a lost storage connection from other errors, and the state of one outage.

:func:`is_transient` recognizes a lost or refused connection (SQLAlchemy, Redis, gRPC, the OS),
:func:`stale_connection` a pooled database connection found dead, :func:`describe` names the
root error without secrets. An :class:`Outage` is shared by the threads that use one storage: it
prints one note when an outage starts and one when it ends, spaces the attempts with jittered
exponential backoff, and gives up (:class:`StorageUnavailable`) after the retry budget
(``$SWEEPRUN_STORAGE_RETRY``, :func:`retry_budget`). :mod:`sweeprun.storage.retrying` puts
this in front of a storage. Imports no optuna.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Callable

from sweeprun.config.types import parse_duration
from sweeprun.errors import EXIT_POLICY, SweepError

ENV = "SWEEPRUN_STORAGE_RETRY"
DEFAULT_BUDGET = 300.0
MAX_DELAY = 5.0


class StorageUnavailable(SweepError):
    """The storage stayed unreachable for longer than the retry budget."""

    exit_code = EXIT_POLICY


def retry_budget() -> float:
    """Seconds to keep retrying, from ``$SWEEPRUN_STORAGE_RETRY`` (``300``, ``90s``, ``5m``)."""
    raw = os.environ.get(ENV)
    if raw is None or not raw.strip():
        return DEFAULT_BUDGET
    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise SweepError(f"{ENV}: {exc}") from None


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 10:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a lost or refused connection."""
    kinds: list[type[BaseException]] = []
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None:
        kinds += [sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError]
    rx = sys.modules.get("redis.exceptions")
    if rx is not None:
        kinds += [rx.ConnectionError, rx.TimeoutError]
    grpc = sys.modules.get("grpc")
    for e in _chain(exc):
        if isinstance(e, ConnectionError | TimeoutError):
            return True
        if kinds and isinstance(e, tuple(kinds)):
            return True
        if grpc is not None and isinstance(e, grpc.RpcError):
            code = getattr(e, "code", None)
            if callable(code) and code() == grpc.StatusCode.UNAVAILABLE:
                return True
    return False


def stale_connection(exc: BaseException) -> bool:
    """Whether ``exc`` came from a pooled connection that SQLAlchemy found dead (and dropped)."""
    return any(getattr(e, "connection_invalidated", False) is True for e in _chain(exc))


def describe(exc: BaseException, redact: Callable[[str], str]) -> str:
    """One line naming the root connection error, with secrets removed."""
    root = _chain(exc)[-1]
    for e in _chain(exc):
        if is_transient(e) and e.__cause__ is None:
            root = e
            break
    details = getattr(root, "details", None)
    text = details() if callable(details) else str(root)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return redact(f"{type(root).__name__}: {first}" if first else type(root).__name__)


class Outage:
    """The state of one storage's connection, shared by the threads that use it."""

    def __init__(
        self, display: str, redact: Callable[[str], str], budget: float, say: Callable[[str], None]
    ) -> None:
        self.display = display
        self.redact = redact
        self.budget = budget
        self.say = say
        self._lock = threading.Lock()
        self.started: float | None = None
        self.failures = 0
        self.gave_up = False
        self.outages = 0

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> float:
        """Record a transient failure; the delay before the next attempt, or raise."""
        with self._lock:
            now = time.monotonic()
            if self.started is None:
                self.started = now
                self.failures = 0
                self.outages += 1
                if not self.gave_up:
                    self.say(
                        f"sweeprun: storage {self.display} is unreachable "
                        f"({describe(exc, self.redact)}); retrying for up to "
                        f"{self.budget:.0f}s (${ENV})"
                    )
            self.failures += 1
            if self.gave_up or now - self.started >= self.budget:
                self.gave_up = True
                raise StorageUnavailable(
                    f"storage {self.display} unreachable for {now - self.started:.0f}s "
                    f"({describe(exc, self.redact)}); giving up\n"
                    f"    fix: check the server, or wait longer with {ENV}=15m; "
                    "run the agent again to resume: nothing recorded is lost"
                ) from None
            delay = min(MAX_DELAY, 0.1 * 2 ** (self.failures - 1))
            left = self.budget - (now - self.started)
            return max(0.01, min(delay * (0.5 + random.random() / 2), left))

    def ok(self) -> None:
        if self.started is None:
            return
        with self._lock:
            if self.started is None:
                return
            took = time.monotonic() - self.started
            self.started = None
            self.gave_up = False
            self.say(f"sweeprun: storage {self.display} is reachable again after {took:.1f}s")


def say_stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)
