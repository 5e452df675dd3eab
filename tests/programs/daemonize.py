"""A trial that starts helpers which escape its process group, as TensorBoard, data servers and
daemonising workers do, then reports ``loss`` each epoch.

Helpers: ``subprocess.Popen(..., start_new_session=True)`` (ignores SIGTERM), ``setsid`` the
command, and a double-forked daemon (setsid between the forks, re-parented to init). Each sleeps
ten minutes. Prints ``helpers <pid> <pid> <pid>`` once all three run.
Arguments: ``--loss`` (reported each epoch), ``--epochs``, ``--sleep`` (seconds per epoch).
A file ``release`` in the working directory ends the epochs early (exit 0).
"""

import argparse
import json
import os
import subprocess
import sys
import time

SLEEP = "import time\nfor _ in range(6000): time.sleep(0.1)\n"
STUBBORN = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + SLEEP

parser = argparse.ArgumentParser()
parser.add_argument("--loss", type=float, default=1.0)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--sleep", type=float, default=0.05)
args = parser.parse_args()

session = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
setsid = subprocess.Popen(["setsid", sys.executable, "-c", SLEEP])

read, write = os.pipe()
if os.fork() == 0:  # the daemon: fork, setsid, fork again, the middle one exits
    os.close(read)
    os.setsid()
    if os.fork() == 0:
        os.write(write, f"{os.getpid()}\n".encode())
        os.close(write)
        os.execv(sys.executable, [sys.executable, "-c", SLEEP])
    os._exit(0)
os.close(write)
daemon = int(os.fdopen(read).readline())
print(f"helpers {session.pid} {setsid.pid} {daemon}", flush=True)

for epoch in range(args.epochs):
    print(json.dumps({"loss": args.loss, "epoch": epoch}), flush=True)
    if os.path.exists("release"):
        break
    time.sleep(args.sleep)
