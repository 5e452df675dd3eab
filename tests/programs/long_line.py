"""Write argv[1] bytes (default 10 MB) of 'x' without any newline, then exit 0."""

import os
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
chunk = b"x" * 65536
left = n
while left > 0:
    left -= os.write(1, chunk[: min(left, len(chunk))])
