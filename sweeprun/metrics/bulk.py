"""Many lines at once, as columns: what :meth:`~sweeprun.metrics.parser.MetricParser.fold`
uses for metric floods. The rules are those of :mod:`sweeprun.metrics.grammar`; only their
application differs: per metric name, its values and steps in order, in chunks of one kind
(text or structured; the order between names is not kept, nothing depends on it). The work is
done by C-level calls over a whole batch:

* a run of lines that all start with ``{``: one ``json.loads`` of ``[line,\\nline,...]``, then
  a column per key (``dict.get`` mapped over the objects). The bulk parse gives the objects of
  the single lines only when no line can continue the next one: strings cannot cross the
  ``\\n`` (strict JSON), an object cannot go on with ``{``, and an array could, so any line
  holding ``[`` must parse alone first. Duplicate flattened names, deep nesting, odd steps,
  Python-literal dicts, ``\\r`` or many distinct keys (a column per key would cost
  lines × keys) send the run back to the line-by-line route.
* a run of lines without ``{``: the first line with a ``name=value`` gives a template (its
  text, with every value the kv scan found made a capture group of the same pattern); one
  ``findall`` over the run matches it against every line. Lines that do not fit it are fine
  when they cannot hold a declared name; otherwise (or with a ``\\r``) the run goes line by
  line.

Anything else goes line by line (the parser's route, with the same grammar).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from itertools import chain, compress, repeat
from operator import itemgetter
from typing import Any

from sweeprun.metrics.grammar import MAX_STEP, NUMBER, STEP_KEYS, Raw, step_of

Steps = Sequence["int | None"] | None  # None: no line has a step

_NUMERIC = frozenset({int, float})
_DICT = frozenset({dict})
_MAX_DEPTH = 8  # deeper objects go line by line
_WIDE = 16  # more distinct keys than this and many more than per line: line by line
_TEMPLATE_TRIES = 3  # lines with a declared name tried as the template of a kv run
# a declared name made of these characters only could hide inside a number or a separator
_NUMBER_CHARS = frozenset("0123456789.+-eEnNaAiIfFtTyY")
_SEPARATOR_CHARS = frozenset(' \t:="\r')


class Columns:
    """The values of one batch, per metric name, in order, as chunks of values that share a
    kind (text or structured); steps not yet numbered. The parser folds them
    (:meth:`sweeprun.metrics.parser.MetricParser.fold`)."""

    def __init__(self) -> None:
        self.chunks: dict[str, list[Chunk]] = {}

    def add(self, name: str, values: list[float], steps: Steps, text: bool = False) -> None:
        if values:
            self.chunks.setdefault(name, []).append(Chunk(values, steps, text))

    def add_raw(self, raw: Iterable[Raw]) -> None:
        chunks = self.chunks
        for name, value, step, text in raw:
            mine = chunks.get(name)
            if mine is None:
                chunks[name] = [Chunk([value], [step], text)]
                continue
            last = mine[-1]
            if last.text is not text:
                mine.append(Chunk([value], [step], text))
                continue
            if last.steps is None:
                last.steps = [None] * len(last.values)
            last.values.append(value)
            last.steps.append(step)


class Chunk:
    """Consecutive values of one name and one kind; ``steps`` None: none has a step."""

    __slots__ = ("steps", "text", "values")

    def __init__(self, values: list[float], steps: Steps, text: bool) -> None:
        self.values = values
        self.steps: list[int | None] | None = None if steps is None else list(steps)
        self.text = text


def reportable(values: list[float], first: int) -> list[int]:
    """Indices of the first ``first`` finite values and of the last finite one."""
    chosen: list[int] = []
    if first > 0:
        for i, v in enumerate(values):
            if math.isfinite(v):
                chosen.append(i)
                if len(chosen) >= first:
                    break
    for i in range(len(values) - 1, -1, -1):
        if math.isfinite(values[i]):
            if not chosen or chosen[-1] < i:
                chosen.append(i)
            break
    return chosen


def numbered(steps: list[int | None] | None, n0: int, n: int) -> Sequence[int]:
    """The step of each value: its own, or its index among the values of its name."""
    if steps is None:
        return range(n0, n0 + n)
    if None not in steps:
        return steps  # type: ignore[return-value]
    return [n0 + i if s is None else s for i, s in enumerate(steps)]


# ---- JSON ------------------------------------------------------------------------------------


def json_run(lines: list[str], text: str, declared_steps: frozenset[str], out: Columns) -> bool:
    """Columns of a run of lines that all start with ``{``; False when it must go line by
    line (then nothing was added)."""
    if "\r" in text:  # a progress bar's \r: only the part after it counts
        return False
    if "[" in text:  # an array left open could swallow the next line: check those lines alone
        for line in lines:
            if "[" in line and type(_loads(line)) is not dict:
                return False
    try:
        objs = json.loads("[" + ",\n".join(lines) + "]")
    except (ValueError, RecursionError):
        return False
    if len(objs) != len(lines) or set(map(type, objs)) != _DICT:
        return False
    return objects_into(objs, declared_steps, out)


def objects_into(objs: list[dict[str, Any]], declared_steps: frozenset[str], out: Columns) -> bool:
    """Columns of many JSON objects (one per line) into ``out``; False (nothing added) when
    they must go line by line."""
    keys = set(chain.from_iterable(objs))
    steps = _step_column(objs, keys)
    cols: list[tuple[str, list[float], Steps]] = []
    if not _columns(objs, keys, steps, "", declared_steps, cols, 0):
        return False
    names = [c[0] for c in cols]
    if len(set(names)) != len(names):  # {"a.b": 1, "a": {"b": 2}}: the order inside a line
        return False
    for name, values, col_steps in cols:
        out.add(name, values, col_steps)
    return True


def _columns(
    objs: list[dict[str, Any]],
    keys: Collection[str],
    steps: Steps,
    prefix: str,
    declared_steps: frozenset[str],
    cols: list[tuple[str, list[float], Steps]],
    depth: int,
) -> bool:
    if len(keys) > _WIDE and len(keys) * len(objs) > _WIDE * sum(map(len, objs)):
        return False  # distinct keys: a column per key would cost lines x keys
    for key in keys:
        if key in STEP_KEYS and key not in declared_steps:
            continue
        col: list[Any] = list(map(dict.get, objs, repeat(key)))
        types = set(map(type, col))
        name = prefix + key
        if types == {float}:  # the common case: a float on every line
            cols.append((name, col, steps))
            continue
        if types & _NUMERIC:
            mask = list(map(_NUMERIC.__contains__, map(type, col)))
            values: list[Any] = list(compress(col, mask))
            if int in types:
                values = _floats(values)
            col_steps = None if steps is None else list(compress(steps, mask))
            cols.append((name, values, col_steps))
        if dict in types:
            if depth >= _MAX_DEPTH:
                return False
            mask = list(map(_DICT.__contains__, map(type, col)))
            sub = list(compress(col, mask))
            sub_steps = None if steps is None else list(compress(steps, mask))
            sub_keys = set(chain.from_iterable(sub))
            if not _columns(sub, sub_keys, sub_steps, name + ".", declared_steps, cols, depth + 1):
                return False
    return True


def _floats(values: list[Any]) -> list[float]:
    try:
        return list(map(float, values))
    except OverflowError:  # an int too big for a float
        return [v if type(v) is float else _big(v) for v in values]


def _big(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def _step_column(objs: list[dict[str, Any]], keys: set[str]) -> Steps:
    """The step of each object (:func:`~sweeprun.metrics.grammar.step_of`), in bulk when one
    plain int key gives it."""
    present = [k for k in STEP_KEYS if k in keys]
    if not present:
        return None
    if len(present) == 1:
        col: list[Any] = list(map(dict.get, objs, repeat(present[0])))
        types = set(map(type, col))
        if types <= {int, type(None)}:
            ints = col if type(None) not in types else [c for c in col if c is not None]
            if not ints or (min(ints) >= -MAX_STEP and max(ints) <= MAX_STEP):
                return col
    return list(map(step_of, objs))


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# ---- name=value ------------------------------------------------------------------------------


def kv_ready(names: Sequence[str]) -> bool:
    """Whether kv runs of these declared names can use templates: no name could be read
    inside a number or a separator."""
    return all(
        name and not set(name) <= _NUMBER_CHARS and not set(name) & _SEPARATOR_CHARS
        for name in names
    )


def kv_run(
    kv: re.Pattern[str], lines: list[str], text: str, wanted: Callable[[str], bool], out: Columns
) -> bool:
    """Columns of a run of lines without ``{`` by a template of the text scan ``kv``
    (:func:`~sweeprun.metrics.grammar.kv_pattern`); False (nothing added) when it must go line
    by line."""
    if "\r" in text:  # a progress bar's \r: only the last segment counts
        return False
    template = None
    tries = 0
    for line in lines:
        if not wanted(line):
            continue
        template = _template(kv, line, NUMBER)
        tries += 1
        if template is not None or tries >= _TEMPLATE_TRIES:
            break
    if template is None:
        return False
    pattern, kinds = template
    rows = re.compile(pattern, re.MULTILINE).findall(text)
    if len(rows) != len(lines):
        return False
    fits = list(map(itemgetter(0), rows))  # a value: never empty when the template fits
    if not all(fits):  # lines it does not fit: they must not hold a declared name
        if wanted("\n".join(filter(None, map(itemgetter(len(kinds)), rows)))):
            return False
        rows = list(compress(rows, map(bool, fits)))
        fits = list(map(itemgetter(0), rows))
    cols = [fits] + [list(map(itemgetter(i), rows)) for i in range(1, len(kinds))]
    steps: list[int] | None = None
    if None in kinds:  # the first step on the line is its step: all must be valid
        col = cols[kinds.index(None)]
        if max(map(len, col), default=0) > 10:
            return False
        steps = list(map(int, col))
        if steps and max(steps) > MAX_STEP:
            return False
    by_name: dict[str, list[list[str]]] = {}
    for kind, col in zip(kinds, cols, strict=True):
        if kind is not None:
            by_name.setdefault(kind, []).append(col)
    parsed: list[tuple[str, list[float], list[int] | None]] = []
    for name, texts in by_name.items():
        flat = texts[0] if len(texts) == 1 else chain.from_iterable(zip(*texts, strict=True))
        try:
            values = list(map(float, flat))
        except ValueError:  # "1.2.3": no event, as line by line
            return False
        name_steps = steps
        if steps is not None and len(texts) > 1:
            name_steps = list(chain.from_iterable(zip(*([steps] * len(texts)), strict=True)))
        parsed.append((name, values, name_steps))
    for name, values, name_steps in parsed:
        out.add(name, values, name_steps, text=True)
    return True


def _template(kv: re.Pattern[str], line: str, number: str) -> tuple[str, list[str | None]] | None:
    """``^(?:<line with its values as groups>|(.*))$`` and the kind of each group (a metric
    name, None for a step); None when the line has no metric value."""
    parts: list[str] = []
    kinds: list[str | None] = []
    pos = 0
    for m in kv.finditer(line):
        if m.group(1):
            start, end = m.span(2)
            group = r"(\d+)"
            kinds.append(None)
        else:
            start, end = m.span(4)
            group = f"({number})"
            kinds.append(m.group(3))
        parts += [re.escape(line[pos:start]), group]
        pos = end
    if not any(kinds):
        return None
    parts.append(re.escape(line[pos:]))
    return "^(?:" + "".join(parts) + "|(.*))$", kinds
