"""A trial's records not yet written, and how one kind of storage writes them (a sink).

The batching decorator (:mod:`sweeprun.storage.batching`) holds :class:`Batch` es; the sinks of
:mod:`sweeprun.storage.writer` (journal, one call per record) and
:mod:`sweeprun.storage.writer_rdb` (one transaction) write them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from optuna.distributions import BaseDistribution
from optuna.trial import TrialState


@dataclass(frozen=True)
class HeldParam:
    name: str
    value: float  # Optuna's internal representation
    distribution: BaseDistribution
    checked: bool  # checked against the study's distribution already (known to this process)


@dataclass
class Batch:
    """A trial's records not yet written: parameters, user attributes, intermediate values."""

    params: list[HeldParam] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    intermediate: list[tuple[int, float]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.params or self.attrs or self.intermediate)

    def then(self, attrs: dict[str, Any], intermediate: Sequence[tuple[int, float]]) -> Batch:
        """These records followed by ``attrs`` and ``intermediate`` (later ones win)."""
        return Batch(
            list(self.params), {**self.attrs, **attrs}, [*self.intermediate, *intermediate]
        )

    def then_batch(self, later: Batch) -> Batch:
        """These records followed by ``later``'s."""
        out = self.then(later.attrs, later.intermediate)
        out.params.extend(later.params)
        return out


class Sink(Protocol):
    """How one kind of storage writes a trial's batch."""

    @property
    def holds_params(self) -> bool:
        """Whether parameters wait for the trial's next write (else they are written at once)."""
        ...

    def check_param(self, trial_id: int, name: str, dist: BaseDistribution) -> bool:
        """Optuna's distribution check where this process can make it now (True: made; the
        others are checked when the batch is written)."""
        ...

    def write(self, trial_id: int, batch: Batch, heartbeat: bool, strict: bool) -> None:
        """All of ``batch`` at once (``heartbeat``: the trial's heartbeat too, RDB storages).
        A finished trial refuses it; ``strict``: with Optuna's error (the journal drops a
        refused batch quietly otherwise, as a lease renewal racing the trial's end is)."""
        ...

    def finish(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None, batch: Batch
    ) -> bool:
        """``set_trial_state_values`` with ``batch`` written before the state, at once."""
        ...
