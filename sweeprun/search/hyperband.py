"""W&B's hyperband early-stopping rule (``early_terminate: {type: hyperband}``) for Optuna.

The rule is re-expressed from ``sweeps.hyperband_stopping.hyperband_stop_runs`` (W&B sweeps),
not copied. In W&B terms:

* **bands** are iteration counts; see :func:`bands`.
* A run's **history** is the list of its logged *finite* metric values in logging order
  (``SweepRun.metric_history(filter_invalid=True)`` with ``run.is_number``); its
  **iteration** is a position in that list, not a step number. For ``goal: maximize``
  every value is negated, so the rest of the rule always minimizes.
* The **threshold** of band ``b`` is taken over the value at iteration ``b`` (the ``b``-th
  finite value, ``history[b - 1]``) of *every* run in the sweep that has reached ``b`` —
  finished, stopped, crashed and running, the judged run itself included. Sorted ascending,
  the threshold is the element at index ``int((1.0 / eta) * n)``; see :func:`threshold_index`.
* Only a **running** run is judged, at the *last* band it has reached (the largest band
  ``<= len(history)``); before the first band it is never stopped. The value compared is
  ``history[band - 1]`` when ``strict`` (the default), else ``min(history)`` over its whole
  history so far. It is stopped when that value is strictly greater than the threshold.

In Optuna terms a trial's history is its intermediate values sorted by step with non-finite
values dropped, so steps ``10, 20, 30`` or epochs ``1, 2, 3`` are iterations 1, 2, 3. A trial
is "running" when its state is ``RUNNING``; every trial of the study with a finite
intermediate value takes part in the thresholds, whatever its state.

The pure core (:func:`bands`, :func:`threshold_index`, :func:`finite_history`,
:func:`band_thresholds`, :func:`stop_decision`, :func:`should_stop`) knows nothing of Optuna.
:class:`WandbHyperbandPruner` applies it incrementally: values of finished trials are folded
once into one sorted list per band, so a call costs O(log n) per band lookup plus the work on
the trials still running, instead of re-reading every trial's whole history.
"""

from __future__ import annotations

import math
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

#: How many bands W&B generates from ``min_iter`` (``hyperband_stop_runs``).
MIN_ITER_BAND_COUNT = 100

_GOALS = ("minimize", "maximize")


def _is_number(x: object) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _is_integral(x: object) -> bool:
    if not isinstance(x, Real) or isinstance(x, bool):
        return False
    f = float(x)
    return math.isfinite(f) and f == int(f)


def bands(
    min_iter: int | None = None,
    max_iter: int | None = None,
    s: int | float | None = None,
    eta: float = 3,
) -> list[int]:
    """The iteration counts at which runs are judged, as ``hyperband_stop_runs`` builds them.

    * ``max_iter`` + ``s`` (checked first, as in W&B, so it wins over ``min_iter``): start at
      ``max_iter`` and divide by ``eta`` up to ``s`` times, stopping as soon as the quotient is
      below 1; each quotient is truncated with ``int`` and the result sorted ascending.
      ``max_iter=81, eta=3, s=3`` gives ``[3, 9, 27]``; ``max_iter=18, eta=3, s=2`` gives
      ``[2, 6]``.
    * ``min_iter``: ``min_iter`` multiplied by ``eta`` repeatedly, each product truncated with
      ``int``: :data:`MIN_ITER_BAND_COUNT` bands (``3, 9, 27, ...`` for ``min_iter=3, eta=3``).
      W&B would crash once a float product overflows; here generation stops there instead,
      which changes nothing for any history that can exist.

    W&B's schema types ``s`` as a number but its code needs an int; a whole float such as
    ``2.0`` is accepted here. The repeated division/multiplication is kept (rather than
    ``eta ** k``) so that float rounding is the same as W&B's.

    Raises :class:`ValueError` for what W&B's schema (``hyperband_stopping``) or code
    rejects: ``eta <= 1``, ``min_iter < 1``, a non-integer ``max_iter``/``min_iter``/``s``,
    ``max_iter`` without ``s``, neither form, or no band at all.
    """
    if not _is_number(eta) or not math.isfinite(float(eta)) or eta <= 1:
        raise ValueError(f"early_terminate.eta must be a number greater than 1, got {eta!r}")
    result: list[int] = []
    if max_iter is not None:
        if not _is_integral(max_iter):
            raise ValueError(f"early_terminate.max_iter must be an integer, got {max_iter!r}")
        if s is None:
            raise ValueError('early_terminate: "max_iter" needs "s" (or use "min_iter" alone)')
        if not _is_integral(s):
            raise ValueError(f"early_terminate.s must be a whole number, got {s!r}")
        band: float = max_iter
        for _ in range(int(s)):
            band /= eta
            if band < 1:
                break
            result.append(int(band))
        result.sort()
    elif min_iter is not None:
        if not _is_integral(min_iter) or min_iter < 1:
            raise ValueError(f"early_terminate.min_iter must be an integer >= 1, got {min_iter!r}")
        band = min_iter
        for _ in range(MIN_ITER_BAND_COUNT):
            if isinstance(band, float) and not math.isfinite(band):
                break
            result.append(int(band))
            band *= eta
    else:
        raise ValueError('early_terminate (hyperband) needs "max_iter" and "s", or "min_iter"')
    if not result:
        raise ValueError(
            "early_terminate (hyperband) gives no band: max_iter / eta is below 1 or s < 1; "
            "increase max_iter or s, or decrease eta"
        )
    return result


def threshold_index(n: int, eta: float) -> int:
    """Index of the threshold among ``n`` sorted band values: ``int((1.0 / eta) * n)``.

    Computed exactly like ``hyperband_stop_runs`` (``r = 1.0 / eta`` first, then ``r * n``),
    since ``int(n / eta)`` can round differently (``eta=1.1, n=33``: 30, not 29). Clamped to
    ``n - 1`` as a guard should the product ever round up to ``n`` (W&B: ``IndexError``).
    """
    return min(int((1.0 / eta) * n), n - 1)


def finite_history(values: Iterable[Any], maximize: bool = False) -> list[float]:
    """The finite numeric values in order, negated for ``maximize``.

    Mirrors ``SweepRun.metric_history(metric, filter_invalid=True)`` (``run.is_number``:
    numbers, not bools, finite) followed by the negation in ``hyperband_stop_runs``.
    """
    out: list[float] = []
    for v in values:
        if _is_number(v) and math.isfinite(v):
            out.append(-float(v) if maximize else float(v))
    return out


def band_thresholds(
    histories: Iterable[Sequence[float]], bands: Sequence[int], eta: float
) -> list[float]:
    """Threshold of each band over finite, minimize-oriented histories (``math.inf`` if no run
    reached the band), as in ``hyperband_stop_runs``."""
    hs = list(histories)
    out: list[float] = []
    for band in bands:
        if band < 1:
            raise ValueError(f"bands must be >= 1, got {band}")
        values = sorted(h[band - 1] for h in hs if len(h) >= band)
        out.append(values[threshold_index(len(values), eta)] if values else math.inf)
    return out


def last_band(n_values: int, bands: Sequence[int]) -> int | None:
    """The largest band ``<= n_values`` (the band a run is judged at), or ``None`` before the
    first band. ``bands`` must be sorted ascending."""
    i = bisect_right(bands, n_values) - 1
    return bands[i] if i >= 0 else None


def stop_decision(history: Sequence[float], band: int, threshold: float, strict: bool) -> bool:
    """Whether a running run with finite, minimize-oriented ``history`` that has reached
    ``band`` is stopped: ``history[band - 1]`` (strict) or ``min(history)`` (not strict) is
    strictly greater than ``threshold``."""
    value = history[band - 1] if strict else min(history)
    return value > threshold


def should_stop(
    history: Sequence[Any],
    others: Iterable[Sequence[Any]],
    bands: Sequence[int],
    eta: float,
    strict: bool,
    maximize: bool,
) -> bool:
    """W&B's decision for one running run.

    ``history`` is the run's raw metric values in logging order; ``others`` the raw histories
    of every *other* run of the sweep, whatever its state (the run's own history is added to
    the threshold population here, as W&B does). Non-finite values are dropped first.
    """
    own = finite_history(history, maximize)
    ordered = sorted(bands)
    band = last_band(len(own), ordered)
    if band is None:
        return False
    population = [own, *(finite_history(o, maximize) for o in others)]
    (threshold,) = band_thresholds(population, [band], eta)
    return stop_decision(own, band, threshold, strict)


def _kth_of_merged(a: Sequence[float], b: Sequence[float], k: int) -> float:
    """The ``k``-th smallest (0-based) of sorted ``a`` and sorted ``b`` together, in
    O(len(b) * log len(a)): placing each ``b[i]`` before the equal values of ``a``, its
    position in the merged order is ``bisect_left(a, b[i]) + i``."""
    for i, v in enumerate(b):
        pos = bisect_left(a, v) + i
        if pos == k:
            return v
        if pos > k:
            return a[k - i]
    return a[k - len(b)]


def _trial_history(trial: FrozenTrial, maximize: bool) -> list[float]:
    values: Mapping[int, float] = trial.intermediate_values
    return finite_history((values[step] for step in sorted(values)), maximize)


class WandbHyperbandPruner(optuna.pruners.BasePruner):
    """W&B's ``hyperband`` early-terminate rule as an Optuna pruner (single objective).

    Arguments are those of W&B's ``early_terminate`` block (defaults ``eta: 3``,
    ``strict: true`` as filled by W&B's ``fill_validate_early_terminate``) and the metric's
    ``goal``. Invalid values raise :class:`ValueError` (see :func:`bands`).
    """

    def __init__(
        self,
        *,
        min_iter: int | None = None,
        max_iter: int | None = None,
        s: int | float | None = None,
        eta: float = 3,
        strict: bool = True,
        goal: str = "minimize",
    ) -> None:
        if goal not in _GOALS:
            raise ValueError(f"metric.goal must be 'minimize' or 'maximize', got {goal!r}")
        if not isinstance(strict, bool):
            raise ValueError(f"early_terminate.strict must be true or false, got {strict!r}")
        self._bands = bands(min_iter=min_iter, max_iter=max_iter, s=s, eta=eta)
        self._distinct = sorted(set(self._bands))  # equal bands have equal thresholds
        self._eta = eta
        self._strict = strict
        self._maximize = goal == "maximize"
        self._lock = threading.Lock()
        self._reset(None)

    @property
    def bands(self) -> list[int]:
        """The bands, as W&B lists them (sorted, duplicates kept)."""
        return list(self._bands)

    def _reset(self, study: optuna.Study | None) -> None:
        self._study = study
        self._watermark = 0  # every trial before this position is finished and folded in
        self._folded: set[int] = set()  # numbers of finished trials folded in, >= watermark
        self._finished_at: list[list[float]] = [[] for _ in self._distinct]
        self._live: dict[int, tuple[int, list[float]]] = {}  # number -> (n reported, history)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._reset(None)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        """True when W&B would stop ``trial`` now (only a ``RUNNING`` trial can be stopped)."""
        if trial.state != TrialState.RUNNING:
            return False
        own = _trial_history(trial, self._maximize)
        j = bisect_right(self._distinct, len(own)) - 1
        if j < 0:  # before the first band: never stopped, nothing else to look at
            return False
        band = self._distinct[j]
        with self._lock:
            live = self._sync(study, exclude=trial.number)
            finished = self._finished_at[j]
            values = sorted([own[band - 1], *(h[band - 1] for h in live if len(h) >= band)])
            k = threshold_index(len(finished) + len(values), self._eta)
            threshold = _kth_of_merged(finished, values, k)
        return stop_decision(own, band, threshold, self._strict)

    def _sync(self, study: optuna.Study, exclude: int) -> list[list[float]]:
        """Fold newly finished trials into the per-band lists; return the histories of the
        unfinished trials other than ``exclude``."""
        if self._study is not study:
            self._reset(study)
        trials = study.get_trials(deepcopy=False)
        while self._watermark < len(trials) and trials[self._watermark].number in self._folded:
            self._folded.discard(trials[self._watermark].number)
            self._watermark += 1
        live: list[list[float]] = []
        for t in trials[self._watermark :]:
            if t.number in self._folded:
                continue
            if t.state.is_finished():
                self._fold(t)
            elif t.number != exclude and t.intermediate_values:
                live.append(self._live_history(t))
        return live

    def _fold(self, trial: FrozenTrial) -> None:
        history = _trial_history(trial, self._maximize)
        for j, band in enumerate(self._distinct):
            if band > len(history):
                break
            insort(self._finished_at[j], history[band - 1])
        self._folded.add(trial.number)
        self._live.pop(trial.number, None)

    def _live_history(self, trial: FrozenTrial) -> list[float]:
        n = len(trial.intermediate_values)
        cached = self._live.get(trial.number)
        if cached is None or cached[0] != n:
            cached = (n, _trial_history(trial, self._maximize))
            self._live[trial.number] = cached
        return cached[1]
