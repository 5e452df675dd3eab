"""A trial program that misbehaves at random, for the chaos soak (tests/test_chaos.py).

Its behaviour comes from a RNG seeded with ``--seed`` and ``--x`` (so a trial's params decide
it): ok (a short loss curve), fail (a random non-zero exit), hang (sleeps past any timeout),
ignore_term (hangs ignoring SIGTERM), grandchild (forks a grandchild that ignores SIGTERM and
sleeps, then finishes), escape (starts a SIGTERM-ignoring helper in its own session and a
double-forked daemon, as TensorBoard or a data server would, then finishes), flood (30k lines of noise around the metric), signal (SIGKILL
itself), nometric (exit 0 without a metric), client (reports through ``sweeprun.report``).
``--mode`` forces one. A normal trial takes at most ~0.5 s, plus ``--pace`` s per epoch. The chosen mode is printed first.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time

MODES = {
    "ok": 44,
    "client": 8,
    "fail": 12,
    "hang": 5,
    "ignore_term": 5,
    "grandchild": 10,
    "escape": 6,
    "flood": 8,
    "signal": 4,
    "nometric": 4,
}

ap = argparse.ArgumentParser()
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--x", type=float, default=0.5)
ap.add_argument("--mode", default="")
ap.add_argument("--pace", type=float, default=0.0)  # seconds added to every epoch
args, _ = ap.parse_known_args()
rng = random.Random(f"{args.seed}:{args.x!r}")
mode = args.mode or rng.choices(list(MODES), weights=list(MODES.values()))[0]
print(f"chaos mode {mode}", flush=True)
loss = (args.x - 0.3) ** 2


def curve(report: bool = False) -> None:
    epochs = rng.randint(1, 4)
    for epoch in range(epochs):
        value = loss + 0.1 / (epoch + 1)
        if report:
            import sweeprun

            sweeprun.report(loss=value, step=epoch)
        else:
            print(json.dumps({"epoch": epoch, "loss": value}), flush=True)
        time.sleep(rng.uniform(0.0, 0.1) + args.pace)


def hang() -> None:
    print(json.dumps({"loss": loss}), flush=True)
    time.sleep(3600)


if mode == "ok":
    curve()
elif mode == "client":
    curve(report=True)
elif mode == "fail":
    print("chaos: failing on purpose", file=sys.stderr, flush=True)
    sys.exit(rng.choice([1, 2, 3, 42, 255]))
elif mode == "hang":
    hang()
elif mode == "ignore_term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hang()
elif mode == "grandchild":
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(3600)
        os._exit(0)
    curve()
elif mode == "escape":
    stubborn = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(3600)"
    )
    subprocess.Popen([sys.executable, "-c", stubborn], start_new_session=True)
    if os.fork() == 0:  # a daemon: fork, setsid, fork again; re-parented away from the trial
        os.setsid()
        if os.fork() == 0:
            os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)"])
        os._exit(0)
    curve()
elif mode == "flood":
    out = sys.stdout
    noise = "flood " * 20 + "\n"
    for i in range(30_000):
        out.write(noise)
        if i == 15_000:
            out.write(json.dumps({"loss": loss}) + "\n")
    out.flush()
elif mode == "signal":
    print(json.dumps({"loss": loss}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "nometric":
    print("done without a metric")
else:
    sys.exit(f"unknown mode {mode}")
