"""XGBoost and LightGBM programs with one added line (``callbacks=[SweeprunCallback()]``) run
under ``sweeprun start`` with the real packages, through their training functions and their
scikit-learn estimators: one value per boosting round, the round as the step, named as the
framework (and W&B's callbacks) name them."""

from __future__ import annotations

import pytest

from sweeprun.integrations.lightgbm import round_values
from tests.helpers.frameworks import FrameworkSweep, curve, reports, require, value_of


@require("xgboost")
@pytest.mark.parametrize(
    ("api", "metric", "deviation"),
    [
        ("train", "valid-rmse", None),
        ("sklearn", "validation_0-rmse", None),
        ("cv", "test-rmse", "test-rmse-std"),  # the deviation over the folds beside the mean
    ],
)
def test_an_xgboost_program_reports_every_round(
    framework_sweep: FrameworkSweep, api: str, metric: str, deviation: str | None
) -> None:
    framework_sweep.write("xgboost_train.py", metric, {"eta": [0.1, 0.3], "rounds": 8, "api": api})
    trials = framework_sweep.run("--jobs", "2")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert t.intermediate_values == pytest.approx(curve(t, metric))
        assert sorted(t.intermediate_values) == list(range(8))
        assert [deviation in r for r in reports(t)] == [deviation is not None] * 8
        assert t.value == pytest.approx(t.intermediate_values[7])  # boosting only improves
    assert value_of(trials[1]) < value_of(trials[0])  # eta 0.3 gets further in 8 rounds


@require("lightgbm")
@pytest.mark.parametrize(
    ("api", "metric", "deviation"),
    [
        ("train", "valid_0_l2", None),
        ("sklearn", "valid_0_l2", None),
        ("cv", "valid_l2-mean", "valid_l2-stdv"),
    ],
)
def test_a_lightgbm_program_reports_every_round(
    framework_sweep: FrameworkSweep, api: str, metric: str, deviation: str | None
) -> None:
    framework_sweep.write(
        "lightgbm_train.py", metric, {"learning_rate": [0.05, 0.2], "rounds": 8, "api": api}
    )
    trials = framework_sweep.run("--jobs", "2")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert t.intermediate_values == pytest.approx(curve(t, metric))
        assert sorted(t.intermediate_values) == list(range(8))
        assert [deviation in r for r in reports(t)] == [deviation is not None] * 8
        assert t.value == pytest.approx(min(t.intermediate_values.values()))
    assert value_of(trials[1]) < value_of(trials[0])


def test_lightgbm_results_before_4_7_get_the_same_names() -> None:
    """LightGBM before 4.7 (not the one installed here) gives lgb.cv results as plain tuples
    with the set and the metric in one field, under the data name ``cv_agg``."""
    assert round_values([("valid_0", "l2", 0.5, False)]) == {"valid_0_l2": 0.5}
    assert round_values([("cv_agg", "valid l2", 0.5, False, 0.1)]) == {
        "valid_l2-mean": 0.5,
        "valid_l2-stdv": 0.1,
    }
