"""Fork a grandchild that sleeps forever (ignoring SIGTERM with argv[2] == "stubborn").

Prints ``grandchild <pid>``. argv[1]: "exit" → the parent exits 0 at once; "sleep" → the
parent sleeps forever too. The grandchild keeps stdout open.
"""

import os
import signal
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "exit"
stubborn = len(sys.argv) > 2 and sys.argv[2] == "stubborn"
pid = os.fork()
if pid == 0:
    if stubborn:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
print(f"grandchild {pid}", flush=True)
if mode == "sleep":
    while True:
        time.sleep(1)
