"""The command line. The only module that imports typer.

Each command turns its flags into keyword arguments and calls ``sweeprun.commands.<name>.run``,
imported lazily so that ``sweeprun --help`` and ``sweeprun validate`` never import optuna.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from sweeprun import __version__
from sweeprun.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, SweepError

app = typer.Typer(
    name="sweeprun",
    help="Run hyperparameter sweeps from a W&B-style sweep.yaml, offline, with Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _dispatch(command: str, **kwargs: Any) -> None:
    module = importlib.import_module(f"sweeprun.commands.{command}")
    code = module.run(**kwargs)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        print(f"sweeprun {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Run hyperparameter sweeps from a W&B-style sweep.yaml, offline, with Optuna."""


StorageOpt = Annotated[
    str | None,
    typer.Option("--storage", help="Storage URL or journal file (default: .sweeprun/journal.log)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


@app.command()
def start(
    sweep: Annotated[Path, typer.Argument(help="The sweep.yaml file.")],
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Parallel trials.")] = None,
    storage: StorageOpt = None,
    name: Annotated[str | None, typer.Option("--name", help="Sweep name.")] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", help="GPU ids, e.g. 0,1.")] = None,
    max_trials: Annotated[int | None, typer.Option("--max-trials", help="Trial cap.")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="Wall budget, e.g. 4h.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the argv of the first trials; launch nothing.")
    ] = False,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")] = False,
) -> None:
    """Create (or resume) a sweep and run a local agent."""
    _dispatch(
        "start",
        sweep=sweep,
        jobs=jobs,
        storage=storage,
        name=name,
        gpus=gpus,
        max_trials=max_trials,
        timeout=timeout,
        dry_run=dry_run,
        json_out=json_out,
        quiet=quiet,
    )


@app.command()
def agent(
    name: Annotated[str, typer.Argument(help="The sweep to join.")],
    storage: StorageOpt = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Parallel trials.")] = 1,
    count: Annotated[int | None, typer.Option("--count", help="Run at most N trials.")] = None,
    gpus: Annotated[str | None, typer.Option("--gpus", help="GPU ids, e.g. 0,1.")] = None,
    json_out: JsonOpt = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the final summary.")] = False,
) -> None:
    """Join an existing sweep from this machine."""
    _dispatch(
        "agent",
        name=name,
        storage=storage,
        jobs=jobs,
        count=count,
        gpus=gpus,
        json_out=json_out,
        quiet=quiet,
    )


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="sweep.yaml files.")],
    json_out: JsonOpt = False,
) -> None:
    """Check sweep files; print the search-space size, method and metric."""
    _dispatch("validate", files=files, json_out=json_out)


@app.command()
def schema() -> None:
    """Print the JSON Schema of sweep.yaml (for yaml-language-server)."""
    _dispatch("schema")


def _internal_error(exc: BaseException) -> int:
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
    try:
        app(args=argv, prog_name="sweeprun", standalone_mode=False)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except SweepError as err:
        print(f"sweeprun: {err}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("sweeprun: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except typer.Abort:
        sys.exit(EXIT_INTERRUPTED)
    except Exception as exc:  # click's usage errors arrive here too
        if _is_usage_error(exc):
            exc.show()  # type: ignore[attr-defined]
            sys.exit(getattr(exc, "exit_code", 2))
        sys.exit(_internal_error(exc))
    sys.exit(0)
