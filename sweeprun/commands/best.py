"""``sweeprun best NAME [--top K] [--script FILE]``: the best trial(s), how to reproduce each
(the command with the environment the program got, :mod:`sweeprun.results.reproduce`), and the
gain over the baseline. With several metrics, rank 1 is the Pareto front and ``--top K`` shows
the first K fronts. ``--script FILE`` writes the first one shown as a sh script that recreates
the trial's parameter files, so it runs on another machine too."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from sweeprun.errors import SweepError


def _write_script(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
        os.chmod(path, 0o755)
    except OSError as exc:
        raise SweepError(
            f"--script: cannot write {path}: {exc.strerror or exc}\n"
            "    fix: name a file in a directory you can write"
        ) from None


def run(
    name: str,
    storage: str | None = None,
    top: int = 1,
    json_out: bool = False,
    script: str | None = None,
) -> int:
    from sweeprun.results.rank import baseline_improvement, best_trials, describe_improvement
    from sweeprun.results.read import load, row_of, state_counts
    from sweeprun.results.reproduce import reproduction
    from sweeprun.results.table import cell, print_json, seconds
    from sweeprun.run.display import fmt_params

    if top < 1:
        raise SweepError("--top must be at least 1")
    loaded = load(
        storage,
        name,
        attrs=("sweeprun.baseline",),
        intermediate=False,
        params=False,
        study=False,
    )
    loaded.require_trials()
    objectives = loaded.objectives
    if not objectives:
        raise SweepError(f"sweep '{name}' has no metric, so no trial is best")
    ranks = best_trials(loaded.trials, objectives, top)
    if not ranks:
        counts = state_counts(loaded.trials)
        shown = ", ".join(f"{v} {k.lower()}" for k, v in counts.items() if v)
        raise SweepError(f"sweep '{name}' has no complete trial yet ({shown})")
    pareto = len(objectives) > 1
    entries: list[dict[str, Any]] = []
    scripts: list[str] = []
    for rank, trials in enumerate(ranks, start=1):
        for t in trials:
            r = row_of(loaded.full(t))
            again = reproduction(loaded.config, r.params, r.argv, r.log_dir) if r.argv else None
            entries.append(
                {
                    "rank": rank,
                    **r.to_json(objectives),
                    "argv": r.argv,
                    "command": again.command() if again else None,
                    "env": again.env if again else None,
                    "cwd": again.cwd if again else None,
                    "missing_files": again.missing if again else None,
                    "log_dir": r.log_dir,
                }
            )
            if again:
                scripts.append(again.script(f"trial {r.number} of sweep {name} (sweeprun best)"))
    if script is not None:
        if not scripts:
            raise SweepError(f"--script: the best trial of sweep '{name}' has no recorded command")
        _write_script(script, scripts[0])
        print(f"wrote {script}: trial {entries[0]['number']} with its parameter files; "
              f"run it with `sh {script}`", file=sys.stderr)  # fmt: skip
    imp = baseline_improvement(loaded.trials, objectives)
    if json_out:
        print_json(
            {
                "sweep": name,
                "metrics": [{"name": o.name, "goal": o.goal} for o in objectives],
                "pareto": pareto,
                "best": entries,
                "baseline": imp,
            }
        )
        return 0
    if pareto:
        print(f"sweep {name}: Pareto front of {', '.join(o.name for o in objectives)}")
    for e in entries:
        vals = " ".join(f"{k}={cell(v)}" for k, v in (e["values"] or {}).items())
        head = f"rank {e['rank']}: " if top > 1 or pareto else ""
        tag = " (baseline)" if e["baseline"] else ""
        print(f"{head}trial {e['number']}{tag}: {vals}  ({seconds(e['duration'])})")
        print(f"  params:    {fmt_params(e['params'])}")
        if e["command"]:
            print(f"  reproduce: {e['command']}")
        if e["missing_files"]:
            print(
                f"  note:      not on this machine: {', '.join(e['missing_files'])}; "
                f"`sweeprun best {name} --script FILE` writes a script that recreates them"
            )
    if imp:
        print("improvement over baseline:")
        goals = {o.name: o.goal for o in objectives}
        for metric, data in imp.items():
            print("  " + describe_improvement(metric, data, goals[metric]))
    return 0
