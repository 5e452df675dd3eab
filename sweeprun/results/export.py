"""``sweeprun export``: one flat record per trial, written as CSV, a JSON array or JSON lines.

Columns: ``number``, ``state``, ``value`` (or ``value.<metric>`` for several metrics),
``param.<flat name>``, ``start``, ``end``, ``duration``, ``host``, ``exit_code``, ``reason``,
``stderr_line`` (the program's own line about a failure), ``attempt``, ``baseline`` and, with
``--curves``, ``curve`` (a list of ``[step, value]``; a JSON string in CSV).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from sweeprun.results.read import Objective, Row, iso

FORMATS = ("csv", "json", "jsonl")
TAIL = (
    "start",
    "end",
    "duration",
    "host",
    "exit_code",
    "reason",
    "stderr_line",
    "attempt",
    "baseline",
)


def value_columns(objectives: Sequence[Objective]) -> list[str]:
    if len(objectives) <= 1:
        return ["value"]
    return [f"value.{o.name}" for o in objectives]


def record(
    row: Row, objectives: Sequence[Objective], params: Sequence[str], curves: bool
) -> dict[str, Any]:
    rec: dict[str, Any] = {"number": row.number, "state": row.state}
    for i, col in enumerate(value_columns(objectives)):
        rec[col] = row.value(i)
    flat = row.flat
    for p in params:
        rec[f"param.{p}"] = flat.get(p)
    rec.update(
        start=iso(row.start),
        end=iso(row.end),
        duration=row.duration,
        host=row.host,
        exit_code=row.exit_code,
        reason=row.reason,
        stderr_line=row.stderr_line,
        attempt=row.attempt,
        baseline=row.baseline,
    )
    if curves:
        rec["curve"] = [[step, value] for step, value in row.curve]
    return rec


def columns(objectives: Sequence[Objective], params: Sequence[str], curves: bool) -> list[str]:
    cols = ["number", "state", *value_columns(objectives), *(f"param.{p}" for p in params)]
    return [*cols, *TAIL, *(["curve"] if curves else [])]


def _clean(v: Any) -> Any:
    if isinstance(v, float) and v != v:  # NaN is not JSON
        return None
    return v


def write(
    rows: Iterable[Row],
    objectives: Sequence[Objective],
    fmt: str,
    out: TextIO,
    curves: bool = False,
) -> int:
    """Write every row to ``out``; return how many."""
    rows = list(rows)
    params = sorted({k for r in rows for k in r.flat})
    records = [record(r, objectives, params, curves) for r in rows]
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=columns(objectives, params, curves))
        w.writeheader()
        for rec in records:
            if curves:
                rec["curve"] = json.dumps(rec["curve"])
            w.writerow({k: "" if v is None else v for k, v in rec.items()})
    elif fmt == "json":
        json.dump([{k: _clean(v) for k, v in r.items()} for r in records], out, indent=1)
        out.write("\n")
    else:
        for rec in records:
            out.write(json.dumps({k: _clean(v) for k, v in rec.items()}) + "\n")
    return len(records)
