"""A Lightning program with one added line (``SweeprunCallback()`` in the trainer's callbacks)
runs under ``sweeprun start`` with the real ``lightning`` on CPU torch: one value per epoch,
the epoch as the step, nothing from the sanity check; and a pruner stops a real run early."""

from __future__ import annotations

import psutil
import pytest

from tests.helpers.frameworks import FrameworkSweep, curve, reports, require, stdout_of, value_of

pytestmark = require("lightning")


PROGRAM = "lightning_train.py"


def test_a_lightning_program_reports_every_epoch_and_completes(
    framework_sweep: FrameworkSweep,
) -> None:
    framework_sweep.write(PROGRAM, "val_loss", {"lr": [0.05, 0.1], "max_epochs": 3})
    trials = framework_sweep.run("--jobs", "2")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        # one report per epoch, the epoch as the step
        assert [r["step"] for r in reports(t)] == [0, 1, 2]
        assert t.intermediate_values == pytest.approx(curve(t, "val_loss"))
        losses = [t.intermediate_values[e] for e in range(3)]
        assert losses == sorted(losses, reverse=True)  # it learns
        assert t.value == pytest.approx(min(losses))
        # the epoch's own training value arrives with its validation value
        assert all("train_loss" in r for r in reports(t))
    # the bigger learning rate gets further in the same epochs
    assert value_of(trials[1]) < value_of(trials[0])


@pytest.mark.parametrize(
    ("validation", "steps"),
    [
        # 4 batches an epoch, validation after 2 and 4: the global step; the sanity check
        # (step 0) reports nothing
        ({"val_check_interval": 0.5}, [2, 4, 6, 8]),
        # validation every second epoch: the epochs that had one
        ({"check_val_every_n_epoch": 2, "max_epochs": 4}, [1, 3]),
    ],
    ids=["within-epochs", "every-second-epoch"],
)
def test_one_report_per_validation_run(
    framework_sweep: FrameworkSweep, validation: dict[str, float], steps: list[int]
) -> None:
    framework_sweep.write(PROGRAM, "val_loss", {"lr": [0.05], "max_epochs": 2, **validation})
    (trial,) = framework_sweep.run()
    assert trial.state.name == "COMPLETE"
    assert [r["step"] for r in reports(trial)] == steps
    assert sorted(trial.intermediate_values) == steps


def test_a_trainer_without_validation_reports_every_training_epoch(
    framework_sweep: FrameworkSweep,
) -> None:
    framework_sweep.write(PROGRAM, "train_loss", {"lr": [0.05], "max_epochs": 2, "validate": 0})
    (trial,) = framework_sweep.run()
    assert trial.state.name == "COMPLETE"
    assert sorted(trial.intermediate_values) == [0, 1]
    assert [sorted(r) for r in reports(trial)] == [["step", "train_loss"]] * 2


def test_median_pruning_stops_a_real_lightning_run_early(framework_sweep: FrameworkSweep) -> None:
    epochs = 60
    # lr 0 never learns: at its first epoch past the warm-up it is worse than the median of the
    # one finished trial and is pruned; each epoch has enough batches to outlast the decision
    framework_sweep.write(
        PROGRAM,
        "val_loss",
        {"lr": [0.05, 0.0], "max_epochs": epochs, "batches": 16},
        early_terminate={"type": "median", "n_startup_trials": 1, "n_warmup_steps": 1},
    )
    res = framework_sweep.start("--jobs", "1").assert_success()
    good, bad = framework_sweep.trials()
    assert good.state.name == "COMPLETE" and len(good.intermediate_values) == epochs
    assert bad.state.name == "PRUNED", res.describe()
    assert 2 <= len(bad.intermediate_values) < epochs
    assert len(reports(bad)) < epochs
    assert "fit done" in stdout_of(good)
    assert "fit done" not in stdout_of(bad)  # stopped, not finished
    assert not psutil.pid_exists(bad.user_attrs["sweeprun.pid"])
