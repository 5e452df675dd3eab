"""Write several records of one trial at once: ``sweeprun.*`` attributes and intermediate
values.

On the journal storages (file and Redis) they go out as one append — one lock and one fsync
instead of one per record; Optuna's journal format holds one attribute or one intermediate
value per record, so this writes exactly the records ``set_trial_user_attr`` and
``set_trial_intermediate_value`` would. Other storages get one call per record.

On the journal file, records can also ride on the next append (see
:class:`sweeprun.storage.journal.SafeJournalFileBackend`): ``hold=True`` here, and the parameters
written by ``ask`` inside :func:`deferred_params`. A trial's parameters then go out with its
launch attributes, and its end attributes with its state: three appends per trial instead
of five (or more, one per parameter), all-or-nothing each.

On RDB storages the same records are held in this process instead: the parameters go out in
the launch-attributes transaction (with the heartbeat), and the end attributes in the
transaction of the state write (see :func:`held_state_write`), with the checks Optuna makes
(a finished trial is refused; a parameter's distribution must agree with the study's).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.storages import BaseStorage

    from sweeprun.storage.journal import SafeJournalFileBackend

from sweeprun.storage.writer_rdb import (
    _cached_distribution,
    _held_end,
    _held_params,
    _rdb_batch,
    _rdb_of,
    held_state_write,
)

__all__ = ["deferred_params", "flush_held", "held_state_write", "journal_file", "set_user_attrs"]


def journal_file(storage: Any) -> SafeJournalFileBackend | None:
    """The journal file backend behind ``storage`` (which then is a ``JournalStorage``)."""
    from sweeprun.storage.journal import SafeJournalFileBackend

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
    if backend is not None:
        with backend.defer(frozenset({int(JournalOperation.SET_TRIAL_PARAM)})):
            yield
        return
    rdb = _rdb_of(storage)
    if rdb is None:
        yield
        return

    def hold_param(trial_id: int, name: str, value: float, dist: BaseDistribution) -> None:
        from optuna.distributions import check_distribution_compatibility

        known = _cached_distribution(storage, trial_id, name)
        if known is not None:  # as Optuna's cache does; an unknown name is checked on write
            check_distribution_compatibility(known, dist)
        _held_params.setdefault((id(rdb), trial_id), []).append(
            (name, value, dist, known is not None)
        )

    setattr(storage, "set_trial_param", hold_param)  # noqa: B010 (this ``ask`` only)
    try:
        yield
    finally:
        delattr(storage, "set_trial_param")


def flush_held(storage: BaseStorage) -> None:
    """Write whatever still waits for an append (after a ``tell`` that did not write)."""
    backend = journal_file(storage)
    if backend is None:
        rdb = _rdb_of(storage)
        mine = [
            tid for rid, tid in (*_held_end, *_held_params) if rdb is not None and rid == id(rdb)
        ]
        for trial_id in dict.fromkeys(mine):  # written as before: a refusal raises
            set_user_attrs(storage, trial_id, {})
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
    """Write the records now, or with ``hold`` with the next append (journal file) or with
    the trial's state write (RDB storages, :func:`held_state_write`). ``heartbeat`` (RDB
    storages only): also record the trial's heartbeat, in the same transaction. On RDB
    storages the parameters held by :func:`deferred_params` go out with these records."""
    from optuna.storages import JournalStorage
    from optuna.storages.journal._storage import JournalOperation

    from sweeprun.storage.retrying import RetryingStorage

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
    if hold and (rdb := _rdb_of(storage)) is not None:
        before, steps = _held_end.get((id(rdb), trial_id), ({}, []))
        _held_end[(id(rdb), trial_id)] = ({**before, **attrs}, [*steps, *intermediate])
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
