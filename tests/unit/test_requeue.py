"""Re-queueing, the one path a retry, an interrupted trial (the scheduler) and an orphaned trial
(recovery) take: the waiting copy holds the same parameters, points back at the original,
carries its attempt, and keeps its grid point, baseline mark and smoke case."""

from __future__ import annotations

from pathlib import Path

import optuna

from sweeprun.run.recovery import reap
from sweeprun.run.requeue import requeue
from sweeprun.space.distributions import SearchSpace
from sweeprun.storage.open import open_storage
from sweeprun.storage.urls import classify

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTS: dict[str, optuna.distributions.BaseDistribution] = {
    "x": optuna.distributions.FloatDistribution(0.0, 1.0)
}


def _study(tmp_path: Path) -> optuna.Study:
    storage = open_storage(classify(str(tmp_path / "journal.log")))
    return optuna.create_study(study_name="rq", storage=storage)


def _waiting(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))


def test_the_copy_carries_the_attributes_that_made_the_original_special(tmp_path: Path) -> None:
    study = _study(tmp_path)
    original = {
        "sweeprun.grid_index": 3,
        "sweeprun.baseline": True,
        "sweeprun.smoke_case": "min-x",
        "sweeprun.owner": {"host": "h", "pid": 1},  # not carried: the copy gets its own
        "sweeprun.reason": "interrupted",
    }
    requeue(study, {"x": 0.25}, original, retry_of=7, attempt=2)
    (copy,) = _waiting(study)
    assert copy.system_attrs["fixed_params"] == {"x": 0.25}
    assert copy.user_attrs == {
        "sweeprun.retry_of": 7,
        "sweeprun.attempt": 2,
        "sweeprun.grid_index": 3,
        "sweeprun.baseline": True,
        "sweeprun.smoke_case": "min-x",
    }
    asked = study.ask(DISTS)
    assert asked.params == {"x": 0.25}
    assert asked.user_attrs["sweeprun.retry_of"] == 7


def test_an_orphaned_trial_is_failed_and_queued_again_as_the_same_attempt(tmp_path: Path) -> None:
    study = _study(tmp_path)
    space = SearchSpace.from_params({})
    study.enqueue_trial({"x": 0.5}, user_attrs={"sweeprun.grid_index": 1})
    trial = study.ask(DISTS)
    trial.set_user_attr("sweeprun.attempt", 2)
    (frozen,) = study.get_trials(deepcopy=False)  # running, its agent gone
    assert reap(study, space, frozen)
    first, copy = study.get_trials(deepcopy=False)
    assert first.state == optuna.trial.TrialState.FAIL
    assert first.user_attrs["sweeprun.reason"] == "orphaned"
    assert copy.state == optuna.trial.TrialState.WAITING
    assert copy.system_attrs["fixed_params"] == {"x": 0.5}
    assert copy.user_attrs == {
        "sweeprun.retry_of": 0,
        "sweeprun.attempt": 2,
        "sweeprun.grid_index": 1,
    }
