"""Hugging Face Transformers: one added line reports a ``Trainer``'s metrics to sweeprun.

.. code-block:: python

    from sweeprun.integrations.transformers import SweeprunCallback
    trainer = Trainer(model=model, args=args, ..., callbacks=[SweeprunCallback()])

Every ``Trainer.log`` call — the training logs every ``logging_steps`` (``loss``,
``learning_rate``, ...) and each evaluation's metrics (``eval_loss``, ``eval_accuracy``, ...;
``Trainer.evaluate`` logs them too) — reaches ``on_log``, which reports the numeric values
through :func:`sweeprun.report` with the trainer's ``state.global_step`` as the step (the
``step`` of the trainer's own ``log_history``). ``epoch`` is left out (a fraction, and no value
to optimise). Only the main process (``state.is_world_process_zero``) reports.
``metrics=["eval_loss"]`` limits what is reported.

A pruned trial is stopped by sweeprun (SIGTERM to its processes, SIGKILL after
``trial.kill_grace``). Transformers is imported when the class is first used.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sweeprun.integrations.scalars import numeric, report_at, wanted

__all__ = ["SweeprunCallback"]

if TYPE_CHECKING:  # built on first use (module __getattr__), when the framework is imported
    SweeprunCallback: Any

#: what a log holds besides metric values
_NOT_METRICS = ("epoch", "step", "total_flos")


@functools.cache
def _callback_class() -> type:
    base = importlib.import_module("transformers").TrainerCallback

    class SweeprunCallback(base):  # type: ignore[misc, valid-type]
        """Reports the values of every ``Trainer.log`` call to sweeprun."""

        def __init__(self, metrics: Iterable[str] | None = None) -> None:
            super().__init__()
            self.metrics = None if metrics is None else list(metrics)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any
        ) -> None:
            if not logs or not state.is_world_process_zero:
                return
            values = numeric({k: v for k, v in logs.items() if k not in _NOT_METRICS})
            report_at(state.global_step, wanted(values, self.metrics))

    SweeprunCallback.__module__ = __name__
    return SweeprunCallback


def __getattr__(name: str) -> Any:
    if name == "SweeprunCallback":
        return _callback_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
