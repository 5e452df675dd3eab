"""Print a line, then sleep argv[1] seconds (default 60)."""

import sys
import time

print("sleeping", flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 60)
