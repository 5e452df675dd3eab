"""The command line's entry point and its one error boundary.

:func:`sweeprun.cli.app.parse` turns the command line into keyword arguments; :func:`main`
imports the one command module that runs them and turns whatever ends the command into an exit
status (:mod:`sweeprun.errors`): 0 done, 1 policy, 2 usage or config error (a message, never a
traceback), 3 internal error (the traceback goes to a log file whose path is printed), 130
interrupted.
"""

from __future__ import annotations

import gc
import importlib
import os
import signal
import sys
from types import FrameType
from typing import Any

from sweeprun import __version__
from sweeprun.cli.app import parse
from sweeprun.cli.parser import UsageError
from sweeprun.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SweepError

#: the exit status when the reader of standard output went away (``sweeprun trials X | head``)
EXIT_BROKEN_PIPE = 1
#: allocations between two collections of the youngest generation (Python's default is 700):
#: start-up makes tens of thousands of objects that live as long as the process (modules,
#: classes, validators) and next to no garbage, and an agent's loop makes little; a collection
#: still comes every this many objects, so cyclic garbage stays bounded
GC_YOUNG = 50_000


def dispatch(command: str, kwargs: dict[str, Any]) -> int:
    """``sweeprun.commands.<command>.run(**kwargs)``, the command module imported only now."""
    module = importlib.import_module(f"sweeprun.commands.{command}")
    code: int = module.run(**kwargs)
    return code


def run(args: list[str]) -> int:
    """Parse ``args``, run the command and return its exit status; every error ends here."""
    try:
        return dispatch(*parse(args))
    except UsageError as err:
        print(err, file=sys.stderr)
        return err.exit_code
    except SweepError as err:
        print(f"sweeprun: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("sweeprun: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away: no traceback, and no second error when Python flushes stdout
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    import tempfile
    import traceback

    fd, path = tempfile.mkstemp(prefix="sweeprun-crash-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        fh.write(f"sweeprun {__version__}\nargv: {sys.argv!r}\n\n")
        fh.write("".join(traceback.format_exception(exc)))
    print(
        f"sweeprun: internal error: {type(exc).__name__}: {exc}\n"
        f"The traceback was written to {path}; please attach it to a bug report.",
        file=sys.stderr,
    )
    return EXIT_INTERNAL


def _interrupt_once(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C before a command installs its own handling (while it imports, opens the storage,
    creates the sweep): the first one ends the command as interrupted (exit 130, one line);
    a second one while that is under way is ignored, not a traceback from the middle of it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``sweeprun`` command."""
    gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not ignored by a parent
        signal.signal(signal.SIGINT, _interrupt_once)
    try:
        code = run(sys.argv[1:] if argv is None else list(argv))
    finally:
        # What the command made lives until the process ends: the collector need not walk it
        # all again while the interpreter tears down (`start`: 140 -> 18 ms, benchmarks.md)
        gc.freeze()
    sys.exit(code)
