"""Print argv[1] numbered lines (default 200000) to stdout as fast as possible; with argv[2],
create that file as soon as the first 48 KiB are flushed (an event for a test to wait on)."""

import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
write = sys.stdout.write
start = 0
if len(sys.argv) > 2:
    size = 0
    while start < n and size < 48 << 10:
        line = f"line {start}\n"
        write(line)
        size += len(line)
        start += 1
    sys.stdout.flush()
    open(sys.argv[2], "w").close()
for i in range(start, n):
    write(f"line {i}\n")
sys.stdout.flush()
