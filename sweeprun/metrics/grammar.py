"""What a metric line is: the one grammar that turns a line a trial prints into raw values.

This module holds the rules only (pure functions, no state); :mod:`sweeprun.metrics.parser`
applies them line by line and numbers the events, :mod:`sweeprun.metrics.bulk` applies the same
rules to a whole batch at once (metric floods). SPEC §3:

* **Structured lines.** A line whose text (stripped; of a progress-bar line only the segment
  after the last ``\\r``) is an object gives one value per numeric top-level entry (``bool``
  excluded); nested objects are flattened with dots (``{"val": {"loss": 1}}`` → ``val.loss``).
  The object is JSON, or a Python-literal dict (``{'val_loss': 0.25}``, with numpy / torch
  scalar reprs such as ``np.float64(0.25)`` and ``tensor(0.25, grad_fn=...)``, and ``nan`` /
  ``inf``; read by :mod:`sweeprun.metrics.literal` with :func:`ast.literal_eval`, never
  ``eval``). The text may follow ``sweeprun.report: `` (what :func:`sweeprun.report` prints
  outside a sweep) or a stdlib ``logging`` prefix (``INFO:root:{...}``). Lines of the
  ``sweeprun.report`` channel are structured too. ``step``/``_step``/``epoch``/``iteration``
  give the step and are no values themselves (unless declared as a metric name).
* **Text.** For declared metric names only: ``name=value`` or ``name: value`` anywhere in the
  last ``\\r`` segment of a line (``epoch 3 val_loss=0.31 acc: 0.9``, ``INFO:root:val_loss=0.3``;
  the redraws of a progress bar before its last ``\\r`` give nothing); the step is
  ``step``/``epoch``/... in the same segment. An object line that fails to parse (truncated)
  still gets this scan.
* **Regex.** With ``report.format: regex``: the user's pattern instead of the text scan; named
  groups are metric names (``step``/``epoch``/... give the step), or groups ``name`` and
  ``value`` name one. Its values count as structured (the user said what they mean).

**Precedence, per metric name:** structured values win over text. Once a metric has arrived
as a structured value (object line on any stream, the report channel, a regex match), text
values of that name are ignored for the rest of the trial; text values taken before that are
dropped from the trial's summary when the first structured one arrives (so prose such as
``best so far val_loss: 0.5`` never becomes the trial's value next to JSON lines). A metric
the program only ever prints as text is read from text. See docs/decisions.md.

Values too big for a float are ±inf; non-finite values are values (``finite == False``) that
the summary ignores for best/last. A step beyond :data:`MAX_STEP` is no step. Garbage never
raises.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sweeprun.metrics.literal import python_dict

__all__ = [
    "MAX_STEP",
    "NUMBER",
    "REPORT_PREFIX",
    "STEP_KEYS",
    "Format",
    "Goal",
    "MetricEvent",
    "Mode",
    "Raw",
    "kv_pattern",
    "kv_scan",
    "last_segment",
    "load_object",
    "object_raw",
    "object_text",
    "parse_number",
    "regex_raw",
    "step_of",
    "substring_filter",
    "to_float",
]

STEP_KEYS: tuple[str, ...] = ("step", "_step", "epoch", "iteration")
REPORT_PREFIX = "sweeprun.report: "
#: a number-looking token; float() has the last word (``1.2.3`` is dropped)
NUMBER = r"[-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?|[-+]?[nN]a[nN]|[-+]?[iI]nf(?:inity)?"
#: a step beyond this is no step (the report's index is used): storages keep steps in 32-bit
#: integer columns, and ``int()`` refuses a step of more than 4300 digits
MAX_STEP = 2**31 - 1
# stdlib logging's default format (``%(levelname)s:%(name)s:%(message)s``) before an object
_LOGGING_PREFIX = re.compile(r"(?:DEBUG|INFO|WARNING|ERROR|CRITICAL):[^\s:{]*:\s*(?=\{)")

Format = Literal["json", "kv", "regex"]
Goal = Literal["minimize", "maximize"]
Mode = Literal["best", "last"]
#: one value as a rule gives it: name, value, its own step (or None), whether it is text
Raw = tuple[str, float, "int | None", bool]


@dataclass(frozen=True, slots=True)
class MetricEvent:
    name: str
    value: float
    step: int | None
    #: read by the text scan (``name=value``), not from a structured line; see the precedence
    text: bool = field(default=False, compare=False)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.value)


def to_float(value: Any) -> float | None:
    """A number of an object as a float (``bool`` and non-numbers: None; too big: ±inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:  # an int too big for a float
        return math.inf if value > 0 else -math.inf


def parse_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def step_of(obj: Mapping[str, Any]) -> int | None:
    """The step an object gives: its first step key with a finite number within range."""
    for key in STEP_KEYS:
        if key in obj:
            value = to_float(obj[key])
            if value is not None and math.isfinite(value) and abs(value) <= MAX_STEP:
                return int(value)
    return None


def last_segment(line: str) -> str:
    """What a terminal shows of a line: the part after its last ``\\r`` (the last non-empty
    one when the line ends with ``\\r``)."""
    if "\r" not in line:
        return line
    return line.rpartition("\r")[2] or line.rstrip("\r").rpartition("\r")[2]


def object_text(line: str) -> str | None:
    """The object text of a line (JSON or Python literal, not yet parsed), or None."""
    text = last_segment(line).strip()
    if text.startswith("{"):
        return text
    if text.startswith(REPORT_PREFIX):
        text = text[len(REPORT_PREFIX) :].lstrip()
        return text if text.startswith("{") else None
    if "{" in text and text[:1].isupper():
        m = _LOGGING_PREFIX.match(text)
        if m is not None:
            return text[m.end() :]
    return None


def load_object(text: str) -> dict[str, Any] | None:
    """The object of an object text: JSON, else a Python-literal dict; None if neither."""
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return python_dict(text)
    return obj if type(obj) is dict else None


def object_raw(obj: Mapping[str, Any], declared_steps: frozenset[str]) -> list[Raw]:
    """The values of one object, flattened with dots, each with the object's step."""
    step = step_of(obj)
    out: list[Raw] = []
    for key, value in obj.items():
        if key in STEP_KEYS and key not in declared_steps:
            continue
        number = to_float(value)
        if number is not None:
            out.append((key, number, step, False))
        elif isinstance(value, dict):
            out += [
                (f"{key}.{k}", v, step, False) for k, v, _, _ in object_raw(value, declared_steps)
            ]
    return out


def kv_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """The text scan of declared ``names``: a step (group 1, 2) or a value (group 3, 4)."""
    names = tuple(names)
    if not names:
        return None
    alternation = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(
        r"(?<![\w.\-/])(?:(step|_step|epoch|iteration)\"?(?:[ \t]*[:=][ \t]*|[ \t]+)(\d+)"
        rf'|({alternation})"?[ \t]*[:=][ \t]*"?({NUMBER}))'
    )


def kv_scan(kv: re.Pattern[str], line: str) -> list[Raw]:
    """Text values of a line (its last ``\\r`` segment) with the segment's first step."""
    step: int | None = None
    out: list[Raw] = []
    for step_key, step_text, name, number in kv.findall(last_segment(line)):
        if step_key:
            if step is None and len(step_text) <= 10 and int(step_text) <= MAX_STEP:
                step = int(step_text)
        else:
            value = parse_number(number)
            if value is not None:
                out.append((name, value, None, True))
    if step is not None and out:
        return [(name, value, step, True) for name, value, _, _ in out]
    return out


def regex_raw(regex: re.Pattern[str], line: str, declared_steps: frozenset[str]) -> list[Raw]:
    """Values of a line by the user's ``report.pattern`` (structured)."""
    out: list[Raw] = []
    for m in regex.finditer(line):
        groups = {k: v for k, v in m.groupdict().items() if v is not None}
        if "name" in groups and "value" in groups:
            value = parse_number(groups["value"].strip())
            pairs = [(groups["name"], value)] if value is not None else []
        else:
            pairs = []
            for k, v in groups.items():
                number = parse_number(v.strip())
                if number is not None and (k not in STEP_KEYS or k in declared_steps):
                    pairs.append((k, number))
        step = step_of({k: parse_number(v.strip()) for k, v in groups.items()})
        out += [(n, v, step, False) for n, v in pairs]
    return out


def substring_filter(needles: tuple[str, ...]) -> Callable[[str], bool]:
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
