"""Two objectives for multi-objective tests: loss = (x-1)^2 + y, cost = x + (1-y)^2."""

import json
import sys

args = dict(a.lstrip("-").split("=", 1) for a in sys.argv[1:])
x, y = float(args["x"]), float(args["y"])
print(json.dumps({"loss": (x - 1) ** 2 + y, "cost": x + (1 - y) ** 2}))
