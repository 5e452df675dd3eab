"""Ranking trials: the best trial(s), Pareto fronts, the gain over the baseline, state counts.

The one implementation of each: the results commands, the HTML report and the agent's
end-of-sweep summary (:mod:`sweeprun.run.agent`) all rank and count here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sweeprun.run.display import fmt_value
from sweeprun.storage.records import BASELINE, STATES

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from sweeprun.results.read import Objective


def state_counts(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    """How many trials are in each state: every state of :data:`STATES`, zeros included."""
    counts = dict.fromkeys(STATES, 0)
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def _complete(trials: Iterable[FrozenTrial], n: int) -> list[FrozenTrial]:
    return [
        t
        for t in trials
        if t.state.name == "COMPLETE"
        and t.values is not None
        and len(t.values) >= n
        and all(math.isfinite(v) for v in t.values[:n])
    ]


def _dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True)) and a != b


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (all objectives minimized), in input order.

    Points are visited best-first in lexicographic order, so a point can only be dominated by
    one already on the front: O(n log n + n * |front|).
    """
    order = sorted(range(len(points)), key=lambda i: tuple(points[i]))
    front: list[int] = []
    for i in order:
        p = list(points[i])
        if not any(_dominates(list(points[j]), p) for j in front):
            front.append(i)
    return sorted(front)


def best_trials(
    trials: Sequence[FrozenTrial], objectives: Sequence[Objective], top: int = 1
) -> list[list[FrozenTrial]]:
    """Ranks of best trials. Single objective: ``top`` ranks of one trial each, best first.

    Several objectives: the first ``top`` Pareto fronts (rank 1 = the Pareto front), each
    sorted by the first objective.
    """
    if not objectives:
        return []
    n = len(objectives)
    done = _complete(trials, n)
    if n == 1:
        s = objectives[0].sign
        return [[t] for t in sorted(done, key=lambda t: (s * t.values[0], t.number))[:top]]
    ranks: list[list[FrozenTrial]] = []
    rest = done
    while rest and len(ranks) < top:
        pts = [[o.sign * v for o, v in zip(objectives, t.values, strict=False)] for t in rest]
        idx = set(pareto_front(pts))
        front = [t for i, t in enumerate(rest) if i in idx]
        ranks.append(sorted(front, key=lambda t: (objectives[0].sign * t.values[0], t.number)))
        rest = [t for i, t in enumerate(rest) if i not in idx]
    return ranks


def improvement(base: float, best: float, goal: str) -> dict[str, float | None]:
    """How much better ``best`` is than ``base``, positive = better in the goal's direction."""
    absolute = (best - base) if goal == "maximize" else (base - best)
    relative = absolute / abs(base) if base != 0 else None
    return {"baseline": base, "best": best, "absolute": absolute, "relative": relative}


def baseline_improvement(
    trials: Sequence[FrozenTrial], objectives: Sequence[Objective]
) -> dict[str, Any] | None:
    """Best baseline trial vs best trial overall, per metric; None if no baseline completed."""
    n = len(objectives)
    done = _complete(trials, n)
    base = [t for t in done if t.user_attrs.get(BASELINE)]
    if not base or not n:
        return None
    out: dict[str, Any] = {}
    for i, o in enumerate(objectives):
        b = min(base, key=lambda t: (o.sign * t.values[i], t.number))
        w = min(done, key=lambda t: (o.sign * t.values[i], t.number))
        out[o.name] = {
            "baseline_trial": b.number,
            "best_trial": w.number,
            **improvement(b.values[i], w.values[i], o.goal),
        }
    return out


def describe_improvement(name: str, imp: Mapping[str, Any], goal: str) -> str:
    absolute = float(imp["absolute"])
    rel = imp["relative"]
    word = ("higher" if goal == "maximize" else "lower") if absolute >= 0 else "worse"
    pct = f", {abs(rel) * 100:.1f}%" if rel is not None else ""
    return (
        f"{name}: {fmt_value(imp['best'])} (trial {imp['best_trial']}) vs baseline "
        f"{fmt_value(imp['baseline'])} (trial {imp['baseline_trial']}): "
        f"{fmt_value(abs(absolute))} {word}{pct}"
    )
