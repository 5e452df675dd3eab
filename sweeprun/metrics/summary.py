"""The per-trial end of metric parsing: the :class:`~sweeprun.metrics.grammar.MetricEvent`
values of one trial folded into a :class:`Summary` (best, last, count, last step, history per
metric name), from which the value told to the study is read. :mod:`sweeprun.metrics.parser`
turns lines into the events (and, for floods, fills the summary in bulk).

The precedence of :mod:`sweeprun.metrics.grammar` ends here: a metric whose values so far all
came from text (``name=value``) starts afresh at its first structured value."""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sweeprun.metrics.grammar import Goal, MetricEvent, Mode

__all__ = ["SUMMARY_PREFIX", "MetricStats", "Summary"]

#: a program's own summary value of a metric arrives as ``{"_summary": {"val_loss": 0.2}}``
#: (what the wandb hook reports for ``run.summary`` writes), i.e. the name ``_summary.val_loss``
SUMMARY_PREFIX = "_summary."


@dataclass
class MetricStats:
    """Everything known about one metric of one trial."""

    count: int = 0  # every value, finite or not
    last: float | None = None  # last finite value
    minimum: float | None = None
    maximum: float | None = None
    last_step: int | None = None
    history: array[float] = field(default_factory=lambda: array("d"))  # finite values, in order
    text: bool = False  # every value so far came from the text scan

    def best(self, goal: Goal) -> float | None:
        return self.maximum if goal == "maximize" else self.minimum


class Summary:
    """Per metric name of one trial: best (W&B's rule: the extremum over the history, finite
    values only), last finite value, count, last step and the history of finite values."""

    def __init__(self) -> None:
        self.metrics: dict[str, MetricStats] = {}

    def _stats(self, name: str, text: bool) -> MetricStats:
        stats = self.metrics.get(name)
        if stats is None or (stats.text and not text):  # structured replaces text
            stats = self.metrics[name] = MetricStats(text=text)
        return stats

    def add(self, event: MetricEvent) -> None:
        stats = self._stats(event.name, event.text)
        stats.count += 1
        stats.last_step = event.step
        value = event.value
        if not math.isfinite(value):
            return
        stats.last = value
        stats.history.append(value)
        if stats.minimum is None or value < stats.minimum:
            stats.minimum = value
        if stats.maximum is None or value > stats.maximum:
            stats.maximum = value

    def add_values(
        self, name: str, values: list[float], last_step: int | None, text: bool = False
    ) -> None:
        """:meth:`add` of many values of one metric and kind at once (the last one's step
        given)."""
        if not values:
            return
        stats = self._stats(name, text)
        stats.count += len(values)
        stats.last_step = last_step
        finite = list(filter(math.isfinite, values))
        if not finite:
            return
        stats.last = finite[-1]
        low, high = min(finite), max(finite)
        if stats.minimum is None or low < stats.minimum:
            stats.minimum = low
        if stats.maximum is None or high > stats.maximum:
            stats.maximum = high
        stats.history.extend(finite)

    def add_many(self, events: Iterable[MetricEvent]) -> None:
        for event in events:
            self.add(event)

    def get(self, name: str) -> MetricStats | None:
        return self.metrics.get(name)

    def seen(self, name: str) -> bool:
        """True when at least one finite value of ``name`` was reported."""
        stats = self.metrics.get(name)
        return stats is not None and bool(stats.history)

    def objective(self, name: str, goal: Goal, mode: Mode = "best") -> float | None:
        """The value told to the study, or None when no finite value was reported.

        W&B's controller rule with a summary value (``_summary.<name>``, the last one written):
        ``best`` is the extremum over the history and the summary value, ``last`` is the
        summary value when there is one."""
        stats = self.metrics.get(name)
        pinned = self.metrics.get(SUMMARY_PREFIX + name)
        summary = pinned.last if pinned is not None else None
        if mode == "last":
            return summary if summary is not None else (stats.last if stats else None)
        values = [v for v in (stats.best(goal) if stats else None, summary) if v is not None]
        if not values:
            return None
        return max(values) if goal == "maximize" else min(values)
