"""The trial-record schema: every ``sweeprun.*`` attribute key, and :class:`TrialRecord`.

sweeprun keeps what it knows about a trial in the trial's Optuna user attributes (and about a
sweep in the study's user attributes), under keys that start with ``sweeprun.``. This module
names every one of them with its meaning; the writers (the agent, recovery, ``start``,
``smoke``) and the readers (``status``/``trials``/``best``/``export``/``report``, MLflow,
recovery) use these constants, and the readers go through :class:`TrialRecord`, a typed view
of one trial that applies the defaults in one place.

Parameter values: ``sweeprun.params`` holds the (nested) values the program received; Optuna's
``trial.params`` holds the search space's encodings of them (flat names ``opt/lr``, a hidden
quantile for normal/beta, the unrounded ``x`` of a q_ distribution, a hidden ``u`` for a
weighted categorical; see :mod:`sweeprun.space.distributions`). Everything shown to users shows
the program's values, nested names joined with :data:`DISPLAY_SEP` by :func:`flatten`
(``{"opt": {"lr": 0.1}}`` → ``opt.lr``).

Nothing heavy is imported here (optuna only for type checking): ``sweeprun --help`` does not
grow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

#: Optuna's trial states by name, in the order sweeprun shows them
STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")

# ---- trial user attributes -------------------------------------------------------------------
# written when the trial is launched (run/trial.py launch_attrs)

#: the agent that runs the trial: ``{"host", "pid", "start"}`` (pid and process start time of the
#: agent), so that recovery can tell a dead agent from a live one on the same host
OWNER = "sweeprun.owner"
#: the nested parameter values the program received (constants included)
PARAMS = "sweeprun.params"
#: the program's argv, exactly as launched (``shlex.join`` of it reproduces the trial)
ARGV = "sweeprun.argv"
#: the directory holding the trial's ``stdout.log``/``stderr.log``
LOG_DIR = "sweeprun.log_dir"
#: the host name the trial ran on
HOST = "sweeprun.host"
#: the pid of the trial's program (its process-group leader); written with the trial's first
#: write after the spawn (a lease, a report or its end), so recovery finds a trial killed before
#: that by its launch marker
PID = "sweeprun.pid"
#: the launch marker (the ``SWEEPRUN_LAUNCH`` environment value) that identifies the trial's
#: processes, so recovery stops exactly them
LAUNCH = "sweeprun.launch"
#: what drew the parameters: ``{"method", "sampler", "seed", "sweeprun", "optuna"}``
SAMPLER = "sweeprun.sampler"
#: the wall-clock time (``time.time()``) until which the owner's lease holds; refreshed by the
#: heartbeat on journal, Redis and gRPC storages (run/liveness.py)
LEASE = "sweeprun.lease"

# written when the trial ends (run/trial.py end_attrs, run/scheduler.py, run/recovery.py)

#: the program's exit status (negative: killed by that signal)
EXIT_CODE = "sweeprun.exit_code"
#: seconds the program ran (rounded to ms)
DURATION = "sweeprun.duration"
#: whether a finished trial counts toward the budget; FAIL without it counts as not counted
#: (failed by a reaper or a stale heartbeat)
COUNTED = "sweeprun.counted"
#: why the trial failed or was not counted (``orphaned``, ``interrupted``, ``duplicate``, the
#: program's error ...); a pruned trial has none
REASON = "sweeprun.reason"
#: the last lines of the program's output when it failed
TAIL = "sweeprun.tail"
#: the line of the program's stderr that says why it failed (a Python traceback's exception
#: line, else the last non-empty line; at most 200 characters), e.g. ``UsageError: No API key
#: configured``; written with a failure's reason (not for interrupted or re-queued trials), and
#: shown after it by the console, ``status`` and ``trials`` (:func:`describe_failure`)
STDERR_LINE = "sweeprun.stderr_line"

# written when a trial is queued (run/requeue.py for retries, interrupted and orphaned trials;
# sweep.py for baselines and grid points; commands/smoke.py)

#: which attempt of the same parameters this is, from 1 (a retry or a re-queue adds one)
ATTEMPT = "sweeprun.attempt"
#: the number of the trial this one retries
RETRY_OF = "sweeprun.retry_of"
#: the index of the grid point this trial runs (method grid)
GRID_INDEX = "sweeprun.grid_index"
#: true for the sweep's baseline trial (``baseline:`` in the sweep file)
BASELINE = "sweeprun.baseline"
#: the index of the smoke-test case the trial runs (``sweeprun smoke``)
SMOKE_CASE = "sweeprun.smoke_case"
#: the kind of that smoke case (extremes, baseline, cover or pairwise)
SMOKE_KIND = "sweeprun.smoke_kind"

#: the attributes a re-queued trial carries over from the trial it repeats
CARRIED_OVER = (GRID_INDEX, BASELINE, SMOKE_CASE)

# ---- study user attributes -------------------------------------------------------------------

#: the sweep's configuration document (the sweep file as data), stored with the study
CONFIG = "sweeprun.config"
#: the sweeprun version that created the study
VERSION = "sweeprun.version"
#: a stop request from ``sweeprun stop``: ``{"mode", "at"}``, or None once cleared
STOP = "sweeprun.stop"
#: how many grid points are queued at a time (method grid; stored before the config, so an
#: agent that joins knows it; sweeps without it had every point queued at creation)
GRID_CHUNK = "sweeprun.grid_chunk"
#: when the sweep's creation began (creator's ``time.time()``); with no config stored yet, the
#: creation is under way, or was stopped half-way once it is old (``start`` finishes it)
CREATING = "sweeprun.creating"

# ---- trial system attributes -----------------------------------------------------------------

#: the idempotency token of a trial created through the retrying storage (storage/retrying.py)
CREATE_TOKEN = "sweeprun:create_token"

# ---- names outside Optuna: MLflow run tags, JUnit properties ---------------------------------

#: MLflow tag / JUnit property: the sweep's name
TAG_SWEEP = "sweeprun.sweep"
#: MLflow tag: the trial's number (a run with it is complete)
TAG_TRIAL = "sweeprun.trial"
#: MLflow tag: the trial's state name
TAG_STATE = "sweeprun.state"
#: MLflow tag: the command line (``shlex.join`` of ``sweeprun.argv``)
TAG_COMMAND = "sweeprun.command"
#: JUnit property: how many smoke cases the plan needs
PROP_NEEDED = "sweeprun.needed"

#: every trial user attribute sweeprun writes
TRIAL_KEYS = (
    OWNER,
    PARAMS,
    ARGV,
    LOG_DIR,
    HOST,
    PID,
    LAUNCH,
    SAMPLER,
    LEASE,
    EXIT_CODE,
    DURATION,
    COUNTED,
    REASON,
    TAIL,
    STDERR_LINE,
    ATTEMPT,
    RETRY_OF,
    GRID_INDEX,
    BASELINE,
    SMOKE_CASE,
    SMOKE_KIND,
)
#: every study user attribute sweeprun writes
STUDY_KEYS = (CONFIG, VERSION, STOP, GRID_CHUNK)

# ---- display names ---------------------------------------------------------------------------

#: how nested parameter names are joined for people (tables, CSV, MLflow, the HTML report);
#: the search space's own flat names use ``/`` (:data:`sweeprun.space.grid.FLAT_SEP`)
DISPLAY_SEP = "."


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested values → display names: ``{"opt": {"lr": 1}}`` → ``{"opt.lr": 1}``."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}{DISPLAY_SEP}"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def describe_failure(reason: str | None, stderr_line: str | None) -> str | None:
    """A failure as people read it: ``exit code 1; stderr: UsageError: No API key``."""
    if not stderr_line:
        return reason
    return f"{reason or 'failed'}; stderr: {stderr_line}"


# ---- the typed view --------------------------------------------------------------------------


def _int(v: Any) -> int | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return None


def _float(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _dict(v: Any) -> dict[str, Any] | None:
    return dict(v) if isinstance(v, Mapping) else None


def _strs(v: Any) -> tuple[str, ...] | None:
    if not isinstance(v, list | tuple):
        return None
    return tuple(str(x) for x in v)


@dataclass(frozen=True)
class TrialRecord:
    """What sweeprun recorded about one trial, typed, with the defaults applied.

    A field is None (or the stated default) when the attribute is missing or holds a value of
    the wrong type; the record never raises on what a storage holds.
    """

    number: int
    state: str  #: Optuna's state name: COMPLETE, PRUNED, FAIL, RUNNING, WAITING
    #: the nested values the program received; None: it was never launched
    params: dict[str, Any] | None = None
    owner: dict[str, Any] | None = None
    host: str | None = None
    pid: int | None = None
    launch: str | None = None
    sampler: dict[str, Any] | None = None
    lease: float | None = None
    argv: tuple[str, ...] | None = None
    log_dir: str | None = None
    exit_code: int | None = None
    duration: float | None = None
    #: None: not recorded (see :func:`sweeprun.run.budget.is_counted` for what that means)
    counted: bool | None = None
    reason: str | None = None
    tail: tuple[str, ...] = ()
    stderr_line: str | None = None
    attempt: int = 1
    retry_of: int | None = None
    grid_index: int | None = None
    baseline: bool = False
    smoke_case: int | None = None
    smoke_kind: str | None = None

    @classmethod
    def of(cls, trial: FrozenTrial) -> TrialRecord:
        return cls.from_attrs(trial.number, trial.state.name, trial.user_attrs)

    @classmethod
    def from_attrs(cls, number: int, state: str, a: Mapping[str, Any]) -> TrialRecord:
        counted = a.get(COUNTED)
        attempt = _int(a.get(ATTEMPT))
        return cls(
            number=number,
            state=state,
            params=_dict(a.get(PARAMS)),
            owner=_dict(a.get(OWNER)),
            host=_str(a.get(HOST)),
            pid=_int(a.get(PID)),
            launch=_str(a.get(LAUNCH)),
            sampler=_dict(a.get(SAMPLER)),
            lease=_float(a.get(LEASE)),
            argv=_strs(a.get(ARGV)),
            log_dir=_str(a.get(LOG_DIR)),
            exit_code=_int(a.get(EXIT_CODE)),
            duration=_float(a.get(DURATION)),
            counted=counted if isinstance(counted, bool) else None,
            reason=None if a.get(REASON) is None else str(a.get(REASON)),
            tail=_strs(a.get(TAIL)) or (),
            stderr_line=_str(a.get(STDERR_LINE)),
            attempt=attempt if attempt is not None and attempt >= 1 else 1,
            retry_of=_int(a.get(RETRY_OF)),
            grid_index=_int(a.get(GRID_INDEX)),
            baseline=bool(a.get(BASELINE, False)),
            smoke_case=_int(a.get(SMOKE_CASE)),
            smoke_kind=_str(a.get(SMOKE_KIND)),
        )

    @property
    def flat_params(self) -> dict[str, Any] | None:
        """:attr:`params` with display names (``opt.lr``), or None."""
        return None if self.params is None else flatten(self.params)

    @property
    def failure(self) -> str | None:
        """The reason with the program's own stderr line (:func:`describe_failure`)."""
        return describe_failure(self.reason, self.stderr_line)

    @property
    def owner_host(self) -> str | None:
        return _str((self.owner or {}).get("host"))

    @property
    def owner_pid(self) -> int | None:
        return _int((self.owner or {}).get("pid"))
