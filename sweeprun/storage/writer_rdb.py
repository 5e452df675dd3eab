"""The RDB side of :mod:`sweeprun.storage.writer`: a trial's records held in this process and
written in one transaction with the next write of the trial — the parameters (held by
:func:`sweeprun.storage.writer.deferred_params`) with the launch attributes and heartbeat, the end
attributes (``hold``) with the state. The checks are Optuna's: the trial must still be
running, and a parameter's distribution must agree with the one the study has for its name
(checked from Optuna's cache when it knows the name, otherwise in the write transaction)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage, RDBStorage

Param = tuple[str, float, "BaseDistribution", bool]  # name, internal value, distribution, checked
# records held in this process for RDB storages, by (id of the RDBStorage, trial id)
_held_params: dict[tuple[int, int], list[Param]] = {}
_held_end: dict[tuple[int, int], tuple[dict[str, Any], list[tuple[int, float]]]] = {}


def _rdb_batch(
    storage: BaseStorage,
    trial_id: int,
    attrs: dict[str, Any],
    intermediate: Sequence[tuple[int, float]],
    heartbeat: bool = False,
) -> bool:
    """On an RDB storage, write everything in one transaction (retried as a whole when the
    storage is wrapped for outages: the writes are upserts, so a retry is harmless), with
    the parameters and end attributes held for this trial."""
    import sqlalchemy
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    from sweeprun.storage.retrying import RetryingStorage

    rdb = _rdb_of(storage)
    if rdb is None:
        return False
    key = (id(rdb), trial_id)
    params = _held_params.pop(key, [])
    held_attrs, held_steps = _held_end.pop(key, ({}, []))
    attrs = {**held_attrs, **attrs}
    intermediate = [*held_steps, *intermediate]

    def write(_retried: bool) -> None:
        with _create_scoped_session(rdb.scoped_session, True) as session:
            for step, value in intermediate:
                rdb._set_trial_intermediate_value_without_commit(session, trial_id, step, value)
            if (attrs or params) and not _bulk_upsert(
                rdb, session, models, trial_id, attrs, params
            ):
                for name, value, dist, _checked in params:
                    rdb._set_trial_param_without_commit(session, trial_id, name, value, dist)
                for key, value in attrs.items():
                    rdb._set_trial_attr_without_commit(
                        session, models.TrialUserAttributeModel, trial_id, key, value
                    )
            if heartbeat:  # as RDBStorage.record_heartbeat
                beat = models.TrialHeartbeatModel.where_trial_id(trial_id, session, True)
                if beat is None:
                    session.add(models.TrialHeartbeatModel(trial_id=trial_id))
                else:
                    beat.heartbeat = session.execute(sqlalchemy.func.now()).scalar_one()

    # a refused or failed write raises here, once: nothing stays held for a later write
    if isinstance(storage, RetryingStorage):
        storage._run(write)
    else:
        write(False)
    _note_distributions(storage, trial_id, params)
    return True


def held_state_write(
    storage: BaseStorage, *, now: bool = False
) -> contextlib.AbstractContextManager[None]:
    """Around ``tell`` on an RDB storage: the end attributes held for the trial (``hold``) are
    written in the transaction of its state write, after Optuna's check that the trial is
    still running (a finished trial refuses both). With ``now`` (a ``tell`` that reads the
    trial first, e.g. a pruned trial's last intermediate value) they are written before."""
    rdb = _rdb_of(storage)
    if rdb is None or not any(rid == id(rdb) for rid, _ in _held_end):
        return contextlib.nullcontext()
    if now:
        from sweeprun.storage.writer import flush_held

        flush_held(storage)
        return contextlib.nullcontext()
    return _state_write_with_held(storage, rdb)


@contextlib.contextmanager
def _state_write_with_held(storage: BaseStorage, rdb: RDBStorage) -> Iterator[None]:
    from sweeprun.storage.retrying import RetryingStorage

    plain = storage.set_trial_state_values

    def state_write(trial_id: int, state: Any, values: Sequence[float] | None = None) -> bool:
        key = (id(rdb), trial_id)
        held = _held_end.pop(key, None)
        if held is None or key in _held_params:  # parameters first, as they were asked
            if held is not None:
                _held_end[key] = held
            return plain(trial_id, state, values)

        def write() -> bool:
            return _rdb_finish(rdb, trial_id, state, values, *held)

        try:
            if isinstance(storage, RetryingStorage):
                return storage.finish(trial_id, state, write)
            return write()
        except BaseException:
            _held_end[key] = held  # still to write: flush_held does, and reports a refusal
            raise

    setattr(storage, "set_trial_state_values", state_write)  # noqa: B010 (for this ``tell``)
    try:
        yield
    finally:
        delattr(storage, "set_trial_state_values")


def _rdb_finish(
    rdb: Any,
    trial_id: int,
    state: Any,
    values: Sequence[float] | None,
    attrs: dict[str, Any],
    intermediate: Sequence[tuple[int, float]],
) -> bool:
    """``RDBStorage.set_trial_state_values`` with the end records in the same transaction."""
    from datetime import datetime

    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from optuna.trial import TrialState
    from sqlalchemy import exc as sqlalchemy_exc

    try:
        with _create_scoped_session(rdb.scoped_session) as session:
            trial = models.TrialModel.find_or_raise_by_id(trial_id, session, for_update=True)
            rdb.check_trial_is_updatable(trial_id, trial.state)
            for step, value in intermediate:  # as _set_trial_intermediate_value_without_commit
                model = models.TrialIntermediateValueModel
                stored, kind = model.intermediate_value_to_stored_repr(value)
                row = model.find_by_trial_and_step(trial, step, session)
                if row is None:
                    session.add(
                        model(
                            trial_id=trial_id,
                            step=step,
                            intermediate_value=stored,
                            intermediate_value_type=kind,
                        )
                    )
                else:
                    row.intermediate_value, row.intermediate_value_type = stored, kind
            if attrs and not _bulk_upsert(rdb, session, models, trial_id, attrs, [], trial):
                for key, value in attrs.items():
                    rdb._set_trial_attr_without_commit(
                        session, models.TrialUserAttributeModel, trial_id, key, value
                    )
            if values is not None:
                for objective, v in enumerate(values):
                    rdb._set_trial_value_without_commit(session, trial, objective, v)
            if state == TrialState.RUNNING and trial.state != TrialState.WAITING:
                return False
            trial.state = state
            if state == TrialState.RUNNING:
                trial.datetime_start = datetime.now()
            if state.is_finished():
                trial.datetime_complete = datetime.now()
    except sqlalchemy_exc.IntegrityError:
        return False
    return True


def _bulk_upsert(
    rdb: Any,
    session: Any,
    models: Any,
    trial_id: int,
    attrs: dict[str, Any],
    params: Sequence[Param] = (),
    trial: Any = None,
) -> bool:
    """All attributes in one INSERT ... ON CONFLICT statement and all parameters in another
    (PostgreSQL, MySQL, SQLite); ``trial``: the row, already checked to be updatable."""
    import json

    from optuna.distributions import distribution_to_json

    dialect = rdb.engine.name
    if dialect not in ("postgresql", "sqlite", "mysql"):
        return False
    if trial is None:
        trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
        rdb.check_trial_is_updatable(trial_id, trial.state)
    if attrs:
        rows = [
            {"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()
        ]
        session.execute(
            _upsert(dialect, models.TrialUserAttributeModel, rows, ["key"], "value_json")
        )
    if params:
        _check_new_names(session, models, trial.study_id, params)
        rows = [
            {
                "trial_id": trial_id,
                "param_name": name,
                "param_value": value,
                "distribution_json": distribution_to_json(dist),
            }
            for name, value, dist, _checked in params
        ]
        session.execute(
            _upsert(dialect, models.TrialParamModel, rows, ["param_name"], "param_value")
        )
    return True


def _upsert(
    dialect: str, model: Any, rows: list[dict[str, Any]], keys: list[str], column: str
) -> Any:
    """INSERT of ``rows``; a row already there (a retry after a lost reply) gets ``column``."""
    import importlib

    insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
    stmt = insert(model).values(rows)
    if dialect == "mysql":
        return stmt.on_duplicate_key_update({column: stmt.inserted[column]})
    index = [model.trial_id, *(getattr(model, k) for k in keys)]
    return stmt.on_conflict_do_update(index_elements=index, set_={column: stmt.excluded[column]})


def _check_new_names(session: Any, models: Any, study_id: int, params: Sequence[Param]) -> None:
    """Optuna's check for a parameter whose name this process had not seen in the study: its
    distribution must agree with the one stored with the name by another trial."""
    from optuna.distributions import check_distribution_compatibility, json_to_distribution

    model = models.TrialParamModel
    for name, _, dist, checked in params:
        if checked:
            continue
        row = (
            session.query(model.distribution_json)
            .join(models.TrialModel)
            .filter(models.TrialModel.study_id == study_id)
            .filter(model.param_name == name)
            .first()
        )
        if row is not None:
            check_distribution_compatibility(json_to_distribution(row[0]), dist)


def _rdb_of(storage: Any) -> RDBStorage | None:
    """The ``RDBStorage`` behind ``storage`` (Optuna's cache, the outage wrapper), or None."""
    from optuna.storages import RDBStorage

    from sweeprun.storage.retrying import RetryingStorage

    inner = storage.inner if isinstance(storage, RetryingStorage) else storage
    rdb = getattr(inner, "_backend", inner)
    return rdb if isinstance(rdb, RDBStorage) else None


def _cache_of(storage: Any) -> Any:
    from optuna.storages import _CachedStorage

    from sweeprun.storage.retrying import RetryingStorage

    inner = storage.inner if isinstance(storage, RetryingStorage) else storage
    return inner if isinstance(inner, _CachedStorage) else None


def _cached_distribution(storage: Any, trial_id: int, name: str) -> BaseDistribution | None:
    """The distribution Optuna's cache knows for ``name`` in the trial's study."""
    cache = _cache_of(storage)
    if cache is None:
        return None
    with cache._lock:
        where = cache._trial_id_to_study_id_and_number.get(trial_id)
        if where is None or where[0] not in cache._studies:
            return None
        known: BaseDistribution | None = cache._studies[where[0]].param_distribution.get(name)
        return known


def _note_distributions(storage: Any, trial_id: int, params: Sequence[Param]) -> None:
    """As ``_CachedStorage.set_trial_param``: remember the first distribution of each name."""
    cache = _cache_of(storage)
    if cache is None or not params:
        return
    with cache._lock:
        where = cache._trial_id_to_study_id_and_number.get(trial_id)
        if where is None or where[0] not in cache._studies:
            return
        known = cache._studies[where[0]].param_distribution
        for name, _, dist, _checked in params:
            known.setdefault(name, dist)
