"""Distinct sweep names never share trial directories (``team/exp``, ``team_exp``, ``team exp``;
``..``, ``.``, ``sweep``), and the logs of a sweep made before the mapping changed stay readable."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.studies import load_trials

MARKER = """\
import json, sys
params = json.load(open(sys.argv[1], encoding="utf-8"))
print(f"marker {params['marker']} read {json.dumps(params, sort_keys=True)}")
print(json.dumps({"loss": 1.0}))
"""

SWEEP = """\
program: {program}
command: ["${{interpreter}}", "${{program}}", "${{args_json_file}}"]
method: grid
metric: {{name: loss}}
parameters:
  marker: {{value: {marker}}}
"""


def run_sweep(tmp: Path, name: str, marker: str) -> None:
    program = tmp / "marker.py"
    program.write_text(MARKER)
    sweep = tmp / f"{marker}.yaml"
    sweep.write_text(SWEEP.format(program=program, marker=marker))
    run_cli("start", str(sweep), "--name", name, "-q", cwd=tmp).assert_success()


def recorded_dir(home: Path, name: str) -> Path:
    (trial,) = load_trials(home, name)
    return Path(trial.user_attrs["sweeprun.log_dir"])


def old_safe_name(name: str) -> str:
    """The mapping before issue 19 item 5 (where old sweeps' trials live)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip(".") or "sweep"
    return cleaned  # (names over 100 characters were cut; not needed here)


def rewrite_journal(home: Path, old: str, new: str) -> None:
    journal = home / "journal.log"
    text = journal.read_text(encoding="utf-8")
    needle, repl = json.dumps(old)[1:-1], json.dumps(new)[1:-1]
    assert needle in text
    journal.write_text(text.replace(needle, repl), encoding="utf-8")


GROUPS = [("team/exp", "team_exp", "team exp"), ("..", ".", "sweep")]


@pytest.mark.parametrize("names", GROUPS, ids=["slashes-spaces", "dots"])
def test_names_with_the_same_slug_keep_their_trials_apart(
    tmp_path: Path, _private_sweeprun_dir: Path, names: tuple[str, ...]
) -> None:
    home = _private_sweeprun_dir
    markers = {name: f"m{i}" for i, name in enumerate(names)}
    for name, marker in markers.items():
        run_sweep(tmp_path, name, marker)
    dirs = {name: recorded_dir(home, name) for name in names}
    for name, marker in markers.items():
        res = run_cli("logs", name, "0", cwd=tmp_path).assert_success()
        shown = re.findall(r"marker (\S+)", res.stdout)
        assert shown == [marker], (name, res.stdout)  # only its own trial's output
        assert json.loads((dirs[name] / "params.json").read_text()) == {"marker": marker}
        assert dirs[name].parent.parent == home, (name, dirs[name])  # one component under home
    assert len({d.parent for d in dirs.values()}) == len(names), dirs  # one directory each


def test_a_sweep_made_with_the_old_directory_still_shows_its_logs(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    """Its trial recorded the old mapping's directory in ``sweeprun.log_dir``: that wins."""
    home = _private_sweeprun_dir
    run_sweep(tmp_path, "team/exp", "old")
    new_dir = recorded_dir(home, "team/exp")
    legacy = home / old_safe_name("team/exp") / new_dir.name
    if legacy != new_dir:
        legacy.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(new_dir, legacy)
        shutil.rmtree(new_dir.parent)  # nothing left at the computed place
        rewrite_journal(home, str(new_dir), str(legacy))
    assert recorded_dir(home, "team/exp") == legacy
    res = run_cli("logs", "team/exp", "0", cwd=tmp_path).assert_success()
    assert re.findall(r"marker (\S+)", res.stdout) == ["old"], res.stdout


def test_a_trial_without_a_recorded_directory_falls_back_to_the_computed_one(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    home = _private_sweeprun_dir
    run_sweep(tmp_path, "team/exp", "mine")
    journal = home / "journal.log"
    kept = [
        line
        for line in journal.read_text(encoding="utf-8").splitlines(keepends=True)
        if "sweeprun.log_dir" not in json.loads(line).get("user_attr", {})
    ]
    journal.write_text("".join(kept), encoding="utf-8")
    (trial,) = load_trials(home, "team/exp")
    assert "sweeprun.log_dir" not in trial.user_attrs
    res = run_cli("logs", "team/exp", "0", cwd=tmp_path).assert_success()
    assert re.findall(r"marker (\S+)", res.stdout) == ["mine"], res.stdout
