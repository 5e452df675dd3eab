"""The installed ``sweeprun`` command's help and usage errors: every ``--help`` exits 0 and says
what the command does; a bad command line is exit 2 with a message, the usage and a hint,
never a traceback; a command's own checks of its options are exit 2 before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeprun import __version__
from sweeprun.cli.app import COMMANDS
from sweeprun.commands.init import template_names
from tests.helpers.cli import run_cli


def test_root_help_lists_every_command_with_its_summary() -> None:
    out = run_cli("--help").assert_success().stdout
    assert out.startswith("usage: sweeprun [-h] [--version] COMMAND [ARGS...]\n")
    for name, (summary, _) in COMMANDS.items():
        assert f"\n  {name:<9}  {summary}\n" in out


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_help_exits_0_and_says_what_it_does(name: str) -> None:
    res = run_cli(name, "--help").assert_success()
    summary = COMMANDS[name][0]
    assert res.stdout.startswith(f"usage: sweeprun {name} ")
    assert f"\n\n{summary}\n" in res.stdout
    assert len(summary) <= 76 and "\n" not in summary  # one line
    assert res.stderr == ""


def test_start_help_shows_the_defaults() -> None:
    out = " ".join(run_cli("start", "--help").assert_success().stdout.split())
    for text in (
        "-j N, --jobs N trials run at once (default: the file's `parallelism:`, else 1)",
        "(default: $SWEEPRUN_STORAGE, else the file's `storage:`, else .sweeprun/journal.log)",
        "--name NAME sweep name (default: the file's `name:`, else the file name without .yaml)",
        "(default: the file's `budget.time:`, else none)",
        "--max-trials N run at most N trials (default: the file's `run_cap:`",
    ):
        assert text in out


def test_defaults_of_other_commands_are_shown() -> None:
    assert "the K best trials (default: 1)" in run_cli("best", "--help").stdout
    assert "port (default: 8080)" in run_cli("dashboard", "--help").stdout
    assert "csv, json or jsonl (default: csv)" in run_cli("export", "--help").stdout


def test_init_help_lists_the_templates() -> None:
    out = run_cli("init", "--help").assert_success().stdout
    names = template_names()
    assert len(names) >= 5
    for name in names:
        assert f"\n  {name} " in out
    assert "templates:" in out and "(default)" in out


def test_version() -> None:
    assert run_cli("--version").assert_success().stdout == f"sweeprun {__version__}\n"


def test_no_command_shows_the_help_and_exits_2() -> None:
    res = run_cli().assert_code(2)
    assert "commands:" in res.stdout and "start" in res.stdout
    assert "sweeprun: no command given" in res.stderr


@pytest.mark.parametrize(
    ("args", "first_line", "usage"),
    [
        (["strat"], "sweeprun: unknown command 'strat'; did you mean 'start'?", "sweeprun"),
        (["--bogus"], "sweeprun: unknown option '--bogus'", "sweeprun"),
        (["start", "s.yaml", "--jbos", "2"],
         "sweeprun start: unknown option '--jbos'; did you mean '--jobs'?", "sweeprun start"),
        (["start"], "sweeprun start: the following arguments are required: SWEEP.yaml",
         "sweeprun start"),
        (["logs", "n"], "sweeprun logs: the following arguments are required: TRIAL",
         "sweeprun logs"),
        (["agent", "n", "--jobs", "two"],
         "sweeprun agent: argument -j/--jobs: invalid integer value: 'two'", "sweeprun agent"),
        (["export", "n", "--curve"],
         "sweeprun export: unknown option '--curve'; did you mean '--curves'?", "sweeprun export"),
    ],
)  # fmt: skip
def test_usage_errors_exit_2_with_a_hint(
    tmp_path: Path, args: list[str], first_line: str, usage: str
) -> None:
    res = run_cli(*args, cwd=tmp_path).assert_code(2)  # assert_code: no traceback
    lines = res.stderr.splitlines()
    assert lines[0] == first_line
    assert lines[1].startswith(f"usage: {usage} ")
    assert lines[-1] == f"see `{usage} --help`"
    assert res.stdout == ""
    assert not (tmp_path / ".sweeprun").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--jobs", "0"], "sweeprun: --jobs must be at least 1"),
        (["--max-trials=0"], "sweeprun: --max-trials must be at least 1"),
        (["--timeout", "soon"], "sweeprun: --timeout: "),
        (["--name", "bad\tname"], "sweeprun: invalid sweep name 'bad\\tname'"),
    ],
)
def test_start_refuses_bad_option_values_before_anything_runs(
    tmp_path: Path, _private_sweeprun_dir: Path, args: list[str], message: str
) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text("method: random\nparameters:\n  x: {min: 0.0, max: 2.0}\n")
    res = run_cli("start", str(sweep), *args, cwd=tmp_path).assert_code(2)
    assert message in res.stderr
    assert not _private_sweeprun_dir.exists()
