"""A trial's records written together: a storage decorator, as Optuna's own RDB cache is.

:class:`BatchingStorage` wraps an Optuna storage and holds, per trial and as instance state,
the records that can wait for the trial's next write:

* the parameters set inside :meth:`BatchingStorage.asking` (around ``study.ask``) wait for
  the trial's next write: in the scheduler, the launch attributes (with the first heartbeat on
  RDB storages); elsewhere ``set_trial_param`` writes at once, with Optuna's checks then;
* records written with ``hold=True`` (:meth:`BatchingStorage.write_records`: the end attributes
  and the last intermediate values) wait for the state write (``tell``).

Each batch then goes out as one append of the journal (file or Redis: one lock and one fsync,
the records exactly those Optuna writes one call each) or as one transaction of an RDB storage
(:mod:`sweeprun.storage.writer_rdb`), with Optuna's checks kept: a finished trial refuses the
batch; a parameter's distribution must agree with the study's (held parameters are checked
when the batch is written, or on RDB storages at once when Optuna's cache knows the name).
Other storages (gRPC) get one call per record. Reads answer as if the held records were
written (``get_trial`` and ``get_all_trials`` show them), so this process sees what it wrote.
Outside :meth:`~BatchingStorage.asking` and ``hold`` the decorator is a plain ``BaseStorage``:
Optuna's storage contract tests pass through it (``tests/unit/test_storage_contract.py``).

:meth:`BatchingStorage.expect_no_waiting` (the budget just counted no WAITING trial) answers
the next read of a study's waiting trials (``ask``'s look for a queued trial) with none,
without a query; a trial queued meanwhile is popped by the next ``ask``.

Composition (:func:`sweeprun.storage.open.open_storage`), outermost first::

    RetryingStorage(BatchingStorage(Optuna's cache(RDBStorage)))   PostgreSQL, MySQL
    BatchingStorage(RDBStorage)                                    SQLite (one process)
    BatchingStorage(JournalStorage(SafeJournalFileBackend))        journal file
    RetryingStorage(BatchingStorage(JournalStorage(Redis)))        Redis
    RetryingStorage(BatchingStorage(GrpcStorageProxy))             ``sweeprun serve``

Optuna's cache is innermost, as Optuna composes it; the batching decorator keeps the cache's
record of each parameter's distribution as the cache's own ``set_trial_param`` does. The
retrying decorator is outermost, so each call of the batching decorator (one append, one
transaction) is retried whole after a lost connection: the batch's records are put back when
a call fails on a transient error, and written again by the retry (the writes are upserts).
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Container, Iterator, Sequence
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from optuna.distributions import BaseDistribution
from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from sweeprun.storage.batch import Batch, HeldParam, Sink
from sweeprun.storage.optuna_adapter import (
    ForwardingHeartbeat,
    FrozenStudy,
    HeartbeatStorage,
    trial_id_of,
)
from sweeprun.storage.outage import is_transient
from sweeprun.storage.writer import sink_for

T = TypeVar("T")


@runtime_checkable
class TrialWriter(Protocol):
    """The writes sweeprun makes beyond ``BaseStorage`` (the batching decorator, also through
    the retrying one)."""

    def write_records(
        self,
        trial_id: int,
        attrs: dict[str, Any],
        intermediate: Sequence[tuple[int, float]] = (),
        *,
        hold: bool = False,
        heartbeat: bool = False,
    ) -> None: ...

    def flush(self, trial_id: int) -> None: ...

    def discard(self, trial_id: int) -> None: ...

    def asking(self) -> contextlib.AbstractContextManager[None]: ...

    def expect_no_waiting(self, study_id: int) -> None: ...


def trial_writer(storage: BaseStorage) -> TrialWriter:
    """``storage`` as a :class:`TrialWriter` (storages from :mod:`sweeprun.storage.open` are)."""
    if not isinstance(storage, TrialWriter):
        raise TypeError(f"{type(storage).__name__} was not opened by sweeprun.storage.open")
    return storage


class BatchingStorage(BaseStorage):
    """Delegates to ``inner``; holds a trial's records to write them with its next write."""

    def __init__(self, inner: BaseStorage, sink: Sink | None = None) -> None:
        self._inner = inner
        self._sink: Sink = sink if sink is not None else sink_for(inner)
        self._held: dict[int, Batch] = {}
        self._no_waiting: set[int] = set()
        self._asking = False  # parameters set now wait for the trial's next write
        self._lock = threading.Lock()  # the liveness thread writes leases

    @property
    def inner(self) -> BaseStorage:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        # anything not part of BaseStorage (gRPC's ``wait_server_ready``, ``close``, ...)
        if name in ("_inner", "_sink", "_held", "_no_waiting", "_asking", "_lock"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    # ---- sweeprun's writes ----------------------------------------------------------------
    def write_records(
        self,
        trial_id: int,
        attrs: dict[str, Any],
        intermediate: Sequence[tuple[int, float]] = (),
        *,
        hold: bool = False,
        heartbeat: bool = False,
    ) -> None:
        """Write ``attrs`` (user attributes) and ``intermediate`` values with the trial's held
        records, now; with ``hold``, with the trial's state write instead. ``heartbeat`` (RDB
        storages): record the trial's heartbeat in the same transaction."""
        if hold:
            with self._lock:
                self._held[trial_id] = self._held.get(trial_id, Batch()).then(attrs, intermediate)
            return
        self._write(trial_id, attrs, intermediate, heartbeat=heartbeat, strict=False)

    def _write(
        self,
        trial_id: int,
        attrs: dict[str, Any],
        intermediate: Sequence[tuple[int, float]] = (),
        *,
        heartbeat: bool = False,
        strict: bool = True,
    ) -> None:
        batch = self._take(trial_id).then(attrs, intermediate)
        if not batch and not heartbeat:
            return
        self._run(trial_id, batch, lambda: self._sink.write(trial_id, batch, heartbeat, strict))

    def flush(self, trial_id: int) -> None:
        """Write whatever the trial still holds."""
        self._write(trial_id, {})

    @contextlib.contextmanager
    def asking(self) -> Iterator[None]:
        """Around ``study.ask``: the parameters it sets wait for the trial's next write."""
        self._asking = True
        try:
            yield
        finally:
            self._asking = False

    def discard(self, trial_id: int) -> None:
        """Forget the trial's held records (its state write was refused: so would they be)."""
        with self._lock:
            self._held.pop(trial_id, None)

    def expect_no_waiting(self, study_id: int) -> None:
        """The next read of the study's WAITING trials answers none, without a query."""
        self._no_waiting.add(study_id)

    def _take(self, trial_id: int) -> Batch:
        with self._lock:
            return self._held.pop(trial_id, None) or Batch()

    def _run(self, trial_id: int, batch: Batch, write: Callable[[], T]) -> T:
        """``write()``; after a lost connection the batch is held again, for the retry."""
        try:
            return write()
        except Exception as exc:
            if is_transient(exc):
                with self._lock:
                    later = self._held.get(trial_id)
                    self._held[trial_id] = batch if later is None else batch.then_batch(later)
            raise

    # ---- BaseStorage: trial writes ----------------------------------------------------------
    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        if not (self._asking and self._sink.holds_params):
            self.flush(trial_id)
            self._inner.set_trial_param(trial_id, param_name, param_value_internal, distribution)
            return
        checked = self._sink.check_param(trial_id, param_name, distribution)
        param = HeldParam(param_name, param_value_internal, distribution, checked)
        with self._lock:
            self._held.setdefault(trial_id, Batch()).params.append(param)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._write(trial_id, {}, [(step, intermediate_value)])

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._write(trial_id, {key: value})

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self.flush(trial_id)
        self._inner.set_trial_system_attr(trial_id, key, value)

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        batch = self._take(trial_id)
        if not batch:
            return self._inner.set_trial_state_values(trial_id, state, values)
        return self._run(trial_id, batch, lambda: self._sink.finish(trial_id, state, values, batch))

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        return self._inner.create_new_trial(study_id, template_trial)

    # ---- BaseStorage: trial reads (held records shown) ------------------------------------
    def get_trial(self, trial_id: int) -> FrozenTrial:
        trial = self._inner.get_trial(trial_id)
        batch = self._held.get(trial_id)
        return trial if not batch else _with(trial, batch)

    def get_trial_param(self, trial_id: int, param_name: str) -> float:
        if trial_id in self._held:
            return super().get_trial_param(trial_id, param_name)  # from get_trial
        return self._inner.get_trial_param(trial_id, param_name)

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        if study_id in self._no_waiting:
            self._no_waiting.discard(study_id)
            if states is not None and _only_waiting(states):
                return []
        trials = self._inner.get_all_trials(study_id, deepcopy=deepcopy, states=states)
        held = self._held
        if not held or (states is not None and TrialState.RUNNING not in states):
            return trials  # (a trial holds records while it runs)
        return [_with(t, held[tid]) if (tid := trial_id_of(t)) in held else t for t in trials]

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return self._inner.get_trial_id_from_study_id_trial_number(study_id, trial_number)

    def get_trial_number_from_id(self, trial_id: int) -> int:
        return self._inner.get_trial_number_from_id(trial_id)

    def get_n_trials(
        self, study_id: int, state: tuple[TrialState, ...] | TrialState | None = None
    ) -> int:
        return self._inner.get_n_trials(study_id, state)

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        return self._inner.get_best_trial(study_id)

    # ---- BaseStorage: studies --------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return self._inner.create_new_study(directions, study_name)

    def delete_study(self, study_id: int) -> None:
        self._inner.delete_study(study_id)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._inner.set_study_user_attr(study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._inner.set_study_system_attr(study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return self._inner.get_study_id_from_name(study_name)

    def get_study_name_from_id(self, study_id: int) -> str:
        return self._inner.get_study_name_from_id(study_id)

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return self._inner.get_study_directions(study_id)

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return self._inner.get_study_user_attrs(study_id)

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return self._inner.get_study_system_attrs(study_id)

    def get_all_studies(self) -> list[FrozenStudy]:
        return self._inner.get_all_studies()

    def remove_session(self) -> None:
        self._inner.remove_session()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


class BatchingHeartbeatStorage(BatchingStorage, ForwardingHeartbeat):
    """A :class:`BatchingStorage` for storages with Optuna's heartbeat (RDB)."""

    def heartbeat_call(self, fn: Callable[[HeartbeatStorage], T]) -> T:
        return fn(cast(HeartbeatStorage, self._inner))

    def record_heartbeat(self, trial_id: int) -> None:
        """As Optuna's, in the sink's transaction: a finished trial (reaped by another agent
        while this process was frozen) refuses it with ``UpdateFinishedTrialError``, as it
        refuses every other write; the trial's held records stay held."""
        self._sink.write(trial_id, Batch(), True, True)


def batching(inner: BaseStorage) -> BatchingStorage:
    """``inner`` behind the batching decorator (with the heartbeat protocol when it has it)."""
    if isinstance(inner, HeartbeatStorage):
        return BatchingHeartbeatStorage(inner)
    return BatchingStorage(inner)


def _only_waiting(states: Container[TrialState]) -> bool:
    return TrialState.WAITING in states and not any(
        s in states for s in TrialState if s != TrialState.WAITING
    )


def _with(trial: FrozenTrial, batch: Batch) -> FrozenTrial:
    """A copy of ``trial`` with the batch's records, as a read after writing them shows."""
    out = copy.copy(trial)
    if batch.params:
        params, dists = dict(trial.params), dict(trial.distributions)
        for p in batch.params:
            params[p.name] = p.distribution.to_external_repr(p.value)
            dists[p.name] = p.distribution
        out.params, out.distributions = params, dists
    if batch.attrs:
        out.user_attrs = {**trial.user_attrs, **batch.attrs}
    if batch.intermediate:
        out.intermediate_values = {**trial.intermediate_values, **dict(batch.intermediate)}
    return out
