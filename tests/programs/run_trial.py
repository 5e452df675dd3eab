"""A trial program for end-to-end tests, its behaviour chosen by ``--mode``.

Every mode prints a learning curve of ``loss`` unless it misbehaves on purpose:
ok, fail (exit 3), signal (SIGKILL itself), nometric, nan (only NaN), hang (sleeps),
ignore_term (hangs ignoring SIGTERM), grandchild (forks a sleeper, records its pid), binary
(garbage bytes around the metric), longline (10 MB without newline, then the metric),
client (reports through sweeprun.report amid stdout noise), slow (0.3 s per epoch).
``--x`` shifts the curve; ``--epochs`` sets its length. Writes its pid to $PIDS_DIR if set.
"""

import argparse
import json
import os
import signal
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("--mode", default="ok")
ap.add_argument("--x", type=float, default=0.0)
ap.add_argument("--epochs", type=int, default=3)
ap.add_argument("--sleep", type=float, default=0.0)
args, _ = ap.parse_known_args()

pids = os.environ.get("PIDS_DIR")
if pids:
    with open(os.path.join(pids, f"{os.getpid()}.pid"), "w") as fh:
        fh.write(str(os.getpid()))


def curve() -> None:
    for epoch in range(args.epochs):
        print(
            json.dumps({"epoch": epoch, "loss": (args.x - 1) ** 2 + 1.0 / (epoch + 1)}), flush=True
        )
        if args.sleep:
            time.sleep(args.sleep)


mode = args.mode
if mode == "ok":
    curve()
elif mode == "fail":
    print("about to fail", flush=True)
    print("something broke", file=sys.stderr, flush=True)
    sys.exit(3)
elif mode == "signal":
    print(json.dumps({"loss": 1.0}), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
elif mode == "nometric":
    print("training done, forgot to print the metric")
elif mode == "nan":
    print(json.dumps({"loss": float("nan")}))
    print("loss=inf")
elif mode == "hang":
    print(json.dumps({"loss": 5.0}), flush=True)
    time.sleep(600)
elif mode == "ignore_term":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(json.dumps({"loss": 5.0}), flush=True)
    time.sleep(600)
elif mode == "grandchild":
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if pids:
            with open(os.path.join(pids, f"{os.getpid()}.pid"), "w") as fh:
                fh.write(str(os.getpid()))
        time.sleep(600)
        os._exit(0)
    curve()
elif mode == "binary":
    sys.stdout.buffer.write(b"\x00\xff\xfe garbage \x80\x81\n")
    curve()
    sys.stdout.buffer.write(b"\xc3\x28 more garbage\n")
elif mode == "longline":
    sys.stdout.write("x" * (10 * 1024 * 1024))
    sys.stdout.write("\n")
    curve()
elif mode == "client":
    import sweeprun

    for epoch in range(args.epochs):
        sys.stdout.write('{"acc": 0.5, "unfinished')  # noise: a torn line, no newline
        sys.stdout.write("progress ▇▇▇ 50%\r")
        sweeprun.report(loss=(args.x - 1) ** 2 + 0.1 * epoch, step=epoch)
    print()
else:
    sys.exit(f"unknown mode {mode}")
