"""The budget's aggregate counts on an RDB storage (``sweeprun.storage.sql_counts``) agree with what
Optuna's own trial list says, and a queued trial is still handed out when ``ask`` skips its
waiting-trial read. Real PostgreSQL, real sweeprun modules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from sweeprun.config.load import load_config
from sweeprun.run.budget import Budget, is_counted
from sweeprun.space.distributions import SearchSpace
from sweeprun.storage.open import open_storage
from sweeprun.storage.urls import classify
from sweeprun.sweep import create_or_resume

TrialState = optuna.trial.TrialState


@pytest.fixture
def sweep(postgres_url: str, tmp_path: Path) -> Iterator[optuna.Study]:
    name = f"counts-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "s.yaml"
    path.write_text(
        f"name: {name}\nmethod: random\nmetric: {{name: loss, target: 0.1}}\nrun_cap: 9\n"
        "command: [/bin/true]\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    spec = classify(postgres_url)
    sw = create_or_resume(spec, name, load_config(path))
    yield sw.study
    optuna.delete_study(study_name=name, storage=open_storage(spec, retry=False))


def test_aggregate_counts_match_the_trial_list(sweep: optuna.Study) -> None:
    from sweeprun.config.models import SweepConfig

    study = sweep
    storage = study._storage
    tell = study.tell
    tell(study.ask(), 0.5)  # complete, counted
    tell(study.ask(), state=TrialState.PRUNED)  # counted
    own = study.ask()  # failed by its agent: counted
    storage.set_trial_user_attr(own._trial_id, "sweeprun.counted", True)
    tell(own, state=TrialState.FAIL)
    orphan = study.ask()  # failed by a reaper: not counted
    storage.set_trial_user_attr(orphan._trial_id, "sweeprun.counted", False)
    tell(orphan, state=TrialState.FAIL)
    tell(study.ask(), state=TrialState.FAIL)  # no attribute: not counted
    study.ask()  # running
    study.enqueue_trial({"x": 0.25})  # waiting
    study.set_user_attr("sweeprun.stop", {"mode": "graceful"})

    cfg: SweepConfig = SweepConfig.model_validate(study.user_attrs["sweeprun.config"])
    space = SearchSpace.from_params(cfg.parameters)
    budget = Budget(study, cfg, cap=None, space=space)
    assert budget.sql is not None
    trials = study.get_trials(deepcopy=False)
    assert budget.counted == sum(is_counted(t) for t in trials) == 3
    assert budget.running == 1 and budget.waiting == 1
    assert budget.stop_request == "graceful"
    assert not budget.target_reached
    assert budget.exhausted(0) is None and budget.exact

    tell(study.ask(), 0.05)  # pops the waiting trial, reaches metric.target (minimize, 0.1)
    budget.refresh()
    assert budget.target_reached and budget.waiting == 0 and budget.counted == 4
    # below the popped trial (number 6): 3 counted and the running one
    assert budget.sql.ahead(study.get_trials()[-1].number) == 4


def test_a_queued_trial_is_popped_after_counts_showing_none(sweep: optuna.Study) -> None:
    """The skip is only taken on counts read for this launch; a trial queued after them is
    handed out by the next ask, as with Optuna's own read."""
    from sweeprun.storage.batching import trial_writer
    from sweeprun.storage.optuna_adapter import storage_of, study_id_of

    study = sweep
    study.enqueue_trial({"x": 0.5})
    trial_writer(storage_of(study)).expect_no_waiting(study_id_of(study))  # counted: none
    fresh = study.ask()  # the queued trial is not looked for
    assert fresh.number == 1
    queued = study.ask()  # the next ask looks again
    assert queued.number == 0 and queued.suggest_float("x", 0.0, 1.0) == 0.5
    study.enqueue_trial({"x": 0.75})
    popped = study.ask()
    assert popped.suggest_float("x", 0.0, 1.0) == 0.75
