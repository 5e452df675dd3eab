"""The journal file's hot path through the batching decorator: a trial's parameters land in
one append with its launch attributes, its end attributes in one append with its state (so
another agent never sees one without the other), reads skip an unchanged file, and what a
second agent (another storage on the same file) sees at each step. How many appends a trial
takes in all is a measured figure in ``bench/storage_writes.py``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest

from sweeprun.run.trial import tell
from sweeprun.run.verdict import COMPLETE, Verdict
from sweeprun.storage.batching import BatchingStorage, trial_writer
from sweeprun.storage.journal import SafeJournalFileBackend
from sweeprun.storage.open import open_storage
from sweeprun.storage.optuna_adapter import journal_backend, journal_of, storage_of, trial_id_of
from sweeprun.storage.urls import classify

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTS = {
    "x": optuna.distributions.FloatDistribution(0.0, 1.0),
    "y": optuna.distributions.IntDistribution(1, 9),
    "opt": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
}


def _agent(path: Path) -> optuna.Study:
    storage = open_storage(classify(str(path)))
    assert isinstance(storage, BatchingStorage)
    try:
        return optuna.load_study(study_name="s", storage=storage)
    except KeyError:
        return optuna.create_study(study_name="s", storage=storage)


def _ask(study: optuna.Study, dists: dict[str, Any]) -> optuna.Trial:
    """``ask`` as the scheduler asks: its parameters wait for the trial's next write."""
    with trial_writer(storage_of(study)).asking():
        return study.ask(dists)


def _file(study: optuna.Study) -> SafeJournalFileBackend:
    journal = journal_of(storage_of(study))
    assert journal is not None
    backend = journal_backend(journal)
    assert isinstance(backend, SafeJournalFileBackend)
    return backend


def _count_appends(study: optuna.Study) -> list[int]:
    """Count the backend's appends that reach the file (a spy that calls through)."""
    backend = _file(study)
    calls = [0]
    real = backend.append_logs

    def spy(logs: list[dict[str, Any]]) -> None:
        before = Path(backend.path).stat().st_size
        real(logs)
        if Path(backend.path).stat().st_size > before:
            calls[0] += 1

    backend.append_logs = spy  # type: ignore[method-assign]
    return calls


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_parameters_land_with_the_launch_and_end_attributes_with_the_state(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.log"
    a = _agent(path)
    b = _agent(path)  # a second agent on the same file
    writer = trial_writer(storage_of(a))
    appends = _count_appends(a)

    trial = _ask(a, DISTS)
    assert set(trial.params) == {"x", "y", "opt"}  # the trial has them at once
    seen = b.get_trials(deepcopy=False)[0]
    assert seen.state.name == "RUNNING" and seen.params == {}  # ... but they wait
    mine = a.get_trials(deepcopy=False)[0]  # this process reads what it wrote
    assert mine.params == trial.params and mine.distributions == trial.distributions
    before = appends[0]

    writer.write_records(trial_id_of(trial), {"sweeprun.owner": "me", "sweeprun.pid": 1})
    assert appends[0] == before + 1  # parameters and launch attributes: one append
    seen = b.get_trials(deepcopy=False)[0]
    assert seen.params == trial.params
    assert seen.user_attrs == {"sweeprun.owner": "me", "sweeprun.pid": 1}

    end = {"sweeprun.exit_code": 0, "sweeprun.counted": True}
    writer.write_records(trial_id_of(trial), end, [(0, 0.5)], hold=True)
    assert appends[0] == before + 1
    assert "sweeprun.exit_code" not in b.get_trials(deepcopy=False)[0].user_attrs
    assert a.get_trials(deepcopy=False)[0].user_attrs["sweeprun.exit_code"] == 0
    assert tell(a, trial, Verdict(COMPLETE, [0.5], None)) is None
    assert appends[0] == before + 2  # end attributes, intermediate value and state: one
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
    writer = trial_writer(storage_of(a))
    trial = _ask(a, DISTS)
    writer.write_records(trial_id_of(trial), {"sweeprun.owner": "me"})
    reaper = _agent(path)
    reaper.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    writer.write_records(trial_id_of(trial), {"sweeprun.counted": True}, hold=True)
    error = tell(a, trial, Verdict(COMPLETE, [1.0], None))
    assert error == "Cannot tell a FAIL trial."
    assert _file(a).pending == []  # written (and refused), not kept
    assert [t.state.name for t in a.get_trials()] == ["FAIL"]
    assert "sweeprun.counted" not in a.get_trials()[0].user_attrs
    assert "sweeprun.counted" not in _agent(path).get_trials()[0].user_attrs
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
    backend = _file(a)
    real = backend.append_logs

    def reaped_first(logs: list[dict[str, Any]]) -> None:
        reaper.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        real(logs)

    trial_writer(storage_of(a)).write_records(
        trial_id_of(trial), {"sweeprun.counted": True}, hold=True
    )
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


def test_a_write_that_fails_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    """All or nothing: a batch whose write fails part-way (here the file size limit, as a full
    disk would) is cut back, so another agent sees neither the parameters nor the launch
    attributes, and the journal stays readable and writable."""
    import resource
    import signal

    path = tmp_path / "journal.log"
    a = _agent(path)
    trial = _ask(a, DISTS)
    size = path.stat().st_size
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (size + 40, hard))  # room for part of a record
    try:
        with pytest.raises(OSError):
            trial_writer(storage_of(a)).write_records(trial_id_of(trial), {"sweeprun.owner": "me"})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)
    assert path.stat().st_size == size  # cut back to where the write began
    seen = _agent(path).get_trials()[0]
    assert seen.params == {} and seen.user_attrs == {}
    trial_writer(storage_of(a)).write_records(trial_id_of(trial), {"sweeprun.owner": "me"})
    assert _agent(path).get_trials()[0].user_attrs == {"sweeprun.owner": "me"}


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
    _ask(a, space.distributions())  # ... and the agent dies: the parameters never go out
    other = _agent(path)
    assert recover_orphans(other, space, lease_grace=0.0) == 1
    waiting = other.get_trials(states=(optuna.trial.TrialState.WAITING,))
    if popped:
        (copy,) = waiting
        assert copy.system_attrs.get("fixed_params") == {"x": 0.25}
        assert copy.user_attrs["sweeprun.grid_index"] == 3
    else:  # never recorded: no copy of nothing; the next ask draws afresh in its place
        assert waiting == []
        (failed,) = other.get_trials()
        assert failed.state == optuna.trial.TrialState.FAIL
        assert failed.user_attrs["sweeprun.counted"] is False
