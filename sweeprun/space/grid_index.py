"""The i-th point of a W&B grid, without building the product.

W&B's grid is ``itertools.product`` over the parameters in W&B order (:func:`flatten`), the
last parameter varying fastest. :class:`Grid` holds each parameter's values as a lazy
sequence (an ``int_uniform`` range is a ``range``, a ``q_uniform`` one computes its i-th
value) and turns an index into its point by mixed-radix division, so time and memory depend
on the number of parameters and listed values, never on the grid's size.

A grid of more than :data:`MAX_GRID_POINTS` points (``2**63 - 1``) is refused
(:meth:`Grid.check`): no run gets through it (at a million trials a second it takes 292,000
years), and its indexes would not fit the signed 64-bit integers that SQL databases, other
languages' JSON readers and numpy use for ``sweeprun.grid_index``.

Nothing here imports optuna (``validate`` refuses a grid too large to run with
:func:`grid_refusal`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from sweeprun.config.parameters import ParamSpec
from sweeprun.space.grid import (
    SpaceError,
    _all_int,
    _fresh,
    _not_griddable,
    clean,
    decimals,
    dedupe,
    flat_space_size,
    flatten,
    grid_count,
    nest,
    q_uniform_count,
)

MAX_GRID_POINTS = 2**63 - 1


class QAxis(Sequence[float]):
    """The float values of a ``q_uniform`` grid: ``clean(lo + i * q)`` for ``i < count`` (the
    same values as :func:`sweeprun.space.grid.q_uniform_grid`, computed on demand)."""

    def __init__(self, lo: float, hi: float, q: float) -> None:
        self.lo, self.q = lo, q
        self.digits = max(decimals(lo), decimals(q))
        self.n = q_uniform_count(lo, hi, q)

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, i: int) -> float: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[float]: ...

    def __getitem__(self, i: int | slice) -> float | Sequence[float]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(i)
        return clean(self.lo + i * self.q, self.digits)


def grid_axis(name: str, spec: ParamSpec) -> Sequence[Any]:
    """The values one parameter takes in a W&B grid, as a lazy sequence where it is a range
    (the same values as :func:`sweeprun.space.grid.grid_values`)."""
    dist = spec.dist
    if dist == "constant":
        return [spec.value]
    if dist == "categorical":
        assert spec.values is not None
        return dedupe(spec.values)
    if dist == "int_uniform":
        assert isinstance(spec.min, int) and isinstance(spec.max, int)
        return range(spec.min, spec.max + 1)
    if dist == "q_uniform":
        assert spec.min is not None and spec.max is not None
        lo, hi, q = spec.min, spec.max, spec.q_
        if _all_int(lo, hi, q):
            return range(int(lo), int(hi), int(q))
        return QAxis(lo, hi, q)
    raise _not_griddable(name, spec)


class OffLattice:
    """The values of a ``q_uniform`` grid that are not multiples of q (``min: 1, q: 2``), by the
    Optuna param each is enqueued as (``key(value)``, a few ulps above it): found by index, so a
    grid of any size round-trips without a table of its values. Falsy when every grid value is
    a multiple of q."""

    def __init__(
        self,
        name: str,
        spec: ParamSpec,
        quant: Callable[[float], int | float],
        key: Callable[[float], float],
    ) -> None:
        assert spec.min is not None
        self.axis = grid_axis(name, spec)
        self.n = grid_count(spec) or 0
        self.lo, self.q = float(spec.min), float(spec.q_)
        self.quant, self.key = quant, key
        self.any = any(quant(self.axis[i]) != self.axis[i] for i in range(min(2, self.n)))

    def __bool__(self) -> bool:
        return self.any

    def get(self, x: float) -> int | float | None:
        """The off-lattice grid value enqueued as ``x``; None when ``x`` is no such key."""
        if not self.any or not math.isfinite(x):
            return None
        k = round((x - self.lo) / self.q)
        for i in (k, k - 1, k + 1):
            if 0 <= i < self.n:
                value = self.axis[i]
                if self.quant(value) != value and self.key(value) == x:
                    return value
        return None

    def __contains__(self, x: object) -> bool:
        return isinstance(x, float) and self.get(x) is not None


def grid_too_large(size: int | None) -> str | None:
    """Why a grid of ``size`` points cannot run (None when it can, or is not a grid)."""
    if size is None or size <= MAX_GRID_POINTS:
        return None
    return (
        f"the grid has {size} points (about {float(size):.3g}), more than the "
        f"{MAX_GRID_POINTS} (2**63 - 1) a grid may have: no run gets through it. Fix: fewer "
        "values (a larger q, narrower int_uniform ranges, fewer parameters), or method: random "
        "or bayes with a run_cap"
    )


def grid_refusal(parameters: Mapping[str, ParamSpec]) -> str | None:
    """:func:`grid_too_large` for a config's (nested) ``parameters``; None where another check
    reports the problem (a continuous parameter, a name with ``/``)."""
    try:
        return grid_too_large(flat_space_size(flatten(parameters)))
    except SpaceError:
        return None


class Grid:
    """A W&B grid over flat ``specs`` (W&B order), indexed ``0 .. size - 1``."""

    def __init__(self, specs: Mapping[str, ParamSpec]) -> None:
        self.names = list(specs)
        self.axes = [grid_axis(name, spec) for name, spec in specs.items()]
        # counted, not len(): a range longer than 2**63 - 1 has no len()
        self.lengths = [grid_count(spec) or 0 for spec in specs.values()]
        self.size = 1
        for n in self.lengths:
            self.size *= n

    def check(self) -> Grid:
        """``self``, or :class:`SpaceError` (exit 2) when the grid is too large to run."""
        why = grid_too_large(self.size)
        if why:
            raise SpaceError(why)
        return self

    def point(self, index: int) -> dict[str, Any]:
        """The ``index``-th point (nested program values), as ``itertools.product`` orders
        them: the last parameter varies fastest."""
        if not 0 <= index < self.size:
            raise IndexError(f"grid index {index} outside 0..{self.size - 1}")
        flat: dict[str, Any] = {}
        rest = index
        for k in reversed(range(len(self.names))):
            rest, i = divmod(rest, self.lengths[k])
            name, axis = self.names[k], self.axes[k]
            flat[name] = _fresh(axis[i])
        return nest({name: flat[name] for name in self.names})

    def points(self, start: int = 0, stop: int | None = None) -> Iterator[dict[str, Any]]:
        """Points ``start .. stop - 1`` (to the end by default), one at a time."""
        stop = self.size if stop is None else min(stop, self.size)
        for index in range(max(0, start), stop):
            yield self.point(index)


def grid_points(specs: Mapping[str, ParamSpec]) -> list[dict[str, Any]]:
    """Every point of a grid over flat ``specs`` (refused when too large to run)."""
    return list(Grid(specs).check().points())


def grid_size(specs: Mapping[str, ParamSpec]) -> int | None:
    """The number of points of a grid over flat ``specs``; None if a parameter is continuous."""
    return flat_space_size(specs)
