"""PyTorch Lightning: one added line reports a trial's metrics to sweeprun.

.. code-block:: python

    from sweeprun.integrations.lightning import SweeprunCallback
    trainer = L.Trainer(max_epochs=20, callbacks=[SweeprunCallback()])

The callback reports the numeric ``trainer.callback_metrics`` — what the module logged with
``self.log(...)`` — through :func:`sweeprun.report`, once per validation run (never for the
sanity check):

* validation at epoch ends (the default): at the end of each training epoch whose validation
  ran, with the epoch (from 0) as the step, so that the epoch's validation values and its
  training values (``on_epoch=True``) arrive together; a trainer without validation reports at
  every epoch's end;
* validation within epochs (``val_check_interval`` below 1.0 or a number of batches): at the
  end of each validation run, with the global step as the step;
* ``trainer.validate(...)``: at its end, with the epoch as the step.

Lightning calls callbacks before the module's own ``on_train_epoch_end``: a value the module
logs there is not in that epoch's report. Only the global-zero process reports.
``metrics=["val_loss"]`` limits what is reported.

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
    """Whether validation runs at epoch ends only (``val_check_interval`` 1.0, the default)."""
    interval = getattr(trainer, "val_check_interval", 1.0)
    return isinstance(interval, float) and interval >= 1.0


def _fitting(trainer: Any) -> bool:
    return bool(getattr(trainer.state, "fn", "fit") == "fit")  # TrainerFn is a str enum


@functools.cache
def _callback_class(base: type) -> type:
    class SweeprunCallback(base):
        """Reports ``trainer.callback_metrics`` to sweeprun once per validation run."""

        def __init__(self, metrics: Iterable[str] | None = None) -> None:
            super().__init__()
            self.metrics = None if metrics is None else list(metrics)
            self._validated: int | None = None  # the epoch whose validation ran last

        def _report(self, trainer: Any, step: int) -> None:
            if trainer.is_global_zero:
                report_at(step, wanted(numeric(trainer.callback_metrics), self.metrics))

        def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
            if trainer.sanity_checking:
                return
            if not _fitting(trainer):  # trainer.validate(): no training epoch to wait for
                self._report(trainer, trainer.current_epoch)
            elif _once_an_epoch(trainer):  # reported at the epoch's end, with its training values
                self._validated = trainer.current_epoch
            else:
                self._report(trainer, trainer.global_step)

        def on_train_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            epoch = trainer.current_epoch
            if not trainer.enable_validation or (
                _once_an_epoch(trainer) and self._validated == epoch
            ):
                self._report(trainer, epoch)

    SweeprunCallback.__module__ = __name__
    return SweeprunCallback


def __getattr__(name: str) -> Any:
    if name == "SweeprunCallback":
        return _callback_class(_lightning().Callback)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
