"""``sweeprun status [NAME]``: every sweep in the storage, or one sweep in detail."""

from __future__ import annotations

from typing import Any

#: failure groups (reason, stderr line) the text output lists; --json has them all
FAILURES_SHOWN = 10


def _best(best: dict[str, float] | None) -> str:
    from sweeprun.results.table import cell

    if not best:
        return "-"
    if len(best) == 1:
        return cell(next(iter(best.values())))
    return " ".join(f"{k}={cell(v)}" for k, v in best.items())


def _counts(c: dict[str, int]) -> str:
    parts = [f"{c.get(s, 0)} {s.lower()}" for s in ("COMPLETE", "PRUNED", "FAIL") if c.get(s)]
    parts += [f"{c[s]} {s.lower()}" for s in ("RUNNING", "WAITING") if c.get(s)]
    return ", ".join(parts) or "no trials"


def _overview(storage: str | None, json_out: bool) -> int:
    from sweeprun.results.status import overview
    from sweeprun.results.table import print_json, render

    where, sweeps = overview(storage)
    if json_out:
        print_json({"storage": where, "sweeps": sweeps})
        return 0
    if not sweeps:
        print(f"no sweeps in {where}; start one with `sweeprun start SWEEP.yaml`")
        return 0
    cols = [
        "sweep",
        "method",
        "state",
        "complete",
        "pruned",
        "failed",
        "running",
        "best",
        "started",
        "last activity",
    ]
    rows = [
        [
            s["name"],
            s["method"] or "(not sweeprun)",
            s["state"],
            *(str(s["counts"].get(k, 0)) for k in ("COMPLETE", "PRUNED", "FAIL", "RUNNING")),
            _best(s["best"]),
            (s["started"] or "-").replace("T", " "),
            (s["last_activity"] or "-").replace("T", " "),
        ]
        for s in sweeps
    ]
    render(cols, rows, title=f"sweeps in {where}")
    return 0


def _detail(d: dict[str, Any]) -> None:
    import shlex

    from sweeprun.results.table import kv, render, seconds

    cfg = d["config"]
    budget = d["budget"]
    cap = budget["cap"]
    used = f"{budget['counted']}/{cap} trials" if cap else f"{budget['counted']} trials (no cap)"
    if budget["grid"]:
        used += f", grid of {budget['grid']} points"
    metrics = ", ".join(f"{m['name']} ({m['goal']})" for m in cfg["metrics"]) or "-"
    program = cfg["program"] or (shlex.join(cfg["command"]) if cfg["command"] else "-")
    pairs = [
        ("sweep", f"{d['name']} ({d['state']})"),
        ("storage", d["storage"]),
        ("program", program),
        ("method", cfg["method"]),
        ("metric", metrics),
        ("parameters", ", ".join(cfg["parameters"])),
        ("early stop", cfg["early_terminate"] or "-"),
        ("budget", used),
        ("trials", _counts(d["counts"])),
        (
            "best",
            _best(d["best"])
            + (f" (trial {', '.join(map(str, d['best_trials']))})" if d["best_trials"] else ""),
        ),
        ("started", (d["started"] or "-").replace("T", " ")),
        ("last activity", (d["last_activity"] or "-").replace("T", " ")),
    ]
    if cfg["description"]:
        pairs.insert(1, ("description", cfg["description"]))
    kv(pairs)
    if d["running"]:
        from sweeprun.run.display import fmt_params

        print()
        render(
            ["trial", "host", "pid", "elapsed", "params"],
            [
                [
                    str(r["number"]),
                    r["host"] or "-",
                    str(r["pid"] or "-"),
                    seconds(r["elapsed"]),
                    fmt_params(r["params"]),
                ]
                for r in d["running"]
            ],
            title="running",
        )
    if d["failures"]:
        print()
        shown = d["failures"][:FAILURES_SHOWN]
        render(
            ["count", "reason", "stderr"],
            [[str(f["count"]), f["reason"], f["stderr_line"] or "-"] for f in shown],
            title="failures",
        )
        if len(d["failures"]) > len(shown):
            rest = sum(f["count"] for f in d["failures"][len(shown) :])
            print(
                f"... and {rest} more failed trials with other reasons "
                f"(`sweeprun trials {d['name']} --state fail`)"
            )


def run(name: str | None = None, storage: str | None = None, json_out: bool = False) -> int:
    if name is None:
        return _overview(storage, json_out)
    from sweeprun.results.read import SUMMARY_ATTRS, load
    from sweeprun.results.status import detail
    from sweeprun.results.table import print_json

    loaded = load(storage, name, attrs=SUMMARY_ATTRS, intermediate=False, params=False, study=False)
    d = detail(loaded)
    if json_out:
        print_json(d)
    else:
        _detail(d)
    return 0
