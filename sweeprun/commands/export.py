"""``sweeprun export NAME --format csv|json|jsonl [-o FILE] [--curves]``."""

from __future__ import annotations

import sys
from pathlib import Path

from sweeprun.errors import SweepError


def run(
    name: str,
    storage: str | None = None,
    format: str = "csv",
    output: Path | None = None,
    curves: bool = False,
) -> int:
    from sweeprun.errors import did_you_mean
    from sweeprun.results.export import FORMATS, write
    from sweeprun.results.read import load, row_of

    fmt = format.lower()
    if fmt not in FORMATS:
        hint = did_you_mean(fmt, FORMATS)
        raise SweepError(
            f"unknown export format '{format}'"
            + (f"; {hint}" if hint else "")
            + f"\n    formats: {', '.join(FORMATS)}"
        )
    loaded = load(storage, name)
    loaded.require_trials()
    rows = [row_of(t) for t in loaded.trials]
    if output is None:
        write(rows, loaded.objectives, fmt, sys.stdout, curves)
        return 0
    tmp = output.with_name(output.name + ".part")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            n = write(rows, loaded.objectives, fmt, fh, curves)
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SweepError(f"cannot write {output}: {exc.strerror or exc}") from None
    print(f"wrote {n} trials of sweep '{name}' to {output}", file=sys.stderr)
    return 0
