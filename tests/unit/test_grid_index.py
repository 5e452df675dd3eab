"""The i-th grid point (sweeprun/space/grid_index.py) is the i-th point of the materialised
W&B product, for every small grid; a grid too large to index is refused with its size.

The grid's queue in chunks (sweeprun/space/grid_queue.py) as the budget reads it, on a real
in-memory Optuna study: the agent popping a chunk's first point queues the chunk two further
on; a drained queue with points still to queue pauses the grid instead of ending it; a re-run
copy of a chunk's first point queues nothing twice."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import optuna
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from sweeprun.config.load import parse_config
from sweeprun.config.parameters import ParamSpec
from sweeprun.run.budget import Budget
from sweeprun.space.distributions import SearchSpace
from sweeprun.space.grid import SpaceError, flatten, grid_values, nest, q_uniform_grid
from sweeprun.space.grid_index import MAX_GRID_POINTS, Grid, QAxis, grid_refusal
from sweeprun.space.grid_queue import CHUNK_ATTR, GRID_INDEX, queue_ahead, queue_first


def product(specs: dict[str, ParamSpec]) -> list[dict[str, Any]]:
    """The reference: every axis materialised, ``itertools.product`` in W&B order."""
    names = list(specs)
    axes = [grid_values(name, spec) for name, spec in specs.items()]
    return [nest(dict(zip(names, combo, strict=True))) for combo in itertools.product(*axes)]


def P(**kw: Any) -> ParamSpec:
    return ParamSpec.model_validate(kw)


scalars = st.one_of(
    st.integers(-5, 5),
    st.floats(-3, 3, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from(["a", "b", "", True, False, None]),
    st.lists(st.integers(0, 2), max_size=2),
)


@st.composite
def leaf(draw: st.DrawFn) -> ParamSpec:
    kind = draw(st.sampled_from(["constant", "categorical", "int", "q_int", "q_float"]))
    if kind == "constant":
        return P(value=draw(scalars))
    if kind == "categorical":
        return P(values=draw(st.lists(scalars, min_size=1, max_size=4)))
    lo = draw(st.integers(-20, 20))
    if kind == "int":
        return P(min=lo, max=lo + draw(st.integers(1, 6)))
    if kind == "q_int":
        return P(distribution="q_uniform", min=lo, max=lo + draw(st.integers(1, 9)), q=2)
    q = draw(st.sampled_from([0.1, 0.25, 0.3, 1.5, 0.05]))
    span = draw(st.sampled_from([0.3, 0.7, 1.0, 2.5]))
    return P(distribution="q_uniform", min=lo / 10, max=lo / 10 + span, q=q)


names = st.builds(lambda a, b: a + b, st.sampled_from("abxyz_"), st.text("abz-._", max_size=2))


@st.composite
def parameters(draw: st.DrawFn) -> dict[str, ParamSpec]:
    out: dict[str, ParamSpec] = {}
    for name in draw(st.lists(names, min_size=1, max_size=4, unique=True)):
        if draw(st.booleans()) and not out.get(name):
            inner = draw(st.dictionaries(names, leaf(), min_size=1, max_size=2))
            out[name] = P(
                parameters={k: v.model_dump(exclude_unset=True) for k, v in inner.items()}
            )
        else:
            out[name] = draw(leaf())
    return out


@settings(max_examples=200, deadline=None)
@given(parameters())
def test_point_by_index_is_the_materialised_product(params: dict[str, ParamSpec]) -> None:
    specs = flatten(params)
    # Up to eight axes of up to 51 values each: the reference list would not fit in memory
    # (a CI worker was killed building one); Grid.size is checked against the product anyway.
    sizes = [len(grid_values(name, spec)) for name, spec in specs.items()]
    assert Grid(specs).size == math.prod(sizes)
    assume(math.prod(sizes) <= 20_000)
    expected = product(specs)
    grid = Grid(specs)
    assert grid.size == len(expected)
    assert [grid.point(i) for i in range(grid.size)] == expected
    assert list(grid.points()) == expected
    assert list(grid.points(1, 4)) == expected[1:4]
    for bad in (-1, grid.size):
        with pytest.raises(IndexError):
            grid.point(bad)


@given(
    st.integers(-50, 50).map(lambda x: x / 10),
    st.sampled_from([0.1, 0.2, 0.25, 0.3, 0.05, 1.5, 0.001]),
    st.integers(1, 400),
)
def test_q_uniform_axis_equals_the_materialised_values(lo: float, q: float, steps: int) -> None:
    hi = lo + steps * q / 3
    axis = QAxis(lo, hi, q)
    assert list(axis) == q_uniform_grid(lo, hi, q)
    assert len(axis) == len(q_uniform_grid(lo, hi, q))


def test_w_and_b_order_of_a_huge_grid_without_building_it() -> None:
    params = {"b": P(min=0, max=1000), "a": P(min=0, max=100_000_000), "c": P(values=["x"])}
    grid = Grid(flatten(params))
    assert grid.size == 100_000_001 * 1001
    assert [grid.point(i) for i in range(3)] == [
        {"a": 0, "b": 0, "c": "x"},
        {"a": 0, "b": 1, "c": "x"},
        {"a": 0, "b": 2, "c": "x"},
    ]
    assert grid.point(1001) == {"a": 1, "b": 0, "c": "x"}
    assert grid.point(grid.size - 1) == {"a": 100_000_000, "b": 1000, "c": "x"}
    space = SearchSpace.from_params(params)
    assert space.to_values(space.from_values(grid.point(12345))) == grid.point(12345)


def test_a_grid_beyond_two_to_the_63_is_refused_with_its_size() -> None:
    fits = {"a": P(min=1, max=MAX_GRID_POINTS)}  # exactly 2**63 - 1 points
    assert grid_refusal(fits) is None
    assert Grid(flatten(fits)).check().point(MAX_GRID_POINTS - 1) == {"a": MAX_GRID_POINTS}
    over = {"a": P(min=0, max=MAX_GRID_POINTS)}  # 2**63
    why = grid_refusal(over)
    assert why is not None and str(2**63) in why and "2**63 - 1" in why
    with pytest.raises(SpaceError, match=str(2**63)):
        Grid(flatten(over)).check()
    assert grid_refusal({"a": P(min=0.0, max=1.0)}) is None  # continuous: another check's job


@pytest.mark.parametrize(
    ("spec", "sampled", "rounded"),
    [
        ({"min": 1, "max": 200_000_001, "q": 2}, 15.01, 16),  # ints, all off the lattice of 2
        ({"min": 0.05, "max": 3_000_000.05, "q": 0.1}, 0.76, 0.8),  # off the lattice of 0.1
        ({"min": 0.0, "max": 3_000_000.0, "q": 0.3}, 2.11, 2.1),  # on the lattice
    ],
)
def test_points_of_a_huge_q_uniform_grid_round_trip_through_optuna(
    spec: dict[str, Any], sampled: float, rounded: float
) -> None:
    space = SearchSpace.from_params({"p": P(distribution="q_uniform", **spec)})
    grid = Grid(space.specs)
    assert grid.size > 1_000_000  # past the 100,000 values the space used to keep a table of
    for i in [0, 1, 2, grid.size // 2, grid.size - 2, grid.size - 1]:
        point = grid.point(i)
        assert space.to_values(space.from_values(point)) == point
    # a param a sampler drew (no grid point's key) is rounded as W&B rounds it
    assert space.to_values({"p": sampled}) == {"p": rounded}


# ---- the queue in chunks ------------------------------------------------------------------
CHUNK = 4
SIZE = 22


def grid_sweep() -> tuple[optuna.Study, Budget]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = parse_config(
        {"program": "t.py", "method": "grid", "parameters": {"a": {"min": 0, "max": SIZE - 1}}}
    )
    space = SearchSpace.from_params(cfg.parameters)
    study = optuna.create_study()
    study.set_user_attr(CHUNK_ATTR, CHUNK)
    assert queue_first(study, space, chunk=CHUNK) == 2 * CHUNK
    return study, Budget(study, cfg, cap=None, space=space)


def indexes(study: optuna.Study, *states: TrialState) -> list[int]:
    return [t.user_attrs[GRID_INDEX] for t in study.get_trials(states=states or None)]


def test_a_drained_queue_with_points_left_pauses_until_the_chunk_is_queued() -> None:
    study, budget = grid_sweep()
    opener = study.ask()  # popped point 0; its agent has not queued the next chunk yet
    assert opener.user_attrs[GRID_INDEX] == 0
    for _ in range(2 * CHUNK - 1):  # the other agents run the rest of the queue
        t = study.ask()
        study.tell(t, 0.0)
    budget.refresh()
    assert budget.exhausted(local_running=0) == "waiting for the next grid points to be queued"
    assert budget.others_in_flight(0)  # the opener's agent is running: wait for it
    assert budget.admit(opener)  # it queues points 8..11
    assert sorted(indexes(study, TrialState.WAITING)) == [8, 9, 10, 11]
    assert budget.exhausted(local_running=1) is None


def test_every_point_is_queued_once_and_the_grid_then_ends() -> None:
    study, budget = grid_sweep()
    ran: list[int] = []
    while budget.exhausted(local_running=0) is None:
        t = study.ask()
        assert budget.admit(t)
        budget.launched(t.user_attrs[GRID_INDEX])
        ran.append(t.user_attrs[GRID_INDEX])
        if ran.count(4) == 1 and ran[-1] == 4:  # its agent dies: the copy queues nothing twice
            study.tell(t, state=TrialState.FAIL)
            study.enqueue_trial(t.params, user_attrs={GRID_INDEX: 4})
            budget.finished(4, counted=False, state="FAIL")
            continue
        study.tell(t, 0.0)
        budget.finished(ran[-1], counted=True, state="COMPLETE")
    assert budget.exhausted(local_running=0) == "grid exhausted: every point has run"
    assert ran[: 2 * CHUNK] == list(range(2 * CHUNK))  # W&B order
    assert Counter(ran) == {**dict.fromkeys(range(SIZE), 1), 4: 2}
    assert Counter(indexes(study, TrialState.COMPLETE)) == dict.fromkeys(range(SIZE), 1)
    space = budget.space
    assert budget.grid_of is not None
    assert queue_ahead(study, space, budget.grid_of, CHUNK, 4) == 0  # all there already
