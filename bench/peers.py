"""B8 peers (optional, not in CI): the B1 workload through other tools, beside sweeprun.

N trivial Python trials (a program printing one JSON metric), one at a time, through:
  - sweeprun start --jobs 1 (default journal storage);
  - the hand-written Optuna ask/tell loop (bench/handwritten_loop.py, in-memory storage);
  - Optuna's ``study.optimize`` with an objective that runs the same subprocess;
  - Ray Tune with a function trainable that runs the same subprocess (if ``ray[tune]`` is
    installed: ``pip install 'ray[tune]'``).

    .venv/bin/python bench/peers.py [--trials 100] [--rounds 3] [--ray-python PYTHON]

Ray is heavy and pins its own dependencies, so it may live in another virtualenv:
``--ray-python /path/to/ray-venv/bin/python`` runs the Ray side with that interpreter.

Prints a Markdown table: wall seconds (median of alternating rounds) and the ratio to the
hand-written loop.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HERE, run_sweeprun, tmpdir, write

PROGRAM = (
    'import json, sys\nx = float(sys.argv[1].split("=")[1])\nprint(json.dumps({"loss": x * x}))\n'
)


def _program(d: Path) -> Path:
    return write(d / "trivial.py", PROGRAM)


def sweeprun_side(n: int) -> float:
    d = tmpdir()
    prog = _program(d)
    sweep = write(
        d / "sweep.yaml",
        f"name: peers\nprogram: {prog}\nmethod: random\nseed: 0\nmetric: {{name: loss}}\n"
        f"run_cap: {n}\nparameters:\n  x: {{min: -5.0, max: 5.0}}\n",
    )
    return run_sweeprun(["start", str(sweep), "--quiet"], cwd=d)[0]


def hand_side(n: int) -> float:
    d = tmpdir()
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            str(HERE / "handwritten_loop.py"),
            str(n),
            sys.executable,
            str(_program(d)),
        ],
        cwd=d,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


OPTIMIZE = """
import json, subprocess, sys, time
t0 = time.perf_counter()
import optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
n, prog = int(sys.argv[1]), sys.argv[2]
def objective(trial):
    x = trial.suggest_float("x", -5.0, 5.0)
    out = subprocess.run([sys.executable, prog, f"--x={x}"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["loss"]
optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).optimize(objective, n_trials=n)
"""

RAY = """
import json, os, subprocess, sys
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
import ray
from ray import tune
n, prog = int(sys.argv[1]), sys.argv[2]
def trainable(config):
    out = subprocess.run([sys.executable, prog, f"--x={config['x']}"], capture_output=True, text=True, check=True)
    return {"loss": json.loads(out.stdout.strip().splitlines()[-1])["loss"]}
ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
tuner = tune.Tuner(
    trainable,
    param_space={"x": tune.uniform(-5.0, 5.0)},
    tune_config=tune.TuneConfig(num_samples=n, metric="loss", mode="min", max_concurrent_trials=1),
)
tuner.fit()
"""


def script_side(code: str, n: int, python: str = sys.executable) -> float:
    d = tmpdir()
    script = write(d / "peer.py", code)
    t0 = time.perf_counter()
    subprocess.run(
        [python, str(script), str(n), str(_program(d))],
        cwd=d,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ray-python", default=None, help="interpreter that has ray[tune]")
    args = ap.parse_args()
    n = args.trials
    sides: dict[str, Callable[[], float]] = {
        "hand-written ask/tell loop (in-memory)": lambda: hand_side(n),
        "sweeprun start --jobs 1 (journal file)": lambda: sweeprun_side(n),
        "Optuna study.optimize, subprocess objective (in-memory)": lambda: script_side(OPTIMIZE, n),
    }
    missing = []
    ray_python = args.ray_python or (sys.executable if importlib.util.find_spec("ray") else None)
    if ray_python:
        sides["Ray Tune, function trainable running the subprocess"] = lambda: script_side(
            RAY, n, ray_python
        )
    else:
        missing.append("Ray Tune: not installed (pip install 'ray[tune]')")
    times: dict[str, list[float]] = {k: [] for k in sides}
    for _ in range(args.rounds):
        for name, fn in sides.items():
            times[name].append(fn())
    base = statistics.median(times["hand-written ask/tell loop (in-memory)"])
    print(f"B8 peers: {n} trivial Python trials, one at a time, median of {args.rounds} rounds\n")
    print("| tool | wall | per trial | ÷ hand-written loop |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        t = statistics.median(ts)
        print(f"| {name} | {t:.2f} s | {1000 * t / n:.1f} ms | {t / base:.2f} |")
    for line in missing:
        print(f"\n{line}")
    print("\n" + json.dumps({k: statistics.median(v) for k, v in times.items()}))


if __name__ == "__main__":
    main()
