"""The search space: sweep.yaml parameters → Optuna distributions, and Optuna params → values.

The only place that translates W&B parameter specs into Optuna. Flat names (``optimizer/lr``),
W&B's parameter order, :func:`nest`, :func:`space_size` and the grid live in
:mod:`sweeprun.space.grid` (no optuna there) and are re-exported here.

How each distribution becomes an Optuna dimension (``x`` is Optuna's param, the value is what
the program receives; W&B's ``HyperParameter.ppf`` is the reference):

* constant: no dimension (as in W&B, constants are not part of the search space).
* categorical: ``CategoricalDistribution`` of the values themselves when all are
  None/bool/int/float/str, finite, and distinct for Optuna (which treats ``1``, ``1.0`` and
  ``True`` as one choice); else of their JSON texts; else (e.g. duplicates) of
  ``"<index>: <json>"`` labels. Each listed value keeps W&B's equal share.
* categorical_w_probabilities: a hidden ``FloatDistribution(0, 1)`` ``u``; the value is the
  first whose cumulative probability exceeds ``u`` (W&B's ppf rule), so random sampling
  honours the probabilities exactly. (At ``u`` = 1 W&B returns the first value, an artifact
  of ``argmin``; here the last value with a non-zero probability.)
* int_uniform: ``IntDistribution(min, max)``, inclusive. uniform: ``FloatDistribution(min, max)``.
* log_uniform_values, inv_log_uniform_values: ``FloatDistribution(min, max, log=True)``, value
  = x. log_uniform (bounds are exponents of e): ``FloatDistribution(e^min, e^max, log=True)``.
  inv_log_uniform: ``FloatDistribution(e^-max, e^-min, log=True)``, since W&B's ``exp(-u)``,
  ``u ~ U(min, max)``, is log-uniform on that range.
* q_uniform, q_log_uniform, q_log_uniform_values: the same continuous dimension, value
  ``round(x / q) * q``.
* normal, log_normal, beta and their q_ forms: a hidden quantile ``u`` in
  ``[1e-6, 1 - 1e-6]`` mapped through the inverse CDF (normal: ``statistics.NormalDist``;
  log_normal: its exp, which is W&B's ``lognorm(s=sigma, scale=e^mu)``; beta:
  ``scipy.special.betaincinv``, scipy imported only then). Optuna stores the *quantile* as the
  param, so model-based samplers see a bounded continuous dimension; the value the program
  got is ``to_values`` of it. ``sigma: 0`` is the constant ``mu`` (``e^mu`` for log_normal).
  Values round-trip through :meth:`SearchSpace.from_values` to within ~1e-9 (a CDF and its
  inverse), exactly for the q_ forms.

Quantizing follows W&B: ``round(x / q) * q`` with round-half-to-even, an int when ``q`` is an
int in the config (``isinstance(q, int)``; the default ``q`` is ``1.0``), else a float rounded
to the decimals of ``q`` so that ``3 * 0.1`` is ``0.3``. A q_uniform grid value off the lattice
of ``q`` (``min: 1, max: 10, q: 2`` has the W&B grid ``1, 3, 5, 7, 9``, which random sampling
never gives) is enqueued as ``x`` = that value plus one ulp, which decodes as the value, so
grid points round-trip; any other ``x`` (even exactly min) is rounded as W&B rounds it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

from sweeprun.config.parameters import ParamSpec
from sweeprun.errors import SweepError, did_you_mean
from sweeprun.space.grid import (
    FLAT_SEP,
    Categorical,
    Constant,
    Dim,
    Integer,
    SpaceError,
    Weighted,
    clean,
    decimals,
    flat_space_size,
    flatten,
    nest,
    number,
    space_size,
)
from sweeprun.space.grid_index import OffLattice, grid_points

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

__all__ = ["FLAT_SEP", "SearchSpace", "SpaceError", "flatten", "nest", "space_size"]

EPS = 1e-6  # hidden quantiles live in [EPS, 1 - EPS]


class Quant:
    """W&B's quantizing: ``round(x / q) * q``, an int iff ``q`` is an int in the config."""

    __slots__ = ("as_int", "digits", "q")

    def __init__(self, q: int | float) -> None:
        self.q = q
        self.as_int = isinstance(q, int)
        self.digits = decimals(q)

    def __call__(self, x: float) -> int | float:
        k = round(x / self.q)
        return k * self.q if self.as_int else clean(k * self.q, self.digits)

    def snap(self, v: float) -> int | float | None:
        """The lattice value ``v`` stands for, or None when ``v`` is not a multiple of q."""
        value = self(v)
        return value if math.isclose(value, v, rel_tol=1e-9, abs_tol=1e-9 * self.q) else None


def _exact_key(value: float, quant: Quant) -> float:
    """The ``x`` an off-lattice q_uniform grid value is enqueued as: one ulp above it (so a
    sampler landing on min still gets W&B's rounding), or two if one ulp is a lattice point."""
    x = math.nextafter(float(value), math.inf)
    return math.nextafter(x, math.inf) if quant(x) == x else x


class Floating(Dim):
    """A continuous Optuna dimension whose value is ``x``, or ``x`` quantized."""

    def __init__(
        self, name: str, spec: ParamSpec, lo: float, hi: float, log: bool, quant: Quant | None
    ) -> None:
        super().__init__(name, spec)
        self.lo, self.hi, self.log, self.quant = float(lo), float(hi), log, quant
        self.exact: OffLattice | None = None  # off-lattice grid values, decoded as is

    def decode(self, x: Any) -> Any:
        x = float(x)
        if self.quant is None:
            return x
        if self.exact:
            hit = self.exact.get(x)
            if hit is not None:
                return hit
        return self.quant(x)

    def encode(self, value: Any) -> float:
        v = number(self.name, value)
        if self.quant is None:
            if self.lo <= v <= self.hi:
                return float(v)
            for bound in (self.lo, self.hi):
                if math.isclose(v, bound, rel_tol=1e-12):
                    return bound
            raise self.outside(value)
        target = self.quant.snap(v)
        if target is None:
            x = _exact_key(v, self.quant)
            if self.exact is not None and x in self.exact:
                return x
            raise self.outside(value, f": not a multiple of q={self.quant.q}")
        q = float(self.quant.q)
        k = round(target / q)
        a, b = max(self.lo, (k - 0.5) * q), min(self.hi, (k + 0.5) * q)
        candidates = [min(max(float(target), self.lo), self.hi)]
        if a <= b:
            candidates += [(a + b) / 2, a, b]
        for x in candidates:
            if self.decode(x) == target:
                return x
        raise self.outside(value)

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(self.lo, self.hi, log=self.log)

    def describe(self) -> str:
        text = f"{self.spec.dist} over [{self.lo!r}, {self.hi!r}]"
        return text + (f", multiples of q={self.quant.q!r}" if self.quant else "")


class Quantile(Dim):
    """A hidden quantile ``u`` in ``[EPS, 1 - EPS]``; the value is ``ppf(u)``, maybe quantized."""

    def __init__(
        self,
        name: str,
        spec: ParamSpec,
        ppf: Callable[[float], float],
        cdf: Callable[[float], float | None],
        quant: Quant | None,
    ) -> None:
        super().__init__(name, spec)
        self.ppf, self.cdf, self.quant = ppf, cdf, quant
        try:
            self.lo, self.hi = ppf(EPS), ppf(1 - EPS)
        except OverflowError:
            raise SpaceError(f"parameter '{name}': {spec.dist} values overflow a float") from None

    def decode(self, x: Any) -> Any:
        y = self.ppf(min(max(float(x), EPS), 1 - EPS))
        return y if self.quant is None else self.quant(y)

    def encode(self, value: Any) -> float:
        v = number(self.name, value)
        if self.quant is None:
            near = math.isclose(v, self.lo) or math.isclose(v, self.hi)
            if not (self.lo <= v <= self.hi or near):
                raise self.outside(value)
            u = self.cdf(v)
            assert u is not None
            return min(max(u, EPS), 1 - EPS)
        target = self.quant.snap(v)
        if target is None:
            raise self.outside(value, f": not a multiple of q={self.quant.q}")
        half = 0.45 * float(self.quant.q)
        for y in (target, target - half, target + half):
            u = self.cdf(y)
            if u is not None:
                u = min(max(u, EPS), 1 - EPS)
                if self.decode(u) == target:
                    return u
        raise self.outside(value)

    def distribution(self) -> BaseDistribution:
        from optuna.distributions import FloatDistribution

        return FloatDistribution(EPS, 1 - EPS)

    def describe(self) -> str:
        text = f"{self.spec.dist} between {self.lo:.6g} and {self.hi:.6g} (quantiles 1e-6..1-1e-6)"
        return text + (f", multiples of q={self.quant.q!r}" if self.quant else "")


def _exp(name: str, dist: str, x: float) -> float:
    try:
        value = math.exp(x)
    except OverflowError:
        value = math.inf
    if value == 0.0 or math.isinf(value):
        raise SpaceError(
            f"parameter '{name}': {dist} bounds are exponents of e, and e^{x!r} is out of "
            f"float range. Fix: for raw values use '{dist}_values'"
        )
    return value


def _quantile_dim(name: str, spec: ParamSpec, base: str, quant: Quant | None) -> Dim:
    if base == "beta":
        try:
            from scipy import special
        except ImportError:
            raise SweepError(
                f"parameter '{name}' uses a beta distribution, which needs scipy: pip install scipy"
            ) from None
        a, b = float(spec.a_), float(spec.b_)

        def beta_ppf(u: float) -> float:
            return float(special.betaincinv(a, b, u))

        def beta_cdf(v: float) -> float | None:
            return float(special.betainc(a, b, v)) if 0.0 <= v <= 1.0 else None

        return Quantile(name, spec, beta_ppf, beta_cdf, quant)
    mu, sigma = float(spec.mu_), float(spec.sigma_)
    if sigma == 0:
        value: float = mu if base == "normal" else _exp(name, base, mu)
        return Constant(name, spec, value if quant is None else quant(value))
    nd = NormalDist(mu, sigma)
    if base == "normal":
        return Quantile(name, spec, nd.inv_cdf, nd.cdf, quant)

    def lognormal_ppf(u: float) -> float:
        return math.exp(nd.inv_cdf(u))

    def lognormal_cdf(v: float) -> float | None:
        return nd.cdf(math.log(v)) if v > 0 else None

    return Quantile(name, spec, lognormal_ppf, lognormal_cdf, quant)


def make_dim(name: str, spec: ParamSpec) -> Dim:
    """The dimension of one (flat, leaf) parameter; every constant is computed here."""
    dist = spec.dist
    if dist == "constant":
        return Constant(name, spec, spec.value)
    if dist == "categorical":
        assert spec.values is not None
        return Categorical(name, spec, list(spec.values))
    if dist == "categorical_w_probabilities":
        assert spec.values is not None and spec.probabilities is not None
        return Weighted(name, spec, list(spec.values), list(spec.probabilities))
    if dist == "int_uniform":
        assert isinstance(spec.min, int) and isinstance(spec.max, int)
        return Integer(name, spec, spec.min, spec.max)
    quant = Quant(spec.q_) if dist.startswith("q_") else None
    base = dist[2:] if quant else dist
    if base in ("normal", "log_normal", "beta"):
        return _quantile_dim(name, spec, base, quant)
    lo, hi = spec.min, spec.max
    assert lo is not None and hi is not None
    if base == "uniform":
        dim = Floating(name, spec, lo, hi, False, quant)
        if quant is not None:  # by index: a grid of any size, no table of its values
            dim.exact = OffLattice(name, spec, quant, lambda g: _exact_key(g, quant))
        return dim
    if base == "log_uniform":
        return Floating(name, spec, _exp(name, base, lo), _exp(name, base, hi), True, quant)
    if base == "inv_log_uniform":
        return Floating(name, spec, _exp(name, base, -hi), _exp(name, base, -lo), True, quant)
    return Floating(name, spec, lo, hi, True, quant)  # *_log_uniform_values


class SearchSpace:
    """The parameters of one sweep as an Optuna search space (see the module docstring)."""

    def __init__(self, specs: dict[str, ParamSpec], dims: dict[str, Dim]) -> None:
        self.specs = specs
        self.flat_names: tuple[str, ...] = tuple(specs)
        self.size: int | None = flat_space_size(specs)
        self._dims = dims
        self._plan = [
            (name, tuple(name.split(FLAT_SEP)), dims[name], isinstance(dims[name], Constant))
            for name in specs
        ]
        self._tree: dict[str, Any] = nest(dims)
        self._distributions: dict[str, BaseDistribution] | None = None

    @classmethod
    def from_params(cls, parameters: Mapping[str, ParamSpec]) -> SearchSpace:
        """Build the space, precomputing every per-parameter conversion."""
        specs = flatten(parameters)
        return cls(specs, {name: make_dim(name, spec) for name, spec in specs.items()})

    def distributions(self) -> dict[str, BaseDistribution]:
        """The fixed search space for ``study.ask``; constants are not part of it."""
        if self._distributions is None:
            self._distributions = {
                name: dim.distribution()
                for name, dim in self._dims.items()
                if not isinstance(dim, Constant)
            }
        return dict(self._distributions)

    def describe(self) -> dict[str, str]:
        """Flat name → a one-line description of its range, for dry runs and messages."""
        return {name: dim.describe() for name, dim in self._dims.items()}

    def to_values(self, optuna_params: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna trial params → the nested values the program receives (constants included)."""
        out: dict[str, Any] = {}
        for name, path, dim, constant in self._plan:
            if constant:
                value = dim.decode(None)
            elif name in optuna_params:
                value = dim.decode(optuna_params[name])
            else:
                raise SpaceError(
                    f"the trial has no value for parameter '{name}' (it has "
                    f"{sorted(optuna_params)}): was it made under another sweep config?"
                )
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return out

    def from_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Nested program values → Optuna params for ``study.enqueue_trial``.

        Parameters left out are left to the sampler; constants are checked, not returned.
        A flat name (``optimizer/lr``) is accepted as a top-level key too.
        """
        out: dict[str, Any] = {}
        self._encode_into(values, self._tree, "", out)
        return out

    def complete_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """A (partial) baseline as the program will receive it: checked, normalised (``"1e-3"``
        → ``0.001``), constants added; parameters it leaves out stay out (the sampler picks)."""
        params = self.from_values(values)
        flat = {
            name: dim.decode(params.get(name))
            for name, _, dim, constant in self._plan
            if constant or name in params
        }
        return nest(flat)

    def _encode_into(
        self, values: Any, tree: dict[str, Any], prefix: str, out: dict[str, Any]
    ) -> None:
        if not isinstance(values, Mapping):
            raise SpaceError(
                f"'{prefix.rstrip(FLAT_SEP) or '(top level)'}' holds nested parameters "
                f"({', '.join(sorted(tree))}): give a mapping, not {values!r}"
            )
        for key, value in values.items():
            node = tree.get(key) if isinstance(key, str) else None
            if node is None and not prefix and key in self._dims:
                node = self._dims[key]
            if node is None:
                hint = did_you_mean(str(key), tree) or f"known here: {', '.join(sorted(tree))}"
                raise SpaceError(f"unknown parameter '{prefix}{key}': {hint}")
            if isinstance(node, dict):
                self._encode_into(value, node, f"{prefix}{key}{FLAT_SEP}", out)
            elif not isinstance(node, Constant):
                out[node.name] = node.encode(value)
            else:
                node.encode(value)

    def grid_points(self) -> list[dict[str, Any]]:
        """W&B's grid: ``itertools.product`` over the parameters in order, last fastest.

        Only constant, categorical, int_uniform and q_uniform parameters (else
        :class:`SpaceError` naming the parameter); returns nested program values.
        """
        return grid_points(self.specs)
