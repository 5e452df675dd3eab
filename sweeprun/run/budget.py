"""How many trials a sweep may still launch, and which grid point comes next.

Counting rule (as W&B's ``run_cap``): COMPLETE, PRUNED and trials that FAILED on their own
count; trials failed as ``interrupted`` or ``orphaned`` (attribute ``sweeprun.counted`` false)
do not, and their parameters are re-queued. The cap is the smaller of ``run_cap`` and
``budget.trials``, totals over every start and agent of the sweep; a grid also ends when every
point has run. ``--max-trials N`` is not a total but "N more": the trials one command runs
(counted as above, :meth:`sweeprun.run.scheduler.Controller.mine`), whatever earlier starts
ran or failed; the first limit reached wins.

The counts are read from the storage at start and at most every ``REFRESH`` seconds (other
agents may be running the same sweep), and kept up to date locally in between. On an RDB
storage they are one aggregate query (:mod:`sweeprun.storage.sql_counts`), cheap enough to
read before every launch: the count of waiting trials then also tells whether ``ask`` needs to
look for one.
A grid's first points are queued when the sweep is created
(:func:`sweeprun.space.grid_queue.queue_first`) and agents pop them atomically, so no point
runs twice; the agent that pops the first point of a chunk queues a further chunk
(:meth:`Budget.admit`, :mod:`sweeprun.space.grid_queue`). The grid
ends when no point is waiting and every point has been queued; with none waiting but points
still to queue, launching pauses while the agent that opened the last chunk queues the next one
(its trial is running: other agents wait for it, and re-run it if its agent dies).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from optuna.trial import TrialState

from sweeprun.space.grid_index import Grid
from sweeprun.space.grid_queue import GRID_INDEX, chunk_of, queue_ahead
from sweeprun.storage.optuna_adapter import frozen_trial_of, storage_of, study_id_of, trial_id_of
from sweeprun.storage.sql_counts import Counts, rdb_counter

if TYPE_CHECKING:
    import optuna

    from sweeprun.config.models import SweepConfig
    from sweeprun.space.distributions import SearchSpace

REFRESH = 2.0
NEAR_CAP = 64  # within this many trials of the cap, each launch is checked exactly (admit)
STOP_ATTR = "sweeprun.stop"


def reaches(value: float, target: float | None, goal: str) -> bool:
    if target is None:
        return False
    return value <= target if goal == "minimize" else value >= target


def is_counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a finished trial counts toward the budget."""
    return _counts(trial, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def _counts(trial: Any, complete: Any, pruned: Any, fail: Any) -> bool:
    state = trial.state
    if state is complete or state is pruned:
        return True
    if state is fail:
        # failed by its own agent: that agent says whether it counts; failed by a reaper or a
        # stale heartbeat (no attribute): orphaned, re-queued, not counted
        return bool(trial.user_attrs.get("sweeprun.counted", False))
    return False


class Budget:
    def __init__(
        self, study: optuna.Study, cfg: SweepConfig, *, cap: int | None, space: SearchSpace
    ) -> None:
        self.study = study
        self.cap = cfg.trial_cap(cap)
        if cfg.method == "bruteforce" and space.size is not None:
            # every point once; Optuna's sampler cannot stop ask/tell
            self.cap = min(self.cap or space.size, space.size)
        self.grid = cfg.method == "grid"
        self.space = space
        self.stop_request: str | None = None
        self.metric = cfg.metric if cfg.metric and cfg.metric.target is not None else None
        self.target_reached = False
        self.counted = 0
        self.running = 0
        self.waiting = 0
        self.taken: set[int] = set()
        #: a grid: its points by index, the sweep's chunk (None: all queued at creation), and
        #: one past the highest index any trial holds (every point below it has been queued)
        self.grid_of = Grid(space.specs) if self.grid else None
        self.chunk = chunk_of(study) if self.grid else None
        self.frontier = 0
        self._last_refresh = 0.0
        self.sql = None if self.grid else rdb_counter(study)
        #: the counts were read just now (this launch): no waiting trial means none to pop
        self.exact = False
        self.refresh()

    def refresh(self) -> None:
        if self.sql is not None:
            counts, stop, reached = self.sql.refresh(STOP_ATTR, self.metric)
            self._take(counts)
            self.target_reached |= reached
            self.stop_request = stop.get("mode") if isinstance(stop, dict) else None
            self._last_refresh = time.monotonic()
            self.exact = True
            return

        counted = running = waiting = 0
        frontier = -1
        taken: set[int] = set()
        states = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL
        run_state, wait_state, complete = TrialState.RUNNING, TrialState.WAITING, states[0]
        metric = self.metric
        for t in self.study.get_trials(deepcopy=False):  # (a hot loop near the cap)
            state = t.state
            if self.grid:
                idx = t.user_attrs.get(GRID_INDEX)
                if idx is not None and idx > frontier:
                    frontier = idx
            if state is run_state:
                running += 1
            elif state is wait_state:
                waiting += 1
            elif _counts(t, *states):
                counted += 1
                if metric is not None and state is complete and t.values:
                    self.target_reached |= reaches(t.values[0], metric.target, metric.goal)
            else:
                continue
            if self.grid:
                idx = t.user_attrs.get("sweeprun.grid_index")
                if idx is not None:
                    taken.add(int(idx))
        self.counted, self.running, self.waiting, self.taken = counted, running, waiting, taken
        self.frontier = frontier + 1
        storage, study_id = storage_of(self.study), study_id_of(self.study)
        stop = storage.get_study_user_attrs(study_id).get(STOP_ATTR)
        self.stop_request = stop.get("mode") if isinstance(stop, dict) else None
        self._last_refresh = time.monotonic()

    def maybe_refresh(self) -> None:
        if time.monotonic() - self._last_refresh > REFRESH:
            self.refresh()

    def recount(self) -> None:
        """Exact counts now (RDB: one statement; the stop flag waits for the next refresh)."""
        if self.sql is None:
            self.refresh()
            return
        self._take(self.sql.counts())
        self.exact = True

    def _take(self, counts: Counts) -> None:
        self.counted, self.running, self.waiting = counts.counted, counts.running, counts.waiting

    def exhausted(self, local_running: int) -> str | None:
        self.exact = False
        if time.monotonic() - self._last_refresh > REFRESH:
            self.refresh()
        elif self.sql is not None or self.near_cap():
            self.recount()  # exact counts for the last places (other agents race for them)
        if self.target_reached and self.metric is not None:
            return f"metric.target {self.metric.target} reached"
        in_flight = max(self.running, local_running)
        if self.cap is not None and self.counted + in_flight >= self.cap:
            return f"trial budget of {self.cap} reached"
        if self.grid and self.waiting <= 0:
            self.refresh()  # another agent may have re-queued a point
            if self.waiting <= 0:
                if self.chunk is not None and self.grid_size > self.frontier:
                    return "waiting for the next grid points to be queued"
                return "grid exhausted: every point has run"
        return None

    def near_cap(self) -> bool:
        return self.cap is not None and self.cap - (self.counted + self.running) <= NEAR_CAP

    @property
    def grid_size(self) -> int:
        return self.grid_of.size if self.grid_of is not None else 0

    def admit(self, trial: optuna.Trial) -> bool:
        """After ``ask``: may this trial run without going over the cap? Trials are admitted
        in number order — counted and running trials numbered below it take the budget first
        — so agents racing for the last places never overshoot. Checked near the cap only.

        A grid point that opens a chunk first queues the chunk further on (whether or not it
        is admitted: the queue must go on for the agents that follow)."""
        if self.grid_of is not None and self.chunk is not None:
            self._queue_ahead(trial)
        if not self.near_cap():
            return True
        assert self.cap is not None
        number = trial.number
        if self.sql is not None:
            return self.sql.ahead(number) < self.cap
        states = TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL
        run_state = TrialState.RUNNING
        ahead = 0
        for t in self.study.get_trials(deepcopy=False):
            if t.number < number and (t.state is run_state or _counts(t, *states)):
                ahead += 1
        return ahead < self.cap

    def _queue_ahead(self, trial: optuna.Trial) -> None:
        assert self.grid_of is not None
        popped = frozen_trial_of(trial).user_attrs.get(GRID_INDEX)  # as popped, no read
        if not isinstance(popped, int):
            return
        storage, trial_id = storage_of(self.study), trial_id_of(trial)

        def still_ours() -> bool:  # not reaped meanwhile (this agent frozen past its lease)
            return storage.get_trial(trial_id).state is TrialState.RUNNING

        added = queue_ahead(self.study, self.space, self.grid_of, self.chunk, popped, still_ours)
        self.waiting += added

    def others_in_flight(self, local_running: int) -> bool:
        """Trials of other agents still running while the budget is not yet counted full:
        if they fail or their agent dies, their places must be run again."""
        self.refresh()
        if self.target_reached:
            return False
        others = self.running - local_running
        if self.cap is not None and self.counted >= self.cap:
            return False
        return others > 0

    def launched(self, grid_index: int | None) -> None:
        self.waiting = max(0, self.waiting - 1)
        self.running += 1
        if grid_index is not None:
            self.taken.add(grid_index)

    def finished(self, grid_index: int | None, counted: bool, state: str) -> None:
        self.running = max(0, self.running - 1)
        if counted:
            self.counted += 1
        else:  # re-queued: the waiting copy holds its parameters (and grid index)
            self.waiting += 1
