"""Keras: one added line reports each epoch's logs to sweeprun.

.. code-block:: python

    from sweeprun.integrations.keras import SweeprunCallback
    model.fit(x, y, validation_split=0.2, epochs=20, callbacks=[SweeprunCallback()])

At the end of every epoch the callback reports the numeric values of Keras's ``logs``
(``loss``, ``val_loss``, ``val_accuracy``, ...) through :func:`sweeprun.report`, with the
epoch (from 0, as Keras counts) as the step. ``metrics=["val_loss"]`` limits what is reported.

Keras 3 with any backend (``KERAS_BACKEND=torch`` on a machine without TensorFlow), or Keras 2
as ``tf_keras`` when the program imported that and not ``keras``. Keras is imported when the
class is first used. A pruned trial is stopped by sweeprun (SIGTERM, SIGKILL after
``trial.kill_grace``).
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


def _keras() -> Any:
    """``keras``, or ``tf_keras`` when the program uses that one."""
    if "tf_keras" in sys.modules and "keras" not in sys.modules:
        return importlib.import_module("tf_keras")
    return importlib.import_module("keras")


@functools.cache
def _callback_class(base: type) -> type:
    class SweeprunCallback(base):
        """Reports each epoch's logs to sweeprun."""

        def __init__(self, metrics: Iterable[str] | None = None) -> None:
            super().__init__()
            self.metrics = None if metrics is None else list(metrics)

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            report_at(epoch, wanted(numeric(logs or {}), self.metrics))

    SweeprunCallback.__module__ = __name__
    return SweeprunCallback


def __getattr__(name: str) -> Any:
    if name == "SweeprunCallback":
        return _callback_class(_keras().callbacks.Callback)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
