"""Print a line to each stream, then exit with the code given as argv[1]."""

import sys

print("to stdout", flush=True)
print("to stderr", file=sys.stderr, flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
