"""The command-line parser (:mod:`sweeprun.cli.app`): every flag, alias and default of every
command, and the keyword arguments each command line gives ``commands.<name>.run``."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sweeprun.cli.app import COMMANDS, command_parser, parse
from sweeprun.cli.parser import UsageError

#: command -> its positional arguments and every option spelling (SPEC §1 and more)
FLAGS: dict[str, tuple[list[str], set[str]]] = {
    "start": (["s.yaml"], {"--jobs", "-j", "--storage", "--name", "--gpus", "--max-trials",
                           "--timeout", "--dry-run", "--json", "--quiet", "-q", "--strict"}),
    "agent": (["n"], {"--storage", "--jobs", "-j", "--count", "--gpus", "--json", "--quiet",
                      "-q"}),
    "validate": (["s.yaml"], {"--json", "--strict"}),
    "schema": ([], set()),
    "status": ([], {"--storage", "--json"}),
    "trials": (["n"], {"--storage", "--state", "--sort", "--limit", "--json"}),
    "best": (["n"], {"--storage", "--top", "--script", "--json"}),
    "logs": (["n", "3"], {"--storage", "--follow", "-f", "--stderr"}),
    "export": (["n"], {"--storage", "--format", "--output", "-o", "--curves"}),
    "report": (["n", "-o", "r.html"], {"--output", "-o", "--storage"}),
    "dashboard": ([], {"--storage", "--host", "--port"}),
    "stop": (["n"], {"--storage", "--now"}),
    "serve": ([], {"--storage", "--host", "--port"}),
    "smoke": (["s.yaml"], {"--storage", "--junit", "--max-trials", "--jobs", "-j", "--json",
                           "--strict"}),
    "lint": (["s.yaml"], {"--strict", "--json"}),
    "init": ([], {"--template", "--output", "-o", "--force"}),
}  # fmt: skip


def test_every_command_is_listed() -> None:
    assert set(COMMANDS) == set(FLAGS)


@pytest.mark.parametrize("name", FLAGS)
def test_flags_and_aliases(name: str) -> None:
    actions = command_parser(name)._actions
    options = {s for a in actions for s in a.option_strings} - {"-h", "--help"}
    assert options == FLAGS[name][1]


@pytest.mark.parametrize("name", FLAGS)
def test_defaults_are_the_run_functions_defaults(name: str) -> None:
    """With only the required arguments, each keyword is the default of ``run``'s parameter
    of the same name: the parser and the command agree on names and defaults."""
    command, kwargs = parse([name, *FLAGS[name][0]])
    assert command == name
    run = importlib.import_module(f"sweeprun.commands.{name}").run
    params = inspect.signature(run).parameters
    assert set(kwargs) == set(params)
    for key, param in params.items():
        if param.default is not inspect.Parameter.empty:
            assert kwargs[key] == param.default, key


def _start(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "sweep": Path("s.yaml"), "jobs": None, "storage": None, "name": None, "gpus": None,
        "max_trials": None, "timeout": None, "dry_run": False, "json_out": False, "quiet": False,
        "strict": False,
    }  # fmt: skip
    out.update(kw)
    return out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["s.yaml"], _start()),
        (["-q", "s.yaml"], _start(quiet=True)),
        (["s.yaml", "--jobs=2"], _start(jobs=2)),
        (["s.yaml", "-j", "3"], _start(jobs=3)),
        (["s.yaml", "-j3"], _start(jobs=3)),
        (["s.yaml", "-qj2"], _start(quiet=True, jobs=2)),
        (["s.yaml", "--jobs", "007"], _start(jobs=7)),
        (["s.yaml", "--jobs", "-1"], _start(jobs=-1)),  # refused by the command: a clear message
        (["s.yaml", "--jobs", "2", "--jobs", "3"], _start(jobs=3)),  # the last one wins
        (["--storage", "j.log", "s.yaml"], _start(storage="j.log")),
        (["s.yaml", "--storage", ""], _start(storage="")),
        (["s.yaml", "--name=a=b"], _start(name="a=b")),
        (["s.yaml", "--timeout", "4h", "--max-trials", "5"], _start(timeout="4h", max_trials=5)),
        (["s.yaml", "--dry-run", "--json"], _start(dry_run=True, json_out=True)),
        (["--", "-s.yaml"], _start(sweep=Path("-s.yaml"))),
        (["--gpus", "0,1", "--", "s.yaml"], _start(gpus="0,1")),
        (["s.yaml", "--storage", "-odd.log"], _start(storage="-odd.log")),  # a value, not an option
        (["s.yaml", "--name", "--quiet"], _start(name="--quiet")),
    ],
)
def test_start_command_lines(args: list[str], expected: dict[str, Any]) -> None:
    assert parse(["start", *args]) == ("start", expected)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["start"], "the following arguments are required: SWEEP.yaml"),
        (["start", "s.yaml", "--jbos", "2"], "unknown option '--jbos'; did you mean '--jobs'?"),
        (["start", "--jbos=2", "s.yaml"], "unknown option '--jbos'; did you mean '--jobs'?"),
        (["start", "s.yaml", "--max"], "unknown option '--max'"),  # no abbreviations
        (["start", "s.yaml", "-J", "2"], "unknown option '-J'"),
        (["start", "s.yaml", "--jobs", "x"], "argument -j/--jobs: invalid integer value: 'x'"),
        (["start", "s.yaml", "--jobs", "1_0"], "argument -j/--jobs: invalid integer value: '1_0'"),
        (["start", "s.yaml", "--jobs", "²"], "argument -j/--jobs: invalid integer value: '²'"),
        (["start", "s.yaml", "--jobs"], "argument -j/--jobs: expected one argument"),
        (["start", "s.yaml", "--quiet=1"], "argument -q/--quiet: ignored explicit argument '1'"),
        (["start", "s.yaml", "other.yaml"], "unexpected extra argument 'other.yaml'"),
        (["start", "s.yaml", "--", "--x"], "unexpected extra argument '--x'"),
        (["validate", "-x.yaml"], "unknown option '-x.yaml'"),
        (["trials", "n", "--stat", "x"], "unknown option '--stat'; did you mean '--state'?"),
        (["report", "n"], "the following arguments are required: -o/--output"),
        (["logs", "n", "last"], "argument TRIAL: invalid integer value: 'last'"),
        (["schema", "x"], "unexpected extra argument 'x'"),
        (["strat", "s.yaml"], "unknown command 'strat'; did you mean 'start'?"),
        (["--jobs", "2"], "unknown option '--jobs'"),
        ([], "no command given"),
    ],
)
def test_usage_errors_say_what_is_wrong(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError) as info:
        parse(args)
    assert info.value.message == message
    command = "sweeprun" if not args or args[0] not in COMMANDS else f"sweeprun {args[0]}"
    assert str(info.value).endswith(f"see `{command} --help`")
    assert info.value.exit_code == 2
    capsys.readouterr()  # the bare `sweeprun` prints its help first


def test_validate_takes_options_between_files() -> None:
    _, kwargs = parse(["validate", "a.yaml", "--json", "b.yaml"])
    assert kwargs == {"files": [Path("a.yaml"), Path("b.yaml")], "json_out": True, "strict": False}
    _, kwargs = parse(["validate", "a.yaml", "--strict", "b.yaml"])
    assert kwargs["strict"] is True and kwargs["files"] == [Path("a.yaml"), Path("b.yaml")]


def test_a_value_may_start_with_a_dash() -> None:
    _, kwargs = parse(["trials", "n", "--sort", "-loss", "--limit", "2"])
    assert (kwargs["sort"], kwargs["limit"]) == ("-loss", 2)


def test_repeatable_state() -> None:
    _, kwargs = parse(["trials", "n", "--state", "fail", "--state", "pruned"])
    assert kwargs["state"] == ["fail", "pruned"]


def test_main_collects_rarely_and_freezes_the_heap_before_the_interpreter_tears_down() -> None:
    """Start-up and exit skip walks of every object the command made (see benchmarks.md)."""
    code = (
        "import gc, sys\n"
        "import sweeprun.cli.main as m\n"
        "try:\n    m.main(['--version'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code, gc.get_freeze_count() > 0, gc.get_threshold()[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-3:] == ["0", "True", "50000"]  # young collections are rarer
