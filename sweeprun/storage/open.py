"""Open the Optuna storage behind a :class:`~sweeprun.storage.urls.StorageSpec`, probed once.

The installed Optuna is checked first (:func:`sweeprun.storage.optuna_adapter.check_version`).
Every storage is opened behind the batching decorator
(:class:`sweeprun.storage.batching.BatchingStorage`, which documents the composition), and
network storages (PostgreSQL, MySQL, Redis, gRPC) also behind
:class:`sweeprun.storage.retrying.RetryingStorage`, so a storage that blinks mid-sweep (a
database restart) does not crash agents.
"""

from __future__ import annotations

import warnings

import optuna
from optuna.storages import BaseStorage, RDBStorage

from sweeprun.errors import SweepError
from sweeprun.storage.batching import batching
from sweeprun.storage.journal import FlockLock, SafeJournalFileBackend
from sweeprun.storage.optuna_adapter import cached, check_version
from sweeprun.storage.retrying import wrap
from sweeprun.storage.urls import StorageSpec, redact, sqlalchemy_url

_GRPC_CONNECT_TIMEOUT = 5.0


def open_storage(
    spec: StorageSpec, *, heartbeat_interval: int | None = None, retry: bool = True
) -> BaseStorage:
    """Open (and create where needed) the Optuna storage behind ``spec``.

    The storage must answer now (a clear error otherwise); it batches a trial's writes (see
    :mod:`sweeprun.storage.batching`); with ``retry`` a network storage is wrapped so that later
    outages are retried (see :mod:`sweeprun.storage.retrying`). ``retry=False`` on a network
    storage gives the bare Optuna storage (for tests that compose the decorators themselves)."""
    check_version()
    inner = _open(spec, heartbeat_interval)
    if spec.kind in ("journal", "sqlite"):
        return batching(inner)
    if not retry:
        return inner
    if isinstance(inner, RDBStorage):
        inner = cached(inner)
    return wrap(batching(inner), spec.display, lambda text: redact(text, spec.url))


def _open(spec: StorageSpec, heartbeat_interval: int | None) -> BaseStorage:
    with warnings.catch_warnings():  # Redis and gRPC are "experimental" in Optuna: not news
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _open_quiet(spec, heartbeat_interval)


def _open_quiet(spec: StorageSpec, heartbeat_interval: int | None) -> BaseStorage:
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    try:
        if spec.kind == "journal":
            path = spec.journal_path
            path.parent.mkdir(parents=True, exist_ok=True)
            backend = SafeJournalFileBackend(str(path), lock_obj=FlockLock(str(path)))
            return optuna.storages.JournalStorage(backend)
        if spec.kind == "redis":
            from optuna.storages.journal import JournalRedisBackend

            return optuna.storages.JournalStorage(JournalRedisBackend(spec.url))
        if spec.kind == "grpc":
            rest = spec.url.partition("://")[2]
            host, _, port = rest.rstrip("/").rpartition(":")
            if not port.isdigit():
                raise SweepError(
                    f"storage {spec.display}: give the proxy as grpc://host:port "
                    "(the address `sweeprun serve` prints)"
                )
            proxy = optuna.storages.GrpcStorageProxy(host=host or "localhost", port=int(port))
            try:
                proxy.wait_server_ready(timeout=_GRPC_CONNECT_TIMEOUT)
            except ConnectionError:
                proxy.close()
                raise SweepError(
                    f"cannot reach the storage proxy at {spec.display} "
                    f"(no answer in {_GRPC_CONNECT_TIMEOUT:.0f}s)\n"
                    "    fix: start it with `sweeprun serve --storage postgresql://...` on that "
                    "host (and --host 0.0.0.0 to accept other machines)"
                ) from None
            return proxy
        # No pool_pre_ping on PostgreSQL (a round trip before each of the ~12 transactions of
        # a trial): the retrying wrapper replaces a pooled connection found dead, quietly
        # (sweeprun.storage.retrying). MySQL keeps Optuna's default pre-ping (its server drops idle
        # connections after wait_timeout).
        return optuna.storages.RDBStorage(
            sqlalchemy_url(spec),
            heartbeat_interval=heartbeat_interval,
            grace_period=None if heartbeat_interval is None else max(heartbeat_interval * 4, 20),
        )
    except ImportError as exc:
        extra = {"postgresql": "postgres", "mysql": "mysql", "redis": "redis", "grpc": "grpc"}
        name = extra.get(spec.kind, spec.kind)
        raise SweepError(
            f"storage {spec.display} needs a package that is not installed ({exc.name})\n"
            f"    fix: pip install 'sweeprun[{name}]'"
        ) from None
    except SweepError:
        raise
    except Exception as exc:  # connection refused, bad database, permissions ...
        raise SweepError(f"cannot open storage {spec.display}: {_clean(exc, spec)}") from None


def _clean(exc: BaseException, spec: StorageSpec) -> str:
    """The first line of the error and of its root cause (Optuna hides the driver's)."""
    lines: list[str] = []
    cur: BaseException | None = exc
    while cur is not None and len(lines) < 5:
        text = str(cur).strip()
        lines.append(text.splitlines()[0] if text else type(cur).__name__)
        cur = cur.__cause__
    shown = lines[0] if lines[-1] in lines[0] else f"{lines[-1]} ({lines[0]})"
    return redact(shown, spec.url)
