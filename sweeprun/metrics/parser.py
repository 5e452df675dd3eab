"""One trial's metric parser: the rules of :mod:`sweeprun.metrics.grammar` applied to the lines
it prints, in order, with the state a trial needs — the index of each metric's reports (the
step of a value without one), which metrics arrived structured (the precedence rule: text
values of those are no longer taken) and which names are kept.

Names kept: every declared metric name in full; of the others the first :data:`MAX_OTHER`
(a program printing per-sample or per-class keys would otherwise grow the summary without
bound). Values of names beyond that are dropped and counted; :meth:`MetricParser.dropped_note`
says what was dropped, once, at the trial's end.

:meth:`MetricParser.feed` parses one line; :meth:`MetricParser.fold` many at once through
:mod:`sweeprun.metrics.bulk`, into a :class:`~sweeprun.metrics.summary.Summary`, with the same
values and steps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from itertools import groupby
from typing import Any

from sweeprun.metrics.bulk import Columns, json_run, kv_ready, kv_run, numbered, reportable
from sweeprun.metrics.grammar import (
    STEP_KEYS,
    Format,
    MetricEvent,
    Raw,
    kv_pattern,
    kv_scan,
    load_object,
    object_raw,
    object_text,
    regex_raw,
    substring_filter,
)
from sweeprun.metrics.summary import SUMMARY_PREFIX, Summary

__all__ = ["MAX_OTHER", "MetricParser"]

#: metric names kept besides the declared ones (per trial)
MAX_OTHER = 1000
_BULK_MIN = 32  # object candidates parsed in one json.loads call from this many on


class MetricParser:
    """Stateful per trial (it numbers the reports of each metric). Not thread-safe."""

    def __init__(
        self,
        names: Iterable[str] = (),
        fmt: Format = "json",
        pattern: str | None = None,
        max_other: int = MAX_OTHER,
    ) -> None:
        self.names: tuple[str, ...] = tuple(dict.fromkeys(n for n in names if n))
        self.fmt = fmt
        self._counts: dict[str, int] = {}  # reports per kept name
        self._structured: set[str] = set()  # names that arrived as structured values
        # a declared metric's summary value (``_summary.<name>``) is kept in full too
        self._declared = frozenset(self.names) | {SUMMARY_PREFIX + n for n in self.names}
        self._declared_steps = self._declared & frozenset(STEP_KEYS)
        self._max_other = max_other
        self._others = 0  # undeclared names kept
        self._dropped: set[str] = set()  # a few names beyond the bound, for the note
        self.dropped_values = 0  # values of names beyond the bound
        self._regex: re.Pattern[str] | None = None
        self._kv: re.Pattern[str] | None = None
        if fmt == "regex":
            if not pattern:
                raise ValueError("report.format 'regex' needs report.pattern")
            self._regex = re.compile(pattern)
        else:
            self._kv = kv_pattern(self.names)
        self._wanted = substring_filter(("{", *self.names) if self._kv is not None else ("{",))
        self._kv_bulk = self._kv is not None and kv_ready(self.names)

    # -- public API ------------------------------------------------------------------------

    def feed(self, line: str) -> list[MetricEvent]:
        """Events of one line of the program's output (without or with its newline)."""
        if self._regex is None and not self._wanted(line):
            return []
        return self._number(self._parse_line(line))

    def feed_report(self, line: str) -> list[MetricEvent]:
        """Events of one line of the ``sweeprun.report`` channel (a JSON object per line)."""
        obj = _loads_dict(line.strip())
        return self._number(object_raw(obj, self._declared_steps)) if obj is not None else []

    def feed_many(self, lines: list[str]) -> list[MetricEvent]:
        """Events of many output lines, in order; much faster than calling :meth:`feed`."""
        return self._number(self._raw_many(lines)) if lines else []

    def fold(
        self, lines: list[str], summary: Summary, keep: str | None = None, first: int = 0
    ) -> list[MetricEvent]:
        """Add every value of many output lines to ``summary`` (the same values and steps as
        :meth:`feed_many`, parsed by the batch: many times faster on metric floods). Returns
        the finite events of metric ``keep`` that a rate-limited consumer can still use: the
        first ``first`` and the last."""
        cols = Columns()
        if lines:
            self._fold_lines(lines, cols)
        return self._fold_columns(cols, summary, keep, first)

    def fold_reports(
        self, lines: list[str], summary: Summary, keep: str | None = None, first: int = 0
    ) -> list[MetricEvent]:
        """:meth:`fold` for lines of the ``sweeprun.report`` channel (:meth:`feed_report`)."""
        cols = Columns()
        text = "\n".join(lines)
        if not (
            text.startswith("{")
            and text.count("\n{") == len(lines) - 1
            and json_run(lines, text, self._declared_steps, cols)
        ):
            for line in lines:
                obj = _loads_dict(line.strip())
                if obj is not None:
                    cols.add_raw(object_raw(obj, self._declared_steps))
        return self._fold_columns(cols, summary, keep, first)

    def dropped_note(self) -> str | None:
        """What the name bound dropped, in one sentence; None when nothing was."""
        if not self.dropped_values:
            return None
        some = ", ".join(sorted(self._dropped))
        return (
            f"{self.dropped_values:,} values of undeclared metric names were not kept "
            f"(e.g. {some}): beyond the first {self._max_other:,} undeclared names of a trial "
            "only its declared metrics are kept; its log has every line"
        )

    # -- names: the bound and the precedence ------------------------------------------------

    def _admit(self, name: str, n: int) -> bool:
        """Whether a name not seen before is kept (else its ``n`` values count as dropped)."""
        if name in self._declared:
            return True
        if self._others < self._max_other:
            self._others += 1
            return True
        if len(self._dropped) < 3:
            self._dropped.add(name)
        self.dropped_values += n
        return False

    def _number(self, raw: list[Raw]) -> list[MetricEvent]:
        counts = self._counts
        structured = self._structured
        events = []
        for name, value, step, text in raw:
            n = counts.get(name)
            if n is None:
                if not self._admit(name, 1):
                    continue
                n = 0
            if text:
                if name in structured:
                    continue
            elif name not in structured:
                structured.add(name)
            counts[name] = n + 1
            events.append(MetricEvent(name, value, n if step is None else step, text))
        return events

    def _fold_columns(
        self, cols: Columns, summary: Summary, keep: str | None, first: int
    ) -> list[MetricEvent]:
        """Number the steps, add every kept value to ``summary`` (as :meth:`_number` then
        :meth:`Summary.add` would); the finite events of ``keep``: the first ``first`` and the
        last."""
        counts = self._counts
        structured = self._structured
        out: list[MetricEvent] = []
        for name, chunks in cols.chunks.items():
            n0 = counts.get(name)
            if n0 is None:
                if not self._admit(name, sum(len(c.values) for c in chunks)):
                    continue
                n0 = 0
            values: list[float] = []
            steps: list[int] = []
            texts: list[bool] = []
            for chunk in chunks:
                if chunk.text:
                    if name in structured:
                        continue
                elif name not in structured:
                    structured.add(name)
                n = len(chunk.values)
                chunk_steps = numbered(chunk.steps, n0, n)
                summary.add_values(name, chunk.values, chunk_steps[-1], chunk.text)
                n0 += n
                if name == keep:
                    values += chunk.values
                    steps += chunk_steps
                    texts += [chunk.text] * n
            counts[name] = n0
            if name == keep:
                out += [
                    MetricEvent(name, values[i], steps[i], texts[i])
                    for i in reportable(values, first)
                ]
        return out

    # -- lines -----------------------------------------------------------------------------

    def _raw_many(self, lines: list[str]) -> list[Raw]:
        if self._regex is not None:
            out: list[Raw] = []
            for line in lines:
                out += self._parse_line(line)
            return out
        candidates = [line for line in lines if self._wanted(line)]
        if not candidates:
            return []
        raw: list[Raw] = []
        objects = _bulk_objects(candidates)
        if objects is None:
            for line in candidates:
                raw += self._parse_line(line)
        else:
            steps = self._declared_steps
            for line, obj in zip(candidates, objects, strict=True):
                raw += object_raw(obj, steps) if obj is not None else self._parse_line(line)
        return raw

    def _fold_lines(self, lines: list[str], cols: Columns) -> None:
        """Columns of many lines: runs of ``{`` lines and of other lines in bulk
        (:mod:`sweeprun.metrics.bulk`), line by line where that cannot be done."""
        text = "\n".join(lines)
        if self._regex is not None:
            cols.add_raw(self._raw_many(lines))
            return
        if not self._wanted(text):
            return
        if "{" not in text:
            runs = [(False, lines, text)]
        elif text.startswith("{") and text.count("\n{") == len(lines) - 1:
            runs = [(True, lines, text)]
        else:
            runs = []
            for is_json, group in groupby(lines, key=lambda line: line[:1] == "{"):
                run = list(group)
                runs.append((is_json, run, "\n".join(run)))
        kv = self._kv if self._kv_bulk else None
        for is_json, run, run_text in runs:
            if is_json:
                if not json_run(run, run_text, self._declared_steps, cols):
                    cols.add_raw(self._raw_many(run))
            elif self._wanted(run_text) and not (
                kv is not None
                and "{" not in run_text
                and kv_run(kv, run, run_text, self._wanted, cols)
            ):
                cols.add_raw(self._raw_many(run))

    def _parse_line(self, line: str) -> list[Raw]:
        text = object_text(line)
        if text is not None:
            obj = load_object(text)
            if obj is not None:
                return object_raw(obj, self._declared_steps)
        if self._regex is not None:
            return regex_raw(self._regex, line, self._declared_steps)
        if self._kv is None:
            return []
        return kv_scan(self._kv, line)


def _bulk_objects(candidates: list[str]) -> list[dict[str, Any] | None] | None:
    """Parse many one-object JSON lines with one ``json.loads``; None if not applicable."""
    if len(candidates) < _BULK_MIN:
        return None
    texts = [object_text(c) for c in candidates]
    idx = [i for i, t in enumerate(texts) if t is not None and t.endswith("}")]
    if len(idx) < _BULK_MIN:
        return None
    try:
        parsed = json.loads("[" + ",".join(texts[i] for i in idx) + "]")  # type: ignore[misc]
    except (ValueError, RecursionError):
        return None
    if len(parsed) != len(idx) or not all(type(o) is dict for o in parsed):
        return None
    objects: list[dict[str, Any] | None] = [None] * len(candidates)
    for i, obj in zip(idx, parsed, strict=True):
        objects[i] = obj
    return objects


def _loads_dict(text: str) -> dict[str, Any] | None:
    """A JSON object (the report channel is JSON only)."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if type(obj) is dict else None
