"""Kill itself with the signal number given as argv[1] (SIGKILL by default)."""

import os
import signal
import sys

print("about to die", flush=True)
os.kill(os.getpid(), int(sys.argv[1]) if len(sys.argv) > 1 else signal.SIGKILL)
