"""Storage URLs: where a sweep lives, resolved in one place.

Precedence: ``--storage`` > ``SWEEPRUN_STORAGE`` > ``storage:`` in sweep.yaml > the default
journal file ``.sweeprun/journal.log`` (``$SWEEPRUN_DIR`` overrides ``.sweeprun``).

Accepted forms: a journal file path (or ``journal:///path``), ``sqlite:///``, ``postgresql://``,
``mysql://``, ``redis://``, ``grpc://host:port``. Passwords are masked in every message.

Network storages (PostgreSQL, MySQL, Redis, gRPC) are opened behind
:class:`sweeprun.retrying.RetryingStorage`, so a storage that blinks mid-sweep (a database
restart) does not crash agents. An RDB storage is wrapped as ``Retrying(_CachedStorage(RDB))``:
Optuna's in-process cache stays, and ``storage._backend`` still reaches the ``RDBStorage``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sweeprun.errors import SweepError, mask_url

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

_GRPC_CONNECT_TIMEOUT = 5.0
RDB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mariadb")


def sweeprun_dir() -> Path:
    """The directory for the default journal and trial logs."""
    env = os.environ.get("SWEEPRUN_DIR")
    return Path(env) if env else Path.cwd() / ".sweeprun"


@dataclass(frozen=True)
class StorageSpec:
    url: str  # as the user wrote it (possibly with a password)
    kind: str  # journal | sqlite | postgresql | mysql | redis | grpc

    @property
    def display(self) -> str:
        return mask_url(self.url)

    @property
    def is_rdb(self) -> bool:
        return self.kind in ("sqlite", "postgresql", "mysql")

    @property
    def journal_path(self) -> Path:
        assert self.kind == "journal"
        return Path(self.url.removeprefix("journal://"))


def resolve(cli: str | None = None, config: str | None = None) -> StorageSpec:
    """Pick the storage URL by precedence and classify it."""
    url = cli or os.environ.get("SWEEPRUN_STORAGE") or config
    if not url:
        return StorageSpec(str(sweeprun_dir() / "journal.log"), "journal")
    return classify(url)


def classify(url: str) -> StorageSpec:
    scheme, sep, _ = url.partition("://")
    if not sep:
        return StorageSpec(url, "journal")
    base = scheme.split("+", 1)[0].lower()
    if base == "journal":
        return StorageSpec(url, "journal")
    if base in ("postgresql", "postgres"):
        return StorageSpec(url, "postgresql")
    if base in ("mysql", "mariadb"):
        return StorageSpec(url, "mysql")
    if base in ("sqlite", "redis", "grpc"):
        return StorageSpec(url, base)
    raise SweepError(
        f"unknown storage URL scheme '{scheme}://' in {mask_url(url)}\n"
        "    fix: use a journal file path, sqlite:///file.db, postgresql://, mysql://, "
        "redis:// or grpc://host:port"
    )


def password_of(url: str) -> str | None:
    """The password in a storage URL, if any (``scheme://user:password@host``)."""
    _, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return None
    creds = rest.rpartition("@")[0]
    return creds.split(":", 1)[1] or None if ":" in creds else None


def redact(text: str, url: str) -> str:
    """``text`` with the URL masked and its password (raw or %-decoded) removed."""
    from urllib.parse import quote, unquote

    text = text.replace(url, mask_url(url))
    pw = password_of(url)
    if pw:
        for form in {pw, unquote(pw), quote(unquote(pw), safe="")}:
            if len(form) >= 3:  # shorter ones would shred the text, and are no secret
                text = text.replace(form, "***")
    return text


def sqlalchemy_url(spec: StorageSpec) -> str:
    """The URL SQLAlchemy needs: the psycopg (3) or PyMySQL driver unless one is named."""
    scheme, _, rest = spec.url.partition("://")
    if spec.kind == "postgresql" and "+" not in scheme:
        return f"postgresql+psycopg://{rest}"
    if spec.kind == "mysql" and "+" not in scheme:
        return f"mysql+pymysql://{rest}"
    return spec.url


def open_storage(
    spec: StorageSpec, *, heartbeat_interval: int | None = None, retry: bool = True
) -> BaseStorage:
    """Open (and create where needed) the Optuna storage behind ``spec``.

    The storage must answer now (a clear error otherwise); with ``retry`` a network storage
    is wrapped so that later outages are retried (see :mod:`sweeprun.retrying`)."""
    inner = _open(spec, heartbeat_interval)
    if not retry or spec.kind in ("journal", "sqlite"):
        return inner
    from optuna.storages import RDBStorage, _CachedStorage

    from sweeprun.retrying import wrap

    if isinstance(inner, RDBStorage):
        inner = _CachedStorage(inner)
    return wrap(inner, spec.display, lambda text: redact(text, spec.url))


def _open(spec: StorageSpec, heartbeat_interval: int | None) -> BaseStorage:
    import warnings

    import optuna

    with warnings.catch_warnings():  # Redis and gRPC are "experimental" in Optuna: not news
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return _open_quiet(spec, heartbeat_interval)


def _open_quiet(spec: StorageSpec, heartbeat_interval: int | None) -> BaseStorage:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    try:
        if spec.kind == "journal":
            from sweeprun.journal_lock import FlockLock, SafeJournalFileBackend

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
        # (sweeprun.retrying). MySQL keeps Optuna's default pre-ping (its server drops idle
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
