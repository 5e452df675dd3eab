"""The loop a user writes by hand instead of sweeprun: Optuna ask/tell + subprocess.run,
in-memory storage, one process. The baseline every sweeprun figure is divided by.

    python bench/handwritten_loop.py N PROGRAM...   (prints the wall seconds of the loop)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time


def hand_loop(n: int, argv_prefix: list[str]) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    t0 = time.perf_counter()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(n):
        trial = study.ask()
        x = trial.suggest_float("x", -5.0, 5.0)
        out = subprocess.run([*argv_prefix, f"--x={x}"], capture_output=True, text=True)
        if out.returncode != 0:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        value = json.loads(out.stdout.strip().splitlines()[-1])["loss"]
        study.tell(trial, value)
    return time.perf_counter() - t0


if __name__ == "__main__":
    print(f"{hand_loop(int(sys.argv[1]), sys.argv[2:]):.4f}")
