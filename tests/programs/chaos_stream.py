"""Copy a file to stdout (and/or the report channel) in random-sized chunks, for the launcher
fuzz tests: ``chaos_stream.py FILE SEED [--report]``. Torn lines, flushes and pauses at random
places test that the launcher reassembles lines exactly."""

from __future__ import annotations

import os
import random
import sys
import time

path, seed = sys.argv[1], int(sys.argv[2])
report = "--report" in sys.argv[3:]
rng = random.Random(seed)
with open(path, "rb") as fh:
    data = fh.read()
fd = int(os.environ["SWEEPRUN_REPORT_FD"]) if report else 1
view = memoryview(data)
while view:
    n = rng.choice([1, 7, 100, 4096, 65536, 1 << 20])
    chunk, view = view[:n], view[n:]
    while chunk:
        written = os.write(fd, chunk)
        chunk = chunk[written:]
    if rng.random() < 0.05:
        time.sleep(0.001)
