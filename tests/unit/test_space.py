"""sweeprun.space.distributions against hand-computed W&B cases, and through a real Optuna study."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import numpy as np
import optuna
import pytest
from scipy import stats

from sweeprun.config.parameters import ParamSpec
from sweeprun.errors import SweepError
from sweeprun.space.distributions import SearchSpace, SpaceError, flatten, nest, space_size

optuna.logging.set_verbosity(optuna.logging.WARNING)


def P(**kw: Any) -> ParamSpec:
    return ParamSpec.model_validate(kw)


def one(spec: ParamSpec) -> SearchSpace:
    return SearchSpace.from_params({"p": spec})


# ---- names and order ------------------------------------------------------------------------


def test_flatten_uses_w_and_b_order_sorted_at_every_level() -> None:
    params = {
        "b": P(value=1),
        "a-x": P(value=2),
        "a": P(parameters={"z": P(value=3), "c": P(parameters={"d": P(value=4)})}),
    }
    # W&B sorts each level ("a" < "a-x"), although "a-x" < "a/c/d" as flat strings
    assert list(flatten(params)) == ["a/c/d", "a/z", "a-x", "b"]


def test_nest_builds_nested_dicts_and_refuses_clashes() -> None:
    assert nest({"a/b": 1, "a/c/d": 2, "e": 3}) == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    with pytest.raises(ValueError, match="conflicts"):
        nest({"a": 1, "a/b": 2})
    with pytest.raises(ValueError, match="conflicts"):
        nest({"a/b": 2, "a": 1})


def test_flatten_refuses_a_slash_in_a_name() -> None:
    with pytest.raises(SpaceError, match="contains '/'"):
        flatten({"a/b": P(value=1)})


# ---- sizes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "size"),
    [
        (P(value=[1, 2]), 1),
        (P(values=["a", "b", "c"]), 3),
        (P(values=[1, 1.0, 2]), 2),  # W&B's grid counts 1 and 1.0 once
        (P(values=[1, True]), 2),
        (P(values=["a", "b", "c"], probabilities=[0.5, 0.0, 0.5]), 2),
        (P(min=1, max=3), 3),
        (P(distribution="q_uniform", min=0, max=10, q=3), 4),
        (P(distribution="q_uniform", min=0, max=1, q=0.1), 10),
        (P(distribution="q_uniform", min=0, max=10), 10),
        (P(min=0.0, max=1.0), None),
        (P(distribution="q_log_uniform_values", min=1, max=100, q=1), None),
        (P(distribution="normal", sigma=0), None),
    ],
)
def test_space_size_of_one_parameter(spec: ParamSpec, size: int | None) -> None:
    assert space_size({"p": spec}) == size
    assert one(spec).size == size


def test_space_size_multiplies_across_nested_parameters() -> None:
    params = {"a": P(values=[1, 2]), "n": P(parameters={"b": P(min=1, max=5), "c": P(value=0)})}
    assert space_size(params) == 10
    assert space_size({**params, "lr": P(min=0.1, max=1.0)}) is None


def test_importing_space_and_sizing_needs_neither_optuna_nor_numpy() -> None:
    code = (
        "import sys\n"
        "from sweeprun.config.parameters import ParamSpec\n"
        "from sweeprun.space.distributions import space_size, SearchSpace\n"
        "p = {'a': ParamSpec(values=[1, 2]), 'b': ParamSpec(min=0, max=3)}\n"
        "assert space_size(p) == 8\n"
        "SearchSpace.from_params(p)\n"
        "print(sorted(m for m in ('optuna', 'numpy', 'scipy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---- the grid ------------------------------------------------------------------------------


def test_q_uniform_grid_excludes_max_and_keeps_ints() -> None:
    assert one(P(distribution="q_uniform", min=0, max=10, q=3)).grid_points() == [
        {"p": 0},
        {"p": 3},
        {"p": 6},
        {"p": 9},
    ]
    values = [g["p"] for g in one(P(distribution="q_uniform", min=0, max=10)).grid_points()]
    assert values == [float(i) for i in range(10)] and all(isinstance(v, float) for v in values)


def test_q_uniform_grid_has_no_float_noise() -> None:
    values = [g["p"] for g in one(P(distribution="q_uniform", min=0, max=1, q=0.1)).grid_points()]
    assert values == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    # W&B's own grid test: np.arange(-9.211, 23.23, 2.341), here without the noise
    spec = P(distribution="q_uniform", min=-9.211, max=23.23, q=2.341)
    values = [g["p"] for g in one(spec).grid_points()]
    expected = np.arange(-9.211, 23.23, 2.341).tolist()
    assert len(values) == len(expected) == 14
    assert values == [round(v, 3) for v in expected]
    assert values[3] == -2.188 and values[4] == 0.153


def test_int_uniform_grid_is_inclusive() -> None:
    assert one(P(min=1, max=3)).grid_points() == [{"p": 1}, {"p": 2}, {"p": 3}]
    assert [g["p"] for g in one(P(min=-52, max=10)).grid_points()] == list(range(-52, 11))


def test_nested_grid_is_a_product_in_w_and_b_order_last_fastest() -> None:
    params = {
        "b": P(values=[1, 2]),
        "a": P(parameters={"y": P(value="k"), "x": P(values=[True, False])}),
        "c": P(distribution="q_uniform", min=0, max=2, q=1),
    }
    points = SearchSpace.from_params(params).grid_points()
    flat = [(p["a"]["x"], p["b"], p["c"]) for p in points]
    assert flat == [
        (True, 1, 0.0),
        (True, 1, 1.0),
        (True, 2, 0.0),
        (True, 2, 1.0),
        (False, 1, 0.0),
        (False, 1, 1.0),
        (False, 2, 0.0),
        (False, 2, 1.0),
    ]
    assert all(p["a"]["y"] == "k" for p in points)


def test_grid_deduplicates_values_like_w_and_b() -> None:
    assert one(P(values=[1, 1.0, 2, 1])).grid_points() == [{"p": 1}, {"p": 2}]
    assert one(P(values=[1, True])).grid_points() == [{"p": 1}, {"p": True}]


def test_grid_point_values_are_fresh_copies() -> None:
    space = SearchSpace.from_params({"p": P(values=[[1, 2]]), "c": P(value={"k": [1]})})
    first, second = space.grid_points()[0], space.grid_points()[0]
    first["p"].append(3)
    first["c"]["k"].append(2)
    assert second == {"p": [1, 2], "c": {"k": [1]}}


@pytest.mark.parametrize("dist", ["uniform", "log_uniform_values", "normal", "beta"])
def test_grid_refuses_a_continuous_parameter_by_name(dist: str) -> None:
    spec = P(distribution=dist, min=0.1, max=1.0) if "uniform" in dist else P(distribution=dist)
    space = SearchSpace.from_params({"ok": P(values=[1]), "deep": P(parameters={"x": spec})})
    with pytest.raises(SpaceError, match=rf"parameter 'deep/x' has distribution '{dist}'"):
        space.grid_points()


def test_grid_refuses_probabilities() -> None:
    with pytest.raises(SpaceError, match=r"'probabilities' cannot apply.*remove 'probabilities'"):
        one(P(values=[1, 2], probabilities=[0.5, 0.5])).grid_points()


# ---- the Optuna dimension of each distribution --------------------------------------------


def dist_of(spec: ParamSpec) -> Any:
    return one(spec).distributions()["p"]


def test_distributions_leave_constants_out() -> None:
    space = SearchSpace.from_params({"c": P(value=3), "s": P(distribution="normal", sigma=0)})
    assert space.distributions() == {}
    assert space.to_values({}) == {"c": 3, "s": 0.0}


def test_int_and_uniform_dimensions() -> None:
    assert dist_of(P(min=1, max=3)) == optuna.distributions.IntDistribution(1, 3)
    assert dist_of(P(min=0, max=2.5)) == optuna.distributions.FloatDistribution(0, 2.5)


def test_log_uniform_bounds_are_exponents_of_e() -> None:
    d = dist_of(P(distribution="log_uniform", min=math.log(1e-4), max=0))
    assert d.log and math.isclose(d.low, 1e-4) and d.high == 1.0
    d = dist_of(P(distribution="log_uniform_values", min=1e-4, max=1))
    assert d.log and (d.low, d.high) == (1e-4, 1.0)


def test_inv_log_uniform_is_log_uniform_on_exp_minus_max_to_exp_minus_min() -> None:
    lo, hi = 0.5, 3.0
    d = dist_of(P(distribution="inv_log_uniform", min=lo, max=hi))
    assert d.log and math.isclose(d.low, math.exp(-hi)) and math.isclose(d.high, math.exp(-lo))
    # W&B's ppf: exp(-uniform.ppf(1 - x, min, max - min)); a log-uniform quantile x gives the same
    for x in (0.0, 0.1, 0.5, 0.9, 1.0):
        wandb = math.exp(-stats.uniform.ppf(1 - x, lo, hi - lo))
        ours = math.exp(math.log(d.low) + x * (math.log(d.high) - math.log(d.low)))
        assert math.isclose(ours, wandb, rel_tol=1e-12)
    d = dist_of(P(distribution="inv_log_uniform_values", min=0.01, max=0.1))
    assert d.log and (d.low, d.high) == (0.01, 0.1)


def test_log_uniform_bounds_out_of_float_range_name_the_fix() -> None:
    with pytest.raises(SpaceError, match=r"parameter 'p'.*exponents of e.*'log_uniform_values'"):
        one(P(distribution="log_uniform", min=1, max=1000))


# ---- to_values: W&B's value for each kind of param ------------------------------------------


def value(spec: ParamSpec, x: Any) -> Any:
    return one(spec).to_values({"p": x})["p"]


def test_quantized_values_follow_w_and_b_rounding_and_int_rule() -> None:
    q_int = P(distribution="q_uniform", min=0, max=10, q=3)
    assert value(q_int, 4.4) == 3 and isinstance(value(q_int, 4.4), int)
    assert value(q_int, 4.6) == 6
    q_default = P(distribution="q_uniform", min=0, max=10)  # W&B's default q is 1.0, a float
    assert value(q_default, 2.5) == 2.0 and isinstance(value(q_default, 2.5), float)  # half-even
    assert value(q_default, 3.5) == 4.0
    q_tenth = P(distribution="q_uniform", min=0, max=1, q=0.1)
    assert value(q_tenth, 0.31) == 0.3 and value(q_tenth, 0.69) == 0.7
    assert repr(value(q_tenth, 0.01)) == "0.0"
    q_log = P(distribution="q_log_uniform_values", min=1, max=1000, q=5)
    assert value(q_log, 12.6) == 15 and isinstance(value(q_log, 12.6), int)
    q_log_e = P(distribution="q_log_uniform", min=0, max=math.log(100), q=0.5)
    assert value(q_log_e, 7.3) == 7.5


def test_hidden_quantile_distributions_match_scipy_ppf() -> None:
    for x in (1e-6, 0.01, 0.3, 0.5, 0.77, 1 - 1e-6):
        assert math.isclose(
            value(P(distribution="normal", mu=2, sigma=3), x),
            stats.norm.ppf(x, loc=2, scale=3),
            rel_tol=1e-9,
        )
        assert math.isclose(
            value(P(distribution="log_normal", mu=-1, sigma=0.5), x),
            stats.lognorm.ppf(x, s=0.5, scale=math.exp(-1)),
            rel_tol=1e-9,
        )
        assert math.isclose(
            value(P(distribution="beta", a=2, b=5), x), stats.beta.ppf(x, a=2, b=5), rel_tol=1e-9
        )
    q_normal = P(distribution="q_normal", mu=0, sigma=10, q=2)
    assert value(q_normal, 0.5) == 0 and isinstance(value(q_normal, 0.5), int)
    assert value(q_normal, 0.9) == round(stats.norm.ppf(0.9, scale=10) / 2) * 2
    assert value(P(distribution="q_beta", a=2, b=2, q=0.25), 0.5) == 0.5
    assert dist_of(P(distribution="normal")) == optuna.distributions.FloatDistribution(
        1e-6, 1 - 1e-6
    )


def test_zero_sigma_is_the_constant_mu() -> None:
    space = SearchSpace.from_params(
        {
            "n": P(distribution="normal", mu=3, sigma=0),
            "l": P(distribution="log_normal", mu=1, sigma=0),
            "q": P(distribution="q_normal", mu=3.4, sigma=0, q=1),
        }
    )
    assert space.to_values({}) == {"n": 3.0, "l": math.e, "q": 3}


def test_weighted_categorical_follows_the_cumulative_probabilities() -> None:
    spec = P(values=["a", "b", "c", "d"], probabilities=[0.2, 0.0, 0.5, 0.3])
    assert dist_of(spec) == optuna.distributions.FloatDistribution(0.0, 1.0)
    cases = {0.0: "a", 0.19: "a", 0.2: "c", 0.69: "c", 0.7: "d", 0.999: "d", 1.0: "d"}
    assert {u: value(spec, u) for u in cases} == cases


def test_categorical_choices_are_the_values_when_optuna_can_tell_them_apart() -> None:
    assert dist_of(P(values=[1, "a", None, 2.5, False])).choices == (1, "a", None, 2.5, False)
    # Optuna finds True when asked for 1, and 1 when asked for 1.0: JSON texts instead
    assert dist_of(P(values=[1, True])).choices == ("1", "true")
    assert dist_of(P(values=[[1, 2], {"k": "v"}])).choices == ("[1, 2]", '{"k": "v"}')
    # duplicates keep W&B's shares (1 is drawn twice as often): index labels
    assert dist_of(P(values=[1, 1, 2])).choices == ("0: 1", "1: 1", "2: 2")
    assert dist_of(P(values=[float("nan"), 1])).choices == ("0: NaN", "1: 1")


@pytest.mark.parametrize(
    "values",
    [[1, True], [1, 1.0], [[1, 2], {"k": "v"}, None], [1, 1, 2], ["x", float("inf")]],
)
def test_categorical_values_decode_to_the_listed_value_and_type(values: list[Any]) -> None:
    space = one(P(values=values))
    dist = space.distributions()["p"]
    assert isinstance(dist, optuna.distributions.CategoricalDistribution)
    for choice, listed in zip(dist.choices, values, strict=True):
        got = space.to_values({"p": choice})["p"]
        assert got == listed and type(got) is type(listed)


def test_to_values_nests_and_includes_constants() -> None:
    space = SearchSpace.from_params(
        {"opt": P(parameters={"lr": P(min=0.0, max=1.0), "name": P(value="adam")}), "e": P(value=3)}
    )
    assert space.flat_names == ("e", "opt/lr", "opt/name")
    assert space.to_values({"opt/lr": 0.25}) == {"e": 3, "opt": {"lr": 0.25, "name": "adam"}}


def test_to_values_names_a_missing_param() -> None:
    with pytest.raises(SpaceError, match="no value for parameter 'p'"):
        one(P(min=1, max=3)).to_values({"q": 1})


# ---- from_values ------------------------------------------------------------------------------


def test_from_values_inverts_each_transform() -> None:
    space = SearchSpace.from_params(
        {
            "c": P(values=["sgd", "adam"]),
            "lr": P(distribution="log_uniform", min=-10, max=0),
            "n": P(min=1, max=5),
            "k": P(value="fixed"),
            "q": P(distribution="q_uniform", min=0, max=1, q=0.1),
            "w": P(values=["x", "y"], probabilities=[0.25, 0.75]),
        }
    )
    params = space.from_values({"c": "adam", "lr": 0.001, "n": 4, "k": "fixed", "q": 0.3, "w": "y"})
    assert params == {"c": "adam", "lr": 0.001, "n": 4, "q": 0.3, "w": 0.625}
    assert space.to_values(params) == {
        "c": "adam", "lr": 0.001, "n": 4, "k": "fixed", "q": 0.3, "w": "y"
    }  # fmt: skip


def test_from_values_leaves_out_what_is_not_given_and_takes_flat_names() -> None:
    space = SearchSpace.from_params(
        {"opt": P(parameters={"lr": P(min=0.0, max=1.0)}), "b": P(min=1, max=3)}
    )
    assert space.from_values({}) == {}
    assert space.from_values({"opt/lr": 0.5}) == {"opt/lr": 0.5}
    assert space.from_values({"opt": {"lr": 0.5}}) == {"opt/lr": 0.5}


def test_from_values_accepts_numbers_written_as_text_and_integral_floats() -> None:
    space = SearchSpace.from_params({"lr": P(min=0.0, max=1.0), "n": P(min=1, max=5)})
    assert space.from_values({"lr": "1e-3", "n": 3.0}) == {"lr": 0.001, "n": 3}


def test_complete_values_normalises_a_partial_baseline_and_adds_constants() -> None:
    space = SearchSpace.from_params(
        {
            "opt": P(parameters={"lr": P(min=0.0, max=1.0), "name": P(value="adam")}),
            "n": P(min=1, max=5),
        }
    )
    assert space.complete_values({"opt": {"lr": "1e-3"}}) == {"opt": {"lr": 0.001, "name": "adam"}}
    with pytest.raises(SpaceError, match="outside"):
        space.complete_values({"n": 9})


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lrr": 0.1}, r"unknown parameter 'lrr': did you mean 'lr'\?"),
        ({"opt": {"momentun": 0.9}}, r"unknown parameter 'opt/momentun': did you mean 'momentum'"),
        ({"opt": 0.9}, r"'opt' holds nested parameters \(momentum\): give a mapping"),
        (
            {"lr": 2.0},
            r"parameter 'lr': 2.0 is outside its search space \(uniform over \[0.0, 1.0\]",
        ),
        ({"lr": True}, r"parameter 'lr' takes a number, got True"),
        ({"n": 6}, r"parameter 'n': 6 is outside .*integers 1 to 5"),
        ({"n": 2.5}, r"parameter 'n': 2.5 is outside .*: not an integer"),
        ({"q": 0.35}, r"parameter 'q': 0.35 is outside .*not a multiple of q=0.1"),
        ({"q": 1.5}, r"parameter 'q': 1.5 is outside .*uniform over \[0.0, 1.0\]"),
        ({"c": "rmsprop"}, r"parameter 'c': 'rmsprop' is outside .*one of \['sgd', 'adam'\]"),
        ({"c": 1}, r"parameter 'c': 1 is outside"),
        ({"k": "other"}, r"parameter 'k': 'other' is outside .*the constant 'fixed'"),
        ({"w": "z"}, r"parameter 'w': 'z' is outside"),
        ({"nd": 100.0}, r"parameter 'nd': 100.0 is outside .*normal between -4.75342 and 4.75342"),
        ({"ln": -1.0}, r"parameter 'ln': -1.0 is outside"),
    ],
)
def test_from_values_says_what_is_wrong(values: dict[str, Any], message: str) -> None:
    space = SearchSpace.from_params(
        {
            "lr": P(min=0.0, max=1.0),
            "n": P(min=1, max=5),
            "q": P(distribution="q_uniform", min=0, max=1, q=0.1),
            "c": P(values=["sgd", "adam"]),
            "k": P(value="fixed"),
            "w": P(values=["x", "y", "z"], probabilities=[0.5, 0.5, 0.0]),
            "nd": P(distribution="normal"),
            "ln": P(distribution="log_normal"),
            "opt": P(parameters={"momentum": P(min=0.0, max=1.0)}),
        }
    )
    with pytest.raises(SpaceError, match=message):
        space.from_values(values)
    assert issubclass(SpaceError, SweepError) and issubclass(SpaceError, ValueError)


def test_constants_accept_w_and_b_equal_values() -> None:
    space = SearchSpace.from_params({"k": P(value=3)})
    assert space.from_values({"k": 3.0}) == {}
    with pytest.raises(SpaceError):
        space.from_values({"k": True})


def test_beta_without_scipy_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy", None)
    with pytest.raises(
        SweepError, match=r"parameter 'p' uses a beta distribution.*pip install scipy"
    ):
        one(P(distribution="beta"))


# ---- through a real Optuna study --------------------------------------------------------


def run_enqueued(space: SearchSpace, points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Enqueue each point as the integrator does, ask with the fixed space, decode."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for point in points:
        study.enqueue_trial(space.from_values(point))
    got = []
    for _ in points:
        trial = study.ask(space.distributions())
        got.append(space.to_values(trial.params))
        study.tell(trial, 0.0)
    return got


def test_grid_points_survive_enqueue_and_ask_even_off_the_q_lattice() -> None:
    space = SearchSpace.from_params(
        {
            "odd": P(distribution="q_uniform", min=1, max=10, q=2),  # W&B grid 1, 3, 5, 7, 9
            "tenth": P(distribution="q_uniform", min=0.05, max=0.4, q=0.1),  # 0.05, 0.15, ...
            "c": P(values=[1, True, [1]]),
            "n": P(min=-1, max=1),
            "k": P(value="x"),
        }
    )
    points = space.grid_points()
    assert len(points) == 5 * 4 * 3 * 3 == space.size
    assert run_enqueued(space, points) == points
    # an off-lattice grid value is exact only there: elsewhere W&B's rounding applies
    assert space.to_values({"odd": 3.0001, "tenth": 0.1501, "c": "1", "n": 0})["odd"] == 4
    assert space.to_values({"odd": 1.0, "tenth": 0.05, "c": "1", "n": 0})["odd"] == 0  # half-even


def test_baseline_of_every_kind_survives_enqueue_and_ask() -> None:
    space = SearchSpace.from_params(
        {
            "lr": P(distribution="log_uniform_values", min=1e-5, max=1e-1),
            "inv": P(distribution="inv_log_uniform", min=0, max=5),
            "q": P(distribution="q_log_uniform_values", min=1, max=1024, q=1),
            "qn": P(distribution="q_normal", mu=10, sigma=5, q=1),
            "w": P(values=["a", "b"], probabilities=[0.1, 0.9]),
            "cat": P(values=[{"depth": 2}, {"depth": 4}]),
        }
    )
    point = {"lr": 0.003, "inv": 0.02, "q": 17, "qn": 12, "w": "a", "cat": {"depth": 4}}
    assert run_enqueued(space, [point]) == [point]
