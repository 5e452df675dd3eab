"""PyTorch Lightning: one added line reports a trial's metrics to sweeprun.

.. code-block:: python

    from sweeprun.integrations.lightning import SweeprunCallback
    trainer = L.Trainer(max_epochs=20, callbacks=[SweeprunCallback()])

At the end of every validation run (never of the sanity check) the callback reports the
numeric ``trainer.callback_metrics`` — what the module logged with ``self.log(...)`` — through
:func:`sweeprun.report`, with the epoch as the step (the global step when validation runs more
than once an epoch, ``val_check_interval`` below 1.0 or a number of batches). A trainer without
validation reports at the end of each training epoch instead. Only the global-zero process
reports. ``metrics=["val_loss"]`` limits what is reported.

A pruned trial is stopped by sweeprun (SIGTERM to its processes, SIGKILL after
``trial.kill_grace``); Lightning turns SIGTERM into a clean exit at the next batch.

Lightning is imported when the class is first used, not with this module; the callback
derives from ``lightning.pytorch.Callback``, or from ``pytorch_lightning.Callback`` when the
program imported ``pytorch_lightning`` and not ``lightning`` (the two trainers accept only
their own callbacks).
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sweeprun.integrations.scalars import numeric, report_at, wanted

__all__ = ["SweeprunCallback"]

if TYPE_CHECKING:  # built on first use (module __getattr__), when the framework is imported
    SweeprunCallback: Any


def _lightning() -> Any:
    """``lightning.pytorch`` or ``pytorch_lightning``: the one the program uses."""
    if "pytorch_lightning" in sys.modules and "lightning.pytorch" not in sys.modules:
        return importlib.import_module("pytorch_lightning")
    try:
        return importlib.import_module("lightning.pytorch")
    except ImportError:
        return importlib.import_module("pytorch_lightning")


def _once_an_epoch(trainer: Any) -> bool:
    interval = getattr(trainer, "val_check_interval", 1.0)
    return isinstance(interval, float) and interval >= 1.0


@functools.cache
def _callback_class(base: type) -> type:
    class SweeprunCallback(base):
        """Reports ``trainer.callback_metrics`` to sweeprun after each validation run."""

        def __init__(self, metrics: Iterable[str] | None = None) -> None:
            super().__init__()
            self.metrics = None if metrics is None else list(metrics)

        def _report(self, trainer: Any) -> None:
            if not trainer.is_global_zero:
                return
            values = wanted(numeric(trainer.callback_metrics), self.metrics)
            step = trainer.current_epoch if _once_an_epoch(trainer) else trainer.global_step
            report_at(step, values)

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if not trainer.sanity_checking:
                self._report(trainer)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if not getattr(trainer, "enable_validation", True):
                self._report(trainer)

    SweeprunCallback.__module__ = __name__
    return SweeprunCallback


def __getattr__(name: str) -> Any:
    if name == "SweeprunCallback":
        return _callback_class(_lightning().Callback)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
