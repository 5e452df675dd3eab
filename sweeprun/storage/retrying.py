"""Survive a storage outage: retry transient connection errors with backoff, for a bounded time.

:func:`wrap` puts a :class:`RetryingStorage` in front of a network storage (PostgreSQL, MySQL,
Redis, a ``sweeprun serve`` proxy). Every storage call that fails with a transient connection
error (SQLAlchemy ``OperationalError`` / ``InterfaceError`` / ``DisconnectionError``, Redis
``ConnectionError`` / ``TimeoutError``, gRPC ``UNAVAILABLE``, an OS connection error) is tried
again with exponential backoff for up to ``$SWEEPRUN_STORAGE_RETRY`` (default 5 minutes; ``0``
turns retrying off). One note goes to stderr when an outage starts and one when it ends; after
the time is up the call raises :class:`StorageUnavailable`, and later calls fail at once until
the storage answers again.

Which calls are safe to repeat after a lost reply (the server did the work, the answer never
arrived):

* reads, attribute / parameter / intermediate-value writes: the same write twice is harmless;
* a trial's final state: the repeat finds the trial already finished; when it finished in the
  very state asked for, the first attempt landed and the call reports success;
* popping a waiting trial (``RUNNING``): the repeat answers "taken by someone"; the trial may be
  ours, lost. On heartbeat storages it gets one heartbeat, so the stale-trial check reclaims it
  unless its real owner renews it; on lease storages a trial with no owner and no lease is
  reclaimed after ``trial.lease_grace`` anyway;
* creating a trial is not idempotent (a repeat would make a duplicate, and a duplicated queued
  grid point would run twice). Each new trial carries a unique token (system attribute
  ``sweeprun:create_token``); before repeating, the study is searched for the token and the
  trial found is used. Extra copies made by the backend's own internal retries are failed
  (``sweeprun.counted`` false, reason ``duplicate``) while they are still unclaimed;
* creating a study is repeated as is: after a lost reply it fails as "already exists" and
  ``sweeprun start`` resumes the sweep.
"""

from __future__ import annotations

import contextlib
import copy
import time
import uuid
from collections.abc import Callable, Container, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from sweeprun.storage.optuna_adapter import (
    ForwardingHeartbeat,
    FrozenStudy,
    HeartbeatStorage,
    just_created,
    trial_id_of,
)

# the outage machinery lives in sweeprun.storage.outage; these names stay importable from here
from sweeprun.storage.outage import DEFAULT_BUDGET as DEFAULT_BUDGET
from sweeprun.storage.outage import ENV as ENV
from sweeprun.storage.outage import Outage, is_transient, retry_budget, say_stderr, stale_connection
from sweeprun.storage.outage import StorageUnavailable as StorageUnavailable
from sweeprun.storage.outage import describe as describe

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import StudyDirection

T = TypeVar("T")

TOKEN_ATTR = "sweeprun:create_token"


class RetryingStorage(BaseStorage):
    """Delegates every storage call to ``inner``, retrying transient connection errors.

    Over the batching decorator (:mod:`sweeprun.storage.batching`, as
    :func:`sweeprun.storage.open.open_storage` composes them) its writes beyond ``BaseStorage``
    (:class:`~sweeprun.storage.batching.TrialWriter`) are forwarded too, each retried whole."""

    def __init__(self, inner: BaseStorage, outage: Outage) -> None:
        self._inner = inner
        self._outage = outage
        self._known: FrozenTrial | None = None  # the answer to the next get_trial (see expect)

    # ---- machinery ---------------------------------------------------------------------
    def run_retried(self, fn: Callable[[bool], T]) -> T:
        """Call ``fn(retried)`` until it succeeds, fails for good, or the budget runs out.

        A pooled database connection found dead (the server restarted, or closed it while
        idle) is retried at once and quietly on a fresh one: this is the check SQLAlchemy's
        ``pool_pre_ping`` would make before every transaction, paid only when it fails."""
        self._known = None  # any call may have changed the trial it holds
        retried = False
        fresh = False
        while True:
            try:
                out = fn(retried)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if not fresh and stale_connection(exc):
                    fresh = retried = True
                    continue
                time.sleep(self._outage.failed(exc))
                retried = True
                continue
            self._outage.ok()
            return out

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._inner, name)
        return self.run_retried(lambda _retried: method(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        # anything not part of BaseStorage (``_backend``, ``wait_server_ready``, ...)
        if name in ("_inner", "_outage", "_known"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    @property
    def inner(self) -> BaseStorage:
        return self._inner

    # ---- studies -----------------------------------------------------------------------
    def create_new_study(
        self, directions: Sequence[StudyDirection], study_name: str | None = None
    ) -> int:
        return int(self._call("create_new_study", directions, study_name))

    def delete_study(self, study_id: int) -> None:
        def attempt(retried: bool) -> None:
            try:
                self._inner.delete_study(study_id)
            except KeyError:
                if not retried:  # deleted by our lost first attempt otherwise
                    raise

        self.run_retried(attempt)

    def set_study_user_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_user_attr", study_id, key, value)

    def set_study_system_attr(self, study_id: int, key: str, value: Any) -> None:
        self._call("set_study_system_attr", study_id, key, value)

    def get_study_id_from_name(self, study_name: str) -> int:
        return int(self._call("get_study_id_from_name", study_name))

    def get_study_name_from_id(self, study_id: int) -> str:
        return str(self._call("get_study_name_from_id", study_id))

    def get_study_directions(self, study_id: int) -> list[StudyDirection]:
        return list(self._call("get_study_directions", study_id))

    def get_study_user_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_user_attrs", study_id))

    def get_study_system_attrs(self, study_id: int) -> dict[str, Any]:
        return dict(self._call("get_study_system_attrs", study_id))

    def get_all_studies(self) -> list[FrozenStudy]:
        return list(self._call("get_all_studies"))

    # ---- trials ------------------------------------------------------------------------
    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        token = uuid.uuid4().hex
        template = _tagged(template_trial, token)

        def attempt(retried: bool) -> int:
            if retried:
                found = self._adopt(study_id, token)
                if found is not None:
                    return found
            return self._inner.create_new_trial(study_id, template)

        trial_id = self.run_retried(attempt)
        # ``ask`` reads the new trial back at once (``Trial.__init__``): nobody else has
        # written to it since, and the create returned it whole
        self._known = just_created(self._inner, trial_id)
        return trial_id

    def expect(self, trial: FrozenTrial) -> None:
        """The next ``get_trial`` of this trial is answered with (a copy of) ``trial``, without
        a read: for ``tell``, which reads back a trial this process has written all along.
        Whether it is still RUNNING is then checked by ``set_trial_state_values`` itself."""
        self._known = trial

    def _adopt(self, study_id: int, token: str) -> int | None:
        """After a lost reply: the trial our earlier attempt created, extra copies failed."""
        mine = [
            t
            for t in self._inner.get_all_trials(study_id, deepcopy=False)
            if t.system_attrs.get(TOKEN_ATTR) == token
        ]
        if not mine:
            return None
        for extra in mine[1:]:
            unclaimed = extra.state == TrialState.WAITING or (
                extra.state == TrialState.RUNNING and "sweeprun.owner" not in extra.user_attrs
            )
            if unclaimed:
                extra_id = trial_id_of(extra)
                self._inner.set_trial_user_attr(extra_id, "sweeprun.counted", False)
                self._inner.set_trial_user_attr(extra_id, "sweeprun.reason", "duplicate")
                with contextlib.suppress(UpdateFinishedTrialError):
                    self._inner.set_trial_state_values(extra_id, TrialState.FAIL)
        return trial_id_of(mine[0])

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        self._call("set_trial_param", trial_id, param_name, param_value_internal, distribution)

    def get_trial_id_from_study_id_trial_number(self, study_id: int, trial_number: int) -> int:
        return int(self._call("get_trial_id_from_study_id_trial_number", study_id, trial_number))

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        def attempt(retried: bool) -> bool:
            try:
                done = self._inner.set_trial_state_values(trial_id, state, values)
            except UpdateFinishedTrialError:
                landed = retried and state.is_finished()
                if landed and self._inner.get_trial(trial_id).state == state:
                    return True  # our lost first attempt finished it
                raise
            if retried and not done and state == TrialState.RUNNING:
                self._ambiguous_pop(trial_id)
            return bool(done)

        return self.run_retried(attempt)

    def _ambiguous_pop(self, trial_id: int) -> None:
        """A popped trial that may be ours: let the stale-trial check reclaim it if so."""
        inner = self._inner
        if isinstance(inner, HeartbeatStorage) and inner.get_heartbeat_interval() is not None:
            inner.record_heartbeat(trial_id)

    def set_trial_intermediate_value(
        self, trial_id: int, step: int, intermediate_value: float
    ) -> None:
        self._call("set_trial_intermediate_value", trial_id, step, intermediate_value)

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call("set_trial_user_attr", trial_id, key, value)

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        self._call("set_trial_system_attr", trial_id, key, value)

    def get_trial(self, trial_id: int) -> FrozenTrial:
        known, self._known = self._known, None
        if known is not None and trial_id_of(known) == trial_id:
            return copy.deepcopy(known)
        out: FrozenTrial = self._call("get_trial", trial_id)
        return out

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return list(self._call("get_all_trials", study_id, deepcopy=deepcopy, states=states))

    def get_best_trial(self, study_id: int) -> FrozenTrial:
        out: FrozenTrial = self._call("get_best_trial", study_id)
        return out

    def remove_session(self) -> None:
        self._inner.remove_session()

    # ---- the batching decorator's writes (TrialWriter) -----------------------------------
    def write_records(
        self,
        trial_id: int,
        attrs: dict[str, Any],
        intermediate: Sequence[tuple[int, float]] = (),
        *,
        hold: bool = False,
        heartbeat: bool = False,
    ) -> None:
        self._call("write_records", trial_id, attrs, intermediate, hold=hold, heartbeat=heartbeat)

    def flush(self, trial_id: int) -> None:
        self._call("flush", trial_id)

    def discard(self, trial_id: int) -> None:
        self._inner.discard(trial_id)  # type: ignore[attr-defined]

    def asking(self) -> contextlib.AbstractContextManager[None]:
        manager: contextlib.AbstractContextManager[None] = self._inner.asking()  # type: ignore[attr-defined]
        return manager

    def expect_no_waiting(self, study_id: int) -> None:
        self._inner.expect_no_waiting(study_id)  # type: ignore[attr-defined]


class RetryingHeartbeatStorage(RetryingStorage, ForwardingHeartbeat):
    """A :class:`RetryingStorage` for storages with Optuna's heartbeat (RDB)."""

    def heartbeat_call(self, fn: Callable[[HeartbeatStorage], T]) -> T:
        inner = cast(HeartbeatStorage, self._inner)
        return self.run_retried(lambda _retried: fn(inner))


def _tagged(template: FrozenTrial | None, token: str) -> FrozenTrial:
    """``template`` (or a fresh running trial) carrying the creation token."""
    if template is None:
        return FrozenTrial(
            number=-1,
            state=TrialState.RUNNING,
            value=None,
            values=None,
            datetime_start=datetime.now(),
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={TOKEN_ATTR: token},
            intermediate_values={},
            trial_id=-1,
        )
    tagged = copy.copy(template)
    tagged.system_attrs = {**template.system_attrs, TOKEN_ATTR: token}
    return tagged


def wrap(
    inner: BaseStorage,
    display: str,
    redact: Callable[[str], str],
    *,
    budget: float | None = None,
    say: Callable[[str], None] = say_stderr,
) -> BaseStorage:
    """``inner`` behind a retrying wrapper (``inner`` itself when retrying is off)."""
    seconds = retry_budget() if budget is None else budget
    if seconds <= 0:
        return inner
    outage = Outage(display, redact, seconds, say)
    if isinstance(inner, HeartbeatStorage):
        return RetryingHeartbeatStorage(inner, outage)
    return RetryingStorage(inner, outage)
