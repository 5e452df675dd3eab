"""The journal file's hot path: a trial's records in three appends (create; parameters with
the launch attributes; end attributes with the state), reads that skip an unchanged file,
and what a second agent (another storage on the same file) sees at each step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from sweeprun.run.trial import tell
from sweeprun.run.verdict import COMPLETE, Verdict
from sweeprun.storage.open import open_storage
from sweeprun.storage.urls import classify
from sweeprun.storage.writer import deferred_params, journal_file, set_user_attrs

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTS = {
    "x": optuna.distributions.FloatDistribution(0.0, 1.0),
    "y": optuna.distributions.IntDistribution(1, 9),
    "opt": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
}


def _agent(path: Path) -> optuna.Study:
    storage = open_storage(classify(str(path)))
    try:
        return optuna.load_study(study_name="s", storage=storage)
    except KeyError:
        return optuna.create_study(study_name="s", storage=storage)


def _count_appends(study: optuna.Study) -> list[int]:
    """Count the backend's appends that reach the file (a spy that calls through)."""
    backend = journal_file(study._storage)
    assert backend is not None
    calls = [0]
    real = backend.append_logs

    def spy(logs: list[dict[str, Any]]) -> None:
        before = Path(backend._file_path).stat().st_size
        real(logs)
        if Path(backend._file_path).stat().st_size > before:
            calls[0] += 1

    backend.append_logs = spy  # type: ignore[method-assign]
    return calls


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_trial_takes_three_appends_and_another_agent_sees_each_step(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    a = _agent(path)
    b = _agent(path)  # a second agent on the same file
    appends = _count_appends(a)

    with deferred_params(a._storage):
        trial = a.ask(DISTS)
    assert appends[0] == 1  # the create only: the three parameters wait
    assert set(trial.params) == {"x", "y", "opt"}  # ... but the trial has them at once
    seen = b.get_trials(deepcopy=False)[0]
    assert seen.state.name == "RUNNING" and seen.params == {}

    set_user_attrs(a._storage, trial._trial_id, {"sweeprun.owner": "me", "sweeprun.pid": 1})
    assert appends[0] == 2  # parameters and launch attributes in one append
    seen = b.get_trials(deepcopy=False)[0]
    assert seen.params == trial.params
    assert seen.user_attrs == {"sweeprun.owner": "me", "sweeprun.pid": 1}

    end = {"sweeprun.exit_code": 0, "sweeprun.counted": True}
    set_user_attrs(a._storage, trial._trial_id, end, [(0, 0.5)], hold=True)
    assert appends[0] == 2
    assert "sweeprun.exit_code" not in b.get_trials(deepcopy=False)[0].user_attrs
    assert tell(a, trial, Verdict(COMPLETE, [0.5], None)) is None
    assert appends[0] == 3  # end attributes, intermediate value and state together
    done = b.get_trials(deepcopy=False)[0]
    assert done.state.name == "COMPLETE" and done.value == 0.5
    assert done.user_attrs["sweeprun.exit_code"] == 0 and done.intermediate_values == {0: 0.5}

    # plain Optuna reads the same journal: one record per attribute, parameter and value
    plain = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    frozen = optuna.load_study(study_name="s", storage=plain).trials[0]
    assert frozen.params == trial.params and frozen.user_attrs == done.user_attrs
    ops = [r["op_code"] for r in _records(path)]
    assert ops.count(5) == 3  # SET_TRIAL_PARAM, one each
    assert ops[-1] == 6  # the state is last: written after the end attributes


def test_held_end_records_of_a_trial_reaped_meanwhile_are_refused_without_breaking_reads(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.log"
    a = _agent(path)
    with deferred_params(a._storage):
        trial = a.ask(DISTS)
    set_user_attrs(a._storage, trial._trial_id, {"sweeprun.owner": "me"})
    reaper = _agent(path)
    reaper.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    set_user_attrs(a._storage, trial._trial_id, {"sweeprun.counted": True}, hold=True)
    error = tell(a, trial, Verdict(COMPLETE, [1.0], None))
    assert error == "Cannot tell a FAIL trial."
    backend = journal_file(a._storage)
    assert backend is not None and backend.pending == []  # written (and refused), not kept
    assert [t.state.name for t in a.get_trials()] == ["FAIL"]
    assert "sweeprun.counted" not in a.get_trials()[0].user_attrs
    a.ask()  # the agent goes on: later reads and writes work
    assert len(_agent(path).get_trials()) == 2


def test_a_trial_reaped_between_tells_check_and_write_refuses_the_whole_append(
    tmp_path: Path,
) -> None:
    """The reaper's record lands after the tell's check but before its append: end attributes
    and state are refused together, the refusal is reported, and the replay goes on past them."""
    path = tmp_path / "journal.log"
    a = _agent(path)
    trial = a.ask()
    reaper = _agent(path)
    backend = journal_file(a._storage)
    assert backend is not None
    real = backend.append_logs

    def reaped_first(logs: list[dict[str, Any]]) -> None:
        reaper.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        real(logs)

    set_user_attrs(a._storage, trial._trial_id, {"sweeprun.counted": True}, hold=True)
    backend.append_logs = reaped_first  # type: ignore[method-assign]
    error = tell(a, trial, Verdict(COMPLETE, [1.0], None))
    backend.append_logs = real  # type: ignore[method-assign]
    assert error is not None and "finished" in error
    frozen = a.get_trials()[0]
    assert frozen.state.name == "FAIL" and frozen.user_attrs == {}
    a.ask()
    assert [t.state.name for t in _agent(path).get_trials()] == ["FAIL", "RUNNING"]


def test_a_read_of_an_unchanged_journal_sees_another_agents_next_append(tmp_path: Path) -> None:
    path = tmp_path / "journal.log"
    a = _agent(path)
    b = _agent(path)
    assert a.get_trials() == [] and a.get_trials() == []  # unchanged: stat only
    b.ask()
    assert len(a.get_trials()) == 1
    with open(path, "ab") as fh:  # a torn record (another agent killed mid-write)
        fh.write(b'{"op_code":4,')
    assert len(a.get_trials()) == 1
    a.ask()  # the next append cuts the torn tail first
    assert len(_agent(path).get_trials()) == 2


@pytest.mark.parametrize("popped", [True, False])
def test_a_trial_killed_before_its_launch_record_reruns_its_queued_parameters(
    tmp_path: Path, popped: bool
) -> None:
    """An agent killed between ask and the launch append leaves a RUNNING trial with no
    parameters recorded; a queued trial (grid point, baseline, retry) keeps its values."""
    from sweeprun.config.load import parse_config
    from sweeprun.run.recovery import recover_orphans
    from sweeprun.space.distributions import SearchSpace

    cfg = parse_config(
        {
            "program": "train.py",
            "method": "random",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        },
        source="test",
    )
    space = SearchSpace.from_params(cfg.parameters)
    path = tmp_path / "journal.log"
    a = _agent(path)
    if popped:
        a.enqueue_trial({"x": 0.25}, user_attrs={"sweeprun.grid_index": 3})
    with deferred_params(a._storage):
        a.ask(space.distributions())  # ... and the agent dies: the parameters never go out
    other = _agent(path)
    assert recover_orphans(other, space, lease_grace=0.0) == 1
    waiting = other.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 1
    fixed = waiting[0].system_attrs.get("fixed_params")
    if popped:
        assert fixed == {"x": 0.25}
        assert waiting[0].user_attrs["sweeprun.grid_index"] == 3
    else:  # never recorded: a fresh draw runs in its place
        assert not fixed
