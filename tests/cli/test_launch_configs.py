"""W&B Launch sweep configs (``job:``, ``image_uri:``, ``scheduler:`` without ``program:`` or
``method:``): ``validate`` and ``start`` say it is a Launch sweep, that sweeprun runs a local
program instead, and what to write (the ``method:`` and ``early_terminate:`` the Optuna
scheduler's settings mean), not a bare "missing required key 'method'"."""

from __future__ import annotations

import os
from pathlib import Path

from tests.helpers.cli import run_cli

LAUNCH = """\
job: 'wandb/jobs/Hello World 2:latest'
description: sweep examples using launch jobs
scheduler:
  job: 'wandb/sweep-jobs/job-optuna-sweep-scheduler:latest'
  resource: local-container
  num_workers: 2
  settings:
    pruner: {type: PercentilePruner, args: {percentile: 25.0}}
    sampler: {type: CmaEsSampler}
metric: {name: val_loss, goal: minimize}
run_cap: 3
parameters:
  lr: {min: 0.0001, max: 0.1}
"""


def test_a_launch_sweep_says_what_to_write_instead(tmp_path: Path) -> None:
    sweep = tmp_path / "launch.yaml"
    sweep.write_text(LAUNCH)
    for command in ("validate", "start"):
        res = run_cli(command, str(sweep), cwd=tmp_path)
        res.assert_code(2)
        err = res.stderr
        assert "Traceback" not in err
        assert "at job (line 1): this is a W&B Launch sweep" in err, err
        assert "fix: add `program: train.py`" in err, err
        assert "fix: add `method: cmaes`" in err and "early_terminate: {type: percentile}" in err
        assert "missing required key 'method'" not in err
    journal = Path(os.environ["SWEEPRUN_DIR"]) / "journal.log"  # the default storage
    assert not journal.exists() or "launch" not in journal.read_text()  # start stored nothing


def test_a_launch_sweep_with_a_program_and_a_method_runs(tmp_path: Path) -> None:
    program = tmp_path / "train.py"
    program.write_text(
        "import argparse, json\np = argparse.ArgumentParser()\np.add_argument('--lr', type=float)\n"
        "print(json.dumps({'val_loss': p.parse_args().lr}))\n"
    )
    sweep = tmp_path / "launch.yaml"
    sweep.write_text(f"program: {program}\nmethod: cmaes\n" + LAUNCH)
    res = run_cli("start", str(sweep), cwd=tmp_path)
    res.assert_code(0)
    assert "'job' is a W&B-only key; sweeprun ignores it" in res.stdout + res.stderr
    assert "3 complete" in res.stdout, res.describe()
