"""The RDB hot path (real PostgreSQL, real sweeprun modules): a trial's parameters go out in
the launch-attributes transaction (with the heartbeat), its end attributes in the transaction
of its state write, and another agent (another storage on the same database) sees each step.
Transactions and statements are counted with SQLAlchemy event hooks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import optuna
import pytest
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from sqlalchemy import event

from sweeprun.run.trial import tell
from sweeprun.run.verdict import COMPLETE, Verdict
from sweeprun.storage.open import open_storage
from sweeprun.storage.retrying import RetryingStorage
from sweeprun.storage.urls import classify
from sweeprun.storage.writer import deferred_params, flush_held, set_user_attrs

optuna.logging.set_verbosity(optuna.logging.WARNING)

DISTS = {
    "x": optuna.distributions.FloatDistribution(0.0, 1.0),
    "y": optuna.distributions.IntDistribution(1, 9),
    "opt": optuna.distributions.CategoricalDistribution(["adam", "sgd"]),
}


@pytest.fixture
def name(postgres_url: str) -> Iterator[str]:
    study = f"rdb-appends-{uuid.uuid4().hex[:8]}"
    yield study
    optuna.delete_study(study_name=study, storage=open_storage(classify(postgres_url)))


def _agent(url: str, name: str) -> optuna.Study:
    storage = open_storage(classify(url), heartbeat_interval=60)
    assert isinstance(storage, RetryingStorage)  # the wrapper the agents run behind
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return optuna.create_study(study_name=name, storage=storage)


class Counter:
    """Transactions committed and statements run on one storage's engine."""

    def __init__(self, study: optuna.Study) -> None:
        self.engine: sqlalchemy.Engine = study._storage._backend.engine  # type: ignore[attr-defined]
        self.commits = 0
        self.statements: list[str] = []
        event.listen(self.engine, "commit", self._commit)
        event.listen(self.engine, "before_cursor_execute", self._statement)

    def _commit(self, _conn: Any) -> None:
        self.commits += 1

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(" ".join(statement.split()[:3]))

    def take(self) -> tuple[int, list[str]]:
        out = (self.commits, self.statements)
        self.commits, self.statements = 0, []
        return out

    def close(self) -> None:
        event.remove(self.engine, "commit", self._commit)
        event.remove(self.engine, "before_cursor_execute", self._statement)


def _seen(study: optuna.Study, number: int) -> optuna.trial.FrozenTrial:
    return optuna.load_study(study_name=study.study_name, storage=study._storage).trials[number]


def test_parameters_ride_on_the_launch_and_end_attributes_on_the_state(
    postgres_url: str, name: str
) -> None:
    a = _agent(postgres_url, name)
    b = _agent(postgres_url, name)  # a second agent on the same database
    first = a.ask(DISTS)  # the study knows the names and distributions from now on
    a.tell(first, 1.0)
    count = Counter(a)
    try:
        with deferred_params(a._storage):
            trial = a.ask(DISTS)
        _, statements = count.take()
        assert "INSERT INTO trials" in statements
        assert "INSERT INTO trial_params" not in statements  # the three parameters wait
        assert set(trial.params) == {"x", "y", "opt"}  # ... but the trial has them at once
        assert _seen(b, trial.number).params == {}

        launch = {"sweeprun.owner": "me", "sweeprun.pid": 1}
        set_user_attrs(a._storage, trial._trial_id, launch, heartbeat=True)
        commits, statements = count.take()
        assert commits == 1  # parameters, launch attributes and heartbeat in one transaction
        assert len(statements) == 5  # trial check, attributes, parameters, heartbeat read, insert
        assert statements.count("INSERT INTO trial_params") == 1  # one for the three
        seen = _seen(b, trial.number)
        assert seen.params == trial.params and seen.distributions == trial.distributions
        assert seen.user_attrs == launch
        # the sampler reads them back through the storage, as Optuna wrote them
        assert b._storage.get_trial_param(trial._trial_id, "y") == DISTS["y"].to_internal_repr(
            trial.params["y"]
        )

        end = {"sweeprun.exit_code": 0, "sweeprun.counted": True}
        set_user_attrs(a._storage, trial._trial_id, end, [(0, 0.5)], hold=True)
        assert count.take()[0] == 0
        assert "sweeprun.exit_code" not in _seen(b, trial.number).user_attrs
        assert tell(a, trial, Verdict(COMPLETE, [0.5], None)) is None
        commits, statements = count.take()
        assert commits == 1  # end attributes, intermediate value, value and state
        assert "INSERT INTO trial_user_attributes" in statements
    finally:
        count.close()
    done = _seen(b, trial.number)
    assert done.state.name == "COMPLETE" and done.value == 0.5
    assert done.user_attrs == {**launch, **end} and done.intermediate_values == {0: 0.5}


def test_a_trial_reaped_meanwhile_refuses_its_end_records_and_state(
    postgres_url: str, name: str
) -> None:
    a = _agent(postgres_url, name)
    with deferred_params(a._storage):
        trial = a.ask(DISTS)
    set_user_attrs(a._storage, trial._trial_id, {"sweeprun.owner": "me"}, heartbeat=True)
    reaper = _agent(postgres_url, name)
    reaper.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    set_user_attrs(a._storage, trial._trial_id, {"sweeprun.counted": True}, hold=True)
    with pytest.raises(UpdateFinishedTrialError):  # as the end attributes' write was before
        tell(a, trial, Verdict(COMPLETE, [1.0], None))
    seen = _seen(reaper, trial.number)
    assert seen.state.name == "FAIL" and seen.values is None
    assert seen.user_attrs == {"sweeprun.owner": "me"}
    assert seen.params == trial.params  # written at launch, before the reaper
    flush_held(a._storage)  # nothing is left waiting


def test_a_parameter_whose_distribution_disagrees_with_the_study_is_refused_whole(
    postgres_url: str, name: str
) -> None:
    a = _agent(postgres_url, name)
    other = _agent(postgres_url, name)  # another agent stored "x" with another range first
    other.tell(other.ask({"x": optuna.distributions.CategoricalDistribution(["a", "b"])}), 1.0)
    with deferred_params(a._storage):
        trial = a.ask(DISTS)  # this process has not seen "x": checked at the write
    with pytest.raises(ValueError, match="Cannot set different distribution kind"):
        set_user_attrs(a._storage, trial._trial_id, {"sweeprun.owner": "me"}, heartbeat=True)
    seen = _seen(other, trial.number)
    assert seen.params == {} and seen.user_attrs == {}  # all or nothing


def test_a_lost_reply_of_the_state_transaction_is_retried_as_the_plain_state_write(
    postgres_url: str, name: str
) -> None:
    from sweeprun.storage.writer_rdb import _rdb_finish

    a = _agent(postgres_url, name)
    trial = a.ask(DISTS)
    storage = a._storage
    assert isinstance(storage, RetryingStorage)
    rdb = storage._backend
    calls = []

    def write() -> bool:  # the transaction commits, then the reply is lost
        calls.append(1)
        done = _rdb_finish(
            rdb, trial._trial_id, optuna.trial.TrialState.FAIL, None, {"sweeprun.counted": True}, []
        )
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("COMMIT", None, ConnectionResetError("lost"))
        return done

    assert storage.finish(trial._trial_id, optuna.trial.TrialState.FAIL, write) is True
    assert len(calls) == 2  # the repeat found the trial finished in that state: it landed
    seen = _seen(a, trial.number)
    assert seen.state.name == "FAIL" and seen.user_attrs == {"sweeprun.counted": True}
    with pytest.raises(UpdateFinishedTrialError):  # a finished trial is refused, not retried
        storage.finish(trial._trial_id, optuna.trial.TrialState.COMPLETE, write)
