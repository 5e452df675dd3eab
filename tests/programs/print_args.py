"""Print its argv (after the program name) as one JSON line, for command tests."""

import json
import sys

print(json.dumps({"argv": sys.argv[1:]}))
