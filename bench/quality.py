"""Quality benchmarks: does sweeprun find what Optuna finds, and what does each pruner save?

    python bench/quality.py [--quick] [--only search,pruning] [--workers 2] [--out FILE]

1. *search*: best value after N trials of Branin (2-d) and Hartmann6 (6-d), each a program run
   through ``sweeprun start --jobs 1``, beside Optuna in-process with the same sampler
   (:func:`sweeprun.search.samplers.make_sampler` of the same parsed config) and the same fixed
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
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, run_sweeprun, tmpdir, write
from programs.branin import branin
from programs.hartmann6 import NAMES as H6_NAMES
from programs.hartmann6 import hartmann6
from quality_report import RunResult, Trial, render, rule_text, update_doc

PROGRAMS = HERE / "programs"
DOC = HERE.parent / "docs" / "benchmarks-quality.md"
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

    from sweeprun.storage.open import open_storage
    from sweeprun.storage.urls import StorageSpec

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(StorageSpec(str(run_dir / ".sweeprun" / "journal.log"), "journal"))
    study = optuna.load_study(study_name=name, storage=storage)
    return [
        Trial(t.number, t.state.name, t.value, len(t.intermediate_values))
        for t in sorted(study.trials, key=lambda t: t.number)
    ]


def run_sweep(doc: dict[str, Any], jobs: int = 1) -> RunResult:
    """``sweeprun start`` of ``doc`` (written as sweep.yaml) in a fresh directory, removed after
    a successful run (a failed one is kept for its logs)."""
    d = tmpdir()
    sweep = write(d / "sweep.yaml", json.dumps(doc, indent=1) + "\n")
    wall, _ = run_sweeprun(["start", str(sweep), "--quiet", "--jobs", str(jobs)], cwd=d)
    result = RunResult(read_trials(d, doc["name"]), wall)
    shutil.rmtree(d, ignore_errors=True)
    return result


def run_inprocess(doc: dict[str, Any], function: str) -> RunResult:
    """The hand-written Optuna loop with the sampler and space sweeprun builds from ``doc``."""
    import optuna

    from sweeprun.config.load import parse_config
    from sweeprun.search.samplers import make_sampler
    from sweeprun.space.distributions import SearchSpace

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


def attempt(fn: Callable[..., RunResult], *args: Any) -> dict[str, Any]:
    """``fn(*args)`` as raw results; a failed ``sweeprun`` (e.g. the tree changing under a
    shared checkout) is retried twice, then recorded as an error instead of losing the run."""
    error = ""
    for tries in range(3):
        try:
            return fn(*args).to_raw()
        except RuntimeError as exc:
            error = str(exc)
            time.sleep(5 * (tries + 1))
    raise RuntimeError(error)


def collect(args: argparse.Namespace, raw: dict[str, Any]) -> None:
    """Run every sweep of ``raw["meta"]`` and fill ``raw["search"]`` and ``raw["pruning"]``."""
    meta = raw["meta"]
    t_start = time.perf_counter()
    jobs: list[tuple[dict[str, Any], str, Future[dict[str, Any]]]] = []

    def submit(row: dict[str, Any], key: str, label: str, *call: Any) -> None:
        future = pool.submit(attempt, *call)

        def note(f: Future[dict[str, Any]]) -> None:
            took = time.perf_counter() - t_start
            status = f"{f.result()['wall']:.1f} s" if f.exception() is None else "FAILED"
            print(f"[{took:4.0f} s] {label}: {status}", file=sys.stderr, flush=True)

        future.add_done_callback(note)
        jobs.append((row, key, future))

    zygote: subprocess.Popen[str] | None = None
    ctx = multiprocessing.get_context("fork")
    try:
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
            if meta["pruners"]:
                zygote_dir = tmpdir()
                zygote, sock = start_zygote(zygote_dir)
            for pruner in meta["pruners"]:
                for seed in range(meta["prune_seeds"]):
                    row = {"pruner": pruner, "rule": rule_text(PRUNERS[pruner]), "seed": seed}
                    raw["pruning"].append(row)
                    doc = pruning_config(pruner, seed, meta["prune_cap"], sock)
                    submit(row, "run", doc["name"], run_sweep, doc)
            cells = [(f, m, s) for m in meta["methods"] for f in FUNCTIONS
                     for s in range(meta["seeds"])]  # fmt: skip
            for function, method, seed in cells:
                row = {"function": function, "method": method, "seed": seed}
                raw["search"].append(row)
            # slowest first so that the workers finish together
            for row in sorted(raw["search"], key=lambda r: r["method"] != "gp"):
                doc = search_config(row["function"], row["method"], row["seed"], meta["trials"])
                submit(row, "ours", doc["name"], run_sweep, doc)
                submit(
                    row, "theirs", doc["name"] + " in-process", run_inprocess, doc, row["function"]
                )
            for row, key, future in jobs:
                row.setdefault(key, None)
                try:
                    row[key] = future.result()
                except Exception as exc:
                    row["error"] = f"{key}: {exc}"
    finally:
        if zygote is not None:
            zygote.terminate()  # it waits for its trainers first
            zygote.wait()
            shutil.rmtree(zygote_dir, ignore_errors=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    meta["elapsed"] = time.perf_counter() - t_start
    meta["cpu"] = usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI size: 20 trials, 2 seeds")
    ap.add_argument("--only", default="search,pruning", help="comma list: search,pruning")
    ap.add_argument("--workers", type=int, default=2, help="sweeps run at the same time")
    ap.add_argument("--out", type=Path, default=None, help="Markdown file to update")
    ap.add_argument("--raw", type=Path, default=None, help="also write the raw results (JSON)")
    ap.add_argument("--render", type=Path, default=None, help="render raw results; run nothing")
    args = ap.parse_args(argv)
    q = args.quick
    if args.render:
        raw = json.loads(args.render.read_text())
    else:
        only = set(filter(None, args.only.split(",")))
        methods = list(QUICK_METHODS if q else METHODS) if "search" in only else []
        meta: dict[str, Any] = {
            "date": datetime.date.today().isoformat(),
            "command": " ".join([".venv/bin/python", "bench/quality.py", *(argv or sys.argv[1:])]),
            "machine": machine(),
            "trials": 20 if q else 100,
            "seeds": 2 if q else 5,
            "methods": methods,
            "skipped": {},
            "prune_cap": 8 if q else 40,
            "prune_seeds": 1 if q else 3,
            "epochs": EPOCHS,
            "pruners": list(QUICK_PRUNERS if q else PRUNERS) if "pruning" in only else [],
            "workers": args.workers,
        }
        if "gp" in methods and (reason := gp_available()):
            meta["skipped"]["gp"] = reason
            methods.remove("gp")
        raw = {"meta": meta, "search": [], "pruning": []}
        print(f"Machine: {meta['machine']}", file=sys.stderr, flush=True)
        collect(args, raw)
        if args.raw:
            args.raw.write_text(json.dumps(raw, indent=1) + "\n")
    header, body = render(raw)
    print("\n".join(header + body), flush=True)
    out_path = args.out if args.out or q or args.render else DOC
    if out_path is not None:
        update_doc(out_path, "\n".join(header + body))
        print(f"\nwrote {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
