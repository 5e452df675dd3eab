"""A user's first hour (issue 18 items 1 and 6): ``${interpreter}`` is the ``python`` on the
trial's PATH (W&B's agent runs ``python`` through ``/usr/bin/env``), ``${sweeprun_python}`` is
sweeprun's own; ``logs`` of a trial that wrote only to stderr shows it; ``init`` then ``start``
then ``best`` runs as written; a missing program file is exit 2 before anything is stored."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

from tests.helpers.cli import run_cli
from tests.helpers.paths import SWEEPRUN

#: sweeprun's own Python: the installed command's interpreter
SWEEPRUN_PYTHON = Path(SWEEPRUN).read_text(encoding="utf-8").splitlines()[0].removeprefix("#!")

#: a trial program that imports sweeprun's client, says which Python runs it and reports
PROGRAM = """\
import json, sys
import sweeprun
print(json.dumps({"exe": sys.executable, "argv0": sys.argv[0]}), file=sys.stderr)
sweeprun.report(loss=float(sys.argv[-1].split("=")[1]))
"""


def _python_wrapper(bin_dir: Path, marker: Path) -> Path:
    """A ``python`` on a PATH of its own that records it ran, then execs a real Python (one
    that is not sweeprun's venv: the test's base interpreter, without sweeprun installed)."""
    bin_dir.mkdir(parents=True)
    real = getattr(sys, "_base_executable", None) or sys.executable
    wrapper = bin_dir / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> "{marker}"\nexec "{real}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return wrapper


def _sweep(tmp_path: Path, extra: str = "", program: str = "train.py") -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"program: {program}\nmethod: grid\nmetric: {{name: loss}}\n"
        f"parameters: {{x: {{values: [1]}}}}\n{extra}",
        encoding="utf-8",
    )
    return path


def test_interpreter_is_the_python_first_on_path(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(PROGRAM, encoding="utf-8")
    marker = tmp_path / "used.txt"
    wrapper = _python_wrapper(tmp_path / "venv" / "bin", marker)
    path = f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}"
    res = run_cli("start", "sweep.yaml", cwd=_sweep(tmp_path).parent, env={"PATH": path})
    res.assert_success()
    assert f"trials run ${{interpreter}} = {wrapper} (the python on PATH" in res.stdout, (
        res.describe()
    )
    assert "train.py --x=1" in marker.read_text(), "the trial did not run the PATH's python"
    assert "1 complete" in res.stdout, res.describe()  # its `import sweeprun` worked


def test_interpreter_follows_a_path_set_in_trial_env(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(PROGRAM, encoding="utf-8")
    marker = tmp_path / "used.txt"
    wrapper = _python_wrapper(tmp_path / "env-bin", marker)
    extra = f"trial:\n  env:\n    PATH: {json.dumps(f'{wrapper.parent}:/usr/bin:/bin')}\n"
    res = run_cli("start", "sweep.yaml", cwd=_sweep(tmp_path, extra).parent).assert_success()
    assert f"= {wrapper} (the python on PATH" in res.stdout, res.describe()
    assert "train.py --x=1" in marker.read_text()


def test_sweeprun_python_macro_is_sweeprun_s_own(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(PROGRAM, encoding="utf-8")
    extra = "command: ['${sweeprun_python}', '${program}', '${args}']\n"
    run_cli("validate", "sweep.yaml", cwd=_sweep(tmp_path, extra).parent).assert_success()
    res = run_cli("start", "sweep.yaml", "--dry-run", cwd=tmp_path).assert_success()
    assert f"trial 0: {SWEEPRUN_PYTHON} train.py --x=1" in res.stdout, res.describe()
    res = run_cli("start", "sweep.yaml", cwd=tmp_path).assert_success()
    assert "trials run ${interpreter}" not in res.stdout  # the command does not use it
    run = run_cli("logs", "sweep", "0", "--stderr", cwd=tmp_path).assert_success()
    assert json.loads(run.stdout.strip().splitlines()[-1])["exe"] == SWEEPRUN_PYTHON


def test_logs_of_a_stderr_only_trial_shows_its_stderr(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text(
        "import sys\nprint('boom: only on stderr', file=sys.stderr)\nsys.exit(3)\n",
        encoding="utf-8",
    )
    _sweep(tmp_path)
    run_cli("start", "sweep.yaml", cwd=tmp_path).assert_code(1)
    res = run_cli("logs", "sweep", "0", cwd=tmp_path).assert_success()
    assert "boom: only on stderr" in res.stdout, res.describe()
    assert "wrote nothing to stdout" in res.stderr and "--stderr" in res.stderr, res.describe()


def test_init_then_start_then_best_without_editing(tmp_path: Path) -> None:
    res = run_cli("init", cwd=tmp_path).assert_success()
    assert "wrote train.py" in res.stdout, res.describe()
    start = run_cli("start", "sweep.yaml", "--max-trials", "4", cwd=tmp_path).assert_success()
    assert "4 complete, 0 pruned, 0 failed" in start.stdout or "0 failed" in start.stdout, (
        start.describe()
    )
    best = run_cli("best", "basic", "--json", cwd=tmp_path).assert_success()
    assert "val_loss" in best.stdout, best.describe()
    # a second init keeps the user's program
    (tmp_path / "train.py").write_text("# mine\n", encoding="utf-8")
    again = run_cli("init", "--force", cwd=tmp_path).assert_success()
    assert "kept the existing" in again.stdout
    assert (tmp_path / "train.py").read_text(encoding="utf-8") == "# mine\n"


def test_missing_program_is_exit_2_before_any_trial(tmp_path: Path) -> None:
    _sweep(tmp_path, program="trian.py")
    res = run_cli("start", "sweep.yaml", cwd=tmp_path).assert_code(2)
    assert "program: 'trian.py' does not exist" in res.stderr, res.describe()
    assert "fix: point 'program:'" in res.stderr
    assert "trial 0 started" not in res.stdout + res.stderr
    status = run_cli("trials", "sweep", cwd=tmp_path)
    assert status.returncode == 2, status.describe()  # no sweep, so no trial, was stored
