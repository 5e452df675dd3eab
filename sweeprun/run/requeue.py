"""Queue a trial's parameters again: the one way a retry, an interrupted or stopped trial
(the scheduler) and an orphaned trial (recovery) get a waiting copy.

The copy carries ``sweeprun.retry_of`` (the number of the trial it repeats), its
``sweeprun.attempt``, and what made the original special: its grid point
(``sweeprun.grid_index``, so the grid stays exactly covered), ``sweeprun.baseline`` and
``sweeprun.smoke_case``.

A trial is repeated at most once, so the copy is queued *before* the original is failed and
only when it has none yet (``requeue_once``): a process killed between the two writes leaves
the original RUNNING with its copy queued, and whoever reaps it next fails it without queueing
another. Two reapers racing on one trial may both queue a copy; the one whose fail the storage
refuses withdraws the later copy (``withdraw_duplicates``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from sweeprun.storage import records
from sweeprun.storage.batching import trial_writer
from sweeprun.storage.optuna_adapter import storage_of, trial_id_of

if TYPE_CHECKING:
    import optuna

#: the attributes of the original trial its waiting copy keeps
CARRIED = ("sweeprun.grid_index", "sweeprun.baseline", "sweeprun.smoke_case")


def requeue(
    study: optuna.Study,
    params: dict[str, Any],
    user_attrs: Mapping[str, Any],
    *,
    retry_of: int,
    attempt: int,
) -> None:
    """Enqueue ``params`` (Optuna's encodings) again as a copy of trial ``retry_of``, whose
    user attributes are ``user_attrs``; the copy is attempt number ``attempt``."""
    attrs: dict[str, Any] = {records.RETRY_OF: retry_of, "sweeprun.attempt": attempt}
    for key in CARRIED:
        if key in user_attrs:
            attrs[key] = user_attrs[key]
    study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)


def copies_of(study: optuna.Study, number: int) -> list[optuna.trial.FrozenTrial]:
    """The queued (or since run) copies of trial ``number``, oldest first."""
    trials = study.get_trials(deepcopy=False)
    return [t for t in trials if t.user_attrs.get(records.RETRY_OF) == number]


def requeue_once(
    study: optuna.Study,
    params: dict[str, Any],
    user_attrs: Mapping[str, Any],
    *,
    retry_of: int,
    attempt: int,
) -> bool:
    """``requeue`` unless trial ``retry_of`` has a copy already (queued by a process killed
    before it could fail the original); whether a copy was queued here."""
    if copies_of(study, retry_of):
        return False
    requeue(study, params, user_attrs, retry_of=retry_of, attempt=attempt)
    return True


def withdraw_duplicates(
    study: optuna.Study, original: optuna.Trial | optuna.trial.FrozenTrial
) -> int:
    """After this process lost the race to finish trial ``original`` (another agent reaped it,
    or its own agent finished it after all): keep the oldest copy if the trial ended without
    counting (reaped, interrupted, retried: its parameters must run again), none if it counted,
    and fail every other copy no one has taken yet (taking a waiting trial is the storage's
    one-winner step). Returns how many were withdrawn."""
    storage = storage_of(study)
    ended = storage.get_trial(trial_id_of(original))
    keep = 0 if ended.user_attrs.get(records.COUNTED) is True else 1
    withdrawn = 0
    for copy in copies_of(study, original.number)[keep:]:
        if copy.state != TrialState.WAITING:
            continue
        trial_id = trial_id_of(copy)
        try:
            if not storage.set_trial_state_values(trial_id, TrialState.RUNNING):
                continue  # another agent took it first: it runs
            reason = f"duplicate copy of trial {original.number}"
            attrs = {records.COUNTED: False, records.REASON: reason}
            trial_writer(storage).write_records(trial_id, attrs, hold=True)
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except (RuntimeError, KeyError):  # finished meanwhile
            continue
        withdrawn += 1
    return withdrawn
