"""Optuna's storage contract (``optuna.testing.pytest_storages.StorageTestCase``) against
sweeprun's storage decorators: each kind of storage is wrapped as each of :data:`WRAPPERS`.

A test module subclasses ``StorageTestCase`` and defines a ``storage`` fixture that yields
``wrapped(fresh_inner_storage, request.param)`` with ``params=WRAPPERS``. The retrying
decorator is read through :class:`TokenBlind` (see there)."""

from __future__ import annotations

import copy
from collections.abc import Container

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from sweeprun.storage.batching import batching
from sweeprun.storage.outage import Outage
from sweeprun.storage.retrying import TOKEN_ATTR, RetryingStorage

optuna.logging.set_verbosity(optuna.logging.WARNING)

#: batching alone (journal file, SQLite), retrying alone, and both as network storages run
WRAPPERS = ("batching", "retrying", "retrying(batching)")


def wrapped(inner: BaseStorage, wrapper: str) -> BaseStorage:
    """``inner`` behind the decorators named by ``wrapper`` (one of :data:`WRAPPERS`)."""
    if wrapper == "batching":
        return batching(inner)
    if wrapper == "retrying":
        return TokenBlind(inner, Outage("contract", str, 30.0, print))
    if wrapper == "retrying(batching)":
        return TokenBlind(batching(inner), Outage("contract", str, 30.0, print))
    raise ValueError(wrapper)


class TokenBlind(RetryingStorage):
    """The retrying decorator read without its creation token.

    ``RetryingStorage`` tags every trial it creates with the system attribute
    ``sweeprun:create_token`` (its idempotency key: after a lost reply it finds the trial its
    first attempt created, :mod:`sweeprun.storage.retrying`). Optuna's contract compares a new
    trial's system attributes with what the test wrote; this subclass drops only that key
    from what it reads, so every other behaviour is checked as it is."""

    def get_trial(self, trial_id: int) -> FrozenTrial:
        return _blind(super().get_trial(trial_id))

    def get_all_trials(
        self,
        study_id: int,
        deepcopy: bool = True,
        states: Container[TrialState] | None = None,
    ) -> list[FrozenTrial]:
        return [_blind(t) for t in super().get_all_trials(study_id, deepcopy, states)]


def _blind(trial: FrozenTrial) -> FrozenTrial:
    if TOKEN_ATTR not in trial.system_attrs:
        return trial
    out = copy.copy(trial)
    out.system_attrs = {k: v for k, v in trial.system_attrs.items() if k != TOKEN_ATTR}
    return out
