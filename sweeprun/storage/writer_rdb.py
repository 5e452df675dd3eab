"""The RDB sink of the batching decorator: a trial's batch in one transaction.

A batch's parameters, intermediate values and user attributes (and, at launch, the trial's
heartbeat) go out in one transaction; the records held for the state write go out in the
transaction of ``set_trial_state_values`` itself. The checks are Optuna's: the trial must
still be updatable (a finished trial refuses the whole transaction; its row is locked and
checked first, so a trial reaped by another agent while this process was frozen refuses even
a batch that Optuna's own check had passed before the freeze), and a parameter's
distribution must agree with the one the study has for its name — checked from Optuna's cache
when it knows the name (:meth:`RdbSink.check_param`, as the cache's own ``set_trial_param``
does), otherwise in the write transaction. On PostgreSQL, MySQL and SQLite all attributes go
out in one ``INSERT ... ON CONFLICT`` statement and all parameters in another; a retry after
a lost reply therefore rewrites the same rows.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy
from optuna.distributions import (
    BaseDistribution,
    check_distribution_compatibility,
    distribution_to_json,
    json_to_distribution,
)
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import TrialState
from sqlalchemy import exc as sqlalchemy_exc

from sweeprun.storage.batch import Batch, HeldParam
from sweeprun.storage.optuna_adapter import (
    RdbWrites,
    cached_distribution,
    note_distributions,
    rdb_models,
    rdb_transaction,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


class RdbSink:
    """Batches to ``rdb``; ``storage`` is what wraps it (Optuna's cache, whose record of each
    parameter's distribution is kept as its ``set_trial_param`` keeps it)."""

    holds_params = True

    def __init__(self, rdb: RDBStorage, storage: BaseStorage) -> None:
        self.rdb = rdb
        self.storage = storage

    def check_param(self, trial_id: int, name: str, dist: BaseDistribution) -> bool:
        known = cached_distribution(self.storage, trial_id, name)
        if known is None:
            return False
        check_distribution_compatibility(known, dist)
        return True

    def write(self, trial_id: int, batch: Batch, heartbeat: bool, strict: bool = True) -> None:
        models = rdb_models()
        # (an integrity error is raised, not ignored as Optuna's own writes do: it would drop
        # the whole batch, launch record included, without a word)
        with rdb_transaction(self.rdb) as session:
            writes = RdbWrites(self.rdb, session)
            if batch or heartbeat:
                _lock_running(self.rdb, session, models, trial_id)
            for step, value in batch.intermediate:
                writes.intermediate(trial_id, step, value)
            if batch.attrs or batch.params:
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
                _write_attrs_and_params(writes, trial, batch)
            if heartbeat:
                _heartbeat(session, models, writes.rdb.engine.name, trial_id)
        self._noted(trial_id, batch.params)

    def finish(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None, batch: Batch
    ) -> bool:
        """``RDBStorage.set_trial_state_values`` with the batch in the same transaction."""
        models = rdb_models()
        try:
            with rdb_transaction(self.rdb) as session:
                trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
                self.rdb.check_trial_is_updatable(trial_id, trial.state)
                writes = RdbWrites(self.rdb, session)
                for step, value in batch.intermediate:
                    _intermediate(session, models, trial, step, value)
                _write_attrs_and_params(writes, trial, batch)
                if values is not None:
                    for objective, v in enumerate(values):
                        writes.value(trial, objective, v)
                if state == TrialState.RUNNING and trial.state != TrialState.WAITING:
                    return False
                trial.state = state
                if state == TrialState.RUNNING:
                    trial.datetime_start = datetime.now()
                if state.is_finished():
                    trial.datetime_complete = datetime.now()
        except sqlalchemy_exc.IntegrityError:
            return False
        self._noted(trial_id, batch.params)
        return True

    def _noted(self, trial_id: int, params: Sequence[HeldParam]) -> None:
        note_distributions(self.storage, trial_id, [(p.name, p.distribution) for p in params])


def _lock_running(rdb: RDBStorage, session: Session, models: Any, trial_id: int) -> None:
    """Lock the trial's row and check that it is still running, first in the transaction: a
    trial finished meanwhile by another agent (it reaped this one's trial while this process
    was frozen, paused or cut off) refuses the batch whole, even when this process was stopped
    between Optuna's own check and its write. On PostgreSQL the lock is ``FOR NO KEY
    UPDATE``, which the inserts of the trial's rows (and a racing heartbeat) do not wait on;
    a reaper's ``FOR UPDATE`` waits for this transaction to end."""
    model = models.TrialModel
    query = session.query(model.state).filter(model.trial_id == trial_id)
    row = query.with_for_update(key_share=True).one_or_none()
    if row is None:
        raise KeyError(models.NOT_FOUND_MSG)
    rdb.check_trial_is_updatable(trial_id, row[0])


def _heartbeat(session: Session, models: Any, dialect: str, trial_id: int) -> None:
    """As ``RDBStorage.record_heartbeat``; one upsert where the dialect has one, so that the
    liveness thread's heartbeat of the same trial (it runs from launch on) cannot collide."""
    model = models.TrialHeartbeatModel
    if dialect in ("postgresql", "sqlite", "mysql"):
        rows = [{"trial_id": trial_id, "heartbeat": sqlalchemy.func.now()}]
        session.execute(_upsert(dialect, model, rows, [], "heartbeat"))
        return
    beat = model.where_trial_id(trial_id, session, True)
    if beat is None:
        session.add(model(trial_id=trial_id))
    else:
        beat.heartbeat = session.execute(sqlalchemy.func.now()).scalar_one()


def _intermediate(session: Session, models: Any, trial: Any, step: int, value: float) -> None:
    """As ``RDBStorage.set_trial_intermediate_value`` writes it, on the row already locked."""
    model = models.TrialIntermediateValueModel
    stored, kind = model.intermediate_value_to_stored_repr(value)
    row = model.find_by_trial_and_step(trial, step, session)
    if row is None:
        session.add(
            model(
                trial_id=trial.trial_id,
                step=step,
                intermediate_value=stored,
                intermediate_value_type=kind,
            )
        )
    else:
        row.intermediate_value, row.intermediate_value_type = stored, kind


def _write_attrs_and_params(writes: RdbWrites, trial: Any, batch: Batch) -> None:
    """The batch's attributes and parameters, on a trial row checked to be updatable: in one
    statement each on PostgreSQL, MySQL and SQLite, else one write each."""
    trial_id = int(trial.trial_id)
    dialect = writes.rdb.engine.name
    if dialect not in ("postgresql", "sqlite", "mysql"):
        for p in batch.params:
            writes.param(trial_id, p.name, p.value, p.distribution)
        for key, value in batch.attrs.items():
            writes.user_attr(trial_id, key, value)
        return
    models = rdb_models()
    session = writes.session
    if batch.attrs:
        rows = [
            {"trial_id": trial_id, "key": k, "value_json": json.dumps(v)}
            for k, v in batch.attrs.items()
        ]
        session.execute(
            _upsert(dialect, models.TrialUserAttributeModel, rows, ["key"], "value_json")
        )
    if batch.params:
        _check_new_names(session, models, trial.study_id, batch.params)
        rows = [
            {
                "trial_id": trial_id,
                "param_name": p.name,
                "param_value": p.value,
                "distribution_json": distribution_to_json(p.distribution),
            }
            for p in batch.params
        ]
        session.execute(
            _upsert(dialect, models.TrialParamModel, rows, ["param_name"], "param_value")
        )


def _upsert(
    dialect: str, model: Any, rows: list[dict[str, Any]], keys: list[str], column: str
) -> Any:
    """INSERT of ``rows``; a row already there (a retry after a lost reply) gets ``column``."""
    insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
    stmt = insert(model).values(rows)
    if dialect == "mysql":
        return stmt.on_duplicate_key_update({column: stmt.inserted[column]})
    index = [model.trial_id, *(getattr(model, k) for k in keys)]
    return stmt.on_conflict_do_update(index_elements=index, set_={column: stmt.excluded[column]})


def _check_new_names(
    session: Session, models: Any, study_id: int, params: Sequence[HeldParam]
) -> None:
    """Optuna's check for a parameter whose name this process had not seen in the study: its
    distribution must agree with the one stored with the name by another trial."""
    model = models.TrialParamModel
    for p in params:
        if p.checked:
            continue
        row = (
            session.query(model.distribution_json)
            .join(models.TrialModel)
            .filter(models.TrialModel.study_id == study_id)
            .filter(model.param_name == p.name)
            .first()
        )
        if row is not None:
            check_distribution_compatibility(json_to_distribution(row[0]), p.distribution)
