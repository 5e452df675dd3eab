"""Pure metric parsing: lines a trial prints → :class:`MetricEvent`; a per-trial :class:`Summary`.

What counts as a metric (SPEC §3):

* a line that is a JSON object (after stripping; also the segment after the last ``\\r``, so
  progress bars don't hide it): one event per numeric top-level value (``bool`` excluded).
  Nested objects are flattened with dots: ``{"val": {"loss": 1}}`` → ``val.loss``.
  ``step``/``_step``/``epoch``/``iteration`` give the step and are not events themselves
  (unless declared as a metric name);
* ``sweeprun.report: {...}`` — what :func:`sweeprun.report` prints outside a sweep — is
  read like a JSON line, so that last-resort channel still reaches sweeprun;
* for declared metric names: ``name=value`` or ``name: value`` anywhere on a line
  (``epoch 3 val_loss=0.31 acc: 0.9``); the step is ``step``/``epoch``/... on the same line;
* with ``fmt="regex"``: a user pattern instead of ``name=value``; named groups are metric
  names (``step``/``epoch``/... give the step), or groups ``name`` and ``value`` name one.

A JSON object line that fails to parse (truncated) still gets the ``name=value`` scan.
The step of an event without one is its index among the events of that metric (0, 1, 2, …),
per parser — i.e. per trial. Non-finite values (nan, inf, a number too big for a float) are
events with ``finite == False``; :class:`Summary` ignores them for best/last.
Garbage never raises.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import TYPE_CHECKING, Any, Literal

from sweeprun.metrics.summary import MetricStats, Summary

if TYPE_CHECKING:
    from sweeprun.metrics.bulk import Columns

__all__ = ["MAX_STEP", "MetricEvent", "MetricParser", "MetricStats", "Summary"]

STEP_KEYS: tuple[str, ...] = ("step", "_step", "epoch", "iteration")
REPORT_PREFIX = "sweeprun.report: "
# a number-looking token; float() has the last word (``1.2.3`` is dropped)
_NUMBER = r"[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|[-+]?[nN]a[nN]|[-+]?[iI]nf(?:inity)?"
_BULK_MIN = 32  # JSON candidates parsed in one json.loads call from this many on
# a step beyond this is no step (the report's index is used): storages keep steps in 32-bit
# integer columns, and ``int()`` refuses a step of more than 4300 digits
MAX_STEP = 2**31 - 1

Format = Literal["json", "kv", "regex"]
Goal = Literal["minimize", "maximize"]
Mode = Literal["best", "last"]


@dataclass(frozen=True, slots=True)
class MetricEvent:
    name: str
    value: float
    step: int | None

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)


def _to_float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an int too big for a float
        return math.inf if value > 0 else -math.inf


def _parse_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class MetricParser:
    """Stateful per trial (it numbers the reports of each metric). Not thread-safe."""

    def __init__(
        self, names: Iterable[str] = (), fmt: Format = "json", pattern: str | None = None
    ) -> None:
        self.names: tuple[str, ...] = tuple(dict.fromkeys(n for n in names if n))
        self.fmt = fmt
        self._counts: dict[str, int] = {}
        self._declared_steps = frozenset(self.names) & frozenset(STEP_KEYS)
        self._regex: re.Pattern[str] | None = None
        self._kv: re.Pattern[str] | None = None
        if fmt == "regex":
            if not pattern:
                raise ValueError("report.format 'regex' needs report.pattern")
            self._regex = re.compile(pattern)
        elif self.names:
            alternation = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
            self._kv = re.compile(
                r"(?<![\w.\-/])(?:(step|_step|epoch|iteration)\"?(?:[ \t]*[:=][ \t]*|[ \t]+)(\d+)"
                rf'|({alternation})"?[ \t]*[:=][ \t]*"?({_NUMBER}))'
            )
        self._wanted = _substring_filter(("{", *self.names) if self._kv is not None else ("{",))

    # -- public API ------------------------------------------------------------------------

    def feed(self, line: str) -> list[MetricEvent]:
        """Events of one stdout line (without or with its newline)."""
        if self._regex is None and not self._wanted(line):
            return []
        return self._number(self._parse_line(line))

    def feed_report(self, line: str) -> list[MetricEvent]:
        """Events of one line of the ``sweeprun.report`` channel (a JSON object per line)."""
        obj = _loads_object(line.strip())
        return self._number(self._from_object(obj)) if obj is not None else []

    def feed_many(self, lines: list[str]) -> list[MetricEvent]:
        """Events of many stdout lines, in order; much faster than calling :meth:`feed`."""
        return self._number(self._raw_many(lines)) if lines else []

    def fold(
        self, lines: list[str], summary: Summary, keep: str | None = None, first: int = 0
    ) -> list[MetricEvent]:
        """Add every value of many stdout lines to ``summary`` (the same values and steps as
        :meth:`feed_many`, parsed by the batch: many times faster on metric floods). Returns
        the finite events of metric ``keep`` that a rate-limited consumer can still use: the
        first ``first`` and the last."""
        from sweeprun.metrics.bulk import Columns

        cols = Columns()
        if lines:
            self._fold_lines(lines, cols)
        return cols.fold(self._counts, summary, keep, first)

    def fold_reports(
        self, lines: list[str], summary: Summary, keep: str | None = None, first: int = 0
    ) -> list[MetricEvent]:
        """:meth:`fold` for lines of the ``sweeprun.report`` channel (:meth:`feed_report`)."""
        from sweeprun.metrics.bulk import Columns, json_run

        cols = Columns()
        text = "\n".join(lines)
        if not (
            text.startswith("{")
            and text.count("\n{") == len(lines) - 1
            and json_run(lines, text, self._declared_steps, cols)
        ):
            for line in lines:
                obj = _loads_object(line.strip())
                if obj is not None:
                    cols.add_raw(self._from_object(obj))
        return cols.fold(self._counts, summary, keep, first)

    # -- internals -------------------------------------------------------------------------

    def _raw_many(self, lines: list[str]) -> list[tuple[str, float, int | None]]:
        if self._regex is not None:
            out: list[tuple[str, float, int | None]] = []
            for line in lines:
                out += self._parse_line(line)
            return out
        candidates = [line for line in lines if self._wanted(line)]
        if not candidates:
            return []
        raw: list[tuple[str, float, int | None]] = []
        objects = self._bulk_objects(candidates)
        if objects is None:
            for line in candidates:
                raw += self._parse_line(line)
        else:
            for line, obj in zip(candidates, objects, strict=True):
                raw += self._from_object(obj) if obj is not None else self._parse_line(line)
        return raw

    def _fold_lines(self, lines: list[str], cols: Columns) -> None:
        """Columns of many stdout lines: runs of ``{`` lines and of other lines in bulk
        (:mod:`sweeprun.metrics.bulk`), line by line where that cannot be done."""
        from sweeprun.metrics.bulk import json_run, kv_ready, kv_run

        text = "\n".join(lines)
        if self._regex is not None or not self._wanted(text):
            if self._regex is not None:
                cols.add_raw(self._raw_many(lines))
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
        kv_ok = self._kv is not None and kv_ready(self.names)
        for is_json, run, run_text in runs:
            if is_json:
                if not json_run(run, run_text, self._declared_steps, cols):
                    cols.add_raw(self._raw_many(run))
            elif self._wanted(run_text) and not (
                kv_ok and "{" not in run_text and kv_run(self, run, run_text, self._wanted, cols)
            ):
                cols.add_raw(self._raw_many(run))

    def _bulk_objects(self, candidates: list[str]) -> list[dict[str, Any] | None] | None:
        """Parse many one-object JSON lines with one ``json.loads``; None if not applicable."""
        if len(candidates) < _BULK_MIN:
            return None
        texts = [_json_text(c) for c in candidates]
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

    def _parse_line(self, line: str) -> list[tuple[str, float, int | None]]:
        text = _json_text(line)
        if text is not None:
            obj = _loads_object(text)
            if obj is not None:
                return self._from_object(obj)
        if self._regex is not None:
            return self._from_regex(line)
        if self._kv is None:
            return []
        step: int | None = None
        out: list[tuple[str, float, int | None]] = []
        for step_key, step_text, name, number in self._kv.findall(line):
            if step_key:
                if step is None and len(step_text) <= 10 and int(step_text) <= MAX_STEP:
                    step = int(step_text)
            else:
                value = _parse_number(number)
                if value is not None:
                    out.append((name, value, None))
        if step is not None and out:
            return [(name, value, step) for name, value, _ in out]
        return out

    def _from_regex(self, line: str) -> list[tuple[str, float, int | None]]:
        assert self._regex is not None
        out: list[tuple[str, float, int | None]] = []
        for m in self._regex.finditer(line):
            groups = {k: v for k, v in m.groupdict().items() if v is not None}
            if "name" in groups and "value" in groups:
                value = _parse_number(groups["value"].strip())
                pairs = [(groups["name"], value)] if value is not None else []
            else:
                pairs = []
                for k, v in groups.items():
                    number = _parse_number(v.strip())
                    if number is not None and (k not in STEP_KEYS or k in self._declared_steps):
                        pairs.append((k, number))
            step = _step_of({k: _parse_number(v.strip()) for k, v in groups.items()})
            out += [(n, v, step) for n, v in pairs]
        return out

    def _from_object(self, obj: Mapping[str, Any]) -> list[tuple[str, float, int | None]]:
        step = _step_of(obj)
        out: list[tuple[str, float, int | None]] = []
        for key, value in obj.items():
            if key in STEP_KEYS and key not in self._declared_steps:
                continue
            number = _to_float(value)
            if number is not None:
                out.append((key, number, step))
            elif isinstance(value, dict):
                out += [(f"{key}.{k}", v, step) for k, v, _ in self._from_object(value)]
        return out

    def _number(self, raw: list[tuple[str, float, int | None]]) -> list[MetricEvent]:
        counts = self._counts
        events = []
        for name, value, step in raw:
            n = counts.get(name, 0)
            counts[name] = n + 1
            events.append(MetricEvent(name, value, n if step is None else step))
        return events


def _substring_filter(needles: tuple[str, ...]) -> Callable[[str], bool]:
    """A fast "does the line contain any needle" test (plain ``in``, no regex, no generator)."""
    if len(needles) == 1:
        (a,) = needles
        return lambda line: a in line
    if len(needles) == 2:
        a, b = needles
        return lambda line: a in line or b in line
    if len(needles) == 3:
        a, b, c = needles
        return lambda line: a in line or b in line or c in line
    pattern = re.compile("|".join(re.escape(n) for n in needles))
    return lambda line: pattern.search(line) is not None


def _json_text(line: str) -> str | None:
    """The JSON object text of a line, or None when the line is not one."""
    if "\r" in line:
        line = line.rpartition("\r")[2] or line.rstrip("\r").rpartition("\r")[2]
    text = line.strip()
    if text.startswith("{"):
        return text
    if text.startswith(REPORT_PREFIX):
        text = text[len(REPORT_PREFIX) :].lstrip()
        return text if text.startswith("{") else None
    return None


def _loads_object(text: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return obj if type(obj) is dict else None


def _step_of(obj: Mapping[str, Any]) -> int | None:
    for key in STEP_KEYS:
        if key in obj:
            value = _to_float(obj[key])
            if value is not None and math.isfinite(value) and abs(value) <= MAX_STEP:
                return int(value)
    return None
