"""Classify a finished child into an Optuna trial state, values and a reason (pure).

Rules (SPEC §3): exit 0 and the metric seen → COMPLETE; exit 0 without it → FAIL "metric never
reported"; exit != 0, a signal or the trial timeout → FAIL with the reason; stopped by the
pruner → PRUNED; stopped by an interrupt → FAIL "interrupted" (not counted, re-queued).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class Verdict:
    state: str
    values: list[float] | None
    reason: str | None

    @property
    def requeue(self) -> bool:
        """Interrupted and orphaned trials do not count; their parameters run again."""
        return self.state == FAIL and self.reason in REQUEUE_REASONS


def signal_name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return f"signal {num}"


def objective_values(summary: Summary, metrics: list[MetricSpec]) -> list[float] | None:
    values = []
    for m in metrics:
        v = summary.objective(m.name, m.goal, m.summary)
        if v is None:
            return None
        values.append(v)
    return values


def classify(out: ChildOutcome, summary: Summary, metrics: list[MetricSpec]) -> Verdict:
    if out.stopped == "pruned":
        return Verdict(PRUNED, None, "pruned")
    if out.stopped in REQUEUE_REASONS:
        return Verdict(FAIL, None, out.stopped)
    if out.error:
        return Verdict(FAIL, None, out.error)
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
