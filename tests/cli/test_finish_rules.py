"""Issue 18 items 5 and 7: a trial that ran to its end is COMPLETE whatever a late prune
decision says; ``--max-trials N`` runs N more trials on a resume; a failed baseline runs again
on resume (once per resume)."""

from __future__ import annotations

from pathlib import Path

import optuna

from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS
from tests.helpers.studies import load_trials

PROGRAM = PROGRAMS / "finish_rules.py"
# W&B hyperband, bands 2, 6, ...: at iteration 2 the threshold over x=1 (0.5) and x=3 (1.5) is
# 0.5, so the x=3 trial is pruned by the decision on its second value, its last
HYPERBAND = "early_terminate: {type: hyperband, min_iter: 2, eta: 3}\n"


def sweep_file(tmp: Path, body: str) -> Path:
    path = tmp / "f.yaml"
    path.write_text(f"program: {PROGRAM}\nmetric: {{name: loss}}\n{body}")
    return path


def by_x(home: Path) -> dict[float, optuna.trial.FrozenTrial]:
    return {t.user_attrs["sweeprun.params"]["x"]: t for t in load_trials(home, "f")}


def test_trial_that_ran_to_its_end_is_complete_despite_a_late_prune(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(
        tmp_path,
        f"method: grid\n{HYPERBAND}trial: {{kill_grace: 3s}}\n"
        "parameters:\n  x: {values: [1.0, 3.0]}\n  mode: {value: late}\n  epochs: {value: 2}\n",
    )
    res = run_cli("start", str(sweep), cwd=tmp_path, timeout=120)
    res.assert_code(0)
    trials = by_x(_private_sweeprun_dir)
    late = trials[3.0]
    assert late.state.name == "COMPLETE", res.describe()
    assert late.value == 1.5
    assert sorted(late.intermediate_values) == [1, 2]
    assert "sweep f: 2 complete, 0 pruned, 0 failed" in res.stdout


def test_trial_stopped_for_pruning_is_still_pruned(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(
        tmp_path,
        f"method: grid\n{HYPERBAND}trial: {{kill_grace: 3s}}\n"
        "parameters:\n  x: {values: [1.0, 3.0]}\n  mode: {value: stay}\n  epochs: {value: 2}\n",
    )
    res = run_cli("start", str(sweep), cwd=tmp_path, timeout=120)
    res.assert_code(0)
    trials = by_x(_private_sweeprun_dir)
    assert trials[1.0].state.name == "COMPLETE"
    assert trials[3.0].state.name == "PRUNED", res.describe()
    assert "trial 1 pruned at step 2" in res.stdout


SPACE = "parameters:\n  x: {min: 0.5, max: 1.5}\n"


def test_max_trials_on_a_resume_runs_that_many_more(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(tmp_path, "method: random\nseed: 3\n" + SPACE)
    first = run_cli(
        "start", str(sweep), "--max-trials", "3", cwd=tmp_path, env={"FINISH_FAIL": "1"}
    )
    first.assert_code(1)
    assert [t.state.name for t in load_trials(_private_sweeprun_dir, "f")] == ["FAIL"] * 3
    again = run_cli("start", str(sweep), "--max-trials", "2", cwd=tmp_path)
    again.assert_code(0)
    trials = load_trials(_private_sweeprun_dir, "f")
    assert [t.state.name for t in trials] == ["FAIL"] * 3 + ["COMPLETE"] * 2, again.describe()
    assert "stopped: --max-trials 2 reached (2 launched by this command)" in again.stdout


def test_failed_baseline_runs_again_once_per_resume(
    tmp_path: Path, _private_sweeprun_dir: Path
) -> None:
    sweep = sweep_file(tmp_path, "method: random\nseed: 3\nbaseline:\n  - {x: 0.7}\n" + SPACE)

    def baselines() -> list[str]:
        trials = load_trials(_private_sweeprun_dir, "f")
        return [t.state.name for t in trials if t.user_attrs.get("sweeprun.baseline")]

    fail = {"FINISH_FAIL": "1"}
    run_cli("start", str(sweep), "--max-trials", "1", cwd=tmp_path, env=fail).assert_code(1)
    assert baselines() == ["FAIL"]
    # still failing: the baseline runs again once in this run, not over and over
    res = run_cli("start", str(sweep), "--max-trials", "3", cwd=tmp_path, env=fail)
    res.assert_code(1)
    assert baselines() == ["FAIL", "FAIL"], res.describe()
    assert len(load_trials(_private_sweeprun_dir, "f")) == 4
    res = run_cli("start", str(sweep), "--max-trials", "2", cwd=tmp_path)
    res.assert_code(0)
    assert baselines() == ["FAIL", "FAIL", "COMPLETE"], res.describe()
    trials = load_trials(_private_sweeprun_dir, "f")
    rerun = trials[4]
    assert rerun.user_attrs["sweeprun.baseline"] and rerun.params["x"] == 0.7
    assert rerun.user_attrs["sweeprun.retry_of"] == 1
    assert "vs baseline" in res.stdout
