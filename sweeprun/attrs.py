"""Write several records of one trial at once: ``sweeprun.*`` attributes and intermediate
values.

On the journal storages (file and Redis) they go out as one append — one lock and one fsync
instead of one per record; Optuna's journal format holds one attribute or one intermediate
value per record, so this writes exactly the records ``set_trial_user_attr`` and
``set_trial_intermediate_value`` would. Other storages get one call per record.

On the journal file, records can also ride on the next append (see
:class:`sweeprun.journal_lock.SafeJournalFileBackend`): ``hold=True`` here, and the parameters
written by ``ask`` inside :func:`deferred_params`. A trial's parameters then go out with its
launch attributes, and its end attributes with its state: three appends per trial instead
of five (or more, one per parameter), all-or-nothing each.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.storages import BaseStorage

    from sweeprun.journal_lock import SafeJournalFileBackend


def journal_file(storage: Any) -> SafeJournalFileBackend | None:
    """The journal file backend behind ``storage`` (which then is a ``JournalStorage``)."""
    from sweeprun.journal_lock import SafeJournalFileBackend

    backend = getattr(storage, "_backend", None)
    if isinstance(backend, SafeJournalFileBackend) and hasattr(storage, "_replay_result"):
        return backend
    return None


@contextlib.contextmanager
def deferred_params(storage: BaseStorage) -> Iterator[None]:
    """Around ``study.ask``: its parameter records wait for the next append (the launch
    attributes) instead of one append and fsync each. ``trial.params`` has them at once."""
    from optuna.storages.journal._storage import JournalOperation

    backend = journal_file(storage)
    if backend is None:
        yield
        return
    with backend.defer(frozenset({int(JournalOperation.SET_TRIAL_PARAM)})):
        yield


def flush_held(storage: BaseStorage) -> None:
    """Write whatever still waits for an append (after a ``tell`` that did not write)."""
    backend = journal_file(storage)
    if backend is None:
        return
    with storage._thread_lock:  # type: ignore[attr-defined]
        if backend.pending:
            backend.append_logs([])
        _sync_past_finished(storage)


def set_user_attrs(
    storage: BaseStorage,
    trial_id: int,
    attrs: dict[str, Any],
    intermediate: Sequence[tuple[int, float]] = (),
    *,
    hold: bool = False,
    heartbeat: bool = False,
) -> None:
    """Write the records now, or with ``hold`` (journal file only) with the next append.
    ``heartbeat`` (RDB storages only): also record the trial's heartbeat, in the same
    transaction."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal._storage import JournalOperation

    from sweeprun.retrying import RetryingStorage

    if isinstance(storage, RetryingStorage) and isinstance(storage.inner, JournalStorage):
        inner = storage.inner  # Redis behind the outage wrapper: one batch, retried whole
        storage._run(lambda _retried: set_user_attrs(inner, trial_id, attrs, intermediate))
        return
    if isinstance(storage, JournalStorage) and hasattr(storage, "_replay_result"):
        held = journal_file(storage) if hold else None
        with storage._thread_lock:
            worker = storage._replay_result.worker_id
            head = {"worker_id": worker, "trial_id": trial_id}
            op_value = int(JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE)
            op_attr = int(JournalOperation.SET_TRIAL_USER_ATTR)
            logs = [
                {"op_code": op_value, **head, "step": step, "intermediate_value": value}
                for step, value in intermediate
            ]
            logs += [{"op_code": op_attr, **head, "user_attr": {k: v}} for k, v in attrs.items()]
            if held is not None:
                held.hold(logs)
            elif logs or journal_file(storage) is not None:  # (held records go out too)
                storage._backend.append_logs(logs)
                _sync_past_finished(storage)
        return
    if _rdb_batch(storage, trial_id, attrs, intermediate, heartbeat):
        return
    for step, value in intermediate:
        storage.set_trial_intermediate_value(trial_id, step, value)
    for key, value in attrs.items():
        storage.set_trial_user_attr(trial_id, key, value)


def _sync_past_finished(storage: Any) -> None:
    """Replay the journal. Our records for a trial another agent finished meanwhile (a reaper,
    or a lease renewal racing the trial's end) are refused: Optuna raises for each after
    counting it read, so keep replaying past them."""
    from optuna.exceptions import UpdateFinishedTrialError

    for _ in range(100_000):
        try:
            storage._sync_with_backend()
        except UpdateFinishedTrialError:
            continue
        return


def _rdb_batch(
    storage: BaseStorage,
    trial_id: int,
    attrs: dict[str, Any],
    intermediate: Sequence[tuple[int, float]],
    heartbeat: bool = False,
) -> bool:
    """On an RDB storage, write everything in one transaction (retried as a whole when the
    storage is wrapped for outages: the writes are upserts, so a retry is harmless)."""
    import sqlalchemy
    from optuna.storages import RDBStorage
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    from sweeprun.retrying import RetryingStorage

    inner = storage.inner if isinstance(storage, RetryingStorage) else storage
    rdb = getattr(inner, "_backend", inner)
    if not isinstance(rdb, RDBStorage):
        return False

    def write(_retried: bool) -> None:
        with _create_scoped_session(rdb.scoped_session, True) as session:
            for step, value in intermediate:
                rdb._set_trial_intermediate_value_without_commit(session, trial_id, step, value)
            if attrs and not _bulk_upsert(rdb, session, models, trial_id, attrs):
                for key, value in attrs.items():
                    rdb._set_trial_attr_without_commit(
                        session, models.TrialUserAttributeModel, trial_id, key, value
                    )
            if heartbeat:  # as RDBStorage.record_heartbeat
                beat = models.TrialHeartbeatModel.where_trial_id(trial_id, session, True)
                if beat is None:
                    session.add(models.TrialHeartbeatModel(trial_id=trial_id))
                else:
                    beat.heartbeat = session.execute(sqlalchemy.func.now()).scalar()

    if isinstance(storage, RetryingStorage):
        storage._run(write)
    else:
        write(False)
    return True


def _bulk_upsert(rdb: Any, session: Any, models: Any, trial_id: int, attrs: dict[str, Any]) -> bool:
    """All attributes in one INSERT ... ON CONFLICT statement (PostgreSQL, MySQL, SQLite)."""
    import json

    model = models.TrialUserAttributeModel
    trial = models.TrialModel.find_or_raise_by_id(trial_id, session)
    rdb.check_trial_is_updatable(trial_id, trial.state)
    rows = [{"trial_id": trial_id, "key": k, "value_json": json.dumps(v)} for k, v in attrs.items()]
    dialect = rdb.engine.name
    stmt: Any
    if dialect in ("postgresql", "sqlite"):
        import importlib

        insert = importlib.import_module(f"sqlalchemy.dialects.{dialect}").insert
        stmt = insert(model).values(rows)
        stmt = stmt.on_conflict_do_update(
            index_elements=[model.trial_id, model.key],
            set_={"value_json": stmt.excluded.value_json},
        )
    elif dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        stmt = mysql_insert(model).values(rows)
        stmt = stmt.on_duplicate_key_update(value_json=stmt.inserted.value_json)
    else:
        return False
    session.execute(stmt)
    return True
