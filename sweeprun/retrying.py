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
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Container, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.storages._heartbeat import BaseHeartbeat
from optuna.trial import FrozenTrial, TrialState

from sweeprun.errors import EXIT_POLICY, SweepError

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution
    from optuna.study._frozen import FrozenStudy
    from optuna.study._study_direction import StudyDirection

T = TypeVar("T")

ENV = "SWEEPRUN_STORAGE_RETRY"
DEFAULT_BUDGET = 300.0
TOKEN_ATTR = "sweeprun:create_token"
MAX_DELAY = 5.0


class StorageUnavailable(SweepError):
    """The storage stayed unreachable for longer than the retry budget."""

    exit_code = EXIT_POLICY


def retry_budget() -> float:
    """Seconds to keep retrying, from ``$SWEEPRUN_STORAGE_RETRY`` (``300``, ``90s``, ``5m``)."""
    raw = os.environ.get(ENV)
    if raw is None or not raw.strip():
        return DEFAULT_BUDGET
    from sweeprun.config import parse_duration

    try:
        return parse_duration(raw)
    except ValueError as exc:
        raise SweepError(f"{ENV}: {exc}") from None


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in out and len(out) < 10:
        out.append(cur)
        cur = cur.__cause__ or cur.__context__
    return out


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a lost or refused connection."""
    kinds: list[type[BaseException]] = []
    sa = sys.modules.get("sqlalchemy.exc")
    if sa is not None:
        kinds += [sa.OperationalError, sa.InterfaceError, sa.DisconnectionError, sa.TimeoutError]
    rx = sys.modules.get("redis.exceptions")
    if rx is not None:
        kinds += [rx.ConnectionError, rx.TimeoutError]
    grpc = sys.modules.get("grpc")
    for e in _chain(exc):
        if isinstance(e, ConnectionError | TimeoutError):
            return True
        if kinds and isinstance(e, tuple(kinds)):
            return True
        if grpc is not None and isinstance(e, grpc.RpcError):
            code = getattr(e, "code", None)
            if callable(code) and code() == grpc.StatusCode.UNAVAILABLE:
                return True
    return False


def describe(exc: BaseException, redact: Callable[[str], str]) -> str:
    """One line naming the root connection error, with secrets removed."""
    root = _chain(exc)[-1]
    for e in _chain(exc):
        if is_transient(e) and e.__cause__ is None:
            root = e
            break
    details = getattr(root, "details", None)
    text = details() if callable(details) else str(root)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return redact(f"{type(root).__name__}: {first}" if first else type(root).__name__)


class Outage:
    """The state of one storage's connection, shared by the threads that use it."""

    def __init__(
        self, display: str, redact: Callable[[str], str], budget: float, say: Callable[[str], None]
    ) -> None:
        self.display = display
        self.redact = redact
        self.budget = budget
        self.say = say
        self._lock = threading.Lock()
        self.started: float | None = None
        self.failures = 0
        self.gave_up = False
        self.outages = 0

    def failed(self, exc: BaseException) -> float:
        """Record a transient failure; the delay before the next attempt, or raise."""
        with self._lock:
            now = time.monotonic()
            if self.started is None:
                self.started = now
                self.failures = 0
                self.outages += 1
                if not self.gave_up:
                    self.say(
                        f"sweeprun: storage {self.display} is unreachable "
                        f"({describe(exc, self.redact)}); retrying for up to "
                        f"{self.budget:.0f}s (${ENV})"
                    )
            self.failures += 1
            if self.gave_up or now - self.started >= self.budget:
                self.gave_up = True
                raise StorageUnavailable(
                    f"storage {self.display} unreachable for {now - self.started:.0f}s "
                    f"({describe(exc, self.redact)}); giving up\n"
                    f"    fix: check the server, or wait longer with {ENV}=15m; "
                    "run the agent again to resume: nothing recorded is lost"
                ) from None
            delay = min(MAX_DELAY, 0.1 * 2 ** (self.failures - 1))
            left = self.budget - (now - self.started)
            return max(0.01, min(delay * (0.5 + random.random() / 2), left))

    def ok(self) -> None:
        if self.started is None:
            return
        with self._lock:
            if self.started is None:
                return
            took = time.monotonic() - self.started
            self.started = None
            self.gave_up = False
            self.say(f"sweeprun: storage {self.display} is reachable again after {took:.1f}s")


def _stderr(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class RetryingStorage(BaseStorage):
    """Delegates every storage call to ``inner``, retrying transient connection errors."""

    def __init__(self, inner: BaseStorage, outage: Outage) -> None:
        self._inner = inner
        self._outage = outage

    # ---- machinery ---------------------------------------------------------------------
    def _run(self, fn: Callable[[bool], T]) -> T:
        """Call ``fn(retried)`` until it succeeds, fails for good, or the budget runs out."""
        retried = False
        while True:
            try:
                out = fn(retried)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                time.sleep(self._outage.failed(exc))
                retried = True
                continue
            self._outage.ok()
            return out

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._inner, name)
        return self._run(lambda _retried: method(*args, **kwargs))

    def __getattr__(self, name: str) -> Any:
        # anything not part of BaseStorage (``_backend``, ``wait_server_ready``, ...)
        if name in ("_inner", "_outage"):
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

        self._run(attempt)

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

        return self._run(attempt)

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
                self._inner.set_trial_user_attr(extra._trial_id, "sweeprun.counted", False)
                self._inner.set_trial_user_attr(extra._trial_id, "sweeprun.reason", "duplicate")
                with contextlib.suppress(UpdateFinishedTrialError):
                    self._inner.set_trial_state_values(extra._trial_id, TrialState.FAIL)
        return mine[0]._trial_id

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

        return self._run(attempt)

    def _ambiguous_pop(self, trial_id: int) -> None:
        """A popped trial that may be ours: let the stale-trial check reclaim it if so."""
        inner: Any = self._inner
        if isinstance(inner, BaseHeartbeat) and inner.get_heartbeat_interval() is not None:
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


class RetryingHeartbeatStorage(RetryingStorage, BaseHeartbeat):
    """A :class:`RetryingStorage` for storages with Optuna's heartbeat (RDB)."""

    def record_heartbeat(self, trial_id: int) -> None:
        self._call("record_heartbeat", trial_id)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        return list(self._call("_get_stale_trial_ids", study_id))

    def get_heartbeat_interval(self) -> int | None:
        inner: Any = self._inner
        value = inner.get_heartbeat_interval()
        return None if value is None else int(value)

    def get_heartbeat_stale_trial_callback(
        self,
    ) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        inner: Any = self._inner
        callback: Callable[[optuna.Study, FrozenTrial], None] | None = (
            inner.get_heartbeat_stale_trial_callback()
        )
        return callback


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
    import copy

    tagged = copy.copy(template)
    tagged._system_attrs = {**template.system_attrs, TOKEN_ATTR: token}
    return tagged


def wrap(
    inner: BaseStorage,
    display: str,
    redact: Callable[[str], str],
    *,
    budget: float | None = None,
    say: Callable[[str], None] = _stderr,
) -> BaseStorage:
    """``inner`` behind a retrying wrapper (``inner`` itself when retrying is off)."""
    seconds = retry_budget() if budget is None else budget
    if seconds <= 0:
        return inner
    outage = Outage(display, redact, seconds, say)
    if isinstance(inner, BaseHeartbeat):
        return RetryingHeartbeatStorage(inner, outage)
    return RetryingStorage(inner, outage)
