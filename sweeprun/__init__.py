"""sweeprun: run hyperparameter sweeps described by a W&B-style sweep.yaml, offline, with Optuna.

Importing this package is cheap: it only pulls in the stdlib-only metrics client so that a
training program can call ``sweeprun.report(val_loss=0.3, step=1)``.
"""

from __future__ import annotations

from sweeprun.client import report

__version__ = "0.1.0"
__all__ = ["__version__", "report"]
