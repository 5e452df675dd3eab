"""Re-queueing, the one path a retry, an interrupted trial (the scheduler) and an orphaned trial
(recovery) take: the waiting copy holds the same parameters, points back at the original,
carries its attempt, and keeps its grid point, baseline mark and smoke case."""

from __future__ import annotations

from pathlib import Path

import optuna

from sweeprun.run.recovery import params_of, reap
from sweeprun.run.requeue import requeue, requeue_once, withdraw_duplicates
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


def test_a_second_reaper_queues_no_second_copy(tmp_path: Path) -> None:
    """The copy goes out before the fail: a reaper killed between the two leaves the trial
    RUNNING with its copy; the next reaper fails it and queues nothing more."""
    study = _study(tmp_path)
    space = SearchSpace.from_params({})
    study.enqueue_trial({"x": 0.5})
    study.ask(DISTS)
    (running,) = study.get_trials(deepcopy=False)
    assert requeue_once(study, {"x": 0.5}, running.user_attrs, retry_of=0, attempt=1)
    assert not requeue_once(study, {"x": 0.5}, running.user_attrs, retry_of=0, attempt=1)
    assert reap(study, space, running)  # the next reaper
    assert [t.state.name for t in study.get_trials(deepcopy=False)] == ["FAIL", "WAITING"]


def test_the_reaper_that_lost_the_race_withdraws_its_copy(tmp_path: Path) -> None:
    study = _study(tmp_path)
    space = SearchSpace.from_params({})
    study.enqueue_trial({"x": 0.5})
    study.ask(DISTS)
    (seen,) = study.get_trials(deepcopy=False)  # both reapers saw it RUNNING, copy-less
    # reaper A queues its copy and fails the trial; reaper B queues one before it looks again
    assert reap(study, space, seen)
    requeue(study, {"x": 0.5}, seen.user_attrs, retry_of=0, attempt=1)
    assert not reap(study, space, seen)  # B's fail is refused: it withdraws the later copy
    states = [(t.state.name, t.user_attrs.get("sweeprun.reason")) for t in study.get_trials()]
    assert states == [
        ("FAIL", "orphaned"),
        ("WAITING", None),
        ("FAIL", "duplicate copy of trial 0"),
    ]


def test_a_copy_of_a_trial_that_counted_after_all_is_withdrawn(tmp_path: Path) -> None:
    """A reaper queued a copy, but the trial's own agent finished it first (its lease had
    only looked stale): the parameters ran, so no copy stays."""
    study = _study(tmp_path)
    trial = study.ask(DISTS)
    trial.set_user_attr("sweeprun.counted", True)
    study.tell(trial, 0.1)
    requeue(study, {"x": trial.params["x"]}, {}, retry_of=0, attempt=1)
    assert withdraw_duplicates(study, trial) == 1
    assert [t.state.name for t in study.get_trials()] == ["COMPLETE", "FAIL"]


def test_a_sampled_trial_reaped_before_its_launch_record_is_not_copied(tmp_path: Path) -> None:
    """Its agent died (or froze) between ask and the launch record: it holds no recorded
    parameters, and a fresh draw replaces it (a copy of nothing could even disagree with a
    frozen agent's late launch record)."""
    study = _study(tmp_path)
    study.ask()  # sampled; its parameters were still held with the launch record
    (asked,) = study.get_trials(deepcopy=False)
    assert params_of(SearchSpace.from_params({}), asked) is None
    assert reap(study, SearchSpace.from_params({}), asked)
    assert [t.state.name for t in study.get_trials()] == ["FAIL"]
