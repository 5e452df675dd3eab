"""A Keras 3 program (PyTorch backend, no TensorFlow) with one added line
(``callbacks=[SweeprunCallback()]``) runs under ``sweeprun start`` with the real ``keras``: each
epoch's logs reach sweeprun with the epoch as the step."""

from __future__ import annotations

import pytest

from tests.helpers.frameworks import FrameworkSweep, curve, reports, require

pytestmark = require("keras")


def test_a_keras_program_reports_every_epoch(framework_sweep: FrameworkSweep) -> None:
    framework_sweep.write("keras_train.py", "val_loss", {"lr": [0.01, 0.05], "epochs": 3})
    trials = framework_sweep.run("--jobs", "2")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        assert t.intermediate_values == pytest.approx(curve(t, "val_loss"))
        assert sorted(t.intermediate_values) == [0, 1, 2]
        assert t.value == pytest.approx(min(t.intermediate_values.values()))
        assert [sorted(r) for r in reports(t)] == [["loss", "step", "val_loss"]] * 3
