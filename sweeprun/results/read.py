"""Reading a sweep back: load it by name, turn its trials into rows, filter, sort, rank.

Shared by ``status``, ``trials``, ``best``, ``logs``, ``export``, ``report``. Every trial is read
once (``get_trials(deepcopy=False)``) and everything else is computed in memory, so a sweep of
10,000 trials answers in about a second. Pure functions take frozen trials and the sweep's
objectives; the I/O is in :func:`load` and :func:`storage_for_reading`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sweeprun.config.load import parse_config
from sweeprun.errors import SweepError, did_you_mean

# ranking lives in results.rank; re-exported here, the public entry point for reading results
from sweeprun.results.rank import baseline_improvement as baseline_improvement
from sweeprun.results.rank import best_trials as best_trials
from sweeprun.results.rank import describe_improvement as describe_improvement
from sweeprun.results.rank import improvement as improvement
from sweeprun.results.rank import pareto_front as pareto_front
from sweeprun.results.rank import state_counts as state_counts
from sweeprun.space.distributions import SearchSpace, SpaceError, nest
from sweeprun.storage import records
from sweeprun.storage.optuna_adapter import storage_of, study_id_of, trial_id_of
from sweeprun.storage.records import STATES as STATES
from sweeprun.storage.records import TrialRecord
from sweeprun.storage.records import flatten as flatten
from sweeprun.storage.sql_read import load_study
from sweeprun.storage.sql_trials import read_trials
from sweeprun.storage.urls import resolve
from sweeprun.sweep import Sweep, load_sweep

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from sweeprun.config.models import SweepConfig
    from sweeprun.storage.urls import StorageSpec

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

    name: str
    config: SweepConfig
    storage: StorageSpec
    objectives: list[Objective]
    trials: list[FrozenTrial]
    read_full: Callable[[FrozenTrial], FrozenTrial]
    study: optuna.Study | None = None  # None: read without Optuna's storage (``study=False``)

    @property
    def sweep(self) -> Sweep:
        """The sweep with its Optuna study (loaded with ``study=True``, the default)."""
        if self.study is None:
            raise RuntimeError(f"sweep '{self.name}' was loaded without its Optuna study")
        return Sweep(self.name, self.study, self.config, self.storage, resumed=True)

    @cached_property
    def space(self) -> SearchSpace | None:
        """The sweep's search space (None if it cannot be built here, e.g. beta without scipy),
        to decode the parameters of a trial that was never launched."""
        try:
            return SearchSpace.from_params(self.config.parameters)
        except SweepError:
            return None

    def require_trials(self) -> None:
        if not self.trials:
            raise SweepError(
                f"sweep '{self.name}' in {self.storage.display} has no trials yet\n"
                f"    fix: run trials with `sweeprun agent {self.name}` (or `sweeprun start`)"
            )

    def full(self, t: FrozenTrial) -> FrozenTrial:
        """The complete record of one trial (all attributes and intermediate values)."""
        return self.read_full(t)

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
    spec = resolve(storage, None)
    if spec.kind == "journal" and not spec.journal_path.exists():
        raise SweepError(
            f"no sweeps yet: the journal file {spec.display} does not exist\n"
            "    fix: start one with `sweeprun start SWEEP.yaml`, or pass --storage "
            "(or SWEEPRUN_STORAGE) to read another storage"
        )
    return spec


#: the user attributes ``status`` and ``best`` rank and count by (the rest is read per trial)
SUMMARY_ATTRS = (
    records.HOST,
    records.PID,
    records.REASON,
    records.STDERR_LINE,
    records.COUNTED,
    records.BASELINE,
    records.GRID_INDEX,
)


def load(
    storage: str | None,
    name: str,
    *,
    attrs: Collection[str] | None = None,
    intermediate: bool = True,
    params: bool = True,
    study: bool = True,
) -> Loaded:
    """Load sweep ``name`` for reading (unknown names get the list of known sweeps).

    ``attrs`` limits the user attributes read on RDB storages (None: all of them) and
    ``params=False`` leaves out the parameters; use :meth:`Loaded.full` for the complete record
    of the few trials shown. With ``study=False`` (a caller that needs no Optuna study) a
    database is read with plain queries when it can be (:mod:`sweeprun.storage.sql_read`).
    """
    spec = storage_for_reading(storage)
    if not study:
        found = load_study(spec, name, attrs=attrs, intermediate=intermediate, params=params)
        if found is not None:
            reader, rec = found
            cfg = parse_config(rec.config_doc, source=f"{spec.display} (sweep '{name}')")
            return Loaded(
                name,
                cfg,
                spec,
                objectives_of(cfg),
                rec.trials,
                lambda t: reader.full(rec.study_id, t),
            )
    sweep = load_sweep(spec, name)
    st = storage_of(sweep.study)
    trials = read_trials(
        st, study_id_of(sweep.study), attrs=attrs, intermediate=intermediate, params=params
    )
    return Loaded(
        sweep.name,
        sweep.config,
        spec,
        objectives_of(sweep.config),
        trials,
        lambda t: st.get_trial(trial_id_of(t)),
        sweep.study,
    )


# ---- rows ------------------------------------------------------------------------------------


def program_values(t: FrozenTrial, space: SearchSpace | None = None) -> dict[str, Any]:
    """The nested values the program received (``sweeprun.params``). A trial never launched
    has none: its Optuna params decoded by ``space`` if given, else Optuna's params nested
    (names in the display spelling, values as Optuna holds them)."""
    values = TrialRecord.of(t).params
    if values is not None:
        return values
    if space is not None and t.params:
        try:
            return space.to_values(t.params)
        except (SpaceError, TypeError, ValueError):
            pass
    try:
        return nest(t.params)
    except ValueError:
        return dict(t.params)


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
    stderr_line: str | None
    attempt: int
    baseline: bool
    retry_of: int | None
    argv: list[str] | None
    log_dir: str | None
    curve: list[tuple[int, float]] = field(default_factory=list)

    @property
    def flat(self) -> dict[str, Any]:
        return flatten(self.params)

    @property
    def failure(self) -> str | None:
        """The reason with the program's stderr line (``exit code 1; stderr: ...``)."""
        return records.describe_failure(self.reason, self.stderr_line)

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
            "stderr_line": self.stderr_line,
            "attempt": self.attempt,
            "baseline": self.baseline,
            "retry_of": self.retry_of,
        }


def iso(d: datetime | None) -> str | None:
    return d.isoformat(timespec="seconds") if d else None


def row_of(t: FrozenTrial, now: datetime | None = None, space: SearchSpace | None = None) -> Row:
    rec = TrialRecord.of(t)
    start, end = t.datetime_start, t.datetime_complete
    duration = rec.duration
    if duration is None and start is not None:
        duration = ((end or now or datetime.now()) - start).total_seconds()
    iv = t.intermediate_values
    values = list(t.values) if t.values is not None else None
    return Row(
        number=t.number,
        state=t.state.name,
        values=values,
        params=dict(rec.params) if rec.params is not None else program_values(t, space),
        start=start,
        end=end,
        duration=None if duration is None else round(float(duration), 3),
        steps=max(iv) if iv else None,
        host=rec.host,
        exit_code=rec.exit_code,
        reason=rec.reason,
        stderr_line=rec.stderr_line,
        attempt=rec.attempt,
        baseline=rec.baseline,
        retry_of=rec.retry_of,
        argv=list(rec.argv) if rec.argv is not None else None,
        log_dir=rec.log_dir,
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


def study_directions(study: optuna.Study) -> list[str]:
    return [d.name.lower() for d in study.directions]
