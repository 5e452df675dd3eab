"""The RDB hot path through the batching decorator (real PostgreSQL, real sweeprun modules): a
trial's parameters go out in the launch-attributes transaction (with the heartbeat), its end
attributes in the transaction of its state write — so another agent (another storage on the
same database) never sees one without the other — with Optuna's checks kept. Transactions are
observed with SQLAlchemy event hooks; how many statements a trial takes is a measured figure in
``bench/storage_writes.py``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import optuna
import pytest
import sqlalchemy
from sqlalchemy import event

from sweeprun.run.trial import tell
from sweeprun.run.verdict import COMPLETE, Verdict
from sweeprun.storage.batching import BatchingStorage, trial_writer
from sweeprun.storage.open import open_storage
from sweeprun.storage.optuna_adapter import cached, rdb_of, storage_of, trial_id_of
from sweeprun.storage.retrying import RetryingStorage, wrap
from sweeprun.storage.urls import classify

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
    assert isinstance(storage.inner, BatchingStorage)
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return optuna.create_study(study_name=name, storage=storage)


def _ask(study: optuna.Study, dists: dict[str, Any]) -> optuna.Trial:
    """``ask`` as the scheduler asks: its parameters wait for the trial's next write."""
    with trial_writer(storage_of(study)).asking():
        return study.ask(dists)


class Commits:
    """Transactions committed, and whether a statement touched a table, on one engine."""

    def __init__(self, study: optuna.Study) -> None:
        rdb = rdb_of(storage_of(study))
        assert rdb is not None
        self.engine: sqlalchemy.Engine = rdb.engine
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
    return optuna.load_study(study_name=study.study_name, storage=storage_of(study)).trials[number]


def test_parameters_ride_on_the_launch_and_end_attributes_on_the_state(
    postgres_url: str, name: str
) -> None:
    a = _agent(postgres_url, name)
    b = _agent(postgres_url, name)  # a second agent on the same database
    writer = trial_writer(storage_of(a))
    first = a.ask(DISTS)  # the study knows the names and distributions from now on
    a.tell(first, 1.0)
    count = Commits(a)
    try:
        trial = _ask(a, DISTS)
        _, statements = count.take()
        assert "INSERT INTO trials" in statements
        assert "INSERT INTO trial_params" not in statements  # the three parameters wait
        assert set(trial.params) == {"x", "y", "opt"}  # ... but the trial has them at once
        assert _seen(b, trial.number).params == {}
        # this process reads what it wrote
        assert a.get_trials(deepcopy=False)[-1].params == trial.params
        count.take()

        launch = {"sweeprun.owner": "me", "sweeprun.pid": 1}
        writer.write_records(trial_id_of(trial), launch, heartbeat=True)
        commits, statements = count.take()
        assert commits == 1  # parameters, launch attributes and heartbeat in one transaction
        assert "INSERT INTO trial_params" in statements
        seen = _seen(b, trial.number)
        assert seen.params == trial.params and seen.distributions == trial.distributions
        assert seen.user_attrs == launch
        # the sampler reads them back through the storage, as Optuna wrote them
        assert storage_of(b).get_trial_param(trial_id_of(trial), "y") == DISTS[
            "y"
        ].to_internal_repr(trial.params["y"])

        end = {"sweeprun.exit_code": 0, "sweeprun.counted": True}
        writer.write_records(trial_id_of(trial), end, [(0, 0.5)], hold=True)
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
    writer = trial_writer(storage_of(a))
    trial = _ask(a, DISTS)
    writer.write_records(trial_id_of(trial), {"sweeprun.owner": "me"}, heartbeat=True)
    reaper = _agent(postgres_url, name)
    reaper.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    writer.write_records(trial_id_of(trial), {"sweeprun.counted": True}, hold=True)
    error = tell(a, trial, Verdict(COMPLETE, [1.0], None))
    assert error is not None and "finished" in error  # reported, the agent goes on
    seen = _seen(reaper, trial.number)
    assert seen.state.name == "FAIL" and seen.values is None
    assert seen.user_attrs == {"sweeprun.owner": "me"}
    assert seen.params == trial.params  # written at launch, before the reaper
    assert "sweeprun.counted" not in a.get_trials()[0].user_attrs  # nothing is left held


def test_a_parameter_whose_distribution_disagrees_with_the_study_is_refused_whole(
    postgres_url: str, name: str
) -> None:
    a = _agent(postgres_url, name)
    other = _agent(postgres_url, name)  # another agent stored "x" with another range first
    other.tell(other.ask({"x": optuna.distributions.CategoricalDistribution(["a", "b"])}), 1.0)
    trial = _ask(a, DISTS)  # this process has not seen "x": checked at the write
    with pytest.raises(ValueError, match="Cannot set different distribution kind"):
        trial_writer(storage_of(a)).write_records(
            trial_id_of(trial), {"sweeprun.owner": "me"}, heartbeat=True
        )
    seen = _seen(other, trial.number)
    assert seen.params == {} and seen.user_attrs == {}  # all or nothing


def test_a_distribution_this_process_knows_is_checked_before_anything_is_written(
    postgres_url: str, name: str
) -> None:
    a = _agent(postgres_url, name)
    a.tell(a.ask(DISTS), 1.0)
    with pytest.raises(ValueError, match="Cannot set different distribution kind"):
        _ask(a, {"x": optuna.distributions.CategoricalDistribution(["a", "b"])})


class LostReply(BatchingStorage):
    """The batching decorator whose first state write commits and then loses its reply (the
    network, not the database, fails)."""

    lost = 0

    def set_trial_state_values(
        self, trial_id: int, state: Any, values: Sequence[float] | None = None
    ) -> bool:
        done = super().set_trial_state_values(trial_id, state, values)
        if not self.lost:
            self.lost += 1
            raise sqlalchemy.exc.OperationalError("COMMIT", None, ConnectionResetError("lost"))
        return done


def test_a_lost_reply_of_the_state_transaction_is_retried_and_reported_as_landed(
    postgres_url: str, name: str
) -> None:
    rdb = open_storage(classify(postgres_url), retry=False)
    assert isinstance(rdb, optuna.storages.RDBStorage)
    notes: list[str] = []
    storage = wrap(LostReply(cached(rdb)), "pg", str, budget=30, say=notes.append)
    study = optuna.create_study(study_name=name, storage=storage)
    trial = _ask(study, DISTS)
    writer = trial_writer(storage)
    writer.write_records(trial_id_of(trial), {"sweeprun.counted": True}, hold=True)
    assert storage.set_trial_state_values(trial_id_of(trial), optuna.trial.TrialState.FAIL)
    assert notes and "reachable again" in notes[-1]  # one outage, retried
    seen = _seen(study, trial.number)
    assert seen.state.name == "FAIL" and seen.user_attrs == {"sweeprun.counted": True}
    assert seen.params == trial.params  # the held parameters went out with the state
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # refused, not retried
        storage.set_trial_state_values(trial_id_of(trial), optuna.trial.TrialState.COMPLETE)


class NeverArrived:
    """An RDB sink whose first state write fails before reaching the server."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.holds_params = inner.holds_params
        self.failed = 0

    def check_param(self, trial_id: int, name: str, dist: Any) -> bool:
        return bool(self.inner.check_param(trial_id, name, dist))

    def write(self, trial_id: int, batch: Any, heartbeat: bool, strict: bool = True) -> None:
        self.inner.write(trial_id, batch, heartbeat, strict)

    def finish(self, trial_id: int, state: Any, values: Any, batch: Any) -> bool:
        if not self.failed:
            self.failed += 1
            raise sqlalchemy.exc.OperationalError("BEGIN", None, ConnectionRefusedError("down"))
        return bool(self.inner.finish(trial_id, state, values, batch))


def test_a_state_write_that_never_arrived_is_retried_with_its_held_records(
    postgres_url: str, name: str
) -> None:
    from sweeprun.storage.writer_rdb import RdbSink

    rdb = open_storage(classify(postgres_url), retry=False)
    assert isinstance(rdb, optuna.storages.RDBStorage)
    inner = cached(rdb)
    sink = NeverArrived(RdbSink(rdb, inner))
    storage = wrap(BatchingStorage(inner, sink), "pg", str, budget=30, say=lambda _: None)
    study = optuna.create_study(study_name=name, storage=storage)
    trial = _ask(study, DISTS)
    trial_writer(storage).write_records(trial_id_of(trial), {"sweeprun.counted": True}, hold=True)
    study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert sink.failed == 1
    seen = _seen(study, trial.number)
    assert seen.state.name == "FAIL" and seen.user_attrs == {"sweeprun.counted": True}
    assert seen.params == trial.params


def test_a_heartbeat_racing_the_launch_write_does_not_drop_it(postgres_url: str, name: str) -> None:
    """The liveness thread beats a trial from the moment it is running, so its first heartbeat
    can race the launch transaction's: the launch transaction waits for it and then updates
    the row (before, the unique key made it fail and its records were dropped unseen)."""
    import threading

    from tests.helpers.wait import wait_until

    a = _agent(postgres_url, name)
    trial = _ask(a, DISTS)
    rdb = rdb_of(storage_of(a))
    assert rdb is not None
    blocker = rdb.engine.connect()
    blocker.execute(
        sqlalchemy.text(
            f"INSERT INTO trial_heartbeats (trial_id, heartbeat) VALUES ({trial_id_of(trial)}, now())"
        )
    )
    errors: list[BaseException] = []

    def launch() -> None:
        try:
            trial_writer(storage_of(a)).write_records(
                trial_id_of(trial), {"sweeprun.owner": "me"}, heartbeat=True
            )
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=launch)
    writer.start()
    with rdb.engine.connect() as probe:  # the launch transaction waits on the heartbeat's key
        wait_until(
            lambda: probe.execute(
                sqlalchemy.text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid "
                    "WHERE NOT l.granted AND s.query LIKE '%trial_heartbeats%'"
                )
            ).scalar(),
            what="launch transaction waiting",
        )
    blocker.commit()
    blocker.close()
    writer.join(timeout=30)
    assert errors == []
    seen = _seen(a, trial.number)
    assert seen.user_attrs == {"sweeprun.owner": "me"} and seen.params == trial.params
