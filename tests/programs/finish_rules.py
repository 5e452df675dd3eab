"""A learning curve ``loss = x / epoch`` for epochs 1..``--epochs``, ended as ``--mode`` says.

* ``ok``: the program prints every epoch and exits 0 (exit 3 at once if $FINISH_FAIL is "1").
* ``late``: the last epoch is printed by a grandchild once this program has exited 0: it keeps
  stdout open and ignores SIGTERM, so sweeprun reads that line (and decides on it) after the
  exit, while it collects the trial's leftovers (SIGKILL after ``trial.kill_grace``).
* ``stay``: with ``x > 2`` the program waits after its last epoch until it is stopped.
"""

import argparse
import json
import os
import signal
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--mode", default="ok")
ap.add_argument("--x", type=float, default=1.0)
ap.add_argument("--epochs", type=int, default=2)
args, _ = ap.parse_known_args()

if os.environ.get("FINISH_FAIL") == "1":
    print("failing on purpose", file=sys.stderr, flush=True)
    sys.exit(3)


def line(epoch: int) -> str:
    return json.dumps({"epoch": epoch, "loss": args.x / epoch})


for epoch in range(1, args.epochs):
    print(line(epoch), flush=True)

if args.mode == "late":
    parent = os.getpid()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # before the fork: no window without it
    if os.fork() == 0:
        while os.getppid() == parent:  # until the trial's program has exited
            time.sleep(0.01)
        print(line(args.epochs), flush=True)
        while True:  # stdout stays open until sweeprun kills what is left of the trial
            time.sleep(1)
    os._exit(0)

print(line(args.epochs), flush=True)
if args.mode == "stay" and args.x > 2:
    while True:  # a bad curve waits to be pruned
        time.sleep(1)
