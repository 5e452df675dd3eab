"""Finished sweeps for the results commands to read: a grid sweep and a multi-objective one run
by ``sweeprun start`` (``make_sweeps``), and a one-trial sweep written directly (``fake_sweep``)
for what a real run cannot give here (a trial on another host)."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from sweeprun.config.load import parse_config
from sweeprun.sweep import CONFIG_ATTR, _config_doc
from tests.helpers.cli import run_cli
from tests.helpers.paths import PROGRAMS

TRAIN = PROGRAMS / "results_train.py"

GRID = f"""
name: rgrid
program: {TRAIN}
method: grid
metric: {{name: loss, goal: minimize}}
parameters:
  x: {{values: [-1, 0, 0.5, 1, 3]}}
  y: {{values: [1, 2]}}
early_terminate: {{type: threshold, upper: 4}}
baseline:
  - {{x: 1, y: 2}}
"""

MULTI = f"""
name: rmulti
program: {TRAIN}
method: random
seed: 3
metrics:
  - {{name: acc, goal: maximize}}
  - {{name: latency, goal: minimize}}
parameters:
  x: {{min: 0.0, max: 1.0}}
  y: {{values: [1, 2, 3]}}
  opt:
    parameters:
      lr: {{min: 0.001, max: 0.1}}
run_cap: 6
"""


def make_sweeps(root: Path, storage: str, suffix: str = "") -> dict[str, str]:
    """Run the grid and the multi-objective sweep with ``sweeprun start``; return their names."""
    root.mkdir(parents=True, exist_ok=True)
    names = {"grid": "rgrid" + suffix, "multi": "rmulti" + suffix}
    for key, text in (("grid", GRID), ("multi", MULTI)):
        f = root / f"{key}.yaml"
        f.write_text(text)
        run_cli(
            "start",
            str(f),
            "--storage",
            storage,
            "--name",
            names[key],
            "-j",
            "4",
            "--quiet",
            cwd=root,
            env={"SWEEPRUN_DIR": str(root / "dot")},
        ).assert_success()
    return names


def fake_sweep(storage: str, name: str, *, host: str, log_dir: str) -> None:
    st = JournalStorage(JournalFileBackend(storage))
    study = optuna.create_study(study_name=name, storage=st)
    cfg = parse_config(
        {
            "program": "t.py",
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )
    study.set_user_attr(CONFIG_ATTR, _config_doc(cfg))
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)
    study.add_trial(
        optuna.trial.create_trial(
            params={"x": 0.5},
            distributions={"x": dist},
            state=optuna.trial.TrialState.FAIL,
            user_attrs={
                "sweeprun.host": host,
                "sweeprun.log_dir": log_dir,
                "sweeprun.reason": "exit code 1",
                "sweeprun.tail": ["first line", "last line from the tail"],
            },
        )
    )
