"""A Hugging Face ``Trainer`` program with one added line (``callbacks=[SweeprunCallback()]``)
runs under ``sweeprun start`` with the real ``transformers`` on CPU torch: a 2-layer BERT built
from a config (nothing downloaded), evaluated every epoch; every ``Trainer.log`` reaches
sweeprun at the trainer's global step."""

from __future__ import annotations

import pytest

from tests.helpers.frameworks import FrameworkSweep, curve, reports, require

pytestmark = require("transformers", "accelerate")


def test_a_trainer_program_reports_its_evaluations_at_global_steps(
    framework_sweep: FrameworkSweep,
) -> None:
    framework_sweep.write("transformers_train.py", "eval_loss", {"lr": [1e-3, 3e-3], "epochs": 2})
    trials = framework_sweep.run("--jobs", "2")
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        # 64 examples in batches of 16: 4 steps an epoch, evaluated after each epoch
        assert t.intermediate_values == pytest.approx(curve(t, "eval_loss"))
        assert sorted(t.intermediate_values) == [4, 8]
        assert t.value == pytest.approx(min(t.intermediate_values.values()))
        lines = reports(t)
        # the training logs (every epoch) and the final summary arrive too, never the epoch
        assert [r["step"] for r in lines if "loss" in r] == [4, 8]
        assert any("train_loss" in r for r in lines)
        assert not any("epoch" in r for r in lines)
