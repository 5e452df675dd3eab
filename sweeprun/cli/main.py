"""The command line's entry point: one error boundary for every command.

The commands and their flags are the typer application in :mod:`sweeprun.cli.app`, imported
only when needed: ``sweeprun validate FILE... [--json]`` in its plain form (no other option,
no ``--``) runs without it, since importing typer and building the application is ~35 ms of
a ~150 ms command that editors and pre-commit hooks call often; so does ``sweeprun start
SWEEP.yaml`` with its options written plainly (:mod:`sweeprun.cli.fast_start`), where the same
35 ms are a share of every sweep's start-up. Every other form, including any mistake, goes
through typer, so messages and exit codes are typer's.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweeprun import __version__
from sweeprun.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SweepError

#: typer's exit status for an output pipe closed by the reader (``| head``)
EXIT_BROKEN_PIPE = 1


def __getattr__(name: str) -> object:
    if name == "app":  # the typer application, for callers that used ``sweeprun.cli.main.app``
        from sweeprun.cli.app import app

        return app
    raise AttributeError(name)


def _fast_validate(args: list[str]) -> int | None:
    """Run ``validate FILE... [--json]`` without typer; None when typer must parse ``args``."""
    if not args or args[0] != "validate" or "_SWEEPRUN_COMPLETE" in os.environ:
        return None
    files = [a for a in args[1:] if a != "--json"]
    if not files or any(not a or a.startswith("-") for a in files):
        return None  # no file, an option, `--` or an empty path: typer's parsing and messages
    from sweeprun.commands.validate import run

    return _as_typer(run, files=[Path(f) for f in files], json_out=len(files) < len(args) - 1)


def _fast_start(args: list[str]) -> int | None:
    """Run ``start SWEEP.yaml [options]`` without typer; None when typer must parse ``args``."""
    if not args or args[0] != "start" or "_SWEEPRUN_COMPLETE" in os.environ:
        return None
    from sweeprun.cli.fast_start import parse_start

    kwargs = parse_start(args[1:])
    if kwargs is None:
        return None
    from sweeprun.commands.start import run

    return _as_typer(run, **kwargs)


def _as_typer(run: Callable[..., int], **kwargs: Any) -> int:
    """``run(**kwargs)``, its interruptions and closed pipes ending as under typer."""
    try:
        return run(**kwargs)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED  # as typer: quietly
    except EOFError:
        print(file=sys.stderr)  # as typer: an empty line, nothing else
        return EXIT_INTERRUPTED
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        # as typer: the reader went away; exit 1 without a traceback at interpreter exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _typer(args: list[str]) -> object:
    import typer

    from sweeprun.cli.app import app

    try:
        return app(args=args, prog_name="sweeprun", standalone_mode=False)
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        return EXIT_INTERRUPTED
    except SweepError:
        raise
    except Exception as exc:  # click's usage errors arrive here too
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            return getattr(exc, "exit_code", 2)
        raise


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


def _is_usage_error(exc: BaseException) -> bool:
    # typer vendors click; its ClickException is the base of typer.BadParameter
    return any(cls.__name__ == "ClickException" for cls in type(exc).__mro__) and hasattr(
        exc, "show"
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point: one error boundary for every command."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        code: object = _fast_validate(args)
        if code is None:
            code = _fast_start(args)
        if code is None:
            code = _typer(args)
    except SweepError as err:
        print(f"sweeprun: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("sweeprun: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:
        sys.exit(_internal_error(exc))
    sys.exit(code if isinstance(code, int) else 0)
