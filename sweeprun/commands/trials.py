"""``sweeprun trials NAME``: a table of trials (params, value, state, duration, steps, host, and
why a failed trial failed: its reason and the program's stderr line)."""

from __future__ import annotations

from sweeprun.errors import SweepError


def run(
    name: str,
    storage: str | None = None,
    state: list[str] | None = None,
    sort: str | None = None,
    limit: int | None = None,
    json_out: bool = False,
) -> int:
    from datetime import datetime

    from sweeprun.results.read import load, parse_states, row_of, sort_rows
    from sweeprun.results.table import cell, print_json, render, seconds

    if limit is not None and limit < 1:
        raise SweepError("--limit must be at least 1")
    states = parse_states(state)
    loaded = load(storage, name, study=False)
    loaded.require_trials()
    now = datetime.now()
    rows = [row_of(t, now) for t in loaded.trials if states is None or t.state.name in states]
    rows = sort_rows(rows, sort, loaded.objectives)
    total = len(rows)
    if limit is not None:
        rows = rows[:limit]
    objectives = loaded.objectives
    if json_out:
        print_json(
            {
                "sweep": loaded.name,
                "metrics": [{"name": o.name, "goal": o.goal} for o in objectives],
                "total": total,
                "trials": [r.to_json(objectives) for r in rows],
            }
        )
        return 0
    if not rows:
        wanted = ", ".join(sorted(s.lower() for s in states or ()))
        print(f"sweep '{loaded.name}' has no {wanted} trials ({len(loaded.trials)} in all)")
        return 0
    params = sorted({k for r in rows for k in r.flat})
    cols = ["trial", "state", *(o.name for o in objectives), *params, "duration", "steps", "host"]
    why = any(r.failure for r in rows if r.state == "FAIL")
    if why:  # why each failed trial failed, the program's own stderr line included
        cols.append("reason")
    table = []
    for r in rows:
        flat = r.flat
        table.append(
            [
                str(r.number) + (" (baseline)" if r.baseline else ""),
                r.state.lower(),
                *(cell(r.value(i)) for i in range(len(objectives))),
                *(cell(flat.get(p)) for p in params),
                seconds(r.duration),
                cell(r.steps),
                cell(r.host),
                *([(r.failure or "-") if r.state == "FAIL" else "-"] if why else []),
            ]
        )
    shown = f" (first {len(rows)} of {total})" if len(rows) < total else ""
    render(cols, table, title=f"sweep {loaded.name}: {total} trials{shown}")
    return 0
