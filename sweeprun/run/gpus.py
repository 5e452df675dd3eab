"""GPU assignment: which ``CUDA_VISIBLE_DEVICES`` each trial sees.

``--gpus 0,1`` (default: ``$CUDA_VISIBLE_DEVICES``, else ``nvidia-smi -L`` when present) and
``resources.gpus_per_trial``: a whole number takes that many GPUs per trial; a fraction ``f``
lets ``floor(1/f)`` trials share one GPU. With GPUs given and ``gpus_per_trial`` unset, each
trial gets one GPU.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess

from sweeprun.errors import SweepError


def detect(cli: str | None) -> list[str]:
    if cli is not None:
        ids = [g.strip() for g in cli.split(",") if g.strip()]
        if not ids:
            raise SweepError("--gpus: give ids like 0,1,2")
        return ids
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    exe = shutil.which("nvidia-smi")
    if exe:
        try:
            out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return []
        return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU")]
    return []


class GpuPool:
    def __init__(self, ids: list[str], per_trial: float) -> None:
        self.ids = ids
        self.per_trial = per_trial if per_trial > 0 else (1.0 if ids else 0.0)
        if self.per_trial >= 1:
            need = math.ceil(self.per_trial)
            if ids and need > len(ids):
                raise SweepError(
                    f"resources.gpus_per_trial is {per_trial} but only {len(ids)} GPU(s) given"
                )
            self._capacity = 1
        else:
            self._capacity = max(1, math.floor(1 / self.per_trial)) if self.per_trial else 0
        self._used = dict.fromkeys(ids, 0)

    @property
    def enabled(self) -> bool:
        return bool(self.ids) and self.per_trial > 0

    def acquire(self) -> list[str] | None:
        """GPU ids for one trial, or None when none is free right now."""
        if not self.enabled:
            return []
        need = math.ceil(self.per_trial) if self.per_trial >= 1 else 1
        free = [g for g in self.ids if self._used[g] < self._capacity]
        if len(free) < need:
            return None
        free.sort(key=lambda g: self._used[g])
        chosen = free[:need]
        for g in chosen:
            self._used[g] += 1
        return chosen

    def release(self, gpus: list[str]) -> None:
        for g in gpus:
            self._used[g] -= 1
