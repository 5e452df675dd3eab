"""One running trial as the controller sees it, and the records written when it starts and
ends: its attributes, the intermediate-value rate limit, telling the study (re-queueing is
:mod:`sweeprun.run.requeue`)."""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from sweeprun import __version__
from sweeprun.run.liveness import LEASE_ATTR
from sweeprun.run.verdict import COMPLETE, FAIL, PRUNED, Verdict
from sweeprun.storage.batching import trial_writer
from sweeprun.storage.optuna_adapter import (
    frozen_trial_of,
    storage_of,
    tell_quietly,
    trial_id_of,
)
from sweeprun.storage.retrying import RetryingStorage

if TYPE_CHECKING:
    from sweeprun.config.models import SweepConfig
    from sweeprun.metrics.parser import MetricParser
    from sweeprun.metrics.summary import Summary
    from sweeprun.run.process.child import Child, ChildOutcome

# Intermediate values: every one is written to the storage, except from a program that floods
# them: after a burst of REPORT_BURST, at most REPORT_RATE per second per trial (the newest
# value is always written when the trial ends). The full history stays in the trial's logs.
REPORT_BURST = 500.0
REPORT_RATE = 50.0
HOST = socket.gethostname()
# why a trial's program is stopped when the storage refuses its writes (reaped meanwhile)
LOST = "reaped by another agent"

Event = tuple[str, int, Any]


@dataclass
class Running:
    trial: optuna.Trial
    number: int
    values: dict[str, Any]
    child: Child
    summary: Summary
    gpus: list[str]
    attempt: int
    grid_index: int | None
    slot: int = 0
    started: float = field(default_factory=time.monotonic)
    last_report: float = field(default_factory=time.monotonic)
    tokens: float = REPORT_BURST
    pending: tuple[float, int] | None = None
    reported_steps: set[int] = field(default_factory=set)
    buffer: list[tuple[int, float]] = field(default_factory=list)  # unwritten, no pruner
    buffered_at: float = 0.0
    stop_reason: str | None = None
    lost: str | None = None  # why the storage refused a write: the trial was reaped
    #: the step of a prune decision taken after the program had exited: not applied (its
    #: program ran to its end; the verdict is its exit's, see :mod:`sweeprun.run.verdict`)
    late_prune: int | None = None


@dataclass
class RunResult:
    launched: int = 0
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    lost: int = 0  # results refused: their trials were reaped by another agent meanwhile
    interrupted: bool = False
    stopped: bool = False
    policy_failure: str | None = None
    stop_note: str | None = None


def exited(child: Child) -> bool:
    """Whether the trial's program has ended (reaped, or a zombie not yet waited for): a
    stop now would stop nothing of it. Looked at without reaping it (``WNOWAIT``)."""
    if not child.running:
        return True
    pid = child.pid
    if pid is None:
        return True
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # reaped by its watcher meanwhile
        return True
    except OSError:
        return False


def take_token(run: Running) -> bool:
    """Token bucket: bursts of REPORT_BURST, then REPORT_RATE writes per second."""
    now = time.monotonic()
    run.tokens = min(REPORT_BURST, run.tokens + (now - run.last_report) * REPORT_RATE)
    run.last_report = now
    if run.tokens >= 1.0:
        run.tokens -= 1.0
        return True
    return False


def child_callbacks(
    parser: MetricParser,
    put: Callable[[Event], None],
    number: int,
    summary: Summary,
    keep: str | None,
    streams: Iterable[str] = ("stdout", "stderr"),
) -> tuple[Callable[[str, list[str]], None], Callable[[ChildOutcome], None]]:
    """Callbacks for the launcher's parser thread: parse metric lines there (off the main
    thread) into ``summary``, every value; queue only the events of metric ``keep`` that the
    rate limit can let through (the first REPORT_BURST of a batch and its last); queue the exit.

    Lines of the output ``streams`` (``report.streams``: stdout and stderr by default) and of
    the report channel are parsed, all with the one parser (one step count per metric). What
    the parser's name bound dropped is queued as one note (``"n"``) before the exit."""
    lock = threading.Lock()  # the streams share the parser's step counters
    parsed = frozenset(streams) | {"report"}

    def on_lines(stream: str, lines: list[str]) -> None:
        if stream not in parsed:
            return
        with lock:
            fold = parser.fold_reports if stream == "report" else parser.fold
            evs = fold(lines, summary, keep, int(REPORT_BURST))
        if evs:
            put(("m", number, evs))

    def on_exit(outcome: ChildOutcome) -> None:
        with lock:
            note = parser.dropped_note()
        if note:
            put(("n", number, note))
        put(("x", number, outcome))

    return on_lines, on_exit


def sampler_info(cfg: SweepConfig, study: optuna.Study) -> dict[str, Any]:
    """What drew the parameters (the attribute ``sweeprun.sampler`` of every trial)."""
    return {
        "method": cfg.method,
        "sampler": type(study.sampler).__name__,
        "seed": cfg.seed,
        "sweeprun": __version__,
        "optuna": optuna.__version__,
    }


def launch_attrs(
    *,
    owner: dict[str, Any],
    values: dict[str, Any],
    argv: list[str],
    log_dir: str,
    sampler: dict[str, Any],
    lease: float,
    pid: int | None,
    launch: str,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "sweeprun.owner": owner,
        "sweeprun.params": values,
        "sweeprun.argv": argv,
        "sweeprun.log_dir": log_dir,
        "sweeprun.host": HOST,
        "sweeprun.launch": launch,
        "sweeprun.sampler": sampler,
        LEASE_ATTR: lease,
    }
    if pid is not None:
        attrs["sweeprun.pid"] = pid
    return attrs


def end_attrs(outcome: ChildOutcome, verdict: Verdict, counted: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "sweeprun.exit_code": outcome.returncode,
        "sweeprun.duration": round(outcome.duration, 3),
        "sweeprun.counted": counted,
    }
    if verdict.reason and verdict.state != PRUNED:
        attrs["sweeprun.reason"] = verdict.reason
        attrs["sweeprun.tail"] = list(outcome.tail)
        if verdict.stderr_line:
            attrs["sweeprun.stderr_line"] = verdict.stderr_line
    return attrs


def tell(study: optuna.Study, trial: optuna.Trial, verdict: Verdict) -> str | None:
    """Record the verdict; the error text when the storage refuses (e.g. already reaped).
    The records the trial holds (the end attributes) go out with the state write; when it is
    refused because the trial is finished (reaped by another agent) they are dropped, else
    still written."""
    state = {
        COMPLETE: TrialState.COMPLETE,
        PRUNED: TrialState.PRUNED,
        FAIL: TrialState.FAIL,
    }[verdict.state]
    storage = storage_of(study)
    if isinstance(storage, RetryingStorage) and verdict.state != PRUNED:
        # tell reads the trial back: this process wrote it all along (RDB: a read of six
        # statements saved). A trial reaped meanwhile is refused by the state write instead.
        # (A pruned trial is read: its value is the last intermediate value.)
        storage.expect(frozen_trial_of(trial))
    try:
        if verdict.state == COMPLETE:
            assert verdict.values is not None
            tell_quietly(study, trial, verdict.values)
        else:
            tell_quietly(study, trial, state=state)
    except UpdateFinishedTrialError as exc:  # reaped: what it holds would be refused too
        trial_writer(storage).discard(trial_id_of(trial))
        return str(exc)
    except (RuntimeError, ValueError) as exc:
        with contextlib.suppress(RuntimeError, ValueError):  # refused too, when finished
            trial_writer(storage).flush(trial_id_of(trial))
        return str(exc)
    return None


EventQueue = queue.Queue[Event]
