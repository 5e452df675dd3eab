"""Branin-Hoo, the 2-d test function: minimum 0.397887 at (-π, 12.275), (π, 2.275), (9.42478, 2.475).

    python branin.py --x1=FLOAT --x2=FLOAT     prints {"value": f(x1, x2)}

Domain x1 ∈ [-5, 10], x2 ∈ [0, 15]. :func:`branin` is imported by bench/quality.py so the
in-process Optuna side computes exactly the same floats.
"""

from __future__ import annotations

import json
import math
import sys

A = 1.0
B = 5.1 / (4.0 * math.pi**2)
C = 5.0 / math.pi
R = 6.0
S = 10.0
T = 1.0 / (8.0 * math.pi)
MINIMUM = 0.397887357729738
ARGMIN = (-math.pi, 12.275)


def branin(x1: float, x2: float) -> float:
    return A * (x2 - B * x1**2 + C * x1 - R) ** 2 + S * (1.0 - T) * math.cos(x1) + S


def parse_args(argv: list[str]) -> dict[str, float]:
    """``--name=value`` arguments → floats (the form sweeprun's ``${args}`` produces)."""
    out: dict[str, float] = {}
    for arg in argv:
        name, sep, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or not sep:
            raise SystemExit(f"expected --name=value, got {arg!r}")
        out[name] = float(value)
    return out


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    print(json.dumps({"value": branin(args["x1"], args["x2"])}))


if __name__ == "__main__":
    main(sys.argv[1:])
