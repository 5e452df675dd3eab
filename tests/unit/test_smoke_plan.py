"""The smoke planner: interesting values per distribution, covering arrays, limits (pure)."""

from __future__ import annotations

import itertools
import math
from typing import Any

import optuna
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sweeprun.config.parameters import ParamSpec
from sweeprun.smoke.plan import (
    BASELINE,
    EXTREMES,
    axes_of,
    covering_rows,
    pairs_of,
    pairwise_rows,
    plan_smoke,
)
from sweeprun.space.distributions import SearchSpace, flatten
from sweeprun.space.grid import strict_key

optuna.logging.set_verbosity(optuna.logging.WARNING)


def P(**kw: Any) -> ParamSpec:
    return ParamSpec.model_validate(kw)


def values_of(name: str, **kw: Any) -> tuple[Any, ...]:
    (axis,) = axes_of({name: P(**kw)})
    return axis.values


# ---- interesting values per distribution ------------------------------------------------------


def test_ranges_give_min_and_max() -> None:
    assert values_of("n", min=1, max=64) == (1, 64)
    assert values_of("x", min=0.001, max=0.1) == (0.001, 0.1)
    assert values_of("x", distribution="log_uniform_values", min=1e-5, max=1e-2) == (1e-5, 1e-2)
    assert values_of("x", distribution="inv_log_uniform_values", min=2, max=8) == (2, 8)


def test_log_uniform_takes_exponents_of_e() -> None:
    lo, hi = values_of("x", distribution="log_uniform", min=-5, max=0)
    assert lo == pytest.approx(math.exp(-5)) and hi == pytest.approx(1.0)
    lo, hi = values_of("x", distribution="inv_log_uniform", min=0, max=3)
    assert lo == pytest.approx(math.exp(-3)) and hi == pytest.approx(1.0)


def test_quantized_ranges_give_extreme_lattice_values_inside() -> None:
    assert values_of("x", distribution="q_uniform", min=1, max=10, q=2) == (2, 10)
    assert values_of("x", distribution="q_uniform", min=0.05, max=0.95, q=0.1) == (0.1, 0.9)
    assert values_of("x", distribution="q_log_uniform_values", min=3, max=1000, q=10) == (10, 1000)


def test_normal_is_mu_plus_minus_two_sigma() -> None:
    assert values_of("x", distribution="normal", mu=1, sigma=0.5) == (0.0, 2.0)
    assert values_of("x", distribution="q_normal", mu=10, sigma=3, q=1) == (4.0, 16.0)
    lo, hi = values_of("x", distribution="log_normal", mu=0, sigma=1)
    assert (lo, hi) == (pytest.approx(math.exp(-2)), pytest.approx(math.exp(2)))


def test_beta_gives_tail_quantiles() -> None:
    from scipy import stats

    lo, hi = values_of("x", distribution="beta", a=2, b=5)
    assert stats.beta(2, 5).cdf(lo) == pytest.approx(0.02275, abs=1e-4)
    assert stats.beta(2, 5).cdf(hi) == pytest.approx(0.97725, abs=1e-4)


def test_categoricals_give_every_value_and_constants_nothing() -> None:
    assert values_of("o", values=["sgd", "adam", "lion"]) == ("sgd", "adam", "lion")
    assert values_of("o", values=["a", "b", "c"], probabilities=[0.5, 0, 0.5]) == ("a", "c")
    assert axes_of({"c": P(value=3)}) == []


# ---- covering arrays --------------------------------------------------------------------------


def test_strength_one_needs_the_largest_parameter_not_the_product() -> None:
    rows = covering_rows([2, 2, 5, 3])
    assert len(rows) == 5
    assert rows[0] == (0, 0, 0, 0)  # every low end
    assert rows[1] == (1, 1, 4, 2)  # every high end (a categorical's last value)
    for p, size in enumerate([2, 2, 5, 3]):
        assert {r[p] for r in rows} == set(range(size))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 5), min_size=0, max_size=7))
@example([2, 3, 3, 3, 3, 3, 3])  # one greedy pass made 20 rows here
def test_pairwise_rows_cover_every_pair(sizes: list[int]) -> None:
    start = covering_rows(sizes)
    rows = start + pairwise_rows(sizes, start)
    covered = set().union(*(pairs_of(r) for r in rows)) if rows else set()
    for i, j in itertools.combinations(range(len(sizes)), 2):
        for a, b in itertools.product(range(sizes[i]), range(sizes[j])):
            assert (i, a, j, b) in covered
    for r in rows:
        assert all(0 <= v < s for v, s in zip(r, sizes, strict=True))
    if len(sizes) >= 2:  # greedy, but never absurd: within 2x of the product of the two largest
        two = sorted(sizes)[-2:]
        assert len(rows) <= max(len(start), 2 * two[0] * two[1])


# ---- plans ------------------------------------------------------------------------------------

SPACE = {
    "lr": P(distribution="log_uniform_values", min=1e-5, max=1e-1),
    "batch_size": P(min=1, max=64),
    "optimizer": P(parameters={"name": P(values=["sgd", "adam", "lion"]), "beta": P(value=0.9)}),
    "dropout": P(min=0.0, max=0.5),
}


def flat_values(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(flat_values(v, f"{prefix}{k}/"))
        else:
            out[prefix + k] = v
    return out


def test_plan_covers_every_value_and_pair_and_enqueues() -> None:
    plan = plan_smoke(SPACE, [{"lr": 1e-3}], 32)
    assert plan.pairwise and not plan.truncated
    assert plan.cases[0].kind == plan.cases[1].kind == EXTREMES
    assert plan.cases[2].kind == BASELINE and plan.cases[2].values == {"lr": 1e-3}
    assert plan.needed == 4  # lows, highs, baseline, the third optimizer
    rows = [flat_values(c.values) for c in plan.cases if c.kind != BASELINE]
    assert rows[0] == {"batch_size": 1, "dropout": 0.0, "lr": 1e-5, "optimizer/name": "sgd"}
    assert rows[1] == {"batch_size": 64, "dropout": 0.5, "lr": 1e-1, "optimizer/name": "lion"}
    for axis in plan.axes:
        for a in axis.values:
            assert any(r[axis.name] == a for r in rows)
    for x, y in itertools.combinations(plan.axes, 2):
        for a, b in itertools.product(x.values, y.values):
            assert any(r[x.name] == a and r[y.name] == b for r in rows), (x.name, a, y.name, b)
    space = SearchSpace.from_params(SPACE)
    for case in plan.cases:  # each one round-trips to the values the program will get
        params = space.from_values(case.values)
        got = flat_values(space.complete_values(case.values))
        assert got == {**flat_values(case.values), "optimizer/beta": 0.9}
        assert set(params) <= set(space.distributions())


def test_plan_without_room_for_pairs_keeps_strength_one() -> None:
    plan = plan_smoke(SPACE, [], 4)
    assert len(plan.cases) == 3 and not plan.pairwise and not plan.truncated
    assert plan.pairwise_needed is not None and plan.pairwise_needed > 4


def test_plan_over_the_limit_keeps_extremes_first() -> None:
    space = {"x": P(min=0, max=1), "c": P(values=list(range(40)))}
    plan = plan_smoke(space, [{"x": 0.5}], 10)
    assert plan.truncated and plan.needed == 41 and len(plan.cases) == 10
    assert [c.kind for c in plan.cases[:3]] == [EXTREMES, EXTREMES, BASELINE]
    assert plan.cases[0].values == {"c": 0, "x": 0}
    assert plan.cases[1].values == {"c": 39, "x": 1}


def test_plan_of_constants_only_is_one_case() -> None:
    plan = plan_smoke({"a": P(value=1)}, [], 5)
    assert [c.values for c in plan.cases] == [{}]


def test_duplicate_baseline_runs_once() -> None:
    plan = plan_smoke({"x": P(values=[1, 2])}, [{"x": 1}], 5)
    assert [c.values for c in plan.cases] == [{"x": 1}, {"x": 2}]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d", "e"]),
        st.one_of(
            st.integers(1, 6).map(lambda n: P(values=list(range(n)))),
            st.just(P(min=0.0, max=1.0)),
            st.just(P(min=-3, max=3)),
            st.just(P(value="k")),
        ),
        min_size=1,
    ),
    st.integers(1, 40),
)
def test_plan_respects_the_limit_and_covers_when_it_can(
    params: dict[str, ParamSpec], limit: int
) -> None:
    plan = plan_smoke(params, [], limit)
    assert 1 <= len(plan.cases) <= limit
    assert len({strict_key(c.values) for c in plan.cases}) == len(plan.cases)
    assert plan.needed == max([len(a.values) for a in plan.axes], default=1)
    if not plan.truncated:
        for axis in plan.axes:
            seen = {strict_key(flat_values(c.values)[axis.name]) for c in plan.cases}
            assert seen == {strict_key(v) for v in axis.values}
    space = SearchSpace.from_params(params)
    for case in plan.cases:
        space.from_values(case.values)
    assert set(flatten(params)) >= {a.name for a in plan.axes}


# ---- why not random sampling? -----------------------------------------------------------------

EDGE_SPACE = {
    "lr": P(min=0.001, max=0.1),
    "batch_size": P(min=1, max=64),
    "optimizer": P(values=["sgd", "adam"]),
}


def test_smoke_hits_an_extreme_that_random_sampling_of_the_same_count_misses() -> None:
    """A program that breaks only at batch_size=64 (the top of 1..64): every smoke plan runs
    it; random sampling of the same number of trials finds it with probability
    1 - (63/64)^n, about 7% for the 5 smoke configurations."""
    plan = plan_smoke(EDGE_SPACE, [], 32)
    n = len(plan.cases)
    assert any(c.values["batch_size"] == 64 for c in plan.cases)
    analytic = 1 - (63 / 64) ** n
    assert analytic < 0.1
    space = SearchSpace.from_params(EDGE_SPACE)
    hits = 0
    seeds = 200
    for seed in range(seeds):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        found = False
        for _ in range(n):
            trial = study.ask(space.distributions())
            found |= space.to_values(trial.params)["batch_size"] == 64
            study.tell(trial, 0.0)
        hits += found
    assert hits / seeds < 0.15  # ~7%: random sampling usually misses it
