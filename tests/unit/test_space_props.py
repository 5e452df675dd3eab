"""Property tests of sweeprun.space.distributions: supports, round trips, grids, names, probabilities."""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import optuna
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from sweeprun.config.parameters import ParamSpec
from sweeprun.space.distributions import SearchSpace, flatten, nest, space_size
from sweeprun.space.grid import strict_key

optuna.logging.set_verbosity(optuna.logging.WARNING)
settings.register_profile(
    "space", deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("space")

EPS = 1e-6


def P(**kw: Any) -> ParamSpec:
    return ParamSpec.model_validate(kw)


# ---- strategies --------------------------------------------------------------------------------

qs = st.one_of(
    st.integers(1, 10),
    st.sampled_from([0.1, 0.2, 0.25, 0.5, 0.05, 2.5, 0.001, 1.0, 3.0]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(-5, 5, allow_nan=False).map(lambda f: round(f, 2)),
    st.text("abc", max_size=3),
)
values_lists = st.lists(
    st.one_of(scalars, st.lists(scalars, max_size=2), st.dictionaries(st.text("xy"), scalars)),
    min_size=1,
    max_size=6,
)


@st.composite
def float_range(draw: st.DrawFn, lo: float, hi: float, min_width: float = 1e-3) -> tuple:
    a = draw(st.floats(lo, hi - min_width))
    b = draw(st.floats(a + min_width, hi))
    assume(a < b)
    return a, b


@st.composite
def weighted(draw: st.DrawFn) -> ParamSpec:
    values = draw(values_lists)
    weights = draw(st.lists(st.integers(0, 5), min_size=len(values), max_size=len(values)))
    assume(sum(weights) > 0)
    return P(values=values, probabilities=[w / sum(weights) for w in weights])


@st.composite
def int_range(draw: st.DrawFn) -> ParamSpec:
    a = draw(st.integers(-1000, 999))
    return P(min=a, max=draw(st.integers(a + 1, 1000)))


def ranged(dist: str, lo: float, hi: float, quantized: bool = False) -> st.SearchStrategy:
    def build(bounds: tuple, q: Any) -> ParamSpec:
        extra = {"q": q} if quantized and q is not None else {}
        return P(distribution=dist, min=bounds[0], max=bounds[1], **extra)

    return st.builds(
        build, float_range(lo, hi), st.one_of(st.none(), qs) if quantized else st.none()
    )


def shaped(dist: str, quantized: bool = False) -> st.SearchStrategy:
    def build(mu: float, sigma: float, q: Any) -> ParamSpec:
        extra = {"q": q} if quantized and q is not None else {}
        if "beta" in dist:
            return P(distribution=dist, a=mu, b=sigma, **extra)
        return P(distribution=dist, mu=mu, sigma=sigma, **extra)

    if "beta" in dist:
        mus, sigmas = st.floats(0.2, 10), st.floats(0.2, 10)
    elif "log" in dist:
        mus, sigmas = st.floats(-5, 5), st.floats(0.01, 3)
    else:
        mus, sigmas = st.floats(-100, 100), st.floats(0.01, 100)
    return st.builds(build, mus, sigmas, st.one_of(st.none(), qs) if quantized else st.none())


SPECS: dict[str, st.SearchStrategy] = {
    "constant": st.builds(lambda v: P(value=v), scalars),
    "categorical": st.builds(lambda v: P(values=v), values_lists),
    "categorical_w_probabilities": weighted(),
    "int_uniform": int_range(),
    "uniform": ranged("uniform", -1e3, 1e3),
    "q_uniform": ranged("q_uniform", -1e3, 1e3, quantized=True),
    "log_uniform": ranged("log_uniform", -20, 20),
    "log_uniform_values": ranged("log_uniform_values", 1e-6, 1e4),
    "q_log_uniform": ranged("q_log_uniform", -5, 8, quantized=True),
    "q_log_uniform_values": ranged("q_log_uniform_values", 1e-3, 1e4, quantized=True),
    "inv_log_uniform": ranged("inv_log_uniform", -20, 20),
    "inv_log_uniform_values": ranged("inv_log_uniform_values", 1e-6, 1e4),
    "normal": shaped("normal"),
    "q_normal": shaped("q_normal", quantized=True),
    "log_normal": shaped("log_normal"),
    "q_log_normal": shaped("q_log_normal", quantized=True),
    "beta": shaped("beta"),
    "q_beta": shaped("q_beta", quantized=True),
}
assert len(SPECS) == 18

any_spec = st.one_of(*SPECS.values())


def draw_x(draw: Callable[[st.SearchStrategy[Any]], Any], dist: Any) -> Any:
    """An Optuna param drawn from the distribution's own bounds (incl. the boundaries)."""
    if isinstance(dist, optuna.distributions.CategoricalDistribution):
        return draw(st.sampled_from(dist.choices))
    if isinstance(dist, optuna.distributions.IntDistribution):
        return draw(st.integers(dist.low, dist.high))
    if dist.log:
        x = math.exp(draw(st.floats(math.log(dist.low), math.log(dist.high))))
        return min(max(x, dist.low), dist.high)
    return draw(st.floats(dist.low, dist.high))


# ---- supports ------------------------------------------------------------------------------


def close_in(v: float, lo: float, hi: float) -> bool:
    return lo <= v <= hi or math.isclose(v, lo, rel_tol=1e-12) or math.isclose(v, hi, rel_tol=1e-12)


def assert_in_support(spec: ParamSpec, v: Any) -> None:
    dist = spec.dist
    if dist == "constant":
        assert strict_key(v) == strict_key(spec.value)
        return
    if dist == "categorical":
        assert strict_key(v) in {strict_key(x) for x in spec.values or []}
        return
    if dist == "categorical_w_probabilities":
        listed = zip(spec.values or [], spec.probabilities or [], strict=True)
        assert strict_key(v) in {strict_key(x) for x, p in listed if p > 0}
        return
    assert isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if dist == "int_uniform":
        assert type(v) is int and spec.min <= v <= spec.max  # type: ignore[operator]
        return
    if dist == "q_uniform" and not math.isclose(v / spec.q_, round(v / spec.q_), abs_tol=1e-6):
        # the documented exception: an x one ulp above an off-lattice W&B grid value decodes
        # to that grid value, so grid points round-trip through enqueue_trial
        grid = [p["p"] for p in SearchSpace.from_params({"p": spec}).grid_points()]
        assert strict_key(v) in {strict_key(g) for g in grid}
        return
    if dist.startswith("q_"):
        q = spec.q_
        assert math.isclose(v / q, round(v / q), abs_tol=1e-6)
        assert type(v) is (int if isinstance(spec.q, int) else float)
        return  # W&B's rounding may step half a q past the range
    assert type(v) is float
    lo, hi = spec.min, spec.max
    if dist in ("uniform", "log_uniform_values", "inv_log_uniform_values"):
        assert close_in(v, lo, hi)  # type: ignore[arg-type]
    elif dist == "log_uniform":
        assert close_in(v, math.exp(lo), math.exp(hi))  # type: ignore[arg-type]
    elif dist == "inv_log_uniform":
        assert close_in(v, math.exp(-hi), math.exp(-lo))  # type: ignore[operator]
    elif dist == "normal":
        lo_v, hi_v = stats.norm.ppf([EPS, 1 - EPS], loc=spec.mu_, scale=spec.sigma_)
        assert close_in(v, lo_v, hi_v)
    elif dist == "log_normal":
        lo_v, hi_v = stats.lognorm.ppf([EPS, 1 - EPS], s=spec.sigma_, scale=math.exp(spec.mu_))
        assert v > 0 and lo_v * (1 - 1e-9) <= v <= hi_v * (1 + 1e-9)
    else:
        assert dist == "beta" and 0.0 <= v <= 1.0


def roundtrip_equal(spec: ParamSpec, a: Any, b: Any) -> bool:
    if spec.dist in ("normal", "log_normal", "beta"):  # a CDF and its inverse: not bit-exact
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return strict_key(a) == strict_key(b)


@pytest.mark.parametrize("dist", sorted(SPECS))
def test_every_sample_is_in_the_support_and_round_trips(dist: str) -> None:
    @given(spec=SPECS[dist], data=st.data())
    def check(spec: ParamSpec, data: st.DataObject) -> None:
        space = SearchSpace.from_params({"p": spec})
        dists = space.distributions()
        params = {"p": draw_x(data.draw, dists["p"])} if dists else {}
        v = space.to_values(params)["p"]
        assert_in_support(spec, v)
        back = space.from_values({"p": v})
        assert set(back) == set(dists)
        if dists:
            assert dists["p"]._contains(dists["p"].to_internal_repr(back["p"]))
        assert roundtrip_equal(spec, space.to_values(back)["p"], v)

    check()


@given(spec=any_spec, seed=st.integers(0, 2**16))
@settings(max_examples=40)
def test_optuna_random_sampler_samples_are_in_the_support(spec: ParamSpec, seed: int) -> None:
    space = SearchSpace.from_params({"p": spec})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    for _ in range(5):
        trial = study.ask(space.distributions())
        assert_in_support(spec, space.to_values(trial.params)["p"])
        study.tell(trial, 0.0)


# ---- names, nesting, grids --------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9_]{0,3}", fullmatch=True)


def tree(leaves: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        st.dictionaries(names, leaves, min_size=1, max_size=3),
        lambda children: st.dictionaries(
            names,
            st.one_of(leaves, children.map(lambda c: P(parameters=c))),
            min_size=1,
            max_size=3,
        ),
        max_leaves=6,
    )


def leaf_paths(params: dict[str, ParamSpec], prefix: tuple = ()) -> list[tuple[str, ...]]:
    """Leaf paths in W&B order, walked independently of sweeprun.space.distributions."""
    out = []
    for key in sorted(params):
        spec = params[key]
        if spec.parameters is not None:
            out += leaf_paths(spec.parameters, (*prefix, key))
        else:
            out.append((*prefix, key))
    return out


def flat_values(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in nested.items():
        if isinstance(v, dict):
            out.update(flat_values(v, f"{prefix}{k}/"))
        else:
            out[prefix + k] = v
    return out


@given(params=tree(st.builds(lambda v: P(value=v), st.integers())))
def test_flatten_and_nest_round_trip(params: dict[str, ParamSpec]) -> None:
    flat = flatten(params)
    assert list(flat) == ["/".join(p) for p in leaf_paths(params)] == sorted(flat)
    nested = nest({name: spec.value for name, spec in flat.items()})
    assert flat_values(nested) == {name: spec.value for name, spec in flat.items()}
    assert SearchSpace.from_params(params).to_values({}) == nested


@st.composite
def q_uniform_grid_spec(draw: st.DrawFn) -> ParamSpec:
    q = draw(qs)
    lo = draw(st.one_of(st.integers(-20, 20), st.decimals(-20, 20, places=2).map(float)))
    span = q * draw(st.floats(0.5, 12))
    hi = lo + span if isinstance(lo, float) or not isinstance(q, int) else lo + math.ceil(span)
    assume(lo < hi)
    return P(distribution="q_uniform", min=lo, max=hi, q=q)


grid_leaves = st.one_of(
    st.builds(lambda v: P(value=v), scalars),
    st.builds(
        lambda vs: P(values=vs),
        st.lists(
            st.integers(-9, 9) | st.text("ab", max_size=2), min_size=1, max_size=3, unique=True
        ),
    ),
    st.builds(lambda a, n: P(min=a, max=a + n), st.integers(-5, 5), st.integers(1, 3)),
    q_uniform_grid_spec(),
)


def expected_axis(spec: ParamSpec) -> list[Any]:
    if spec.dist == "constant":
        return [spec.value]
    if spec.dist == "categorical":
        return list(spec.values or [])
    if spec.dist == "int_uniform":
        return list(range(spec.min, spec.max + 1))  # type: ignore[arg-type,operator]
    bounds: tuple[Any, Any, Any] = (spec.min, spec.max, spec.q_)  # ints stay ints
    axis = np.arange(*bounds).tolist()
    if axis and math.isclose(axis[-1], spec.max, rel_tol=1e-9):  # type: ignore[arg-type]
        axis.pop()  # numpy's float noise reached max: the spec says max is excluded
    return axis


@given(params=tree(grid_leaves))
@settings(max_examples=100)
def test_grid_is_itertools_product_over_sorted_flat_names(params: dict[str, ParamSpec]) -> None:
    space = SearchSpace.from_params(params)
    names_ = sorted(flatten(params))
    axes = [expected_axis(flatten(params)[n]) for n in names_]
    assume(math.prod(len(a) for a in axes) <= 2000)
    points = space.grid_points()
    expected = [nest(dict(zip(names_, combo, strict=True))) for combo in itertools.product(*axes)]
    assert len(points) == len(expected) == space.size == space_size(params)
    for got, want in zip(points, expected, strict=True):
        g, w = flat_values(got), flat_values(want)
        assert list(g) == list(w)
        for name in g:
            if isinstance(w[name], float):  # np.arange's float noise is gone from ours
                assert type(g[name]) is float and math.isclose(g[name], w[name], abs_tol=1e-9)
            else:
                assert strict_key(g[name]) == strict_key(w[name])
    assert all(space.to_values(space.from_values(p)) == p for p in points)


@given(spec=q_uniform_grid_spec())
def test_q_uniform_grid_matches_np_arange_except_noise_reaching_max(spec: ParamSpec) -> None:
    ours = [p["p"] for p in SearchSpace.from_params({"p": spec}).grid_points()]
    bounds: tuple[Any, Any, Any] = (spec.min, spec.max, spec.q_)  # ints stay ints
    theirs = np.arange(*bounds).tolist()
    if len(theirs) == len(ours) + 1:  # numpy's last value is max plus noise
        assert math.isclose(theirs[-1], spec.max, rel_tol=1e-9, abs_tol=1e-12)  # type: ignore[arg-type]
        theirs = theirs[:-1]
    assert len(ours) == len(theirs) == space_size({"p": spec})
    for a, b in zip(ours, theirs, strict=True):
        assert type(a) is type(b) and math.isclose(a, b, abs_tol=1e-9)
        assert a < spec.max


# ---- distributions that must agree ------------------------------------------------------------


@given(bounds=float_range(1e-8, 1e6))
def test_log_uniform_and_log_uniform_values_give_the_same_range(bounds: tuple) -> None:
    a, b = bounds
    assume(math.log(a) < math.log(b))
    exp = SearchSpace.from_params(
        {"p": P(distribution="log_uniform", min=math.log(a), max=math.log(b))}
    )
    raw = SearchSpace.from_params({"p": P(distribution="log_uniform_values", min=a, max=b)})
    d1, d2 = exp.distributions()["p"], raw.distributions()["p"]
    assert isinstance(d1, optuna.distributions.FloatDistribution)
    assert isinstance(d2, optuna.distributions.FloatDistribution)
    assert d1.log and d2.log
    assert math.isclose(d1.low, d2.low, rel_tol=1e-12) and math.isclose(
        d1.high, d2.high, rel_tol=1e-12
    )
    for x in (d2.low, math.sqrt(d2.low * d2.high), d2.high):
        assert exp.to_values({"p": x}) == raw.to_values({"p": x}) == {"p": x}


# ---- probabilities ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "probabilities"),
    [
        (["a", "b"], [0.5, 0.5]),
        (["a", "b", "c"], [0.1, 0.3, 0.6]),
        ([1, 2, 3, 4], [0.05, 0.0, 0.9, 0.05]),
        ([[1], {"k": 1}, None], [0.2, 0.2, 0.6]),
    ],
)
def test_weighted_sampling_matches_the_probabilities(values: list, probabilities: list) -> None:
    space = SearchSpace.from_params({"p": P(values=values, probabilities=probabilities)})
    rng = random.Random(1234)
    n = 20_000
    counts = Counter(strict_key(space.to_values({"p": rng.random()})["p"]) for _ in range(n))
    observed = [counts[strict_key(v)] for v, p in zip(values, probabilities, strict=True) if p > 0]
    expected = [p * n for p in probabilities if p > 0]
    assert sum(observed) == n  # a zero-probability value never comes out
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_weighted_and_duplicate_categorical_shares_through_optuna_random_sampler() -> None:
    space = SearchSpace.from_params(
        {"w": P(values=["x", "y"], probabilities=[0.2, 0.8]), "c": P(values=[1, 1, 2])}
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=7))
    counts: Counter = Counter()
    n = 1500
    for _ in range(n):
        trial = study.ask(space.distributions())
        v = space.to_values(trial.params)
        counts[("w", v["w"])] += 1
        counts[("c", v["c"])] += 1
        study.tell(trial, 0.0)
    assert stats.chisquare([counts["w", "x"], counts["w", "y"]], [0.2 * n, 0.8 * n]).pvalue > 1e-3
    assert stats.chisquare([counts["c", 1], counts["c", 2]], [2 / 3 * n, 1 / 3 * n]).pvalue > 1e-3


def test_q_uniform_max_with_float_noise_is_still_excluded() -> None:
    # hypothesis find: max = 2.06 + 2.0 = 4.0600000000000005 (noise) must exclude 4.06
    spec = P(distribution="q_uniform", min=2.06, max=2.06 + 2.0, q=1)
    assert [p["p"] for p in SearchSpace.from_params({"p": spec}).grid_points()] == [2.06, 3.06]
    assert space_size({"p": spec}) == 2
    exact = P(distribution="q_uniform", min=2.06, max=4.06, q=1)
    assert [p["p"] for p in SearchSpace.from_params({"p": exact}).grid_points()] == [2.06, 3.06]
