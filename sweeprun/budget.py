"""How many trials a sweep may still launch, and which grid point comes next.

Counting rule (as W&B's ``run_cap``): COMPLETE, PRUNED and trials that FAILED on their own
count; trials failed as ``interrupted`` or ``orphaned`` (attribute ``sweeprun.counted`` false)
do not, and their parameters are re-queued. The cap is the smallest of ``run_cap``,
``budget.trials`` and ``--max-trials``; a grid also ends when every point has run.

The counts are read from the storage at start and at most every ``REFRESH`` seconds (other
agents may be running the same sweep), and kept up to date locally in between.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

    from sweeprun.config import SweepConfig
    from sweeprun.space import SearchSpace

REFRESH = 2.0


def is_counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a finished trial counts toward the budget."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    if trial.state == TrialState.FAIL:
        return bool(trial.user_attrs.get("sweeprun.counted", True))
    return False


class Budget:
    def __init__(
        self, study: optuna.Study, cfg: SweepConfig, *, cap: int | None, space: SearchSpace
    ) -> None:
        self.study = study
        caps = [c for c in (cfg.run_cap, cfg.budget.trials, cap) if c]
        self.cap = min(caps) if caps else None
        self.grid: list[dict[str, Any]] | None = (
            space.grid_points() if cfg.method == "grid" else None
        )
        self.space = space
        self.counted = 0
        self.running = 0
        self.waiting = 0
        self.taken: set[int] = set()
        self._last_refresh = 0.0
        self.refresh()

    def refresh(self) -> None:
        from optuna.trial import TrialState

        counted = running = waiting = 0
        taken: set[int] = set()
        for t in self.study.get_trials(deepcopy=False):
            idx = t.user_attrs.get("sweeprun.grid_index")
            if t.state == TrialState.RUNNING:
                running += 1
            elif t.state == TrialState.WAITING:
                waiting += 1
            elif is_counted(t):
                counted += 1
            else:
                continue
            if idx is not None:
                taken.add(int(idx))
        self.counted, self.running, self.waiting, self.taken = counted, running, waiting, taken
        self._last_refresh = time.monotonic()

    def exhausted(self, local_running: int) -> str | None:
        if time.monotonic() - self._last_refresh > REFRESH:
            self.refresh()
        in_flight = max(self.running, local_running)
        if self.cap is not None and self.counted + in_flight >= self.cap:
            return f"trial budget of {self.cap} reached"
        if self.grid is not None and self.waiting <= 0 and len(self.taken) >= len(self.grid):
            return f"grid exhausted ({len(self.grid)} points)"
        return None

    def next_grid_enqueue(self) -> int | None:
        """For a grid, enqueue the next free point (W&B order) unless one is waiting."""
        if self.grid is None or self.waiting > 0:
            self.waiting = max(0, self.waiting - 1)
            return None
        for idx in range(len(self.grid)):
            if idx not in self.taken:
                self.study.enqueue_trial(
                    self.space.from_values(self.grid[idx]),
                    user_attrs={"sweeprun.grid_index": idx},
                    skip_if_exists=False,
                )
                return idx
        return None

    def launched(self, grid_index: int | None) -> None:
        self.running += 1
        if grid_index is not None:
            self.taken.add(grid_index)

    def finished(self, grid_index: int | None, counted: bool, state: str) -> None:
        self.running = max(0, self.running - 1)
        if counted:
            self.counted += 1
        else:  # re-queued: the waiting copy holds its parameters (and grid index)
            self.waiting += 1
