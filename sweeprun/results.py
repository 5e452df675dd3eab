"""Reading a sweep back: load it by name, turn its trials into rows, filter, sort, rank.

Shared by ``status``, ``trials``, ``best``, ``logs``, ``export``, ``report``. Every trial is read
once (``get_trials(deepcopy=False)``) and everything else is computed in memory, so a sweep of
10,000 trials answers in about a second. Pure functions take frozen trials and the sweep's
objectives; the I/O is in :func:`load` and :func:`storage_for_reading`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sweeprun.errors import SweepError, did_you_mean

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from sweeprun.config import SweepConfig
    from sweeprun.storage import StorageSpec
    from sweeprun.study import Sweep

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")
_STATE_ALIASES = {
    "FAILED": "FAIL",
    "DONE": "COMPLETE",
    "COMPLETED": "COMPLETE",
    "QUEUED": "WAITING",
}
ROW_KEYS = ("number", "state", "duration", "steps", "host", "start", "end", "exit_code", "attempt")


@dataclass(frozen=True)
class Objective:
    name: str
    goal: str  # "minimize" | "maximize"

    @property
    def sign(self) -> float:
        """Multiply a value by this to get "smaller is better"."""
        return -1.0 if self.goal == "maximize" else 1.0


def objectives_of(cfg: SweepConfig) -> list[Objective]:
    if cfg.metrics:
        return [Objective(m.name, m.goal) for m in cfg.metrics]
    if cfg.metric:
        return [Objective(cfg.metric.name, cfg.metric.goal)]
    return []


@dataclass
class Loaded:
    """One sweep read back: its config, objectives and every trial."""

    sweep: Sweep
    objectives: list[Objective]
    trials: list[FrozenTrial]

    @property
    def name(self) -> str:
        return self.sweep.name

    def require_trials(self) -> None:
        if not self.trials:
            raise SweepError(
                f"sweep '{self.name}' in {self.sweep.storage.display} has no trials yet\n"
                f"    fix: run trials with `sweeprun agent {self.name}` (or `sweeprun start`)"
            )

    def trial(self, number: int) -> FrozenTrial:
        self.require_trials()
        for t in self.trials if number >= len(self.trials) else self.trials[number:]:
            if t.number == number:
                return t
        last = max(t.number for t in self.trials)
        raise SweepError(
            f"sweep '{self.name}' has no trial {number}; its trials are numbered 0 to {last}"
        )


def storage_for_reading(storage: str | None) -> StorageSpec:
    """Resolve the storage; a journal file that does not exist yet is not created."""
    from sweeprun.storage import resolve

    spec = resolve(storage, None)
    if spec.kind == "journal" and not spec.journal_path.exists():
        raise SweepError(
            f"no sweeps yet: the journal file {spec.display} does not exist\n"
            "    fix: start one with `sweeprun start SWEEP.yaml`, or pass --storage "
            "(or SWEEPRUN_STORAGE) to read another storage"
        )
    return spec


def load(storage: str | None, name: str) -> Loaded:
    """Load sweep ``name`` for reading (unknown names get the list of known sweeps)."""
    from sweeprun.study import load_sweep

    spec = storage_for_reading(storage)
    sweep = load_sweep(spec, name)
    trials = sweep.study.get_trials(deepcopy=False)
    return Loaded(sweep, objectives_of(sweep.config), list(trials))


# ---- rows ------------------------------------------------------------------------------------


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"opt": {"lr": 1}}`` → ``{"opt.lr": 1}``."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass
class Row:
    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    start: datetime | None
    end: datetime | None
    duration: float | None
    steps: int | None
    host: str | None
    exit_code: int | None
    reason: str | None
    attempt: int
    baseline: bool
    retry_of: int | None
    argv: list[str] | None
    log_dir: str | None
    curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def flat(self) -> dict[str, Any]:
        return flatten(self.params)

    def value(self, index: int) -> float | None:
        if not self.values or index >= len(self.values):
            return None
        v = self.values[index]
        return v if math.isfinite(v) else None

    def to_json(self, objectives: Sequence[Objective]) -> dict[str, Any]:
        return {
            "number": self.number,
            "state": self.state,
            "values": {o.name: self.value(i) for i, o in enumerate(objectives)}
            if self.values
            else None,
            "params": self.params,
            "duration": self.duration,
            "steps": self.steps,
            "host": self.host,
            "start": iso(self.start),
            "end": iso(self.end),
            "exit_code": self.exit_code,
            "reason": self.reason,
            "attempt": self.attempt,
            "baseline": self.baseline,
            "retry_of": self.retry_of,
        }


def iso(d: datetime | None) -> str | None:
    return d.isoformat(timespec="seconds") if d else None


def row_of(t: FrozenTrial, now: datetime | None = None) -> Row:
    a = t.user_attrs
    start, end = t.datetime_start, t.datetime_complete
    duration = a.get("sweeprun.duration")
    if duration is None and start is not None:
        duration = ((end or now or datetime.now()) - start).total_seconds()
    iv = t.intermediate_values
    values = list(t.values) if t.values is not None else None
    return Row(
        number=t.number,
        state=t.state.name,
        values=values,
        params=dict(a.get("sweeprun.params") or t.params),
        start=start,
        end=end,
        duration=None if duration is None else round(float(duration), 3),
        steps=max(iv) if iv else None,
        host=a.get("sweeprun.host"),
        exit_code=a.get("sweeprun.exit_code"),
        reason=a.get("sweeprun.reason"),
        attempt=int(a.get("sweeprun.attempt", 1)),
        baseline=bool(a.get("sweeprun.baseline", False)),
        retry_of=a.get("sweeprun.retry_of"),
        argv=a.get("sweeprun.argv"),
        log_dir=a.get("sweeprun.log_dir"),
        curve=sorted(iv.items()),
    )


def parse_states(states: Iterable[str] | None) -> set[str] | None:
    """``--state complete --state failed`` → ``{"COMPLETE", "FAIL"}``; unknown → SweepError."""
    if not states:
        return None
    out: set[str] = set()
    for raw in states:
        for word in raw.split(","):
            s = word.strip().upper()
            s = _STATE_ALIASES.get(s, s)
            if s not in STATES:
                hint = did_you_mean(s, STATES)
                raise SweepError(
                    f"unknown trial state '{word.strip()}'"
                    + (f"; {hint.lower()}" if hint else "")
                    + f"\n    states: {', '.join(x.lower() for x in STATES)}"
                )
            out.add(s)
    return out


def sort_keys(objectives: Sequence[Objective], rows: Sequence[Row]) -> list[str]:
    params = sorted({k for r in rows for k in r.flat})
    return ["value", *(o.name for o in objectives), *ROW_KEYS, *params]


def sort_rows(rows: list[Row], key: str | None, objectives: Sequence[Objective]) -> list[Row]:
    """Sort by a column, a metric (best first, in the goal's direction) or a parameter.

    A leading ``-`` reverses the order; trials without the key always come last.
    """
    if not key:
        return sorted(rows, key=lambda r: r.number)
    reverse = key.startswith("-")
    name = key.lstrip("-+")
    names = [o.name for o in objectives]
    getter: Any
    sign = 1.0
    if name == "value" or name in names:
        idx = 0 if name == "value" else names.index(name)
        sign = objectives[idx].sign if objectives else 1.0

        def getter(r: Row) -> Any:
            return r.value(idx)
    elif name in ROW_KEYS:

        def getter(r: Row) -> Any:
            return getattr(r, name)
    else:
        pname = name.removeprefix("param.")
        if not any(pname in r.flat for r in rows):
            hint = did_you_mean(name, sort_keys(objectives, rows))
            raise SweepError(
                f"cannot sort by '{name}': not a column, metric or parameter"
                + (f"; {hint}" if hint else "")
                + f"\n    sort keys: {', '.join(sort_keys(objectives, rows))}"
            )

        def getter(r: Row) -> Any:
            return r.flat.get(pname)

    present = [r for r in rows if getter(r) is not None]
    missing = [r for r in rows if getter(r) is None]

    def k(r: Row) -> Any:
        v = getter(r)
        if isinstance(v, bool) or not isinstance(v, int | float):
            return (1, str(v), r.number)
        return (0, sign * v, r.number)

    return sorted(present, key=k, reverse=reverse) + sorted(missing, key=lambda r: r.number)


# ---- best, Pareto, baseline ------------------------------------------------------------------


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
    base = [t for t in done if t.user_attrs.get("sweeprun.baseline")]
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
    from sweeprun.display import fmt_value

    absolute = float(imp["absolute"])
    rel = imp["relative"]
    word = ("higher" if goal == "maximize" else "lower") if absolute >= 0 else "worse"
    pct = f", {abs(rel) * 100:.1f}%" if rel is not None else ""
    return (
        f"{name}: {fmt_value(imp['best'])} (trial {imp['best_trial']}) vs baseline "
        f"{fmt_value(imp['baseline'])} (trial {imp['baseline_trial']}): "
        f"{fmt_value(abs(absolute))} {word}{pct}"
    )


def state_counts(trials: Iterable[FrozenTrial]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def study_directions(study: optuna.Study) -> list[str]:
    return [d.name.lower() for d in study.directions]
