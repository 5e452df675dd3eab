"""The typer application: every command's flags, turned into keyword arguments for
``sweeprun.commands.<name>.run``, imported lazily so that ``sweeprun --help`` and
``sweeprun validate`` never import optuna. :mod:`sweeprun.cli.main` holds the entry point, its
error boundary and a fast path for ``validate`` that skips building this application.

No ``from __future__ import annotations`` here: typer would then ``eval`` every parameter's
annotation string of every command on each run (~7 ms of start-up).
"""

import importlib
from pathlib import Path
from typing import Annotated, Any

import typer

from sweeprun import __version__

app = typer.Typer(
    name="sweeprun",
    help="Run hyperparameter sweeps from a W&B-style sweep.yaml, offline, with Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: no rich import on the startup path
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


NameArg = Annotated[str, typer.Argument(help="The sweep name.")]


@app.command()
def status(
    name: Annotated[
        str | None, typer.Argument(help="A sweep name (all sweeps if omitted).")
    ] = None,
    storage: StorageOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show all sweeps in the storage, or one sweep in detail."""
    _dispatch("status", name=name, storage=storage, json_out=json_out)


@app.command()
def trials(
    name: NameArg,
    storage: StorageOpt = None,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only these states (repeatable).")
    ] = None,
    sort: Annotated[str | None, typer.Option("--sort", help="Sort by a column or metric.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most N rows.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """List a sweep's trials: params, value, state, duration, steps, host."""
    _dispatch(
        "trials",
        name=name,
        storage=storage,
        state=state,
        sort=sort,
        limit=limit,
        json_out=json_out,
    )


@app.command()
def best(
    name: NameArg,
    storage: StorageOpt = None,
    top: Annotated[int, typer.Option("--top", help="The K best trials.")] = 1,
    json_out: JsonOpt = False,
) -> None:
    """The best trial(s) and the command that reproduces each."""
    _dispatch("best", name=name, storage=storage, top=top, json_out=json_out)


@app.command()
def logs(
    name: NameArg,
    trial: Annotated[int, typer.Argument(help="Trial number.")],
    storage: StorageOpt = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow a running trial.")] = False,
    stderr: Annotated[bool, typer.Option("--stderr", help="Show stderr instead.")] = False,
) -> None:
    """Print a trial's output."""
    _dispatch("logs", name=name, trial=trial, storage=storage, follow=follow, stderr=stderr)


@app.command()
def export(
    name: NameArg,
    storage: StorageOpt = None,
    format: Annotated[str, typer.Option("--format", help="csv, json or jsonl.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file.")] = None,
    curves: Annotated[bool, typer.Option("--curves", help="Include intermediate values.")] = False,
) -> None:
    """Export one row per trial."""
    _dispatch("export", name=name, storage=storage, format=format, output=output, curves=curves)


@app.command()
def report(
    name: NameArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")],
    storage: StorageOpt = None,
) -> None:
    """Write a self-contained HTML report with plots."""
    _dispatch("report", name=name, storage=storage, output=output)


@app.command()
def dashboard(
    storage: StorageOpt = None,
    host: Annotated[str, typer.Option("--host", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 8080,
) -> None:
    """Open optuna-dashboard on the sweep storage."""
    _dispatch("dashboard", storage=storage, host=host, port=port)


@app.command()
def stop(
    name: NameArg,
    storage: StorageOpt = None,
    now: Annotated[bool, typer.Option("--now", help="Stop running trials too.")] = False,
) -> None:
    """Make every agent of a sweep finish gracefully."""
    _dispatch("stop", name=name, storage=storage, now=now)


@app.command()
def serve(
    storage: StorageOpt = None,
    host: Annotated[str, typer.Option("--host", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port.")] = 13000,
) -> None:
    """Run Optuna's gRPC storage proxy in front of a database."""
    _dispatch("serve", storage=storage, host=host, port=port)


@app.command()
def smoke(
    sweep: Annotated[Path, typer.Argument(help="The sweep.yaml file.")],
    storage: StorageOpt = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    max_trials: Annotated[
        int | None, typer.Option("--max-trials", help="At most N configurations.")
    ] = None,
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Parallel trials.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a small covering set of configurations (for CI)."""
    _dispatch(
        "smoke",
        sweep=sweep,
        storage=storage,
        junit=junit,
        max_trials=max_trials,
        jobs=jobs,
        json_out=json_out,
    )


@app.command()
def lint(
    sweep: Annotated[Path, typer.Argument(help="The sweep.yaml file.")],
    strict: Annotated[bool, typer.Option("--strict", help="Warnings are errors.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Warn about hyperparameter-search anti-patterns."""
    _dispatch("lint", sweep=sweep, strict=strict, json_out=json_out)


@app.command()
def init(
    template: Annotated[str | None, typer.Option("--template", help="Template name.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write.")] = Path(
        "sweep.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented sweep.yaml from a template."""
    _dispatch("init", template=template, output=output, force=force)
