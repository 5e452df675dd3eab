"""Start-up of the installed command: ``sweeprun --help`` and ``sweeprun validate`` against
``python -c pass``, as a user's wheel install would see it.

Each command runs N times, interleaved, with PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED
removed from the environment (one warm-up round first writes the .pyc files, as ``pip install``
of a wheel does); prints the median wall time of each and the difference to ``python -c pass``.
The issue's goal: ``--help`` minus ``python -c pass`` ≤ 150 ms.

    .venv/bin/python bench/startup.py [-n 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEPRUN = str(Path(sys.executable).parent / "sweeprun")
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "sweeprun --help": [SWEEPRUN, "--help"],
    "sweeprun start --help": [SWEEPRUN, "start", "--help"],
    "sweeprun validate configs/quickstart.yaml": [SWEEPRUN, "validate", QUICKSTART],
}
HELP_GOAL_MS = 150.0


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    return env


def _wall(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return wall


def measure(rounds: int) -> dict[str, float]:
    """Median wall seconds of each command over ``rounds`` interleaved runs."""
    env = _env()
    for argv in COMMANDS.values():
        _wall(argv, env)  # warm-up: writes the .pyc files and fills the page cache
    times: dict[str, list[float]] = {label: [] for label in COMMANDS}
    for _ in range(rounds):
        for label, argv in COMMANDS.items():
            times[label].append(_wall(argv, env))
    return {label: statistics.median(ts) for label, ts in times.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--rounds", type=int, default=30, help="runs of each command")
    args = ap.parse_args()
    medians = measure(args.rounds)
    base = medians["python -c pass"]
    print(f"median of {args.rounds} runs, Python {sys.version.split()[0]}")
    for label, wall in medians.items():
        extra = "" if wall is base else f"  (+{(wall - base) * 1000:.0f} ms over python -c pass)"
        print(f"  {label:<42} {wall * 1000:6.0f} ms{extra}")
    helped = (medians["sweeprun --help"] - base) * 1000
    verdict = "ok" if helped <= HELP_GOAL_MS else "MISS"
    print(f"--help − python -c pass: {helped:.0f} ms (goal ≤ {HELP_GOAL_MS:.0f} ms): {verdict}")
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
