"""Every command, its one-line summary and its flags, as argparse parsers built on demand.

:func:`parse` turns a command line into ``(command, kwargs)`` for
``sweeprun.commands.<command>.run(**kwargs)``. Only the parser of the command being run is
built, and nothing here imports a command module: :mod:`sweeprun.cli.main` imports the one it
dispatches to, so ``sweeprun --help`` and ``sweeprun validate`` never import optuna.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweeprun import __version__
from sweeprun.cli.parser import Parser, UsageError, count, integer, jobs
from sweeprun.errors import did_you_mean

SUMMARY = "Run hyperparameter sweeps from a W&B-style sweep.yaml, offline, with Optuna."


def _storage(p: Parser, sweep_file: bool = False) -> None:
    from_file = "the file's `storage:`, else " if sweep_file else ""
    p.add_argument(
        "--storage",
        metavar="URL",
        help="storage URL or journal file "
        f"(default: $SWEEPRUN_STORAGE, else {from_file}.sweeprun/journal.log)",
    )


def _json(p: Parser) -> None:
    p.add_argument("--json", dest="json_out", action="store_true", help="machine-readable JSON")


def _strict(p: Parser) -> None:
    p.add_argument(
        "--strict", action="store_true",
        help="where W&B is lenient and sweeprun warns (an unknown ${macro}, an unset "
        "${envvar:NAME}, a duplicate key), refuse instead: exit 2 (for CI)",
    )  # fmt: skip


def _quiet(p: Parser) -> None:
    p.add_argument("-q", "--quiet", action="store_true", help="only the final summary")


def _gpus(p: Parser) -> None:
    p.add_argument(
        "--gpus",
        metavar="IDS",
        help="GPU ids, e.g. 0,1 (default: $CUDA_VISIBLE_DEVICES, else those nvidia-smi lists)",
    )


def _name(p: Parser) -> None:
    p.add_argument("name", metavar="NAME", help="the sweep's name")


def _start(p: Parser) -> None:
    p.add_argument("sweep", metavar="SWEEP.yaml", type=Path, help="the sweep file")
    p.add_argument(
        "-j", "--jobs", metavar="N", type=jobs,
        help="trials run at once (default: the file's `parallelism:`, else 1)",
    )  # fmt: skip
    _storage(p, sweep_file=True)
    p.add_argument("--name", metavar="NAME", help="sweep name (default: the file's `name:`, "
                   "else the file name without .yaml)")  # fmt: skip
    _gpus(p)
    p.add_argument(
        "--max-trials", metavar="N", type=count,
        help="run at most N trials (default: the file's `run_cap:` / `budget.trials:`, "
        "else until the search space or the time budget is used up)",
    )  # fmt: skip
    p.add_argument(
        "--timeout", metavar="DURATION",
        help="wall-clock budget, e.g. 90m or 4h (default: the file's `budget.time:`, else none)",
    )  # fmt: skip
    p.add_argument(
        "--dry-run", action="store_true",
        help="print the argv of the first trials (5, or --max-trials); launch nothing",
    )  # fmt: skip
    _json(p)
    _quiet(p)
    _strict(p)


def _agent(p: Parser) -> None:
    _name(p)
    _storage(p)
    p.add_argument("-j", "--jobs", metavar="N", type=jobs, default=1, help="trials run at once")
    p.add_argument("--count", metavar="N", type=count, help="run at most N trials (default: "
                   "until the sweep's budget is used up)")  # fmt: skip
    _gpus(p)
    _json(p)
    _quiet(p)


def _validate(p: Parser) -> None:
    p.add_argument("files", metavar="SWEEP.yaml", type=Path, nargs="+", help="sweep files")
    _json(p)
    _strict(p)


def _status(p: Parser) -> None:
    p.add_argument("name", metavar="NAME", nargs="?", help="one sweep (default: all sweeps)")
    _storage(p)
    _json(p)


def _trials(p: Parser) -> None:
    _name(p)
    _storage(p)
    p.add_argument("--state", metavar="STATE", action="append", help="only trials in this "
                   "state, e.g. complete, fail, pruned, running (repeatable)")  # fmt: skip
    p.add_argument("--sort", metavar="COLUMN", help="sort by a column, metric or parameter")
    p.add_argument("--limit", metavar="N", type=count, help="at most N rows")
    _json(p)


def _best(p: Parser) -> None:
    _name(p)
    _storage(p)
    p.add_argument("--top", metavar="K", type=count, default=1, help="the K best trials")
    p.add_argument("--script", metavar="FILE", help="write the best trial's command, its "
                   "environment and parameter files as a sh script")  # fmt: skip
    _json(p)


def _logs(p: Parser) -> None:
    _name(p)
    p.add_argument("trial", metavar="TRIAL", type=integer, help="the trial number")
    _storage(p)
    p.add_argument("-f", "--follow", action="store_true", help="follow a running trial")
    p.add_argument("--stderr", action="store_true", help="show stderr instead of stdout")


def _export(p: Parser) -> None:
    _name(p)
    _storage(p)
    p.add_argument("--format", metavar="FORMAT", default="csv", help="csv, json or jsonl")
    p.add_argument("-o", "--output", metavar="FILE", type=Path, help="write to FILE "
                   "(default: standard output)")  # fmt: skip
    p.add_argument("--curves", action="store_true", help="include intermediate values")


def _report(p: Parser) -> None:
    _name(p)
    p.add_argument("-o", "--output", metavar="FILE", type=Path, required=True,
                   help="the HTML file to write")  # fmt: skip
    _storage(p)


def _server(port: int) -> Callable[[Parser], None]:
    def add(p: Parser) -> None:
        _storage(p)
        p.add_argument("--host", metavar="ADDRESS", default="127.0.0.1", help="bind address")
        p.add_argument("--port", metavar="PORT", type=integer, default=port, help="port")

    return add


def _stop(p: Parser) -> None:
    _name(p)
    _storage(p)
    p.add_argument("--now", action="store_true", help="stop running trials too")


def _smoke(p: Parser) -> None:
    p.add_argument("sweep", metavar="SWEEP.yaml", type=Path, help="the sweep file")
    _storage(p, sweep_file=True)
    p.add_argument("--junit", metavar="FILE", type=Path, help="write a JUnit XML report to FILE")
    p.add_argument("--max-trials", metavar="N", type=count, help="at most N configurations "
                   "(default: the file's `smoke.max_trials:`, else 32)")  # fmt: skip
    p.add_argument("-j", "--jobs", metavar="N", type=jobs, help="trials run at once "
                   "(default: 2)")  # fmt: skip
    _json(p)
    _strict(p)


def _lint(p: Parser) -> None:
    p.add_argument("sweep", metavar="SWEEP.yaml", type=Path, help="the sweep file")
    p.add_argument("--strict", action="store_true", help="warnings are errors (exit 1)")
    _json(p)


def _init(p: Parser) -> None:
    p.add_argument("--template", metavar="NAME", help="the template to write (default: basic; "
                   "all of them are listed below)")  # fmt: skip
    p.add_argument("-o", "--output", metavar="FILE", type=Path, default=Path("sweep.yaml"),
                   help="the file to write")  # fmt: skip
    p.add_argument("--force", action="store_true", help="overwrite an existing file")


def _templates() -> str:
    from sweeprun.commands.init import listing, template_names  # only when help is shown

    return listing(template_names())


def _nothing(p: Parser) -> None:
    return None


#: name -> (one-line summary, the function that adds its arguments)
COMMANDS: dict[str, tuple[str, Callable[[Parser], None]]] = {
    "start": ("Create (or resume) a sweep and run a local agent.", _start),
    "agent": ("Join an existing sweep from this machine.", _agent),
    "validate": ("Check sweep files; print each one's method, metric and search-space size.",
                 _validate),
    "lint": ("Warn about hyperparameter-search anti-patterns in a sweep file.", _lint),
    "smoke": ("Run a small covering set of configurations (for CI).", _smoke),
    "status": ("Show all sweeps in the storage, or one sweep in detail.", _status),
    "trials": ("List a sweep's trials: params, value, state, duration, steps, host.", _trials),
    "best": ("Show the best trial(s) and the command that reproduces each.", _best),
    "logs": ("Print a trial's output.", _logs),
    "export": ("Export one row per trial as CSV, JSON or JSON lines.", _export),
    "report": ("Write a self-contained HTML report with plots.", _report),
    "stop": ("Make every agent of a sweep finish gracefully.", _stop),
    "dashboard": ("Open optuna-dashboard on the sweep storage.", _server(8080)),
    "serve": ("Run Optuna's gRPC storage proxy in front of a database.", _server(13000)),
    "schema": ("Print the JSON Schema of sweep.yaml (for yaml-language-server).", _nothing),
    "init": ("Write a commented sweep.yaml from a template.", _init),
}  # fmt: skip


def command_parser(name: str) -> Parser:
    """The parser of one command."""
    summary, add_arguments = COMMANDS[name]
    epilog_fn = _templates if name == "init" else None
    parser = Parser(prog=f"sweeprun {name}", description=summary, epilog_fn=epilog_fn)
    add_arguments(parser)
    return parser


def root_parser() -> Parser:
    """``sweeprun`` itself: its help lists every command with its summary."""
    width = max(map(len, COMMANDS))
    listing = "\n".join(f"  {n:<{width}}  {summary}" for n, (summary, _) in COMMANDS.items())
    parser = Parser(
        prog="sweeprun",
        usage="sweeprun [-h] [--version] COMMAND [ARGS...]",
        description=SUMMARY,
        epilog=f"commands:\n{listing}\n\nrun `sweeprun COMMAND --help` for a command's options",
    )
    parser.add_argument("--version", action="version", version=f"sweeprun {__version__}")
    return parser


def parse(args: list[str]) -> tuple[str, dict[str, Any]]:
    """``(command, kwargs)`` for ``sweeprun ARGS``; :class:`UsageError` on a bad command line.
    ``--help`` and ``--version`` print and raise ``SystemExit(0)``, as argparse does."""
    first = args[0] if args else None
    if first is None or first.startswith("-"):
        root = root_parser()
        if first is None:
            print(root.format_help(), end="")
            raise UsageError("sweeprun", "no command given", root.format_usage())
        root.parse_known_args(args[:1])  # --help and --version exit here
        raise UsageError("sweeprun", f"unknown option '{first}'", root.format_usage())
    if first not in COMMANDS:
        hint = did_you_mean(first, COMMANDS)
        raise UsageError(
            "sweeprun",
            f"unknown command '{first}'" + (f"; {hint}" if hint else ""),
            root_parser().format_usage(),
        )
    return first, command_parser(first).parse(args[1:])
