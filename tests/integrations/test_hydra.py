"""A real Hydra program (``@hydra.main`` with a config file), unchanged, under the installed
``sweeprun start``: dotted parameter names reach it as overrides and each trial gets its own
``hydra.run.dir`` in its trial directory (Hydra's default, ``outputs/<date>/<time>``, is shared
by trials that start in the same second)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers.cli import run_cli
from tests.helpers.frameworks import require
from tests.helpers.studies import trials_of

pytestmark = require("hydra")

PROGRAM = """\
import json

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    loss = (cfg.optimizer.lr - 0.1) ** 2 + cfg.model.depth
    run_dir = HydraConfig.get().runtime.output_dir
    print(json.dumps({"loss": loss, "run_dir": run_dir}), flush=True)


if __name__ == "__main__":
    main()
"""
CONFIG = "optimizer:\n  lr: 0.01\n  name: sgd\nmodel:\n  depth: 1\n"


def _sweep(tmp: Path, command: str) -> Path:
    (tmp / "conf").mkdir()
    (tmp / "conf" / "config.yaml").write_text(CONFIG)
    (tmp / "train.py").write_text(PROGRAM)
    path = tmp / "sweep.yaml"
    path.write_text(
        f"name: hy\nprogram: train.py\nmethod: grid\nmetric: {{name: loss}}\n"
        f"command: {command}\n"
        "parameters:\n  optimizer.lr: {values: [0.1, 0.3]}\n  model.depth: {values: [2, 3]}\n"
    )
    return path


def _start(tmp: Path, sweep: Path) -> None:
    journal = str(tmp / "j.log")
    run_cli("start", str(sweep), "--storage", journal, cwd=tmp, timeout=300).assert_success()


@pytest.mark.parametrize("macro", ["${args_no_hyphens}", "${args_override_hydra}"])
def test_four_sequential_trials_get_four_hydra_run_dirs(tmp_path: Path, macro: str) -> None:
    _start(tmp_path, _sweep(tmp_path, f"['${{interpreter}}', '${{program}}', '{macro}']"))
    trials = trials_of(str(tmp_path / "j.log"), "hy")
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    run_dirs = set()
    for t in trials:
        params = t.user_attrs["sweeprun.params"]
        lr, depth = params["optimizer.lr"], params["model.depth"]
        assert t.value == pytest.approx((lr - 0.1) ** 2 + depth)
        run_dir = Path(t.user_attrs["sweeprun.log_dir"]) / "hydra"
        assert t.user_attrs["sweeprun.argv"][-1] == f"hydra.run.dir={run_dir}"
        stdout = (Path(t.user_attrs["sweeprun.log_dir"]) / "stdout.log").read_text()
        assert f'"run_dir": "{run_dir}"' in stdout
        composed = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
        assert composed == {"optimizer": {"lr": lr, "name": "sgd"}, "model": {"depth": depth}}
        run_dirs.add(run_dir)
    assert len(run_dirs) == 4
    assert not (tmp_path / "outputs").exists()  # Hydra's shared default is not used
    # best's reproduce command leaves the trial's run dir alone
    best = run_cli("best", "hy", "--storage", str(tmp_path / "j.log"), "--json", cwd=tmp_path)
    (entry,) = json.loads(best.assert_success().stdout)["best"]
    assert "hydra.run.dir" not in entry["command"] and "model.depth=2" in entry["command"]


def test_a_run_dir_the_user_chose_is_kept(tmp_path: Path) -> None:
    command = "['${interpreter}', '${program}', '${args_no_hyphens}', 'hydra.run.dir=mine']"
    sweep = _sweep(tmp_path, command)
    sweep.write_text(sweep.read_text().replace("[0.1, 0.3]", "[0.1]").replace("[2, 3]", "[2]"))
    _start(tmp_path, sweep)
    (trial,) = trials_of(str(tmp_path / "j.log"), "hy")
    assert trial.state.name == "COMPLETE"
    assert [a for a in trial.user_attrs["sweeprun.argv"] if "hydra.run.dir" in a] == [
        "hydra.run.dir=mine"
    ]
    assert (tmp_path / "mine" / ".hydra" / "config.yaml").is_file()
