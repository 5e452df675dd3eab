"""Classify a finished child into an Optuna trial state, values and a reason (pure).

Rules (SPEC §3): exit 0 and the metric seen → COMPLETE; exit 0 without it → FAIL "metric never
reported"; exit != 0, a signal or the trial timeout → FAIL with the reason; stopped by the
pruner → PRUNED; stopped by an interrupt → FAIL "interrupted" (not counted, re-queued).

A trial that ran to its end is not pruned: a prune decision is applied only while the program
runs. One taken after the program exited (its last metric lines are read after the exit, or
while its pipes and leftover processes are collected) is not applied
(``Running.late_prune``): exit 0 with the objective reported is COMPLETE whatever that decision
said, a failure stays a failure. A program still running when the decision is taken is
stopped and PRUNED, even if it then exits 0 (it may end cleanly on SIGTERM).

A failure of the program itself also carries the line of its stderr that says why
(:func:`stderr_line`): the exception line of the last Python traceback, else the last
non-empty line, at most :data:`LINE_WIDTH` characters.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sweeprun.run.process.lines import LOG_ERROR
from sweeprun.storage.records import describe_failure

if TYPE_CHECKING:
    from sweeprun.config.models import MetricSpec
    from sweeprun.metrics.summary import Summary
    from sweeprun.run.process.child import ChildOutcome

COMPLETE = "COMPLETE"
PRUNED = "PRUNED"
FAIL = "FAIL"

INTERRUPTED = "interrupted"
ORPHANED = "orphaned"
STOPPED = "stopped by `sweeprun stop --now`"
DEADLINE = "budget.deadline reached"
#: trials ended by these reasons do not count toward the budget; their parameters run again
REQUEUE_REASONS = frozenset({INTERRUPTED, ORPHANED, STOPPED, DEADLINE})
#: the longest stderr line recorded with a failure (longer ones are cut, ending in "…")
LINE_WIDTH = 200
_TRACEBACK = "Traceback (most recent call last):"
_FRAME = '  File "'
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass(frozen=True)
class Verdict:
    state: str
    values: list[float] | None
    reason: str | None
    #: the program's own stderr line about the failure (:func:`stderr_line`)
    stderr_line: str | None = None

    @property
    def text(self) -> str | None:
        """The reason as people read it, with the stderr line: ``exit code 1; stderr: ...``."""
        return describe_failure(self.reason, self.stderr_line)

    @property
    def requeue(self) -> bool:
        """Interrupted and orphaned trials, and trials whose log could not be written, do not
        count; their parameters run again."""
        return self.state == FAIL and (
            self.reason in REQUEUE_REASONS or (self.reason or "").startswith(LOG_ERROR)
        )


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def _clean(line: str) -> str:
    """A line as shown: a progress bar's last redraw, without colour codes."""
    return _ANSI.sub("", line.rsplit("\r", 1)[-1]).strip()


def stderr_line(lines: Sequence[str]) -> str | None:
    """The line of a failed program's stderr that says why: after the last Python traceback
    (its header or, when that scrolled out of ``lines``, its last ``File`` frame) the exception
    line (the first unindented one), else the last non-empty line; None if there is none."""
    start = None
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith((_TRACEBACK, _FRAME)):
            start = i
            break
    found = None
    if start is not None:
        found = next(
            (c for ln in lines[start + 1 :] if ln[:1] not in (" ", "\t") and (c := _clean(ln))),
            None,
        )
    if found is None:
        found = next((c for ln in reversed(lines) if (c := _clean(ln))), None)
    if found is None:
        return None
    return found if len(found) <= LINE_WIDTH else found[: LINE_WIDTH - 1] + "…"


def objective_values(summary: Summary, metrics: list[MetricSpec]) -> list[float] | None:
    values = []
    for m in metrics:
        v = summary.objective(m.name, m.goal, m.summary)
        if v is None:
            return None
        values.append(v)
    return values


def classify(out: ChildOutcome, summary: Summary, metrics: list[MetricSpec]) -> Verdict:
    verdict = _classify(out, summary, metrics)
    if verdict.state != FAIL or verdict.requeue or out.error:
        return verdict
    return Verdict(FAIL, None, verdict.reason, stderr_line(out.stderr_tail))


def _classify(out: ChildOutcome, summary: Summary, metrics: list[MetricSpec]) -> Verdict:
    if out.stopped == "pruned":
        return Verdict(PRUNED, None, "pruned")
    if out.stopped in REQUEUE_REASONS:
        return Verdict(FAIL, None, out.stopped)
    if out.error:
        return Verdict(FAIL, None, out.error)
    if out.log_error:  # sweeprun's disk, not the program: not counted, run again on resume
        return Verdict(FAIL, None, out.log_error)
    if out.timed_out:
        return Verdict(FAIL, None, f"timeout after {out.duration:.1f}s")
    if out.signal is not None:
        return Verdict(FAIL, None, f"killed by {signal_name(out.signal)}")
    if out.returncode not in (0, None):
        return Verdict(FAIL, None, f"exit code {out.returncode}")
    if out.stopped:
        return Verdict(FAIL, None, out.stopped)
    if not metrics:  # random/grid sweep without a metric: success is exit 0
        return Verdict(COMPLETE, [0.0], None)
    values = objective_values(summary, metrics)
    if values is None:
        missing = [m.name for m in metrics if summary.objective(m.name, m.goal, m.summary) is None]
        return Verdict(FAIL, None, f"metric never reported: {', '.join(missing)}")
    return Verdict(COMPLETE, values, None)
