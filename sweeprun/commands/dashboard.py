"""``sweeprun dashboard``: optuna-dashboard on the sweep storage (an optional extra)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import sys

from sweeprun.errors import SweepError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def run(storage: str | None = None, host: str = "127.0.0.1", port: int = 8080) -> int:
    try:
        import optuna_dashboard
    except ImportError:
        raise SweepError(
            "the dashboard needs optuna-dashboard, an optional extra that is not installed\n"
            "    fix: pip install 'sweeprun[dashboard]'"
        ) from None
    from sweeprun.results.read import storage_for_reading
    from sweeprun.storage.open import open_storage

    if not 0 < port < 65536:
        raise SweepError(f"--port must be between 1 and 65535 (got {port})")
    spec = storage_for_reading(storage)
    st = open_storage(spec)
    if not _port_free(host, port):
        raise SweepError(
            f"cannot listen on {host}:{port}: the port is in use or the address is not local\n"
            f"    fix: pick another port with --port {port + 1}"
        )
    if not is_loopback(host):
        print(
            f"warning: the dashboard listens on {host}, reachable from other machines; it has "
            "no login, so anyone who can reach it can read (and edit) the sweeps",
            file=sys.stderr,
        )
    shown = f"[{host}]" if ":" in host else host
    print(
        f"optuna-dashboard for {spec.display} at http://{shown}:{port}/ (Ctrl-C to stop)",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        optuna_dashboard.run_server(st, host=host, port=port)
    return 0
