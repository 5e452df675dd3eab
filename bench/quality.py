"""Quality benchmarks: does sweeprun find what Optuna finds, and what does each pruner save?

    python bench/quality.py [--quick] [--only search,pruning] [--workers 2] [--out FILE]

1. *search*: best value after N trials of Branin (2-d) and Hartmann6 (6-d), each a program run
   through ``sweeprun start --jobs 1``, beside Optuna in-process with the same sampler
   (:func:`sweeprun.strategies.make_sampler` of the same parsed config) and the same fixed
   search space (``SearchSpace.distributions()``), asking, computing and telling in one process.
2. *pruning*: ``method: bayes``, ``run_cap: 40`` on a real learning curve
   (bench/programs/mlp_curve.py) under each ``early_terminate`` rule: share of epochs saved and
   the final best beside no pruning.

Independent sweeps run ``--workers`` at a time (each sweep itself is sequential, so results do
not depend on it). The full run writes its tables between markers in docs/benchmarks-quality.md
(text outside the markers is kept); ``--quick`` (CI-sized) prints only, unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, run_sweeprun, tmpdir, write
from programs.branin import branin
from programs.hartmann6 import NAMES as H6_NAMES
from programs.hartmann6 import hartmann6

PROGRAMS = HERE / "programs"
DOC = HERE.parent / "docs" / "benchmarks-quality.md"
BEGIN, END = "<!-- quality:begin -->", "<!-- quality:end -->"
TOLERANCE = 1e-9  # "never worse": sweeprun median best ≤ Optuna median best + this
METHODS = ("random", "bayes", "tpe", "cmaes", "gp")
QUICK_METHODS = ("random", "tpe")
EPOCHS = 20

FUNCTIONS: dict[str, tuple[str, dict[str, Any], Callable[[dict[str, Any]], float]]] = {
    "branin": (
        "branin.py",
        {"x1": {"min": -5.0, "max": 10.0}, "x2": {"min": 0.0, "max": 15.0}},
        lambda v: branin(v["x1"], v["x2"]),
    ),
    "hartmann6": (
        "hartmann6.py",
        {n: {"min": 0.0, "max": 1.0} for n in H6_NAMES},
        lambda v: hartmann6([v[n] for n in H6_NAMES]),
    ),
}
OPTIMA = {"branin": 0.397887, "hartmann6": -3.32237}

MLP_PARAMETERS: dict[str, Any] = {
    "learning_rate_init": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
    "hidden": {"values": [16, 32, 64, 128]},
    "alpha": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1e-2},
    "batch_size": {"values": [32, 64, 128]},
}
#: pruner label → early_terminate block (None: no pruning); options not given are Optuna's
PRUNERS: dict[str, dict[str, Any] | None] = {
    "none": None,
    "median": {"type": "median"},
    "percentile": {"type": "percentile", "percentile": 25.0},
    "asha": {"type": "asha"},
    "hyperband": {"type": "hyperband", "min_iter": 2, "eta": 3},
    "optuna_hyperband": {"type": "optuna_hyperband"},
    "wilcoxon": {"type": "wilcoxon"},
    "threshold": {"type": "threshold", "upper": 1.0, "n_warmup_steps": 3},
}
QUICK_PRUNERS = ("none", "median")


# --- one sweep / one in-process loop ------------------------------------------------------


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


def search_config(function: str, method: str, seed: int, trials: int) -> dict[str, Any]:
    program, parameters, _ = FUNCTIONS[function]
    return {
        "name": f"{function}-{method}-s{seed}",
        "program": str(PROGRAMS / program),
        "method": method,
        "seed": seed,
        "metric": {"name": "value", "goal": "minimize"},
        "run_cap": trials,
        "parameters": parameters,
    }


def pruning_config(pruner: str, seed: int, trials: int, socket_path: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": f"mlp-{pruner}-s{seed}",
        "program": str(PROGRAMS / "mlp_curve.py"),
        "method": "bayes",
        "seed": seed,
        "metric": {"name": "val_loss", "goal": "minimize"},
        "run_cap": trials,
        "parameters": {**MLP_PARAMETERS, "epochs": {"value": EPOCHS}},
        "trial": {"env": {"MLP_CURVE_SOCKET": socket_path}, "kill_grace": 5},
    }
    if PRUNERS[pruner] is not None:
        doc["early_terminate"] = PRUNERS[pruner]
    return doc


def read_trials(run_dir: Path, name: str) -> list[Trial]:
    """Every trial of sweep ``name`` from the journal under ``run_dir/.sweeprun``."""
    import optuna

    from sweeprun.storage import StorageSpec, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(StorageSpec(str(run_dir / ".sweeprun" / "journal.log"), "journal"))
    study = optuna.load_study(study_name=name, storage=storage)
    return [
        Trial(t.number, t.state.name, t.value, len(t.intermediate_values))
        for t in sorted(study.trials, key=lambda t: t.number)
    ]


def run_sweep(doc: dict[str, Any], jobs: int = 1) -> RunResult:
    """``sweeprun start`` of ``doc`` (written as sweep.yaml) in a fresh directory."""
    d = tmpdir()
    sweep = write(d / "sweep.yaml", json.dumps(doc, indent=1) + "\n")
    wall, _ = run_sweeprun(["start", str(sweep), "--quiet", "--jobs", str(jobs)], cwd=d)
    return RunResult(read_trials(d, doc["name"]), wall)


def run_inprocess(doc: dict[str, Any], function: str) -> RunResult:
    """The hand-written Optuna loop with the sampler and space sweeprun builds from ``doc``."""
    import optuna

    from sweeprun.config import parse_config
    from sweeprun.space import SearchSpace
    from sweeprun.strategies import make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    cfg = parse_config(doc)
    objective = FUNCTIONS[function][2]
    t0 = time.perf_counter()
    study = optuna.create_study(sampler=make_sampler(cfg), direction="minimize")
    space = SearchSpace.from_params(cfg.parameters)
    distributions = space.distributions()
    for _ in range(doc["run_cap"]):
        trial = study.ask(distributions)
        study.tell(trial, objective(space.to_values(trial.params)))
    wall = time.perf_counter() - t0
    trials = [Trial(t.number, t.state.name, t.value, 0) for t in study.trials]
    return RunResult(trials, wall)


# --- statistics and tables -------------------------------------------------------------------


def spread(xs: Sequence[float], fmt: str = ".6g") -> str:
    """``median [min, max]``."""
    return f"{statistics.median(xs):{fmt}} [{min(xs):{fmt}}, {max(xs):{fmt}}]"


def steps_saved(trials: Sequence[Trial], cap: int, epochs: int) -> float:
    """1 − Σ epochs reported / (cap × epochs)."""
    return 1.0 - sum(t.steps for t in trials) / (cap * epochs)


def meets_goal(saved: Sequence[float], gap: float) -> bool:
    """The issue's goal: median share of steps saved ≥ 40 % and median best within 1 %."""
    return statistics.median(saved) >= 0.40 and gap <= 0.01


def never_worse(ours: Sequence[float], theirs: Sequence[float], tol: float = TOLERANCE) -> bool:
    return statistics.median(ours) <= statistics.median(theirs) + tol


@dataclass
class SearchCell:
    ours: list[RunResult] = field(default_factory=list)
    theirs: list[RunResult] = field(default_factory=list)


def search_table(cells: dict[tuple[str, str], SearchCell], skipped: dict[str, str]) -> list[str]:
    out = [
        "| function | method | sweeprun best: median [min, max] | Optuna in-process best "
        "| seeds with identical best | identical sequences | never worse | sweeprun s/run "
        "| in-process s/run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (function, method), cell in cells.items():
        ours = [r.best for r in cell.ours]
        theirs = [r.best for r in cell.theirs]
        same_best = sum(a == b for a, b in zip(ours, theirs, strict=True))
        same_seq = sum(a.values == b.values for a, b in zip(cell.ours, cell.theirs, strict=True))
        n = len(ours)
        ok = "yes" if never_worse(ours, theirs) else "**NO**"
        out.append(
            f"| {function} (min {OPTIMA[function]}) | {method} | {spread(ours)} | {spread(theirs)} "
            f"| {same_best}/{n} | {same_seq}/{n} | {ok} "
            f"| {statistics.median(r.wall for r in cell.ours):.1f} "
            f"| {statistics.median(r.wall for r in cell.theirs):.1f} |"
        )
    for method, reason in skipped.items():
        out.append(f"| all | {method} | skipped: {reason} | | | | | | |")
    return out


def pruning_table(runs: dict[str, list[RunResult]], cap: int) -> list[str]:
    out = [
        "| early_terminate | steps saved: median [min, max] | best val_loss: median [min, max] "
        "| gap vs none (medians) | worst per-seed gap | pruned / failed trials | s/run "
        "| ≥ 40 % saved and ≤ 1 % gap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = [r.best for r in runs["none"]]
    base_median = statistics.median(base)
    for pruner, results in runs.items():
        saved = [steps_saved(r.trials, cap, EPOCHS) for r in results]
        bests = [r.best for r in results]
        gap = statistics.median(bests) / base_median - 1.0
        worst = max(b / a - 1.0 for a, b in zip(base, bests, strict=True))
        pruned = sum(t.state == "PRUNED" for r in results for t in r.trials)
        failed = sum(t.state == "FAIL" for r in results for t in r.trials)
        meets = "—" if pruner == "none" else "yes" if meets_goal(saved, gap) else "no"
        rule = json.dumps(PRUNERS[pruner]).replace('"', "") if PRUNERS[pruner] else "none"
        out.append(
            f"| `{rule}` | {spread([100 * s for s in saved], '.1f')} % | {spread(bests, '.4f')} "
            f"| {100 * gap:+.2f} % | {100 * worst:+.2f} % | {pruned} / {failed} "
            f"| {statistics.median(r.wall for r in results):.1f} "
            f"| {meets} |"
        )
    return out


# --- orchestration ---------------------------------------------------------------------------


def gp_available() -> str | None:
    """None when ``method: gp`` can run here, else the reason it cannot."""
    probe = "import torch, scipy, optuna.samplers; optuna.samplers.GPSampler(seed=0)"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    if proc.returncode == 0:
        return None
    return (proc.stderr.strip().splitlines() or ["unknown error"])[-1]


def start_zygote(directory: Path) -> tuple[subprocess.Popen[str], str]:
    """The mlp_curve.py zygote (one scikit-learn import for all trials) and its socket path."""
    path = str(directory / "mlp.sock")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, str(PROGRAMS / "mlp_curve.py"), "--serve", path],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the mlp_curve.py zygote did not start")
    return proc, path


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


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(
                line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    import optuna

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores "
        f"(load average at start {load}), Python {platform.python_version()}, "
        f"Optuna {optuna.__version__}"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="CI size: 20 trials, 2 seeds")
    ap.add_argument("--only", default="search,pruning", help="comma list: search,pruning")
    ap.add_argument("--workers", type=int, default=2, help="sweeps run at the same time")
    ap.add_argument("--out", type=Path, default=None, help="Markdown file to update")
    args = ap.parse_args(argv)
    only = set(filter(None, args.only.split(",")))
    q = args.quick
    trials, seeds = (20, 2) if q else (100, 5)
    methods = list(QUICK_METHODS if q else METHODS)
    prune_cap, prune_seeds = (8, 1) if q else (40, 3)
    pruners = list(QUICK_PRUNERS if q else PRUNERS)
    out_path = args.out if args.out or q else DOC
    command = " ".join([".venv/bin/python", "bench/quality.py", *(argv or sys.argv[1:])])
    header = [
        f"Run on {datetime.date.today().isoformat()}: `{command}`",
        "",
        f"Machine: {machine()}",
        "",
    ]
    print("\n".join(header), flush=True)
    t_start = time.perf_counter()
    skipped: dict[str, str] = {}
    if "search" in only and "gp" in methods:
        reason = gp_available()
        if reason:
            skipped["gp"] = reason
            methods.remove("gp")

    ctx = multiprocessing.get_context("fork")

    def progress(label: str, future: Future[RunResult]) -> Future[RunResult]:
        def note(f: Future[RunResult]) -> None:
            if f.exception() is None:
                wall = f.result().wall
                elapsed = time.perf_counter() - t_start
                print(f"[{elapsed:4.0f} s] {label}: {wall:.1f} s", file=sys.stderr, flush=True)

        future.add_done_callback(note)
        return future

    zygote: subprocess.Popen[str] | None = None
    search: dict[tuple[str, str], SearchCell] = {}
    prune_futures: dict[str, list[Future[RunResult]]] = {}
    search_futures: list[tuple[SearchCell, Future[RunResult], Future[RunResult]]] = []
    try:
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
            if "pruning" in only:
                zygote, sock = start_zygote(tmpdir())
                for pruner in pruners:
                    prune_futures[pruner] = [
                        progress(
                            f"mlp-{pruner}-s{s}",
                            pool.submit(run_sweep, pruning_config(pruner, s, prune_cap, sock)),
                        )
                        for s in range(prune_seeds)
                    ]
            if "search" in only:
                search = {(f, m): SearchCell() for f in FUNCTIONS for m in methods}  # table order
                # slowest first so the two workers finish together
                for method in sorted(methods, key=lambda m: m != "gp"):
                    for function in FUNCTIONS:
                        cell = search[function, method]
                        for seed in range(seeds):
                            doc = search_config(function, method, seed, trials)
                            search_futures.append(
                                (
                                    cell,
                                    progress(doc["name"], pool.submit(run_sweep, doc)),
                                    progress(
                                        doc["name"] + " in-process",
                                        pool.submit(run_inprocess, doc, function),
                                    ),
                                )
                            )
            for cell, ours, theirs in search_futures:
                cell.ours.append(ours.result())
                cell.theirs.append(theirs.result())
            prune_runs = {p: [f.result() for f in fs] for p, fs in prune_futures.items()}
    finally:
        if zygote is not None:
            zygote.terminate()  # it waits for its trainers first
            zygote.wait()
    elapsed = time.perf_counter() - t_start
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime

    body = list(header)
    if search:
        body += [
            f"### Best value after {trials} trials ({seeds} seeds, `--jobs 1`)",
            "",
            f"Never worse: sweeprun's median best ≤ in-process median best + {TOLERANCE:g}.",
            "",
            *search_table(search, skipped),
            "",
        ]
    if prune_futures:
        body += [
            f"### Pruning: `method: bayes`, `run_cap: {prune_cap}`, MLPClassifier on digits, "
            f"{EPOCHS} epochs ({prune_seeds} seeds, `--jobs 1`)",
            "",
            *pruning_table(prune_runs, prune_cap),
            "",
        ]
    body.append(
        f"Whole run: {elapsed:.0f} s wall with {args.workers} sweeps at a time; {cpu:.0f} CPU-s "
        f"in all processes (≈ {cpu / args.workers:.0f} s wall on {args.workers} idle cores)."
    )
    text = "\n".join(body)
    print("\n".join(body[len(header) :]), flush=True)
    if out_path is not None:
        update_doc(out_path, text)
        print(f"\nwrote {out_path}")


if __name__ == "__main__":
    main()
