"""XGBoost and LightGBM programs with one added line (``callbacks=[SweeprunCallback()]``) run
under ``sweeprun start`` with the real packages, through their training functions and their
scikit-learn estimators: one value per boosting round, the round as the step, named as the
framework (and W&B's callbacks) name them."""

from __future__ import annotations

import pytest

from tests.helpers.frameworks import FrameworkSweep, curve, require, value_of


@require("xgboost")
@pytest.mark.parametrize(
    ("api", "metric"), [("train", "valid-rmse"), ("sklearn", "validation_0-rmse")]
)
def test_an_xgboost_program_reports_every_round(
    framework_sweep: FrameworkSweep, api: str, metric: str
) -> None:
    framework_sweep.write("xgboost_train.py", metric, {"eta": [0.1, 0.3], "rounds": 8, "api": api})
    trials = framework_sweep.run("--jobs", "2")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert t.intermediate_values == pytest.approx(curve(t, metric))
        assert sorted(t.intermediate_values) == list(range(8))
        assert t.value == pytest.approx(t.intermediate_values[7])  # boosting only improves
    assert value_of(trials[1]) < value_of(trials[0])  # eta 0.3 gets further in 8 rounds


@require("lightgbm")
@pytest.mark.parametrize("api", ["train", "sklearn"])
def test_a_lightgbm_program_reports_every_round(framework_sweep: FrameworkSweep, api: str) -> None:
    framework_sweep.write(
        "lightgbm_train.py", "valid_0_l2", {"learning_rate": [0.05, 0.2], "rounds": 8, "api": api}
    )
    trials = framework_sweep.run("--jobs", "2")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert t.intermediate_values == pytest.approx(curve(t, "valid_0_l2"))
        assert sorted(t.intermediate_values) == list(range(8))
        assert t.value == pytest.approx(min(t.intermediate_values.values()))
    assert value_of(trials[1]) < value_of(trials[0])
