"""Shared helper of the stand-in training programs (stdlib only).

A stand-in turns its hyperparameters into a *penalty* (0 at the sweet spot, growing as a
parameter moves away from it) and prints a plausible learning curve: one JSON line per step,
such as ``{"epoch": 3, "val_loss": 0.41}``, which is what sweeprun reads. The curve falls
towards a floor that rises with the penalty; too high a learning rate makes it turn up again
(divergence), but every value stays finite. Replace the stand-in with your real script.

``SIM_STEP_SECONDS`` (default 0.02) is the pretend work per step.
"""

from __future__ import annotations

import json
import math
import os
import random
import time


def log_penalty(value: float, best: float, decades: float = 1.0) -> float:
    """0 at ``best``, 1 at ``decades`` orders of magnitude away (quadratic in log10)."""
    return (math.log10(value / best) / decades) ** 2


def linear_penalty(value: float, best: float, scale: float) -> float:
    """0 at ``best``, 1 at ``scale`` away (quadratic)."""
    return ((value - best) / scale) ** 2


def run_curve(
    *,
    penalty: float,
    steps: int,
    metric: str,
    step_key: str = "epoch",
    step_every: int = 1,
    start: float = 2.5,
    floor: float = 0.3,
    speed: float = 0.35,
    diverge: float = 0.0,
    maximize: bool = False,
    seed: int = 0,
    extra: dict[str, float] | None = None,
) -> None:
    """Print ``steps`` points of a learning curve (every ``step_every`` steps).

    ``diverge`` > 0 makes the loss climb back after a third of the run (a learning rate that
    is too high). With ``maximize`` the metric is an accuracy in (0, 1) instead of a loss.
    """
    rng = random.Random(seed)
    final = floor + 0.6 * (1 - math.exp(-penalty))
    pause = float(os.environ.get("SIM_STEP_SECONDS", "0.02"))
    for t in range(step_every, steps + 1, step_every):
        frac = t / steps
        loss = final + (start - final) * math.exp(-speed * t / step_every)
        if diverge > 0 and frac > 1 / 3:
            loss += diverge * (frac - 1 / 3) * start
        loss *= 1 + rng.gauss(0, 0.01)
        value = math.exp(-loss) if maximize else loss
        line: dict[str, float] = {step_key: t, metric: round(value, 6)}
        for name, offset in (extra or {}).items():
            line[name] = round(loss + offset, 6)
        print(json.dumps(line), flush=True)
        time.sleep(pause)
