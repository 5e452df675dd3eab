"""A real learning curve: scikit-learn's MLPClassifier on ``load_digits``, one epoch at a time.

    python mlp_curve.py --learning_rate_init=F --hidden=N --alpha=F --batch_size=N [--epochs=20]

prints ``{"epoch": e, "val_loss": ...}`` (log loss on a fixed held-out quarter of the data)
after each epoch of ``partial_fit``. The model's seed is fixed, so the curve is a deterministic
function of the parameters.

Importing scikit-learn takes 1-2 s, far longer than the 20 epochs. So that the pruning study
measures pruning and not imports, bench/quality.py starts one *zygote* first::

    python mlp_curve.py --serve SOCKET_PATH

which imports scikit-learn, loads the data, prints ``ready`` and then forks one child per
connection. With ``MLP_CURVE_SOCKET`` set, the trial program only imports the standard library,
sends its argv to the zygote and relays the child's lines to stdout as they come. When sweeprun
stops the trial (SIGTERM to its process group) the connection closes and the child exits at
its next write, i.e. within one epoch. Without ``MLP_CURVE_SOCKET`` the program trains itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

SOCKET_ENV = "MLP_CURVE_SOCKET"
EPOCHS = 20
INTS = ("hidden", "batch_size", "epochs")


def parse_args(argv: list[str]) -> dict[str, Any]:
    """``--name=value`` → {name: int or float}; ``epochs`` defaults to 20."""
    out: dict[str, Any] = {"epochs": EPOCHS}
    for arg in argv:
        name, sep, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or not sep:
            raise SystemExit(f"expected --name=value, got {arg!r}")
        out[name] = int(value) if name in INTS else float(value)
    missing = {"learning_rate_init", "hidden", "alpha", "batch_size"} - set(out)
    if missing:
        raise SystemExit(f"missing arguments: {', '.join(sorted(missing))}")
    return out


def load_data() -> tuple[Any, Any, Any, Any]:
    """Digits scaled to [0, 1], split 3:1 with a fixed, stratified split."""
    from sklearn.datasets import load_digits  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    x, y = load_digits(return_X_y=True)
    parts = train_test_split(x / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    return parts[0], parts[1], parts[2], parts[3]


def train(
    args: dict[str, Any], data: tuple[Any, Any, Any, Any], emit: Callable[[str], None]
) -> None:
    """Train epoch by epoch, calling ``emit`` with one JSON line per epoch."""
    import warnings

    import numpy as np
    from sklearn.metrics import log_loss  # type: ignore[import-untyped]
    from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]

    x_train, x_val, y_train, y_val = data
    model = MLPClassifier(
        hidden_layer_sizes=(args["hidden"],),
        learning_rate_init=args["learning_rate_init"],
        alpha=args["alpha"],
        batch_size=args["batch_size"],
        random_state=0,
    )
    classes = np.unique(y_train)
    for epoch in range(1, args["epochs"] + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(x_train, y_train, classes=classes)
            loss = float(log_loss(y_val, model.predict_proba(x_val), labels=classes))
        emit(json.dumps({"epoch": epoch, "val_loss": loss}))


def _print_line(line: str) -> None:
    print(line, flush=True)


def serve(path: str) -> None:
    """The zygote: load once, fork one trainer per connection; exit when the parent is gone."""
    parent = os.getppid()  # before "ready": a parent that dies right after reading it is seen
    data = load_data()
    train({"learning_rate_init": 1e-3, "hidden": 8, "alpha": 1e-4, "batch_size": 64,
           "epochs": 1}, data, lambda line: None)  # fmt: skip  # warm every import
    signal.signal(signal.SIGTERM, _reap_and_exit)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    print("ready", flush=True)
    server.settimeout(1.0)
    while os.getppid() == parent:  # outlive the benchmark by at most a second
        try:
            conn, _ = server.accept()
        except TimeoutError:
            _reap()
            continue
        conn.settimeout(None)
        _reap()
        if os.fork() == 0:
            server.close()
            _child(conn, data)
        conn.close()


def _reap() -> None:
    """Wait for finished trainers, so their CPU time counts in the zygote's ``RUSAGE_CHILDREN``."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _reap_and_exit(signum: int, frame: object) -> None:
    _reap()
    os._exit(0)


def _child(conn: socket.socket, data: tuple[Any, Any, Any, Any]) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = 0
    try:
        with conn.makefile("rw", encoding="utf-8") as stream:
            argv = json.loads(stream.readline())

            def emit(line: str) -> None:
                stream.write(line + "\n")
                stream.flush()

            try:
                train(parse_args(argv), data, emit)
            except (Exception, SystemExit) as exc:  # report the failure to the trial program
                emit(f"!{type(exc).__name__}: {exc}")
                code = 1
    except OSError:  # the trial program is gone (pruned or killed)
        code = 1
    finally:
        os._exit(code)


def relay(path: str, argv: list[str]) -> int:
    """The trial program's side of the zygote: send argv, print lines until the child ends."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    with client.makefile("rw", encoding="utf-8") as stream:
        stream.write(json.dumps(argv) + "\n")
        stream.flush()
        for line in stream:
            if line.startswith("!"):
                print(line[1:].rstrip(), file=sys.stderr)
                return 1
            sys.stdout.write(line)
            sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["--serve"] and len(argv) == 2:
        serve(argv[1])
        return 0
    path = os.environ.get(SOCKET_ENV)
    if path:
        parse_args(argv)  # fail fast on bad arguments
        return relay(path, argv)
    train(parse_args(argv), load_data(), _print_line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
