"""The discrete side of :mod:`sweeprun.space.distributions`: names, sizes, grids, listed values.

Nothing here imports optuna or numpy at import time (``validate`` calls :func:`space_size`).

* Flat names: a nested parameter ``optimizer: {parameters: {lr: ...}}`` is ``optimizer/lr``
  (:data:`FLAT_SEP`; W&B names cannot contain ``/``). :func:`flatten` orders parameters as W&B's
  ``HyperParameterSet.from_config`` does: keys sorted at every level, depth first. That is the
  order of the sorted flat names unless a name contains ``-`` or ``.`` (they sort before
  ``/``); the W&B order wins. :func:`nest` turns flat values back into nested dicts.
* Which values count as the same. W&B deduplicates grid points by ``yaml_hash``, under which
  an integral float equals its int (``3.0`` is ``3``) but ``True`` is not ``1``:
  :func:`loose_key`. :func:`strict_key` tells every value the program could see apart.
* The values each grid-able distribution contributes: ``constant`` its value, ``categorical``
  its distinct values in order, ``int_uniform`` ``range(min, max + 1)``, ``q_uniform`` the values
  of ``np.arange(min, max, q)``: max excluded, ints when min, max and q are all ints (as numpy
  gives), floats otherwise, with float noise removed (``0.30000000000000004`` → ``0.3``) and a
  value that only reaches max through noise dropped (the spec says the grid excludes max).
* The i-th point of a grid without building the product: :mod:`sweeprun.space.grid_index`.
* The dimensions of constant, int_uniform, categorical and categorical_w_probabilities
  parameters (:class:`Dim` and its subclasses; the continuous ones are in ``space.py``).
"""

from __future__ import annotations

import bisect
import copy
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sweeprun.config.parameters import ParamSpec, as_number
from sweeprun.errors import SweepError

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

FLAT_SEP = "/"


class SpaceError(SweepError, ValueError):
    """A parameter or value the search space cannot represent (a usage error, exit 2)."""


def strict_key(value: Any) -> str:
    """Identity of a value as the program sees it: ``1``, ``1.0`` and ``True`` all differ."""
    try:
        return json.dumps(value, sort_keys=True, default=repr)
    except (TypeError, ValueError):  # e.g. dict keys of mixed types
        return repr(value)


def loose_key(value: Any) -> str:
    """W&B's grid identity (``yaml_hash``): an integral float is its int; bools stay bools."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return strict_key(value)


def decimals(x: float) -> int:
    """Digits after the point in the shortest repr of ``x``: ``0.1`` → 1, ``2.5e-07`` → 8."""
    exponent = Decimal(repr(float(x))).as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def clean(x: float, digits: int) -> float:
    """Drop float noise by rounding to ``digits`` decimals; ``-0.0`` becomes ``0.0``."""
    return round(x, digits) + 0.0


def dedupe(values: list[Any]) -> list[Any]:
    """Distinct values (W&B's grid identity), first occurrence first."""
    seen: set[str] = set()
    out = []
    for value in values:
        key = loose_key(value)
        if key not in seen:
            seen.add(key)
            out.append(value)
    return out


def _all_int(*xs: Any) -> bool:
    return all(isinstance(x, int) and not isinstance(x, bool) for x in xs)


def q_uniform_count(lo: float, hi: float, q: float) -> int:
    """``len(np.arange(lo, hi, q))`` without numpy, less a last value that noise took to ``hi``."""
    if _all_int(lo, hi, q):
        return len(range(int(lo), int(hi), int(q)))
    n = max(0, math.ceil((hi - lo) / q))
    last = clean(lo + (n - 1) * q, max(decimals(lo), decimals(q))) if n else None
    if last is not None and (last >= hi or math.isclose(last, hi, rel_tol=1e-9)):
        n -= 1  # max is excluded, also when float noise in max (or in the sum) hides it
    return n


def q_uniform_grid(lo: float, hi: float, q: float) -> list[int | float]:
    """The grid of a ``q_uniform`` parameter: ``np.arange(lo, hi, q)`` without float noise."""
    if _all_int(lo, hi, q):
        return list(range(int(lo), int(hi), int(q)))
    digits = max(decimals(lo), decimals(q))
    return [clean(lo + i * q, digits) for i in range(q_uniform_count(lo, hi, q))]


def _not_griddable(name: str, spec: ParamSpec) -> SpaceError:
    if spec.dist == "categorical_w_probabilities":
        why = "a grid runs every value once, so 'probabilities' cannot apply"
        fix = "remove 'probabilities', or use method: random"
    else:
        why = "a grid cannot enumerate a continuous distribution"
        fix = "give it 'values: [...]', make it q_uniform or int_uniform, or use method: random"
    return SpaceError(
        f"parameter '{name}' has distribution '{spec.dist}': {why}; grid search takes only "
        f"constant, categorical, int_uniform and q_uniform parameters. Fix: {fix}"
    )


def grid_values(name: str, spec: ParamSpec) -> list[Any]:
    """The values one parameter takes in a W&B grid; :class:`SpaceError` when it has none."""
    dist = spec.dist
    if dist == "constant":
        return [spec.value]
    if dist == "categorical":
        assert spec.values is not None
        return dedupe(spec.values)
    if dist == "int_uniform":
        assert isinstance(spec.min, int) and isinstance(spec.max, int)
        return list(range(spec.min, spec.max + 1))
    if dist == "q_uniform":
        assert spec.min is not None and spec.max is not None
        return q_uniform_grid(spec.min, spec.max, spec.q_)
    raise _not_griddable(name, spec)


def grid_count(spec: ParamSpec) -> int | None:
    """How many distinct values a discrete parameter takes; None for a continuous one."""
    dist = spec.dist
    if dist == "constant":
        return 1
    if dist == "categorical_w_probabilities":
        assert spec.values is not None and spec.probabilities is not None
        return len(
            dedupe([v for v, p in zip(spec.values, spec.probabilities, strict=True) if p > 0])
        )
    if dist == "q_uniform":
        assert spec.min is not None and spec.max is not None
        return q_uniform_count(spec.min, spec.max, spec.q_)
    if dist == "int_uniform":
        assert isinstance(spec.min, int) and isinstance(spec.max, int)
        return spec.max - spec.min + 1
    if dist == "categorical":
        assert spec.values is not None
        return len(dedupe(spec.values))
    return None


def _flatten_into(params: Mapping[str, ParamSpec], prefix: str, out: dict[str, ParamSpec]) -> None:
    for key in sorted(params):
        if FLAT_SEP in key:
            raise SpaceError(f"parameter name '{prefix}{key}' contains '{FLAT_SEP}': rename it")
        spec = params[key]
        if spec.parameters is not None:
            _flatten_into(spec.parameters, f"{prefix}{key}{FLAT_SEP}", out)
        else:
            out[prefix + key] = spec


def flatten(parameters: Mapping[str, ParamSpec]) -> dict[str, ParamSpec]:
    """Leaf parameters by flat name (``optimizer/lr``), in W&B order (sorted at each level)."""
    out: dict[str, ParamSpec] = {}
    _flatten_into(parameters, "", out)
    return out


def nest(flat_values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"optimizer/lr": 0.1}`` → ``{"optimizer": {"lr": 0.1}}``; a name clash is a ValueError."""
    out: dict[str, Any] = {}
    nested: set[tuple[str, ...]] = set()  # paths created here as blocks
    for name, value in flat_values.items():
        path = tuple(name.split(FLAT_SEP))
        node = out
        for i in range(1, len(path)):
            part = path[i - 1]
            if part not in node:
                node[part] = {}
                nested.add(path[:i])
            elif path[:i] not in nested:
                raise ValueError(f"'{name}' conflicts with '{FLAT_SEP.join(path[:i])}'")
            node = node[part]
        if path in nested or path[-1] in node:
            raise ValueError(f"'{name}' is given twice or conflicts with a nested parameter")
        node[path[-1]] = value
    return out


def flat_space_size(specs: Mapping[str, ParamSpec]) -> int | None:
    """:func:`space_size` of parameters already flattened."""
    size = 1
    for spec in specs.values():
        count = grid_count(spec)
        if count is None:
            return None
        size *= count
    return size


def space_size(parameters: Mapping[str, ParamSpec]) -> int | None:
    """How many distinct configurations when every parameter is discrete, else None.

    constant 1; categorical and categorical_w_probabilities their distinct values (W&B's grid
    identity; a zero-probability value never occurs); int_uniform ``max - min + 1``;
    q_uniform its grid size (``np.arange(min, max, q)``, max excluded).
    """
    return flat_space_size(flatten(parameters))


def _fresh(value: Any) -> Any:
    return copy.deepcopy(value) if isinstance(value, list | dict) else value


def number(name: str, value: Any) -> int | float:
    value = as_number(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpaceError(f"parameter '{name}' takes a number, got {value!r}")
    return value


class Dim:
    """One parameter: how Optuna's param ``x`` becomes the program's value, and back."""

    def __init__(self, name: str, spec: ParamSpec) -> None:
        self.name = name
        self.spec = spec

    def decode(self, x: Any) -> Any:
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        raise NotImplementedError

    def distribution(self) -> BaseDistribution:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def outside(self, value: Any, why: str = "") -> SpaceError:
        return SpaceError(
            f"parameter '{self.name}': {value!r} is outside its search space "
            f"({self.describe()}){why}"
        )


class Constant(Dim):
    def __init__(self, name: str, spec: ParamSpec, value: Any) -> None:
        super().__init__(name, spec)
        self.value = value
        self._keys = {strict_key(value), loose_key(value)}

    def decode(self, x: Any) -> Any:
        return _fresh(self.value)

    def encode(self, value: Any) -> None:
        if strict_key(value) not in self._keys and loose_key(value) not in self._keys:
            raise self.outside(value)

    def describe(self) -> str:
        return f"the constant {self.value!r}"


class Integer(Dim):
    def __init__(self, name: str, spec: ParamSpec, lo: int, hi: int) -> None:
        super().__init__(name, spec)
        self.lo, self.hi = lo, hi

    def decode(self, x: Any) -> int:
        return int(x)

    def encode(self, value: Any) -> int:
        v = number(self.name, value)
        if isinstance(v, float):
            if not v.is_integer():
                raise self.outside(value, ": not an integer")
            v = int(v)
        if not self.lo <= v <= self.hi:
            raise self.outside(value)
        return v

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import IntDistribution

        return IntDistribution(self.lo, self.hi)

    def describe(self) -> str:
        return f"int_uniform, integers {self.lo} to {self.hi}"


class _Choices(Dim):
    """Shared lookup of a listed value: exact identity first, then W&B's ``3.0 == 3``."""

    def __init__(self, name: str, spec: ParamSpec, values: list[Any], usable: list[bool]) -> None:
        super().__init__(name, spec)
        self.values = values
        self._strict: dict[str, int] = {}
        self._loose: dict[str, int] = {}
        for i, v in enumerate(values):
            if usable[i]:
                self._strict.setdefault(strict_key(v), i)
                self._loose.setdefault(loose_key(v), i)

    def index(self, value: Any) -> int:
        i = self._strict.get(strict_key(value))
        if i is None:
            i = self._loose.get(loose_key(value))
        if i is None:
            raise self.outside(value)
        return i

    def describe(self) -> str:
        shown = ", ".join(repr(v) for v in self.values[:10])
        return f"one of [{shown}{', ...' if len(self.values) > 10 else ''}]"


class Categorical(_Choices):
    def __init__(self, name: str, spec: ParamSpec, values: list[Any]) -> None:
        super().__init__(name, spec, values, [True] * len(values))
        self.mode = _choice_mode(values)
        if self.mode == "native":
            self.choices: tuple[Any, ...] = tuple(values)
        elif self.mode == "json":
            self.choices = tuple(_json(v) for v in values)
        else:
            self.choices = tuple(f"{i}: {_json(v, 60)}" for i, v in enumerate(values))
        self._by_choice = {c: i for i, c in enumerate(self.choices)}

    def decode(self, x: Any) -> Any:
        if self.mode == "native":
            return x
        try:
            return _fresh(self.values[self._by_choice[x]])
        except (KeyError, TypeError):
            raise SpaceError(f"parameter '{self.name}': {x!r} is not one of its choices") from None

    def encode(self, value: Any) -> Any:
        return self.choices[self.index(value)]

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import CategoricalDistribution

        return CategoricalDistribution(self.choices)


class Weighted(_Choices):
    def __init__(self, name: str, spec: ParamSpec, values: list[Any], probs: list[float]) -> None:
        super().__init__(name, spec, values, [p > 0 for p in probs])
        total, acc = math.fsum(probs), 0.0
        self.cdf: list[float] = []
        for p in probs:
            acc += p
            self.cdf.append(acc / total)
        self.last = max(i for i, p in enumerate(probs) if p > 0)

    def decode(self, x: Any) -> Any:
        return _fresh(self.values[min(bisect.bisect_right(self.cdf, float(x)), self.last)])

    def encode(self, value: Any) -> float:
        i = self.index(value)
        lo = self.cdf[i - 1] if i else 0.0
        return (lo + min(self.cdf[i], 1.0)) / 2

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(0.0, 1.0)


def _json(value: Any, limit: int = 0) -> str:
    text = strict_key(value)
    return text[: limit - 3] + "..." if limit and len(text) > limit else text


def _choice_mode(values: list[Any]) -> str:
    """``native`` choices, their ``json`` texts, or ``index`` labels (see module docstring)."""
    scalar = all(
        v is None or isinstance(v, bool | int | str) or (isinstance(v, float) and math.isfinite(v))
        for v in values
    )
    if scalar and len(set(values)) == len(values):
        return "native"
    try:
        texts = [json.dumps(v, sort_keys=True, allow_nan=False) for v in values]
    except (TypeError, ValueError):
        return "index"
    return "json" if len(set(texts)) == len(texts) else "index"
