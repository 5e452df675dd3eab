"""What ``sweeprun status`` shows: a line per sweep, or one sweep in detail.

State of a sweep (derived from its trials, nothing is stored for it):
``running`` if any trial is RUNNING; ``finished`` if its trial budget (``run_cap`` /
``budget.trials``) is used up, its grid is exhausted or ``metric.target`` was reached;
``new`` if it has no trials yet; ``stopped`` otherwise (interrupted, ``--max-trials``,
``--timeout``, ``sweeprun stop``: agents can resume it).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sweeprun.config.load import parse_config
from sweeprun.results.rank import best_trials, state_counts
from sweeprun.results.read import (
    SUMMARY_ATTRS,
    Loaded,
    Objective,
    iso,
    objectives_of,
    program_values,
    storage_for_reading,
)
from sweeprun.run.budget import is_counted
from sweeprun.space.distributions import SearchSpace
from sweeprun.storage.open import open_storage
from sweeprun.storage.optuna_adapter import frozen_study_id
from sweeprun.storage.records import CONFIG, GRID_INDEX, TrialRecord
from sweeprun.storage.sql_read import all_studies
from sweeprun.storage.sql_trials import read_trials

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from sweeprun.config.models import SweepConfig


def cap_of(cfg: SweepConfig) -> int | None:
    """The trial cap: the smaller of ``run_cap`` and ``budget.trials`` (None: no cap)."""
    return cfg.trial_cap()


def grid_size(cfg: SweepConfig) -> int | None:
    if cfg.method != "grid":
        return None
    try:
        return SearchSpace.from_params(cfg.parameters).size  # arithmetic, never the product
    except Exception:  # a stored config was validated; never let status fail on it
        return None


def _grid_done(cfg: SweepConfig, trials: Sequence[FrozenTrial]) -> bool:
    size = grid_size(cfg)
    if size is None:
        return False
    taken = {t.user_attrs.get(GRID_INDEX) for t in trials if is_counted(t)} - {None}
    return len(taken) >= size


def counted(trials: Sequence[FrozenTrial]) -> int:
    return sum(1 for t in trials if is_counted(t))


def _target_reached(cfg: SweepConfig, best: FrozenTrial | None) -> bool:
    m = cfg.metric
    if best is None or m is None or m.target is None or cfg.metrics or best.values is None:
        return False
    v = best.values[0]
    return v <= m.target if m.goal == "minimize" else v >= m.target


def sweep_state(cfg: SweepConfig, trials: Sequence[FrozenTrial], best: FrozenTrial | None) -> str:
    counts = state_counts(trials)
    if counts["RUNNING"]:
        return "running"
    if not trials:
        return "new"
    cap = cap_of(cfg)
    if (
        (cap is not None and counted(trials) >= cap)
        or _grid_done(cfg, trials)
        or _target_reached(cfg, best)
    ):
        return "finished"
    return "stopped"


def best_values(
    trials: Sequence[FrozenTrial], objectives: Sequence[Objective]
) -> dict[str, float] | None:
    """The best value of each metric (over complete trials), or None."""
    if not objectives:
        return None
    out: dict[str, float] = {}
    for i, o in enumerate(objectives):
        vals = [
            t.values[i]
            for t in trials
            if t.state.name == "COMPLETE"
            and t.values is not None
            and len(t.values) > i
            and math.isfinite(t.values[i])
        ]
        if vals:
            out[o.name] = min(vals, key=lambda v: o.sign * v)
    return out or None


def _activity(trials: Sequence[FrozenTrial]) -> tuple[datetime | None, datetime | None]:
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    first = min(starts) if starts else None
    last = max([*starts, *ends]) if starts or ends else None
    return first, last


def _studies(storage: str | None) -> tuple[str, list[tuple[str, list[str], Any, list[Any]]]]:
    """(storage display, [(name, directions, stored config, trials)]) for every study."""
    spec = storage_for_reading(storage)
    records = all_studies(spec, SUMMARY_ATTRS)
    if records is not None:
        return spec.display, [(r.name, r.directions, r.config_doc, r.trials) for r in records]
    st = open_storage(spec)
    return spec.display, [
        (
            fs.study_name,
            [d.name.lower() for d in fs.directions],
            fs.user_attrs.get(CONFIG),
            read_trials(
                st, frozen_study_id(fs), attrs=SUMMARY_ATTRS, intermediate=False, params=False
            ),
        )
        for fs in st.get_all_studies()
    ]


def overview(storage: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Every study in the storage: (storage display, one summary dict per sweep)."""
    display, studies = _studies(storage)
    out: list[dict[str, Any]] = []
    for name, directions, doc, trials in sorted(studies, key=lambda s: s[0]):
        cfg = None
        if isinstance(doc, Mapping):
            try:
                cfg = parse_config(doc)
            except Exception:
                cfg = None
        objectives = (
            objectives_of(cfg)
            if cfg
            else [Objective(f"value{i}" if i else "value", d) for i, d in enumerate(directions)]
        )
        best = best_trials(trials, objectives[:1], 1) if len(objectives) == 1 else []
        first, last = _activity(trials)
        out.append(
            {
                "name": name,
                "method": cfg.method if cfg else None,
                "sweeprun": cfg is not None,
                "state": sweep_state(cfg, trials, best[0][0] if best else None)
                if cfg
                else ("running" if state_counts(trials)["RUNNING"] else "-"),
                "counts": state_counts(trials),
                "trials": len(trials),
                "best": best_values(trials, objectives),
                "started": iso(first),
                "last_activity": iso(last),
            }
        )
    return display, out


def detail(loaded: Loaded, now: datetime | None = None) -> dict[str, Any]:
    """One sweep in detail: config summary, budget, running trials, failure reasons (one
    entry per reason and stderr line, most frequent first)."""
    cfg = loaded.config
    trials = loaded.trials
    now = now or datetime.now()
    objectives = loaded.objectives
    best = best_trials(trials, objectives, 1)
    single = best[0][0] if len(objectives) == 1 and best else None
    running = []
    for t in trials:
        if t.state.name != "RUNNING":
            continue
        rec = TrialRecord.of(t)
        running.append(
            {
                "number": t.number,
                "host": rec.host,
                "pid": rec.pid,
                "elapsed": round((now - t.datetime_start).total_seconds(), 1)
                if t.datetime_start
                else None,
                "params": program_values(loaded.full(t), loaded.space),
            }
        )
    reasons: Counter[tuple[str, str | None]] = Counter()
    for t in trials:
        if t.state.name == "FAIL":
            rec = TrialRecord.of(t)
            reason = rec.reason.splitlines()[0] if rec.reason else "unknown"
            reasons[reason or "unknown", rec.stderr_line] += 1
    first, last = _activity(trials)
    et = cfg.early_terminate
    return {
        "name": loaded.name,
        "storage": loaded.storage.display,
        "state": sweep_state(cfg, trials, single),
        "config": {
            "program": cfg.program,
            "command": cfg.command,
            "method": cfg.method,
            "metrics": [{"name": o.name, "goal": o.goal} for o in objectives],
            "parameters": sorted(cfg.parameters),
            "early_terminate": et.type if et else None,
            "description": cfg.description,
        },
        "counts": state_counts(trials),
        "trials": len(trials),
        "budget": {"counted": counted(trials), "cap": cap_of(cfg), "grid": grid_size(cfg)},
        "best": best_values(trials, objectives),
        "best_trials": [t.number for rank in best[:1] for t in rank],
        "running": running,
        "failures": [
            {"reason": r, "stderr_line": line, "count": c} for (r, line), c in reasons.most_common()
        ],
        "started": iso(first),
        "last_activity": iso(last),
    }
