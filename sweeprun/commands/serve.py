"""``sweeprun serve``: Optuna's gRPC storage proxy in front of the sweep database.

Hundreds of agents then talk to one process (``--storage grpc://host:port``) instead of each
holding database connections. The proxy binds loopback unless ``--host`` says otherwise (it has
no authentication: a warning says so for any other address). Ctrl-C stops it (exit 130),
SIGTERM too (exit 0, as a service manager expects).
"""

from __future__ import annotations

import importlib
import signal
import socket
import sys
import warnings
from types import FrameType

from sweeprun.errors import EXIT_INTERRUPTED, SweepError


class _Terminated(Exception):
    pass


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def agent_url(host: str, port: int) -> str:
    """The URL agents should pass as ``--storage``."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.gethostname()
    shown = f"[{host}]" if ":" in host else host
    return f"grpc://{shown}:{port}"


def run(storage: str | None = None, host: str = "127.0.0.1", port: int = 13000) -> int:
    from sweeprun.commands.dashboard import _port_free, is_loopback

    try:
        importlib.import_module("grpc")
    except ImportError:
        raise SweepError(
            "sweeprun serve needs grpcio, an optional extra that is not installed\n"
            "    fix: pip install 'sweeprun[grpc]'"
        ) from None
    if not 0 < port < 65536:
        raise SweepError(f"--port must be between 1 and 65535 (got {port})")
    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import resolve

    spec = resolve(storage, None)
    if spec.kind not in ("postgresql", "mysql", "sqlite"):
        raise SweepError(
            f"sweeprun serve puts a proxy in front of a database, not of {spec.display} "
            f"({spec.kind}): Optuna's gRPC proxy supports RDB storages only\n"
            "    fix: sweeprun serve --storage postgresql://user@dbhost/db (or mysql://...); "
            "a journal file or Redis is shared by agents directly"
        )
    if not _port_free(host, port):
        raise SweepError(
            f"cannot listen on {host}:{port}: the port is in use or the address is not local\n"
            f"    fix: pick another port with --port {port + 1}"
        )
    import optuna
    from optuna.storages import run_grpc_proxy_server

    from sweeprun.storage.optuna_adapter import cached, rdb_of

    st = open_storage(spec)
    rdb = rdb_of(st)
    if spec.kind == "sqlite" and rdb is not None:  # SQLite: keep Optuna's in-process cache
        st = cached(rdb)
    if not is_loopback(host):
        print(
            f"warning: sweeprun serve listens on {host}, reachable from other machines; the "
            "proxy has no login or encryption, so anyone who can reach the port can read and "
            "change every sweep in the storage (use a private network or an SSH tunnel)",
            file=sys.stderr,
        )
    url = agent_url(host, port)
    print(f"sweeprun serve: proxy for {spec.display} listening on {host}:{port} (Ctrl-C to stop)")
    print(f"agents: sweeprun agent NAME --storage {url}", flush=True)
    old = signal.signal(signal.SIGTERM, _on_term)
    # an inherited "ignore SIGINT" (a background job of a script) must not make it unstoppable
    old_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    try:
        run_grpc_proxy_server(st, host=host, port=port)
    except KeyboardInterrupt:
        print("sweeprun serve: interrupted; stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("sweeprun serve: terminated; stopped", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGINT, old_int)
    return 0
