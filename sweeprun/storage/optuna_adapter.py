"""The one module that uses Optuna's private names, behind a version gate.

Everything sweeprun needs from Optuna beyond its public API is reached through the functions
here; no other module imports ``optuna.*._x`` or touches a private attribute of an Optuna
object, and nothing patches Optuna at run time. :func:`check_version` refuses an Optuna
release these functions were not tested against, with a message that says what to do.

Sections: the version gate; the write path (storages, trials, journal, heartbeats); the read
path (Optuna's RDB schema for the fast SQL reads).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, TypeVar, cast

import optuna
from optuna.distributions import BaseDistribution, distribution_to_json
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, JournalStorage, RDBStorage, _CachedStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.storages.journal import BaseJournalBackend
from optuna.storages.journal._file import BaseJournalFileLock, get_lock_file
from optuna.storages.journal._storage import JournalOperation
from optuna.study._frozen import FrozenStudy as FrozenStudy  # (not exported by Optuna)
from optuna.study._tell import _tell_with_warning
from optuna.trial import FrozenTrial, TrialState

from sweeprun.errors import SweepError

if TYPE_CHECKING:
    from optuna.storages._rdb.models import TrialModel
    from sqlalchemy.orm import Session

T = TypeVar("T")

# Optuna releases whose private names the functions below were checked against (major.minor)
TESTED = ("5.0", "5.1")
ENV_UNCHECKED = "SWEEPRUN_OPTUNA_UNCHECKED"  # =1: run on an untested Optuna anyway (CI compat job)


def check_version(version: str | None = None) -> None:
    """Refuse an Optuna whose major.minor is not in :data:`TESTED` (unless $ENV_UNCHECKED=1)."""
    if version is None:
        version = optuna.__version__
    if ".".join(version.split(".")[:2]) in TESTED or os.environ.get(ENV_UNCHECKED) == "1":
        return
    raise SweepError(
        f"sweeprun was tested with Optuna {', '.join(TESTED)}, but Optuna {version} is "
        "installed\n    fix: pip install 'optuna>=5.0,<5.2' (or upgrade sweeprun); "
        f"{ENV_UNCHECKED}=1 runs anyway, at your own risk"
    )


# ---- write path ---------------------------------------------------------------------------
# Storages, studies and trials (the private attributes Optuna's own objects use), the RDB
# cache's per-study bookkeeping, the journal's thread lock, worker id and replay, Optuna's
# tell without the deep copy of its answer. The RDB schema (which imports SQLAlchemy) is
# imported when first used: a journal-file agent never loads SQLAlchemy.

HeartbeatStorage = BaseHeartbeat  # the base class of storages with Optuna's heartbeat (RDB)
JournalFileLock = BaseJournalFileLock  # the base class of a journal file's lock
journal_lock_held = get_lock_file  # ``with journal_lock_held(lock):`` holds a journal lock
#: the journal's operations, ``op_code`` -> name (``CREATE_TRIAL`` ...), as this Optuna replays
JOURNAL_OPS: Mapping[int, str] = {int(op): op.name for op in JournalOperation}


class Wrapper(Protocol):
    """A sweeprun storage decorator (retrying, batching): the storage it wraps."""

    @property
    def inner(self) -> BaseStorage: ...


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a study reads and writes through (the outermost decorator)."""
    return study._storage


def study_id_of(study: optuna.Study) -> int:
    return study._study_id


def trial_id_of(trial: optuna.Trial | FrozenTrial) -> int:
    return trial._trial_id


def frozen_trial_of(trial: optuna.Trial) -> FrozenTrial:
    """The trial as the ``Trial`` object holds it in this process (parameters included), no
    read: what ``tell`` would read back of a trial this process has written all along."""
    return trial._cached_frozen_trial


def tell_quietly(
    study: optuna.Study,
    trial: optuna.Trial,
    values: Sequence[float] | None = None,
    state: TrialState | None = None,
) -> None:
    """``study.tell`` without the deep copy of the trial it returns (which sweeprun never uses);
    Optuna's checks and the sampler's ``after_trial`` as in ``tell``."""
    _tell_with_warning(study, trial, values, state)


def _unwrapped(storage: BaseStorage) -> BaseStorage:
    """Through sweeprun's decorators (``inner``) to the first Optuna storage."""
    for _ in range(10):
        inner = getattr(type(storage), "inner", None)
        if not isinstance(inner, property):
            break
        storage = cast(Wrapper, storage).inner
    return storage


def cache_of(storage: BaseStorage) -> _CachedStorage | None:
    """Optuna's RDB cache (``_CachedStorage``) behind sweeprun's decorators, or None."""
    inner = _unwrapped(storage)
    return inner if isinstance(inner, _CachedStorage) else None


def rdb_of(storage: BaseStorage) -> RDBStorage | None:
    """The ``RDBStorage`` behind ``storage`` (sweeprun's decorators, Optuna's cache), or None."""
    inner = _unwrapped(storage)
    if isinstance(inner, _CachedStorage):
        inner = inner._backend
    return inner if isinstance(inner, RDBStorage) else None


def cached(rdb: RDBStorage) -> BaseStorage:
    """``rdb`` behind Optuna's own cache, as ``optuna.storages.get_storage`` wraps it."""
    return _CachedStorage(rdb)


def journal_of(storage: BaseStorage) -> JournalStorage | None:
    """The ``JournalStorage`` behind sweeprun's decorators, or None."""
    inner = _unwrapped(storage)
    return inner if isinstance(inner, JournalStorage) else None


def journal_backend(journal: JournalStorage) -> BaseJournalBackend:
    return journal._backend


def stale_trial_ids(storage: BaseHeartbeat, study_id: int) -> list[int]:
    """The running trials whose heartbeat is stale (the ids ``fail_stale_trials`` fails)."""
    return list(storage._get_stale_trial_ids(study_id))


class ForwardingHeartbeat(BaseHeartbeat):
    """Optuna's heartbeat protocol for a storage decorator: every call goes to
    :meth:`heartbeat_call` with a function of the wrapped storage."""

    def heartbeat_call(self, fn: Callable[[BaseHeartbeat], T]) -> T:
        raise NotImplementedError

    def record_heartbeat(self, trial_id: int) -> None:
        self.heartbeat_call(lambda hb: hb.record_heartbeat(trial_id))

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return self.heartbeat_call(lambda hb: stale_trial_ids(hb, study_id))

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_call(lambda hb: hb.get_heartbeat_interval())

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_call(lambda hb: hb.get_heartbeat_stale_trial_callback())


def cached_distribution(storage: BaseStorage, trial_id: int, name: str) -> BaseDistribution | None:
    """The distribution Optuna's RDB cache knows for ``name`` in the trial's study (the one its
    ``set_trial_param`` checks a new parameter against), or None."""
    cache = cache_of(storage)
    if cache is None:
        return None
    with cache._lock:
        where = cache._trial_id_to_study_id_and_number.get(trial_id)
        if where is None or where[0] not in cache._studies:
            return None
        return cache._studies[where[0]].param_distribution.get(name)


def note_distributions(
    storage: BaseStorage, trial_id: int, dists: Sequence[tuple[str, BaseDistribution]]
) -> None:
    """As ``_CachedStorage.set_trial_param``: the cache remembers each name's first distribution."""
    cache = cache_of(storage)
    if cache is None or not dists:
        return
    with cache._lock:
        where = cache._trial_id_to_study_id_and_number.get(trial_id)
        if where is None or where[0] not in cache._studies:
            return
        known = cache._studies[where[0]].param_distribution
        for name, dist in dists:
            known.setdefault(name, dist)


def just_created(storage: BaseStorage, trial_id: int) -> FrozenTrial | None:
    """The trial Optuna's RDB cache holds for ``trial_id`` right after creating it (RUNNING),
    or None: ``ask`` reads a new trial back at once, and the create returned it whole."""
    cache = cache_of(storage)
    if cache is None:
        return None
    with cache._lock:
        where = cache._trial_id_to_study_id_and_number.get(trial_id)
        if where is None:
            return None
        study_id, number = where
        trial = cache._studies[study_id].trials.get(number)
    if trial is None or trial._trial_id != trial_id or trial.state != TrialState.RUNNING:
        return None
    return trial


def journal_records(
    journal: JournalStorage,
    trial_id: int,
    params: Sequence[tuple[str, float, BaseDistribution]],
    attrs: Mapping[str, object],
    intermediate: Sequence[tuple[int, float]],
) -> list[dict[str, object]]:
    """The records ``set_trial_param``, ``set_trial_intermediate_value`` and
    ``set_trial_user_attr`` would append, one each, in that order."""
    head: dict[str, object] = {"worker_id": journal._replay_result.worker_id, "trial_id": trial_id}
    logs: list[dict[str, object]] = [
        {
            "op_code": int(JournalOperation.SET_TRIAL_PARAM),
            **head,
            "param_name": name,
            "param_value_internal": value,
            "distribution": distribution_to_json(dist),
        }
        for name, value, dist in params
    ]
    op_value = int(JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE)
    logs += [
        {"op_code": op_value, **head, "step": step, "intermediate_value": value}
        for step, value in intermediate
    ]
    op_attr = int(JournalOperation.SET_TRIAL_USER_ATTR)
    logs += [{"op_code": op_attr, **head, "user_attr": {k: v}} for k, v in attrs.items()]
    return logs


def journal_append(
    journal: JournalStorage, logs: list[dict[str, object]], *, strict: bool = True
) -> None:
    """Append ``logs`` in one append (under the storage's thread lock, as Optuna appends) and
    replay the journal past them (see :func:`journal_sync`). ``strict``: then raise Optuna's
    refusal of our records for a finished trial, as its own writes do (else they are dropped
    quietly: a lease renewal racing the trial's end)."""
    with journal._thread_lock:
        journal._backend.append_logs(logs)
        refused = _sync_past_finished(journal)
    if refused is not None and strict:
        raise refused


def journal_sync(journal: JournalStorage) -> None:
    """Replay the journal; records for a trial finished meanwhile are skipped (see below)."""
    with journal._thread_lock:
        _sync_past_finished(journal)


def _sync_past_finished(journal: JournalStorage) -> UpdateFinishedTrialError | None:
    """Our records for a trial another agent finished meanwhile (a reaper, or a lease renewal
    racing the trial's end) are refused: Optuna raises for each after counting it read, so
    keep replaying past them; the first refusal, if any."""
    first: UpdateFinishedTrialError | None = None
    for _ in range(100_000):
        try:
            journal._sync_with_backend()
        except UpdateFinishedTrialError as exc:
            first = first or exc
            continue
        break
    return first


def rdb_models() -> ModuleType:
    """Optuna's SQLAlchemy models of its RDB schema (imports SQLAlchemy)."""
    from optuna.storages._rdb import models

    return models


@contextlib.contextmanager
def rdb_transaction(rdb: RDBStorage, ignore_integrity_error: bool = False) -> Iterator[Session]:
    """A session of ``rdb`` committed at the end, as every ``RDBStorage`` write runs."""
    from optuna.storages._rdb.storage import _create_scoped_session

    with _create_scoped_session(rdb.scoped_session, ignore_integrity_error) as session:
        yield session


class RdbWrites:
    """``RDBStorage``'s writes inside a caller's transaction (its ``_..._without_commit``),
    each with Optuna's checks (the trial must be updatable; a parameter's distribution must
    agree with the study's)."""

    def __init__(self, rdb: RDBStorage, session: Session) -> None:
        self.rdb = rdb
        self.session = session

    def param(self, trial_id: int, name: str, value: float, dist: BaseDistribution) -> None:
        self.rdb._set_trial_param_without_commit(self.session, trial_id, name, value, dist)

    def intermediate(self, trial_id: int, step: int, value: float) -> None:
        self.rdb._set_trial_intermediate_value_without_commit(self.session, trial_id, step, value)

    def user_attr(self, trial_id: int, key: str, value: object) -> None:
        models = rdb_models()
        self.rdb._set_trial_attr_without_commit(
            self.session, models.TrialUserAttributeModel, trial_id, key, value
        )

    def value(self, trial: TrialModel, objective: int, value: float) -> None:
        self.rdb._set_trial_value_without_commit(self.session, trial, objective, value)


# ---- read path ----------------------------------------------------------------------------


def frozen_study_id(study: FrozenStudy) -> int:
    """The storage id of a study listed by ``get_all_studies``."""
    return study._study_id
