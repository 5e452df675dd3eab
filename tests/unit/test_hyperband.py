"""W&B's hyperband early-terminate rule: the pure core and the Optuna pruner.

Expectations are worked out by hand from the scenarios of W&B's
``tests/test_hyperband_stopping.py`` (the arithmetic is in the comments).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Literal

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from sweeprun.search.hyperband import (
    MIN_ITER_BAND_COUNT,
    WandbHyperbandPruner,
    band_thresholds,
    bands,
    finite_history,
    should_stop,
    threshold_index,
)

optuna.logging.set_verbosity(optuna.logging.WARNING)

NAN = float("nan")
INF = float("inf")

# --------------------------------------------------------------------------- bands


def test_bands_from_min_iter_multiply_by_eta() -> None:
    b = bands(min_iter=3, eta=3)
    assert b[:4] == [3, 9, 27, 81]
    assert len(b) == MIN_ITER_BAND_COUNT == 100
    # float eta: 30, 45.0, 67.5, 101.25, 151.875 truncated
    assert bands(min_iter=30, eta=1.5)[:5] == [30, 45, 67, 101, 151]


def test_bands_from_max_iter_divide_by_eta_s_times() -> None:
    assert bands(max_iter=81, s=3, eta=3) == [3, 9, 27]
    assert bands(max_iter=18, s=2, eta=3) == [2, 6]
    assert bands(max_iter=5, s=2, eta=2) == [1, 2]  # 2.5, 1.25
    assert bands(max_iter=9, s=2, eta=3) == [1, 3]
    assert bands(max_iter=300, s=2, eta=3) == [33, 100]  # 100, 33.3
    assert bands(max_iter=9, s=5, eta=3) == [1, 3]  # 1/3 < 1 stops the division
    assert bands(max_iter=81, s=3.0, eta=3) == [3, 9, 27]
    # max_iter + s is checked first, so it wins over min_iter
    assert bands(min_iter=1, max_iter=18, s=2, eta=3) == [2, 6]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_iter": 3, "eta": 1}, "eta must be a number greater than 1"),
        ({"min_iter": 3, "eta": 0.5}, "eta must be a number greater than 1"),
        ({"eta": 3}, 'needs "max_iter" and "s", or "min_iter"'),
        ({"max_iter": 27, "eta": 3}, '"max_iter" needs "s"'),
        ({"max_iter": 27, "s": 2.5}, "s must be a whole number, got 2.5"),
        ({"max_iter": 27.5, "s": 2}, "max_iter must be an integer"),
        ({"min_iter": 0}, "min_iter must be an integer >= 1, got 0"),
        ({"min_iter": True}, "min_iter must be an integer >= 1"),
        ({"max_iter": 2, "s": 1, "eta": 3}, "gives no band"),
        ({"max_iter": 27, "s": 0, "eta": 3}, "gives no band"),
    ],
)
def test_bands_rejects_what_wandb_rejects(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        bands(**kwargs)  # type: ignore[arg-type]


def test_threshold_index_is_int_of_one_over_eta_times_n() -> None:
    assert threshold_index(5, 2) == 2
    assert threshold_index(5, 3) == 1
    assert threshold_index(3, 3) == 1
    assert threshold_index(1, 3) == 0
    # (1.0 / 1.1) * 33 = 30.000000000000004, whereas 33 / 1.1 = 29.999999999999996
    assert threshold_index(33, 1.1) == 30


def test_finite_history_drops_non_finite_and_negates_for_maximize() -> None:
    assert finite_history([1, NAN, 2.5, INF, -INF, "NaN", True, 3]) == [1.0, 2.5, 3.0]
    assert finite_history([1, NAN, 2], maximize=True) == [-1.0, -2.0]


def test_band_thresholds_over_every_run_that_reached_the_band() -> None:
    # W&B's 5-run scenario, bands [1, 2], eta 2: band 1 values all 10 -> sorted[int(2.5)] = 10;
    # band 2 values [9, 10, 8, 7, 6] -> [6, 7, 8, 9, 10][2] = 8; band 5 reached by nobody.
    hs = [[10, 9], [10, 10], [10, 8, 8], [10, 7, 7], [10, 6, 6]]
    assert band_thresholds(hs, [1, 2, 5], eta=2) == [10, 8, INF]


# --------------------------------------------------------------- pure decisions


def decide(
    runs: Sequence[tuple[bool, Sequence[float]]],
    b: Sequence[int],
    eta: float,
    strict: bool = True,
    maximize: bool = False,
) -> list[int]:
    """Indexes of the running runs W&B stops; ``runs`` are (running, history) pairs."""
    out = []
    for i, (running, hist) in enumerate(runs):
        others = [h for j, (_, h) in enumerate(runs) if j != i]
        if running and should_stop(hist, others, b, eta, strict, maximize):
            out.append(i)
    return out


FIVE_RUNS = [  # (running, history): W&B test_5runs_band1_stop_2
    (False, [10, 9]),
    (True, [10, 10]),
    (True, [10, 8, 8]),
    (True, [10, 7, 7]),
    (False, [10, 6, 6]),
]
FIVE_RUNS_1ST_NO_BAND = [  # W&B test_5runs_band1_stop_2_1stnoband
    (False, [10]),
    (True, [11]),
    (True, [10, 8, 8]),
    (True, [10, 7, 7]),
    (False, [10, 6, 6]),
]
ETA_3 = [  # W&B test_eta_3 (minimize)
    (False, [9, 8]),
    (True, [11, 11]),
    (True, [10, 8, 3]),
    (True, [10, 7, 4]),
    (True, [10, 6, 6]),
]
ETA_3_MAX = [  # W&B test_eta_3_max (maximize)
    (False, [-10, -9]),
    (True, [-11, -11]),
    (True, [-10, -8, -5, -3]),
    (True, [-10, -6, -2]),
    (True, [-10, -6, -6, -6]),
]
TWO_RUNS = [(True, [10] * 4), (True, [10 - i for i in range(10)])]


def test_two_runs_first_band() -> None:
    # bands [3, 9, ...]: run 0 (len 4) at band 3: values [10, 8] -> [8, 10][int(2/3)=0] = 8,
    # 10 > 8 stops it; run 1 (len 10) at band 9: only itself reached 9 -> threshold 2, 2 > 2 no.
    assert decide(TWO_RUNS, bands(min_iter=3, eta=3), eta=3) == [0]
    assert decide(TWO_RUNS, bands(max_iter=81, s=3, eta=3), eta=3) == [0]
    maxed = [(r, [20 - v for v in h]) for r, h in TWO_RUNS]  # 10 constant vs 10 + i rising
    assert decide(maxed, bands(min_iter=3, eta=3), eta=3, maximize=True) == [0]
    # bands [2, 6]: run 0 at band 2: [10, 9][0] = 9 -> stopped; run 1 alone at band 6.
    assert decide(TWO_RUNS, [2, 6], eta=3) == [0]


def test_single_run_is_never_stopped() -> None:
    assert decide([(True, [10 - i for i in range(10)])], [2, 6], eta=3, strict=False) == []
    assert decide([(True, [10 - i for i in range(10)])], [2, 6], eta=3, strict=True) == []


def test_strict_compares_value_at_band_not_best_so_far() -> None:
    # W&B test_2runs_band1_pass: bands [2, 6]; run 0 [10, 10, 6] at band 2: threshold
    # [10, 9][0] = 9. Not strict: min = 6 <= 9 passes. Strict: history[1] = 10 > 9 stops.
    runs = [(True, [10, 10, 6]), (True, [10 - i for i in range(10)])]
    assert decide(runs, [2, 6], eta=3, strict=False) == []
    assert decide(runs, [2, 6], eta=3, strict=True) == [0]


def test_finished_runs_count_but_are_not_stopped() -> None:
    # bands [1, 2]; thresholds 10 and 8 (see test_band_thresholds...). Run 1 at band 2:
    # 10 > 8 stops; run 2: 8 > 8 no; run 3: 7 no; runs 0 and 4 are finished.
    assert decide(FIVE_RUNS, [1, 2], eta=2) == [1]
    # band 1: [10, 11, 10, 10, 10] -> 10; band 2: [8, 7, 6] -> [6, 7, 8][int(1.5)=1] = 7.
    # run 1 (len 1): 11 > 10 stops; run 2: 8 > 7 stops; run 3: 7 > 7 no.
    assert decide(FIVE_RUNS_1ST_NO_BAND, [1, 2], eta=2) == [1, 2]
    assert decide(FIVE_RUNS_1ST_NO_BAND, [1, 2], eta=2, strict=False) == [1, 2]


def test_eta_3_non_strict() -> None:
    # bands [1, 3]. Band 1: [9, 11, 10, 10, 10] -> [9, 10, 10, 10, 11][int(5/3)=1] = 10.
    # Band 3: [3, 4, 6] -> index int(1.0) = 1 -> 4. min: run 1 11 > 10 stop; run 2 3, run 3 4
    # pass; run 4 6 > 4 stop.
    assert decide(ETA_3, bands(max_iter=9, s=2, eta=3), eta=3, strict=False) == [1, 4]
    # Negated: band 1 [10, 11, 10, 10, 10] -> 10; band 3 [5, 2, 6] -> [2, 5, 6][1] = 5;
    # run 1: 11 > 10 stop; run 2: min 3; run 3: min 2; run 4: min 6 > 5 stop.
    assert decide(ETA_3_MAX, [1, 3], eta=3, strict=False, maximize=True) == [1, 4]


def test_nan_values_do_not_count_as_iterations() -> None:
    # W&B test_hyperband_runs_with_nan_metrics: bands [33, 100]; the running run logged one
    # finite value and 56 NaNs, so it has reached no band.
    finished = [(False, [6.0 - i / 100 for i in range(60)]) for _ in range(2)]
    runs = [(True, [19.7] + [NAN] * 56), *finished]
    assert decide(runs, bands(max_iter=300, s=2, eta=3), eta=3) == []
    # ...whereas the same values without NaN would be judged at band 33 and stopped.
    assert decide([(True, [19.7] * 57), *finished], [33, 100], eta=3) == [0]


# ------------------------------------------------------------------ Optuna pruner


def play(
    pruner: WandbHyperbandPruner,
    runs: Sequence[tuple[bool, Sequence[float]]],
    step: Callable[[int], int] = lambda i: i,
    direction: Literal["minimize", "maximize"] = "minimize",
) -> list[int]:
    """Build the runs as trials (finished ones told COMPLETE/PRUNED alternately), then ask the
    pruner about every running one; return the indexes it prunes."""
    study = optuna.create_study(direction=direction, pruner=pruner)
    trials = []
    for _, hist in runs:
        t = study.ask()
        for i, v in enumerate(hist):
            t.report(v, step(i))
        trials.append(t)
    for n, ((running, hist), t) in enumerate(zip(runs, trials, strict=True)):
        if not running:
            if n % 2:
                study.tell(t, state=TrialState.PRUNED)
            else:
                study.tell(t, hist[-1])
    return [i for i, (running, _) in enumerate(runs) if running and trials[i].should_prune()]


STEPS = {
    "0..n": lambda i: i,
    "epochs 1..n": lambda i: i + 1,
    "every 10": lambda i: 10 * (i + 1),
    "sparse": lambda i: i * i + 7,
}


@pytest.mark.parametrize("step", STEPS.values(), ids=STEPS.keys())
def test_pruner_reproduces_wandb_scenarios(step: Callable[[int], int]) -> None:
    def p(**kw: object) -> WandbHyperbandPruner:
        return WandbHyperbandPruner(**kw)  # type: ignore[arg-type]

    assert play(p(max_iter=5, s=2, eta=2), FIVE_RUNS, step) == [1]
    assert play(p(max_iter=5, s=2, eta=2), FIVE_RUNS_1ST_NO_BAND, step) == [1, 2]
    assert play(p(max_iter=9, s=2, eta=3, strict=False), ETA_3, step) == [1, 4]
    assert play(
        p(max_iter=9, s=2, eta=3, strict=False, goal="maximize"), ETA_3_MAX, step, "maximize"
    ) == [1, 4]
    assert play(p(min_iter=3), TWO_RUNS, step) == [0]
    assert play(p(max_iter=18, s=2, eta=3), TWO_RUNS, step) == [0]
    two = [(True, [10, 10, 6]), (True, [10 - i for i in range(10)])]
    assert play(p(max_iter=18, s=2, eta=3, strict=False), two, step) == []
    assert play(p(max_iter=18, s=2, eta=3, strict=True), two, step) == [0]


def test_pruner_skips_non_finite_reports() -> None:
    finished = [(False, [6.0 - i / 100 for i in range(60)]) for _ in range(2)]
    pruner = WandbHyperbandPruner(max_iter=300, s=2, eta=3)
    assert play(pruner, [(True, [19.7, *[NAN, INF, -INF] * 18]), *finished]) == []
    assert play(pruner, [(True, [19.7] * 57), *finished]) == [0]


# Sequential study.optimize: curves by trial number, reported at steps 10, 20, ...
CURVES: list[list[float]] = [
    [5, 4, 3, 2, 1],
    [6, 5, 4, 3, 2],
    [1, 1, 1, 1, 1],
    [9, 8, 7, 6, 5],
    [3, NAN, 3, 3, 9],
]
# bands 2, 4 (min_iter=2, eta=2, or max_iter=8, s=2, eta=2), by hand:
# t0 alone: never stopped. t1: band 2 [4, 5][1] = 5, 5 > 5 no; band 4 [2, 3][1] = 3, no.
# t2 is best. t3 at its 2nd value: band 2 [4, 5, 1, 8] -> [1, 4, 5, 8][2] = 5, 8 > 5: pruned
# with 2 reports. t4: the NaN means its 2nd finite value comes with the 3rd report; band 2
# [1, 3, 4, 5, 8][2] = 4, 3 > 4 no; 4th finite value (5th report) reaches band 4:
# [2, 3, 1, 9] -> [1, 2, 3, 9][2] = 3; strict: 9 > 3 pruned; not strict: min 3 > 3 no.
FORMS = {"min_iter": {"min_iter": 2, "eta": 2}, "max_iter": {"max_iter": 8, "s": 2, "eta": 2}}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
@pytest.mark.parametrize("goal", ["minimize", "maximize"])
@pytest.mark.parametrize(
    ("strict", "expected"),
    [
        (True, [("COMPLETE", 5)] * 3 + [("PRUNED", 2), ("PRUNED", 5)]),
        (False, [("COMPLETE", 5)] * 3 + [("PRUNED", 2), ("COMPLETE", 5)]),
    ],
)
def test_pruner_in_study_optimize(
    form: dict[str, int],
    goal: Literal["minimize", "maximize"],
    strict: bool,
    expected: list[tuple[str, int]],
) -> None:
    sign = -1 if goal == "maximize" else 1
    pruner = WandbHyperbandPruner(strict=strict, goal=goal, **form)

    def objective(trial: optuna.Trial) -> float:
        curve = [sign * v for v in CURVES[trial.number]]
        for i, v in enumerate(curve):
            trial.report(v, 10 * (i + 1))
            if trial.should_prune():
                raise optuna.TrialPruned()
        return curve[-1]

    study = optuna.create_study(direction=goal, pruner=pruner)
    study.optimize(objective, n_trials=len(CURVES))
    got = [(t.state.name, len(t.intermediate_values)) for t in study.trials]
    assert got == expected


def test_pruner_sees_trials_finishing_between_calls() -> None:
    pruner = WandbHyperbandPruner(max_iter=5, s=2, eta=2)  # bands [1, 2]
    study = optuna.create_study(pruner=pruner)
    a, b = study.ask(), study.ask()
    a.report(5, 0)
    a.report(5, 1)
    b.report(5, 0)
    b.report(4, 1)
    # band 2: [4, 5][int(1.0)] = 5: neither is above it.
    assert not a.should_prune() and not b.should_prune()
    for v in (1, 2):  # two finished trials better at band 2, told between the calls
        t = study.ask()
        t.report(5, 0)
        t.report(v, 1)
        study.tell(t, v)
    # band 2: [1, 2, 4, 5][2] = 4: a (5) is stopped, b (4) is not.
    assert a.should_prune() and not b.should_prune()
    c = study.ask()
    c.report(0, 3)  # c has reached band 1 only: [0, 5, 5, 5, 5][2] = 5, 0 passes
    assert not c.should_prune()
    study.tell(a, state=TrialState.FAIL)  # a failed run still counts, as in W&B:
    assert not b.should_prune()  # without it, [1, 2, 4][1] = 2 would stop b


def test_pruner_sees_new_values_of_other_running_trials() -> None:
    pruner = WandbHyperbandPruner(max_iter=5, s=2, eta=2)  # bands [1, 2]
    study = optuna.create_study(pruner=pruner)
    x, y, z = study.ask(), study.ask(), study.ask()
    for t in (x, y, z):
        t.report(0, 0)
    assert not z.should_prune()  # band 1: all 0
    x.report(1, 1)
    y.report(5, 1)
    z.report(6, 1)
    # band 2: [1, 5, 6][int(1.5)] = 5 and 6 > 5; ignoring x's and y's second values,
    # z would be alone at band 2 and pass.
    assert z.should_prune()


def test_pruner_rejects_bad_arguments_and_is_picklable() -> None:
    import pickle

    with pytest.raises(ValueError, match=re.escape("metric.goal must be 'minimize' or 'maximize'")):
        WandbHyperbandPruner(min_iter=3, goal="max")
    with pytest.raises(ValueError, match="strict must be true or false"):
        WandbHyperbandPruner(min_iter=3, strict="yes")  # type: ignore[arg-type]
    p = WandbHyperbandPruner(max_iter=81, s=3)
    assert p.bands == [3, 9, 27]
    clone = pickle.loads(pickle.dumps(p))
    assert play(clone, TWO_RUNS) == [0]


# ------------------------------------------------------------------------ properties

values = st.one_of(
    st.floats(-100, 100, allow_nan=False),
    st.sampled_from([NAN, INF, -INF]),
)
histories = st.lists(values, max_size=12)
band_lists = st.lists(st.integers(1, 10), min_size=1, max_size=4)
etas = st.sampled_from([1.1, 1.5, 2, 3, 4.5])


@given(histories, st.lists(histories, max_size=6), band_lists, etas, st.booleans())
def test_goal_flip_is_negation(
    h: list[float], others: list[list[float]], b: list[int], eta: float, strict: bool
) -> None:
    neg = [[-v for v in o] for o in others]
    assert should_stop(h, others, b, eta, strict, False) == should_stop(
        [-v for v in h], neg, b, eta, strict, True
    )


@given(histories, st.lists(histories, max_size=6), band_lists, etas, st.booleans(), st.booleans())
def test_never_stopped_before_first_band(
    h: list[float], others: list[list[float]], b: list[int], eta: float, strict: bool, mx: bool
) -> None:
    if len([v for v in h if math.isfinite(v)]) < min(b):
        assert not should_stop(h, others, b, eta, strict, mx)


# An interleaving of events on up to 4 trials: report the next value, or finish the trial.
events = st.lists(
    st.tuples(
        st.integers(0, 3), st.sampled_from(["report"] * 4 + ["COMPLETE", "PRUNED", "FAIL"]), values
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    events,
    st.sampled_from([{"min_iter": 1, "eta": 2}, {"max_iter": 9, "s": 2, "eta": 3}]),
    st.booleans(),
    st.booleans(),
)
def test_pruner_matches_pure_core_under_any_interleaving(
    evs: list[tuple[int, str, float]], form: dict[str, int], strict: bool, maximize: bool
) -> None:
    goal: Literal["minimize", "maximize"] = "maximize" if maximize else "minimize"
    pruner = WandbHyperbandPruner(strict=strict, goal=goal, **form)
    study = optuna.create_study(direction=goal, pruner=pruner)
    live = {k: study.ask() for k in range(4)}
    steps = dict.fromkeys(range(4), 0)
    for k, what, v in evs:
        t = live.get(k)
        if t is None:
            continue
        if what != "report":
            if what == "COMPLETE":
                study.tell(t, 0.0)
            else:
                study.tell(t, state=TrialState[what])
            del live[k]
            continue
        t.report(v, 3 * steps[k] + 1)
        steps[k] += 1
        curves = {
            x.number: [x.intermediate_values[s] for s in sorted(x.intermediate_values)]
            for x in study.get_trials(deepcopy=False)
        }
        own = curves.pop(t.number)
        eta = form["eta"]
        expected = should_stop(own, list(curves.values()), pruner.bands, eta, strict, maximize)
        assert t.should_prune() == expected
