"""The figures and Markdown of bench/quality.py, from its raw results (a JSON-able dict).

Raw results (``quality.py --raw FILE`` writes them, ``--render FILE`` renders them again)::

    {"meta": {...}, "search": [{"function", "method", "seed", "ours", "theirs", "error"}],
     "pruning": [{"pruner", "rule", "seed", "run", "error"}]}

where a run is ``{"wall": s, "trials": [[number, state, value, steps], ...]}`` or null.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
TOLERANCE = 1e-9  # "never worse": sweeprun median best ≤ Optuna median best + this
OPTIMA = {"branin": 0.397887, "hartmann6": -3.32237}
GOAL_SAVED, GOAL_GAP = 0.40, 0.01


@dataclass
class Trial:
    number: int
    state: str
    value: float | None
    steps: int  # intermediate values recorded


@dataclass
class RunResult:
    trials: list[Trial]
    wall: float

    @property
    def values(self) -> list[float]:
        return [t.value for t in self.trials if t.state == "COMPLETE" and t.value is not None]

    @property
    def best(self) -> float:
        return min(self.values)

    def to_raw(self) -> dict[str, Any]:
        return {
            "wall": self.wall,
            "trials": [[t.number, t.state, t.value, t.steps] for t in self.trials],
        }

    @classmethod
    def from_raw(cls, raw: dict[str, Any] | None) -> RunResult | None:
        if raw is None:
            return None
        return cls([Trial(*row) for row in raw["trials"]], float(raw["wall"]))


def spread(xs: Sequence[float], fmt: str = ".6g") -> str:
    """``median [min, max]``."""
    if not xs:
        return "—"
    return f"{statistics.median(xs):{fmt}} [{min(xs):{fmt}}, {max(xs):{fmt}}]"


def steps_saved(trials: Sequence[Trial], cap: int, epochs: int) -> float:
    """1 − Σ epochs reported / (cap × epochs)."""
    return 1.0 - sum(t.steps for t in trials) / (cap * epochs)


def meets_goal(saved: Sequence[float], gap: float) -> bool:
    """The issue's goal: median share of steps saved ≥ 40 % and median best within 1 %."""
    return statistics.median(saved) >= GOAL_SAVED and gap <= GOAL_GAP


def never_worse(ours: Sequence[float], theirs: Sequence[float], tol: float = TOLERANCE) -> bool:
    return statistics.median(ours) <= statistics.median(theirs) + tol


def _median_wall(runs: Sequence[RunResult]) -> str:
    return f"{statistics.median(r.wall for r in runs):.1f}" if runs else "—"


def search_table(rows: Sequence[dict[str, Any]], skipped: dict[str, str]) -> list[str]:
    out = [
        "| function | method | sweeprun best: median [min, max] | Optuna in-process best "
        "| seeds with identical best | identical sequences | never worse | sweeprun s/run "
        "| in-process s/run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    cells: dict[tuple[str, str], list[tuple[RunResult, RunResult]]] = {}
    for row in rows:
        pair = cells.setdefault((row["function"], row["method"]), [])
        a, b = RunResult.from_raw(row.get("ours")), RunResult.from_raw(row.get("theirs"))
        if a is not None and b is not None:
            pair.append((a, b))
    for (function, method), pairs in cells.items():
        ours = [a.best for a, _ in pairs]
        theirs = [b.best for _, b in pairs]
        same_best = sum(a == b for a, b in zip(ours, theirs, strict=True))
        same_seq = sum(a.values == b.values for a, b in pairs)
        ok = "yes" if pairs and never_worse(ours, theirs) else "**NO**" if pairs else "—"
        out.append(
            f"| {function} (min {OPTIMA[function]}) | {method} | {spread(ours)} | {spread(theirs)} "
            f"| {same_best}/{len(pairs)} | {same_seq}/{len(pairs)} | {ok} "
            f"| {_median_wall([a for a, _ in pairs])} | {_median_wall([b for _, b in pairs])} |"
        )
    for method, reason in skipped.items():
        out.append(f"| all | {method} | skipped: {reason} | | | | | | |")
    return out


def pruning_table(rows: Sequence[dict[str, Any]], cap: int, epochs: int) -> list[str]:
    out = [
        "| early_terminate | steps saved: median [min, max] | best val_loss: median [min, max] "
        "| gap vs none (medians) | per-seed gaps | pruned / failed trials | s/run "
        "| ≥ 40 % saved and ≤ 1 % gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs: dict[str, list[tuple[int, RunResult]]] = {}
    rules: dict[str, str] = {}
    for row in rows:
        rules[row["pruner"]] = row["rule"]
        run = RunResult.from_raw(row["run"])
        if run is not None:
            runs.setdefault(row["pruner"], []).append((row["seed"], run))
    base = {seed: r.best for seed, r in runs.get("none", [])}
    if not base:
        return [*out, "| (the run without pruning failed: no comparison) | | | | | | | |"]
    base_median = statistics.median(base.values())
    for pruner, results in runs.items():
        saved = [steps_saved(r.trials, cap, epochs) for _, r in results]
        bests = [r.best for _, r in results]
        gap = statistics.median(bests) / base_median - 1.0
        gaps = ", ".join(f"{100 * (r.best / base[s] - 1):+.1f}" for s, r in results if s in base)
        pruned = sum(t.state == "PRUNED" for _, r in results for t in r.trials)
        failed = sum(t.state == "FAIL" for _, r in results for t in r.trials)
        meets = "—" if pruner == "none" else "yes" if meets_goal(saved, gap) else "no"
        out.append(
            f"| `{rules[pruner]}` | {spread([100 * s for s in saved], '.1f')} % "
            f"| {spread(bests, '.4f')} | {100 * gap:+.2f} % | {gaps} % | {pruned} / {failed} "
            f"| {_median_wall([r for _, r in results])} | {meets} |"
        )
    return out


def rule_text(early_terminate: dict[str, Any] | None) -> str:
    return json.dumps(early_terminate).replace('"', "") if early_terminate else "none"


def render(raw: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(header lines, body lines) of the Markdown for ``raw``."""
    meta = raw["meta"]
    header = [
        f"Run on {meta['date']}: `{meta['command']}`",
        "",
        f"Machine: {meta['machine']}",
        "",
    ]
    body: list[str] = []
    if raw["search"] or meta.get("skipped"):
        body += [
            f"### Best value after {meta['trials']} trials ({meta['seeds']} seeds, `--jobs 1`)",
            "",
            f"Never worse: sweeprun's median best ≤ in-process median best + {TOLERANCE:g}. "
            "Identical: the same floats, trial by trial.",
            "",
            *search_table(raw["search"], meta.get("skipped", {})),
            "",
        ]
    if raw["pruning"]:
        body += [
            f"### Pruning: `method: bayes`, `run_cap: {meta['prune_cap']}`, MLPClassifier on "
            f"digits, {meta['epochs']} epochs ({meta['prune_seeds']} seeds, `--jobs 1`)",
            "",
            "Steps saved: 1 − Σ epochs reported / (run_cap × epochs). Best: the lowest "
            "`val_loss` (W&B's `summary: best`) of a COMPLETE trial. Gap: relative to the same "
            "seed's run without pruning (the first 10 trials of `bayes` are the same random ones).",
            "",
            *pruning_table(raw["pruning"], meta["prune_cap"], meta["epochs"]),
            "",
        ]
    errors = [r for r in (*raw["search"], *raw["pruning"]) if r.get("error")]
    if errors:
        body.append(f"{len(errors)} run(s) failed and are left out:")
        body += [f"- {e.get('function', 'mlp')} {e.get('method', e.get('pruner'))} seed "
                 f"{e['seed']}: {e['error'].splitlines()[0][:300]}" for e in errors]  # fmt: skip
        body.append("")
    body.append(
        f"Whole run: {meta['elapsed']:.0f} s wall with {meta['workers']} sweeps at a time; "
        f"{meta['cpu']:.0f} CPU-s in all processes (≈ {meta['cpu'] / meta['workers']:.0f} s "
        f"wall on {meta['workers']} idle cores)."
    )
    return header, body


def update_doc(path: Path, body: str) -> None:
    """Replace the text between the markers of ``path`` (create it when missing)."""
    block = f"{BEGIN}\n{body.rstrip()}\n{END}"
    text = path.read_text() if path.exists() else f"# Quality benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
