"""B9: from the step a prune decision is made on to the trial's end, for a program whose
``print`` is not flushed, run from a parent without ``PYTHONUNBUFFERED`` (as on a user's
machine; this one sets it globally).

The program prints ``loss=... step=...`` each step with a bare ``print`` and notes the wall
time of each step in a side file of its own. A ``threshold`` pruner stops every trial at its
first step past the warm-up. The latency of a trial is the end of the trial in the storage
(the child tree is gone before the verdict is written) minus the time the program printed the
step the decision was made on: transport of the line, the decision, the kill ladder and the
write. The second row sets ``trial.env: {PYTHONUNBUFFERED: ""}`` (Python reads an empty value
as unset): the lines then arrive when the program exits, so the trial runs to its end.

    .venv/bin/python bench/prune_latency.py [--trials 3] [--steps 100]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SWEEPRUN, tmpdir, write

PROGRAM = """\
import sys, time
steps, side = int(sys.argv[1]), sys.argv[2]
x = float(sys.argv[3].split("=")[1])
trial = __import__("os").environ["SWEEPRUN_TRIAL"]
with open(f"{side}-{trial}.times", "w") as notes:
    for i in range(steps):
        print(f"loss={x} step={i}")  # not flushed: what a user's program does
        notes.write(f"{i} {time.time()}\\n")
        notes.flush()
        time.sleep(0.02)
"""

WARMUP = 5


def _sweep(d: Path, trials: int, steps: int, buffered: bool) -> Path:
    write(d / "train.py", PROGRAM)
    doc = {
        "name": "latency",
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "run_cap": trials,
        "command": [sys.executable, "train.py", str(steps), str(d / "side"), "${args}"],
        "parameters": {"x": {"value": 1.0}},
        "early_terminate": {"type": "threshold", "upper": 0.5, "n_warmup_steps": WARMUP},
        "report": {"format": "kv"},
    }
    if buffered:
        doc["trial"] = {"env": {"PYTHONUNBUFFERED": ""}}
    return write(d / "sweep.yaml", json.dumps(doc))


def latencies(trials: int, steps: int, buffered: bool) -> tuple[list[float], list[str], list[int]]:
    """Seconds from the decisive step's print to the trial's end, the trials' states and the
    steps each program printed."""
    d = tmpdir()
    sweep = _sweep(d, trials, steps, buffered)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["SWEEPRUN_DIR"] = str(d / ".sweeprun")
    subprocess.run(
        [SWEEPRUN, "start", str(sweep), "--quiet"],
        cwd=d,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(d / ".sweeprun" / "journal.log"))
    )
    study = optuna.load_study(study_name="latency", storage=storage)
    out, states, ran = [], [], []
    for t in study.get_trials(deepcopy=False):
        states.append(t.state.name)
        printed = {}
        for line in (d / f"side-{t.number}.times").read_text().splitlines():
            step, at = line.split()
            printed[int(step)] = float(at)
        ran.append(len(printed))
        # every value is over the threshold: the decision is due at the first step past the
        # warm-up (``n_warmup_steps`` steps are exempt: steps 0 .. WARMUP - 1)
        decisive = WARMUP
        assert t.datetime_complete is not None
        out.append(t.datetime_complete.timestamp() - printed[decisive])
    return out, states, ran


def rows(trials: int, steps: int) -> list[str]:
    lines = []
    for buffered in (False, True):
        lat, states, ran = latencies(trials, steps, buffered)
        label = (
            "un-flushed `print`, `PYTHONUNBUFFERED` unset in the parent (sweeprun's default)"
            if not buffered
            else 'the same with `trial.env: {PYTHONUNBUFFERED: ""}` (buffered child)'
        )
        worst = max(lat)
        goal_ok = worst <= 0.5
        lines.append(
            f"| B9 prune decision → trial ended, {label} | median {statistics.median(lat):.3f} s,"
            f" worst {worst:.3f} s | {', '.join(sorted(set(states)))}; steps run of {steps}:"
            f" {', '.join(map(str, ran))} "
            f"| {'≤ 0.5 s' if not buffered else '—'} "
            f"| {('ok' if goal_ok else 'MISS') if not buffered else ''} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    for line in rows(args.trials, args.steps):
        print(line)


if __name__ == "__main__":
    main()
