"""Values `validate` used to accept but `start` could not use (issue 19, item 7): numbers past
what the code honours and strings no program argument or environment variable can hold are
refused by `validate` and `start` alike (exit 2, the key path), before anything is stored;
the largest values accepted actually run."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from tests.helpers.cli import Result, run_cli
from tests.helpers.paths import PROGRAMS
from tests.helpers.studies import load_trials

RUN_TRIAL = PROGRAMS / "run_trial.py"
#: Linux MAX_ARG_STRLEN: one argv or environment string, its terminating NUL included
MAX_ARG_STRLEN = 131072
BIG = "a" * 300_000
#: the longest `blob` constant whose trial environment fits: SWEEPRUN_PARAMS={"blob": "..."}
LONGEST_BLOB = MAX_ARG_STRLEN - 1 - len('SWEEPRUN_PARAMS={"blob": ""}')


def sweep_text(*, top: str = "", trial: str = "", params: str = "  x: {values: [1, 2]}\n") -> str:
    return (
        f"program: {RUN_TRIAL}\nmethod: random\nmetric: {{name: loss}}\nrun_cap: 2\n{top}"
        f"trial: {{kill_grace: 0.5s{trial}}}\nparameters:\n{params}"
    )


CASES = {
    "heartbeat-1e308": (sweep_text(trial=", heartbeat: 1e308"), "trial.heartbeat", []),
    "parallelism-1e9": (sweep_text(top="parallelism: 1000000000\n"), "parallelism", []),
    "jobs-1e9": (sweep_text(), "--jobs", ["--jobs", "1000000000"]),
    "nul-constant": (
        sweep_text(params='  x: {values: [1, 2]}\n  tag: {value: "a\\0b"}\n'),
        "parameters.tag.value",
        [],
    ),
    "env-name-with-equals": (
        sweep_text(trial=', env: {"A=B": "1"}'),
        "trial.env.A=B",
        [],
    ),
    "300kB-constant": (
        sweep_text(params=f"  x: {{values: [1, 2]}}\n  blob: {{value: {BIG}}}\n"),
        "parameters.blob.value",
        [],
    ),
    "300kB-categorical": (
        sweep_text(params=f"  x: {{values: [1, 2]}}\n  blob: {{values: [short, {BIG}]}}\n"),
        "parameters.blob.values[1]",
        [],
    ),
}


def journal_studies(home: Path) -> list[str]:
    """The sweeps in the default journal file under ``home`` (none when there is no file)."""
    from optuna.storages.journal import JournalFileBackend

    journal = home / "journal.log"
    if not journal.exists():
        return []
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.JournalStorage(JournalFileBackend(str(journal)))
    return [s.study_name for s in optuna.get_all_study_summaries(storage)]


def assert_refused(res: Result, where: str) -> None:
    res.assert_code(2)  # and no traceback
    assert where in res.stderr, res.describe()
    assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.parametrize("case", list(CASES))
def test_validate_and_start_refuse_what_start_cannot_use(
    case: str, tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    text, where, start_args = CASES[case]
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(text)
    if not start_args:  # a command-line option is no part of the file
        res = run_cli("validate", str(sweep), cwd=tmp_path, timeout=60)
        assert_refused(res, where)
        assert f"{sweep}: invalid sweep configuration" in res.stderr
    res = run_cli("start", str(sweep), *start_args, cwd=tmp_path, timeout=60)
    assert_refused(res, where)
    assert journal_studies(_private_sweeprun_dir) == []  # nothing created in the storage
    assert not (_private_sweeprun_dir / "sweep").exists()  # no trial directory either


def test_the_refusals_say_what_to_do(tmp_path: Path) -> None:
    """One message per kind: the key path, what is wrong and the fix."""
    expected = {
        "heartbeat-1e308": "at most 30 days",
        "parallelism-1e9": "use at most 4096 trials at once",
        "jobs-1e9": "at most 4096",
        "nul-constant": "NUL character",
        "env-name-with-equals": "contains '='",
        "300kB-constant": "131,071 bytes",
        "300kB-categorical": "131,071 bytes",
    }
    for case, needle in expected.items():
        text, where, start_args = CASES[case]
        sweep = tmp_path / f"{case}.yaml"
        sweep.write_text(text)
        args = ["start", str(sweep), *start_args] if start_args else ["validate", str(sweep)]
        res = run_cli(*args, cwd=tmp_path, timeout=60).assert_code(2)
        assert needle in res.stderr, res.describe()
        assert where in res.stderr, res.describe()


def test_the_largest_heartbeat_and_parallelism_run(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = tmp_path / "edge.yaml"
    sweep.write_text(sweep_text(top="parallelism: 4096\n", trial=", heartbeat: 30d"))
    run_cli("validate", str(sweep), cwd=tmp_path).assert_success()
    res = run_cli("start", str(sweep), "-q", cwd=tmp_path)
    res.assert_success()
    assert "Traceback" not in res.stderr, res.describe()
    trials = load_trials(_private_sweeprun_dir, "edge")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]


def test_the_longest_value_accepted_reaches_the_program(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    """A constant as long as a trial's environment can carry runs, and one byte more is
    refused: the bound is the operating system's, not a guess."""
    blob = "b" * LONGEST_BLOB
    edge = tmp_path / "longest.yaml"
    edge.write_text(sweep_text(params=f"  blob: {{value: {blob}}}\n"))
    run_cli("validate", str(edge), cwd=tmp_path).assert_success()
    res = run_cli("start", str(edge), "-q", "--jobs", "4096", cwd=tmp_path)
    res.assert_success()
    trials = load_trials(_private_sweeprun_dir, "longest")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    assert trials[0].user_attrs["sweeprun.params"]["blob"] == blob  # it reached the trial

    over = tmp_path / "over.yaml"
    over.write_text(sweep_text(params=f"  blob: {{value: {blob}b}}\n"))
    assert_refused(run_cli("validate", str(over), cwd=tmp_path), "parameters.blob.value")
    assert_refused(run_cli("start", str(over), cwd=tmp_path), "parameters.blob.value")
    assert "over" not in journal_studies(_private_sweeprun_dir)
