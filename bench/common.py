"""Shared helpers for the benchmarks: temp sweeps, running the installed command, timing."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent
SWEEPRUN = str(BIN / "sweeprun")
HERE = Path(__file__).resolve().parent


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def tmpdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="sweeprun-bench-"))


def run_sweeprun(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB, polled from /proc) of one ``sweeprun`` command."""
    full = dict(os.environ)
    full["SWEEPRUN_DIR"] = str(cwd / ".sweeprun")
    if env:
        full.update(env)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [SWEEPRUN, *args], cwd=cwd, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = [0]

    def poll() -> None:
        while proc.poll() is None:
            try:
                with open(f"/proc/{proc.pid}/status") as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.05)

    th = threading.Thread(target=poll, daemon=True)
    th.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    th.join()
    if proc.returncode != 0:
        raise RuntimeError(f"sweeprun {args} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return wall, peak[0]


def alternate(a: Callable[[], float], b: Callable[[], float], rounds: int) -> tuple[float, float]:
    """Median of ``rounds`` alternating runs of the two sides (a, b, a, b, ...)."""
    xs, ys = paired(a, b, rounds)
    return statistics.median(xs), statistics.median(ys)


def paired(
    a: Callable[[], float], b: Callable[[], float], rounds: int
) -> tuple[list[float], list[float]]:
    """``rounds`` alternating runs of the two sides, each round's pair back to back."""
    xs, ys = [], []
    for _ in range(rounds):
        xs.append(a())
        ys.append(b())
    return xs, ys


def paired_ratio(xs: list[float], ys: list[float]) -> tuple[float, float, float]:
    """Median, lowest and highest of the rounds' ratios ``x / y``. On a shared VM whose speed
    drifts over seconds, the two runs of one round share their conditions: the median of the
    pairs' ratios moves less than the ratio of the two sides' medians."""
    ratios = sorted(x / y for x, y in zip(xs, ys, strict=True))
    return statistics.median(ratios), ratios[0], ratios[-1]


def row(name: str, ours: float, theirs: float, unit: str, goal: str, ok: bool) -> str:
    ratio = ours / theirs if theirs else float("nan")
    mark = "ok" if ok else "MISS"
    return f"| {name} | {ours:.3f} {unit} | {theirs:.3f} {unit} | {ratio:.3f} | {goal} | {mark} |"
