"""``sweeprun report NAME -o report.html``: a self-contained HTML report with plots."""

from __future__ import annotations

import sys
from pathlib import Path

from sweeprun.errors import SweepError


def run(name: str, output: Path, storage: str | None = None) -> int:
    from sweeprun.results.read import load
    from sweeprun.results.report_html import report_html, require_plotly

    require_plotly()  # before touching the storage: a missing extra is the first thing to say
    loaded = load(storage, name)
    loaded.require_trials()
    page, plots = report_html(loaded)
    tmp = output.with_name(output.name + ".part")
    try:
        tmp.write_text(page, encoding="utf-8")
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SweepError(f"cannot write {output}: {exc.strerror or exc}") from None
    drawn = sum(1 for p in plots if p.html)
    print(f"wrote {output} ({drawn} plots, {len(page) // 1024} KiB)")
    for p in plots:
        if p.note:
            print(f"  {p.title}: {p.note}", file=sys.stderr)
    return 0
