"""Queue a grid's points lazily, a chunk at a time, so that no point runs twice.

A grid sweep keeps :data:`AHEAD` chunks of :data:`GRID_CHUNK` points queued (Optuna WAITING
trials carrying ``sweeprun.grid_index``), never the whole product:

* When the sweep is created, the chunk size is stored in the study attribute
  ``sweeprun.grid_chunk`` and :func:`queue_first` queues points ``0 .. AHEAD * chunk - 1``,
  both before the config (every agent that joins knows the chunk size and finds the first
  points queued; a creation stopped half-way is finished by the next ``start``).
* The agent that pops the first point of a chunk (index ``i``, a multiple of the chunk) queues
  the chunk ``AHEAD`` chunks further on, points ``i + AHEAD * chunk`` onwards
  (:func:`queue_ahead`). Optuna hands each queued trial to exactly one agent, so exactly one
  agent extends the queue with a given chunk, and each chunk has one point that extends it:
  no two agents queue the same point.
* A copy of that first point (a retry, an interrupted or orphaned trial re-queued with its
  ``sweeprun.grid_index``) extends the queue again when popped: only the points of its chunk
  not already queued, so an agent killed half-way through queueing a chunk is made good by the
  point's re-run, and a finished chunk is not queued twice. An agent frozen (SIGSTOP, a paused
  VM) past its lease while queueing finds its trial reaped when it wakes and stops: the re-run
  copy queues the rest. (The one point it may queue between its check and its wake-up is the
  remaining window: a point that would run twice.)

Time and memory per chunk depend on the chunk and the trials recorded, not on the grid's size.
Sweeps created before this (no ``sweeprun.grid_chunk``) had every point queued at creation and
are never extended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sweeprun.space.grid_index import Grid
from sweeprun.storage import records

if TYPE_CHECKING:
    import optuna

    from sweeprun.space.distributions import SearchSpace

GRID_INDEX = records.GRID_INDEX
CHUNK_ATTR = records.GRID_CHUNK
GRID_CHUNK = 32  # points queued at a time
AHEAD = 2


def queue_first(study: optuna.Study, space: SearchSpace, chunk: int = GRID_CHUNK) -> int:
    """At the sweep's creation (before its config, which agents wait for): queue the first
    ``AHEAD`` chunks in W&B order, those points an earlier, stopped creation did not queue; the
    number of points queued. :class:`SpaceError` when the grid is too large to run."""
    grid = Grid(space.specs).check()
    stop = min(grid.size, AHEAD * chunk)
    have = queued_indexes(study, 0, stop)  # an earlier creation stopped half-way
    missing = [index for index in range(stop) if index not in have]
    for index in missing:
        _enqueue(study, space, grid, index)
    return len(missing)


def chunk_of(study: optuna.Study) -> int | None:
    """The sweep's chunk size; None for a grid whose points were all queued at creation."""
    chunk = study.user_attrs.get(CHUNK_ATTR)
    return chunk if isinstance(chunk, int) and chunk > 0 else None


def queue_ahead(
    study: optuna.Study,
    space: SearchSpace,
    grid: Grid,
    chunk: int | None,
    popped: int,
    still_ours: Callable[[], bool] | None = None,
) -> int:
    """After this agent popped grid point ``popped``: when it opens a chunk, queue the points
    of the chunk ``AHEAD`` further on that are not queued yet; how many were queued.

    ``still_ours`` is asked before each point: False (the popped trial was reaped while this
    agent was frozen, and its re-run copy queues the rest) stops here."""
    if chunk is None or popped % chunk:
        return 0
    lo = popped + AHEAD * chunk
    hi = min(lo + chunk, grid.size)
    if lo >= hi:
        return 0
    have = queued_indexes(study, lo, hi)
    missing = [index for index in range(lo, hi) if index not in have]
    done = 0
    for index in missing:
        if still_ours is not None and not still_ours():
            break
        _enqueue(study, space, grid, index)
        done += 1
    return done


def queued_indexes(study: optuna.Study, lo: int, hi: int) -> set[int]:
    """The grid indexes in ``lo .. hi - 1`` held by any trial (waiting, running or done)."""
    out: set[int] = set()
    for t in study.get_trials(deepcopy=False):
        index = t.user_attrs.get(GRID_INDEX)
        if isinstance(index, int) and lo <= index < hi:
            out.add(index)
    return out


def _enqueue(study: optuna.Study, space: SearchSpace, grid: Grid, index: int) -> None:
    attrs: dict[str, Any] = {GRID_INDEX: index}
    study.enqueue_trial(space.from_values(grid.point(index)), user_attrs=attrs)


def frontier(trials: Any) -> int:
    """One past the highest grid index any of ``trials`` holds (0 when none does)."""
    top = -1
    for t in trials:
        index = t.user_attrs.get(GRID_INDEX)
        if isinstance(index, int) and index > top:
            top = index
    return top + 1
