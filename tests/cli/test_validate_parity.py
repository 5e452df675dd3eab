"""`validate` checks what `start` checks; where W&B is lenient sweeprun follows it with a warning
(an unknown macro is dropped, an unset ``${envvar:NAME}`` gives ``NAME``, a duplicate key keeps
its last value), and ``--strict`` makes each warning an error (issue 18, items 2 and 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS
from tests.helpers.studies import load_trials

PRINT_ARGS = PROGRAMS / "print_args.py"
LENIENT_CORPUS = Path(__file__).parent.parent / "corpus" / "lenient"
UNSET = "SWEEPRUN_TEST_SURELY_UNSET_VAR"

NO_PROGRAM = """\
method: grid
command: ["${interpreter}", "${program}", "${args}"]
parameters:
  lr: {values: [0.1]}
"""
GOOD = f"""\
program: {PRINT_ARGS}
method: grid
parameters:
  lr: {{values: [0.1, 0.2]}}
"""
EMPTY = "method: grid\nparameters: {}\n"

#: name → (sweep file, the warning's key path, its rule, the argv W&B's agent builds after the
#: interpreter and program)
LENIENT = {
    "unknown-macro": (
        f"""\
program: {PRINT_ARGS}
method: grid
command: ["${{interpreter}}", "${{program}}", "${{arg}}", "--x=1"]
parameters:
  lr: {{values: [0.1]}}
""",
        "command[2]",
        "did you mean '${args}'?",
        ["--x=1"],
    ),
    "unset-envvar": (
        f"""\
program: {PRINT_ARGS}
method: grid
command: ["${{interpreter}}", "${{program}}", "--data=${{envvar:{UNSET}}}/x", "${{args}}"]
parameters:
  lr: {{values: [0.1]}}
""",
        "command[2]",
        f"export {UNSET}=",
        [f"--data={UNSET}/x", "--lr=0.1"],
    ),
    "duplicate-key": (
        f"""\
program: {PRINT_ARGS}
method: grid
parameters:
  lr: {{values: [0.1]}}
  bs: {{values: [8]}}
  lr: {{values: [0.5]}}
""",
        "parameters.lr",
        "keep one of them",
        ["--bs=8", "--lr=0.5"],  # W&B passes them sorted
    ),
}


def test_validate_refuses_program_macro_without_program_like_start(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(NO_PROGRAM)
    validated = run_cli("validate", str(sweep), cwd=tmp_path).assert_code(2)
    started = run_cli("start", str(sweep), cwd=tmp_path).assert_code(2)
    message = (
        f"sweeprun: {sweep}: invalid sweep configuration\n"
        "  at command[1] (line 2): uses ${program} but the sweep has no 'program:'\n"
        "    fix: add 'program: train.py' to the sweep file, or remove ${program} from "
        "'command:'\n"
    )
    assert validated.stderr == message
    assert message in started.stderr
    assert "ok" not in validated.stdout


@pytest.mark.parametrize("bad", [NO_PROGRAM, EMPTY], ids=["no-program", "empty-parameters"])
def test_every_file_is_reported_and_any_bad_one_exits_2(tmp_path: Path, bad: str) -> None:
    a, b, c = (tmp_path / f"{n}.yaml" for n in "abc")
    a.write_text(GOOD)
    b.write_text(bad)
    c.write_text(GOOD)
    text = run_cli("validate", str(a), str(b), str(c), cwd=tmp_path).assert_code(2)
    assert text.stdout.splitlines()[0].startswith(f"{a}: ok")
    assert text.stdout.splitlines()[1].startswith(f"{c}: ok")
    assert text.stderr.startswith(f"sweeprun: {b}: invalid sweep configuration\n")
    rows = run_cli("validate", "--json", str(a), str(b), str(c), cwd=tmp_path)
    rows.assert_code(2)
    docs = [json.loads(line) for line in rows.stdout.splitlines()]
    assert [(d["file"], d["ok"]) for d in docs] == [(str(a), True), (str(b), False), (str(c), True)]
    assert docs[1]["errors"] and all(e["path"] and e["message"] for e in docs[1]["errors"])


@pytest.mark.parametrize("rule", list(LENIENT))
def test_lenient_case_warns_and_start_builds_wandbs_argv(
    tmp_path: Path, _private_sweeprun_dir: Path, rule: str
) -> None:
    text, path, fix, expected = LENIENT[rule]
    sweep = tmp_path / "s.yaml"
    sweep.write_text(text)
    validated = run_cli("validate", str(sweep), cwd=tmp_path).assert_code(0)
    assert validated.stdout.startswith(f"{sweep}: ok")
    line = next(ln for ln in validated.stderr.splitlines() if ln.startswith("warning:"))
    assert line.startswith(f"warning: {path}: ") and line.endswith(f"[{rule}]")
    assert fix in validated.stderr and "    fix: " in validated.stderr
    doc = json.loads(run_cli("validate", "--json", str(sweep), cwd=tmp_path).stdout)
    assert [(w["rule"], w["path"]) for w in doc["warnings"]] == [(rule, path)]

    started = run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)
    assert f"warning: {path}: " in started.stderr and f"[{rule}]" in started.stderr
    (trial,) = load_trials(_private_sweeprun_dir, "s")
    argv = trial.user_attrs["sweeprun.argv"]
    assert argv[1:] == [str(PRINT_ARGS), *expected]  # argv[0]: the interpreter
    printed = Path(trial.user_attrs["sweeprun.log_dir"], "stdout.log").read_text()
    assert json.loads(printed.splitlines()[0]) == {"argv": expected}


@pytest.mark.parametrize("rule", list(LENIENT))
@pytest.mark.parametrize("command", ["validate", "start", "smoke"])
def test_strict_turns_each_warning_into_exit_2(
    tmp_path: Path, _private_sweeprun_dir: Path, rule: str, command: str
) -> None:
    text, path, fix, _ = LENIENT[rule]
    sweep = tmp_path / "s.yaml"
    sweep.write_text(text)
    result = run_cli(command, str(sweep), "--strict", cwd=tmp_path).assert_code(2)
    assert result.stderr.startswith(f"sweeprun: {sweep}: invalid sweep configuration\n")
    assert f"  at {path} (line " in result.stderr and f"[{rule};" in result.stderr
    assert fix in result.stderr
    assert not (_private_sweeprun_dir / "journal.log").exists()  # nothing was started


@pytest.mark.parametrize("path", sorted(LENIENT_CORPUS.glob("*.yaml")), ids=lambda p: p.name)
def test_lenient_corpus_warns_and_fails_with_strict_as_its_header_says(path: Path) -> None:
    header = path.read_text().split("\n", 1)[0]
    assert header.startswith("# expect (--strict): "), header
    where, _, text = header[len("# expect (--strict): ") :].partition(" | ")
    warned = run_cli("validate", str(path)).assert_code(0)
    assert f"warning: {where}: {text}" in warned.stderr
    strict = run_cli("validate", "--strict", str(path)).assert_code(2)
    assert strict.stdout == "" and f"at {where} (line " in strict.stderr and text in strict.stderr
