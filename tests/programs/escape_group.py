"""Fork a grandchild that leaves the process group (setsid) holding stdout, then exit.

Prints ``escaped <pid>``; the grandchild sleeps argv[1] seconds (default 30).
"""

import os
import sys
import time

pid = os.fork()
if pid == 0:
    os.setsid()
    time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 30)
    os._exit(0)
print(f"escaped {pid}", flush=True)
