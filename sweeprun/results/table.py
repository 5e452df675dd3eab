"""Tables for the results commands: rich on a terminal, plain aligned columns elsewhere.

rich is imported lazily and only for a terminal (``display.py`` is the other rich user); plain
output is fast on 10,000 rows and easy to ``grep``/``awk``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from sweeprun.run.display import fmt_value

RICH_MAX_ROWS = 2000


def cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    return fmt_value(v)


def seconds(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 60:
        return f"{v:.1f}s"
    if v < 3600:
        return f"{int(v // 60)}m{int(v % 60):02d}s"
    return f"{int(v // 3600)}h{int(v % 3600 // 60):02d}m"


def print_json(data: Any, out: TextIO | None = None) -> None:
    (out or sys.stdout).write(json.dumps(data, indent=2, default=str, allow_nan=False) + "\n")


def render(
    columns: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print a table; ``rows`` are already formatted strings."""
    out = out or sys.stdout
    if out.isatty() and len(rows) <= RICH_MAX_ROWS:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left", header_style="bold", box=None)
        for c in columns:
            table.add_column(c, overflow="fold")
        for r in rows:
            table.add_row(*r)
        Console(file=out).print(table)
        return
    if title:
        out.write(title + "\n")
    widths = [len(c) for c in columns]
    for r in rows:
        for i, v in enumerate(r):
            widths[i] = max(widths[i], len(v))
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    out.write("\n".join(lines) + "\n")


def kv(pairs: Sequence[tuple[str, str]], out: TextIO | None = None) -> None:
    """``key: value`` lines, keys aligned."""
    out = out or sys.stdout
    width = max((len(k) for k, _ in pairs), default=0)
    for k, v in pairs:
        out.write(f"{(k + ':').ljust(width + 1)} {v}\n")
