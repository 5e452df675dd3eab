"""Print argv[1] numbered lines (default 200000) to stdout as fast as possible."""

import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
write = sys.stdout.write
for i in range(n):
    write(f"line {i}\n")
sys.stdout.flush()
