"""Which configurations a smoke run tries: a small covering set of the search space (pure).

Each parameter contributes its "interesting" values (:func:`axis_of`), the values at which a
training program most often breaks:

* categorical (with or without probabilities): every value (those with probability > 0);
* int_uniform, uniform, log_uniform_values, inv_log_uniform_values: min and max (for
  ``log_uniform`` / ``inv_log_uniform``, whose bounds are exponents of e, the values the
  program receives at the ends: ``e^min``, ``e^max`` and ``e^-max``, ``e^-min``);
* q_uniform and the other q_ forms of a range: the smallest and largest multiples of ``q``
  inside the range (when none lies inside, the rounded ends, which is what sampling gives);
* normal and log_normal: ``mu ± 2 sigma`` (``exp(mu ± 2 sigma)``), about the 2.3% and 97.7%
  quantiles, since the true ends are infinite; beta: those same two quantiles; q_ forms round
  them to ``q``;
* constants: not varied (the program always gets them).

The configurations (:func:`plan_smoke`) are, in order: the row of every parameter at its
low end (a categorical's first listed value), the row at its high end (its last value), the
baselines, further rows until every interesting value
occurred at least once (a covering array of strength 1: as many rows as the parameter with
the most interesting values has), then, when the whole set still fits the limit, greedy
extra rows until every *pair* of interesting values of two parameters occurs together
(strength 2). A limit smaller than the strength-1 set keeps its first rows: extremes first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from sweeprun.config.parameters import ParamSpec
from sweeprun.space.distributions import Floating, Quantile, make_dim
from sweeprun.space.grid import (
    Categorical,
    Constant,
    Dim,
    Integer,
    SpaceError,
    Weighted,
    dedupe,
    flatten,
    nest,
    strict_key,
)

#: configurations run when neither ``--max-trials`` nor ``smoke.max_trials`` is given
DEFAULT_MAX_TRIALS = 32
#: per-trial timeout of a smoke run when neither ``smoke.timeout`` nor a smaller
#: ``trial.timeout`` is set (seconds)
DEFAULT_TIMEOUT = 300.0
#: the quantile that ``mu - 2 sigma`` is for a normal distribution (about 0.0228)
TAIL_QUANTILE = NormalDist().cdf(-2.0)
_PAIRWISE_WORK_LIMIT = 2_000_000  # pairs x candidate values: beyond this, skip pairwise

EXTREMES = "extremes"
BASELINE = "baseline"
COVER = "cover"
PAIRWISE = "pairwise"


@dataclass(frozen=True)
class Axis:
    """One varying parameter: its flat name, its interesting values (low end first), how."""

    name: str
    values: tuple[Any, ...]
    how: str


@dataclass(frozen=True)
class PlannedCase:
    """One configuration: nested program values (constants left out) and why it is there."""

    values: dict[str, Any]
    kind: str  # EXTREMES, BASELINE, COVER or PAIRWISE


@dataclass(frozen=True)
class SmokePlan:
    cases: tuple[PlannedCase, ...]
    axes: tuple[Axis, ...]
    needed: int  # configurations to cover every interesting value once, baselines included
    pairwise_needed: int | None  # ... and every pair; None when not worked out (too large)
    pairwise: bool  # whether the cases cover every pair of interesting values
    limit: int

    @property
    def truncated(self) -> bool:
        """Whether some interesting value is not covered because of the limit."""
        return self.needed > self.limit


def _lattice_ends(dim: Floating) -> tuple[list[Any], str]:
    quant = dim.quant
    assert quant is not None
    q = float(quant.q)
    k_lo = math.ceil(dim.lo / q - 1e-9)
    k_hi = math.floor(dim.hi / q + 1e-9)
    if k_lo <= k_hi:
        return [quant(k_lo * q), quant(k_hi * q)], (
            f"smallest and largest multiples of q={quant.q!r} in the range"
        )
    return [quant(dim.lo), quant(dim.hi)], f"the range's ends rounded to q={quant.q!r}"


def _quantile_ends(dim: Quantile, spec: ParamSpec) -> tuple[list[Any], str]:
    base = spec.dist.removeprefix("q_")
    mu, sigma = float(spec.mu_), float(spec.sigma_)
    if base == "normal":
        raw, how = [mu - 2 * sigma, mu + 2 * sigma], "mu ± 2 sigma (the ends are infinite)"
    elif base == "log_normal":
        raw = [math.exp(mu - 2 * sigma), math.exp(mu + 2 * sigma)]
        how = "exp(mu ± 2 sigma) (the ends are infinite)"
    else:
        raw = [dim.ppf(TAIL_QUANTILE), dim.ppf(1 - TAIL_QUANTILE)]
        how = "the 2.3% and 97.7% quantiles"
    if dim.quant is not None:
        return [dim.quant(x) for x in raw], how + f", rounded to q={dim.quant.q!r}"
    return raw, how


def _candidates(dim: Dim, spec: ParamSpec) -> tuple[list[Any], str]:
    if isinstance(dim, Categorical):
        return list(dim.values), "every value"
    if isinstance(dim, Weighted):
        probs = spec.probabilities or []
        kept = [v for v, p in zip(dim.values, probs, strict=True) if p > 0]
        return kept, "every value with probability > 0"
    if isinstance(dim, Integer):
        return [dim.lo, dim.hi], "min and max"
    if isinstance(dim, Floating):
        if dim.quant is not None:
            return _lattice_ends(dim)
        return [dim.lo, dim.hi], "min and max" if spec.dist in (
            "uniform", "log_uniform_values", "inv_log_uniform_values"
        ) else "the values at the range's ends"  # fmt: skip
    if isinstance(dim, Quantile):
        return _quantile_ends(dim, spec)
    raise SpaceError(f"parameter '{dim.name}': no smoke values for {spec.dist}")


def axis_of(name: str, spec: ParamSpec) -> Axis | None:
    """The interesting values of one flat parameter, or None for a constant."""
    dim = make_dim(name, spec)
    if isinstance(dim, Constant):
        return None
    raw, how = _candidates(dim, spec)
    values = []
    for v in dedupe(raw):
        try:
            dim.encode(v)
        except SpaceError:
            continue  # cannot be enqueued exactly: leave it out
        values.append(v)
    if not values:
        values = [dim.decode(getattr(dim, "lo", 0.5))]
    return Axis(name, tuple(values), how)


def axes_of(parameters: Mapping[str, ParamSpec]) -> list[Axis]:
    """The interesting values of every varying parameter, in W&B's parameter order."""
    out = []
    for name, spec in flatten(parameters).items():
        axis = axis_of(name, spec)
        if axis is not None:
            out.append(axis)
    return out


Row = tuple[int, ...]


def _order(size: int) -> list[int]:
    """Value indices in covering order: first, last, then the ones between."""
    return [0, size - 1, *range(1, size - 1)] if size > 1 else [0]


def covering_rows(sizes: Sequence[int]) -> list[Row]:
    """Strength 1: every value of every parameter occurs, in ``max(sizes)`` rows (one row
    when nothing varies). Row 0 takes each parameter's first value (the low end), row 1 its
    last (the high end), later rows the values between, cycling where a parameter has fewer."""
    n = max(sizes, default=1)
    orders = [_order(s) for s in sizes]
    return [tuple(order[i % len(order)] for order in orders) for i in range(n)]


def pairs_of(row: Row) -> set[tuple[int, int, int, int]]:
    return {(i, row[i], j, row[j]) for i in range(len(row)) for j in range(i + 1, len(row))}


def pairwise_rows(sizes: Sequence[int], start: Sequence[Row]) -> list[Row]:
    """Rows to add to ``start`` so that every pair of values of two parameters occurs.

    Greedy (AETG-like), two deterministic passes, the shorter kept: each new row starts from
    an uncovered pair and gives every other parameter the value that covers the most uncovered
    pairs with those already set; the first pass starts each row from the first uncovered pair,
    the second tries a few starting pairs and keeps the row that covers the most. Neither pass
    is always the shorter one.
    """
    first = _pairwise_pass(sizes, start, seeds=1)
    second = _pairwise_pass(sizes, start, seeds=_SEEDS)
    return second if len(second) < len(first) else first


#: starting pairs tried for each row of the second pass
_SEEDS = 8


def _pairwise_pass(sizes: Sequence[int], start: Sequence[Row], *, seeds: int) -> list[Row]:
    k = len(sizes)
    uncovered = {
        (i, a, j, b)
        for i in range(k)
        for j in range(i + 1, k)
        for a in range(sizes[i])
        for b in range(sizes[j])
    }
    for done in start:
        uncovered -= pairs_of(done)
    added: list[Row] = []
    while uncovered:
        firsts: dict[tuple[int, int], tuple[int, int, int, int]] = {}
        for pair in sorted(uncovered):
            firsts.setdefault((pair[0], pair[2]), pair)
            if len(firsts) >= seeds:
                break
        best_row: Row = ()
        best_cover = -1
        for seed in firsts.values():
            row = _greedy_row(sizes, seed, uncovered)
            cover = len(pairs_of(row) & uncovered)
            if cover > best_cover:
                best_row, best_cover = row, cover
        uncovered -= pairs_of(best_row)
        added.append(best_row)
    return added


def _greedy_row(
    sizes: Sequence[int], seed: tuple[int, int, int, int], uncovered: set[tuple[int, int, int, int]]
) -> Row:
    """A row holding the pair ``seed``; every other parameter gets the value that covers the
    most uncovered pairs with those already set."""
    k = len(sizes)
    i, a, j, b = seed
    row: list[int | None] = [None] * k
    row[i], row[j] = a, b
    for p in range(k):
        if row[p] is not None:
            continue
        best, best_gain = 0, -1
        for v in range(sizes[p]):
            gain = 0
            for o in range(k):
                w = row[o]
                if w is None:
                    continue
                key = (o, w, p, v) if o < p else (p, v, o, w)
                gain += key in uncovered
            if gain > best_gain:
                best, best_gain = v, gain
        row[p] = best
    return tuple(x if x is not None else 0 for x in row)


def _values(axes: Sequence[Axis], row: Row) -> dict[str, Any]:
    return nest({axis.name: axis.values[i] for axis, i in zip(axes, row, strict=True)})


def plan_smoke(
    parameters: Mapping[str, ParamSpec],
    baselines: Sequence[Mapping[str, Any]],
    limit: int = DEFAULT_MAX_TRIALS,
) -> SmokePlan:
    """The configurations of a smoke run, at most ``limit`` of them (see the module doc)."""
    if limit < 1:
        raise ValueError("the limit must be at least 1")
    axes = axes_of(parameters)
    sizes = [len(a.values) for a in axes]
    cover = covering_rows(sizes)
    cases: list[PlannedCase] = []
    seen: set[str] = set()

    def add(values: dict[str, Any], kind: str) -> None:
        key = strict_key(values)
        if key not in seen:
            seen.add(key)
            cases.append(PlannedCase(values, kind))

    for row in cover[:2]:
        add(_values(axes, row), EXTREMES)
    for base in baselines:
        add(dict(base), BASELINE)
    for row in cover[2:]:
        add(_values(axes, row), COVER)
    needed = len(cases)

    pairwise_needed: int | None = None
    work = sum(sizes) ** 2 * max(sizes, default=1)
    if len(sizes) < 2:
        pairwise_needed = needed
    elif work <= _PAIRWISE_WORK_LIMIT:
        before = len(cases)
        for row in pairwise_rows(sizes, cover):
            add(_values(axes, row), PAIRWISE)
        pairwise_needed = len(cases)
        if len(cases) > limit:  # all pairs or none: a partial set would cost without a promise
            del cases[before:]
    pairwise = pairwise_needed is not None and pairwise_needed <= limit
    return SmokePlan(
        cases=tuple(cases[:limit]),
        axes=tuple(axes),
        needed=needed,
        pairwise_needed=pairwise_needed,
        pairwise=pairwise,
        limit=limit,
    )


def describe_axes(axes: Sequence[Axis]) -> list[str]:
    """One line per varying parameter: ``lr: 0.0001, 0.1 (min and max)``."""
    return [f"{a.name}: {', '.join(_short(v) for v in a.values)} ({a.how})" for a in axes]


def _short(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else repr(value)
