"""Hartmann 6-d test function on [0, 1]^6: minimum -3.32237 at :data:`ARGMIN`.

    python hartmann6.py --x1=F --x2=F ... --x6=F     prints {"value": f(x)}

:func:`hartmann6` is imported by bench/quality.py so the in-process Optuna side computes
exactly the same floats.
"""

from __future__ import annotations

import json
import math
import sys

ALPHA = (1.0, 1.2, 3.0, 3.2)
A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)
MINIMUM = -3.32237
ARGMIN = (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573)
NAMES = tuple(f"x{i}" for i in range(1, 7))


def hartmann6(x: tuple[float, ...] | list[float]) -> float:
    total = 0.0
    for alpha, a, p in zip(ALPHA, A, P, strict=True):
        inner = sum(aj * (xj - pj) ** 2 for aj, xj, pj in zip(a, x, p, strict=True))
        total += alpha * math.exp(-inner)
    return -total


def main(argv: list[str]) -> None:
    args: dict[str, float] = {}
    for arg in argv:
        name, sep, value = arg.removeprefix("--").partition("=")
        if not arg.startswith("--") or not sep:
            raise SystemExit(f"expected --name=value, got {arg!r}")
        args[name] = float(value)
    print(json.dumps({"value": hartmann6([args[n] for n in NAMES])}))


if __name__ == "__main__":
    main(sys.argv[1:])
