"""Queue a trial's parameters again: the one way a retry, an interrupted or stopped trial
(the scheduler) and an orphaned trial (recovery) get a waiting copy.

The copy carries ``sweeprun.retry_of`` (the number of the trial it repeats), its
``sweeprun.attempt``, and what made the original special: its grid point
(``sweeprun.grid_index``, so the grid stays exactly covered), ``sweeprun.baseline`` and
``sweeprun.smoke_case``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

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
    attrs: dict[str, Any] = {"sweeprun.retry_of": retry_of, "sweeprun.attempt": attempt}
    for key in CARRIED:
        if key in user_attrs:
            attrs[key] = user_attrs[key]
    study.enqueue_trial(params, user_attrs=attrs, skip_if_exists=False)
