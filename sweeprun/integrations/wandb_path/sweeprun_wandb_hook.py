"""Mirror a trial program's own wandb calls into sweeprun's metrics channel, unchanged.

Loaded the first time a trial program imports ``wandb``, by the finder sweeprun's
``sitecustomize`` puts on ``sys.meta_path``, in the trial's Python (which may not be sweeprun's
own and may not have sweeprun installed: this module is stdlib only and finds sweeprun's client
module by its path). Two public methods are wrapped, in the child
only, after wandb's own module has run:

* ``wandb.sdk.wandb_run.Run.log(data, step=None, commit=None)`` and ``NoopRun.log``
  (``mode=disabled``): ``wandb.log``, ``run.log``, and what Lightning's ``WandbLogger`` and
  Hugging Face's ``WandbCallback`` call:
  the numeric values of ``data`` (nested dicts flattened with dots, as W&B's history does;
  numpy and 0-d torch scalars included, booleans, media and tables not) are reported as one
  line. The step is ``step``/``_step``/``epoch``/``iteration`` in ``data`` when there, else the
  ``step`` argument, else the count of committed ``log`` calls so far (W&B's ``_step``).
* ``wandb.sdk.wandb_summary.SummaryDict.update`` (``run.summary[k] = v``, ``run.summary.k = v``,
  ``run.summary.update({...})``) on the run's top-level summary: the numeric values are
  reported under ``_summary``; sweeprun's objective then follows W&B's controller rule (the
  extremum over the history and the summary value).

wandb itself runs as it would (online, offline or disabled); a failure of the mirror never
reaches the program.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from importlib.machinery import PathFinder

TYPE_CHECKING = False
if TYPE_CHECKING:  # keep ``typing`` out of every trial's start-up
    from typing import Any

_STEP_KEYS = ("step", "_step", "epoch", "iteration")
_HERE = os.path.dirname(os.path.abspath(__file__))
_state: dict[str, Any] = {"steps": 0, "client": None}


def _client() -> Any:
    """sweeprun's stdlib-only client module, loaded from its file (not the package)."""
    if _state["client"] is None:
        path = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "client.py")
        spec = importlib.util.spec_from_file_location("_sweeprun_client", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _state["client"] = module
    return _state["client"]


def _number(value: Any) -> float | int | None:
    if isinstance(value, (bool, str, bytes)) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if getattr(value, "shape", None) not in (None, (), []):  # arrays and tensors: 0-d only
        return None
    try:
        return float(value)  # numpy scalars, 0-d tensors
    except (TypeError, ValueError, OverflowError, RuntimeError):
        return None


def _numbers(data: dict[Any, Any], prefix: str = "") -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        name = prefix + key
        if isinstance(value, dict):
            out.update(_numbers(value, name + "."))
            continue
        number = _number(value)
        if number is not None:
            out[name] = number
    return out


def _report(payload: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):  # the mirror never breaks the program
        _client().report(**payload)


def mirror_log(data: Any, step: Any = None, commit: Any = None) -> None:
    """What one ``Run.log`` call reports (called before wandb's own ``log``)."""
    if not isinstance(data, dict):
        return
    values: dict[str, Any] = _numbers(data)
    committed = commit is not False
    if values:
        if not any(k in values for k in _STEP_KEYS):
            values["_step"] = step if isinstance(step, int) else _state["steps"]
        _report(values)
    if committed:
        _state["steps"] = (step + 1) if isinstance(step, int) else _state["steps"] + 1


def mirror_summary(data: Any) -> None:
    values = _numbers(dict(data)) if isinstance(data, dict) else {}
    if values:
        _report({"_summary": values})


def _mark(wrapper: Any, original: Any) -> Any:
    wrapper.__name__ = original.__name__
    wrapper.__qualname__ = original.__qualname__
    wrapper.__doc__ = original.__doc__
    wrapper.__wrapped__ = original
    wrapper._sweeprun = True
    return wrapper


def _wrap_log(cls: Any) -> None:
    """``cls.log`` reports its values first (``Run``, and ``NoopRun`` of ``mode=disabled``)."""
    original = cls.__dict__.get("log")
    if original is None or getattr(original, "_sweeprun", False):
        return

    def log(self: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(Exception):
            step = kwargs.get("step", args[0] if args else None)
            commit = kwargs.get("commit", args[1] if len(args) > 1 else None)
            mirror_log(data, step, commit)
        return original(self, data, *args, **kwargs)

    cls.log = _mark(log, original)


def _wrap_summary(cls: Any, top_level: Any) -> None:
    """``cls.update`` (behind ``summary[k] = v`` too) reports the run's top-level summary."""
    original = cls.__dict__.get("update")
    if original is None or getattr(original, "_sweeprun", False):
        return

    def update(self: Any, d: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self, top_level):
            with contextlib.suppress(Exception):
                mirror_summary(d)
        return original(self, d, *args, **kwargs)

    cls.update = _mark(update, original)


def _patch(wandb_module: Any) -> None:
    try:
        from wandb.sdk import wandb_run, wandb_summary
    except Exception:
        return
    _wrap_log(wandb_run.Run)
    _wrap_summary(wandb_summary.SummaryDict, wandb_summary.Summary)
    try:  # mode=disabled: a NoopRun whose log only updates a disabled summary
        from wandb.sdk.lib import noop_run
    except Exception:
        return
    _wrap_log(noop_run.NoopRun)


class _Loader:
    """wandb's own loader, with :func:`_patch` after the module ran."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: Any) -> Any:
        return self._inner.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self._inner.exec_module(module)
        _patch(module)

    def __getattr__(self, name: str) -> Any:  # resources, is_package, get_code ...
        return getattr(self._inner, name)


def find_wandb(path: Any = None, target: Any = None) -> Any:
    """``wandb``'s spec as the path finder finds it, with :class:`_Loader` (called by the
    finder ``sitecustomize`` puts on ``sys.meta_path``, the first time wandb is imported)."""
    spec = PathFinder.find_spec("wandb", path, target)
    if spec is not None and spec.loader is not None:
        spec.loader = _Loader(spec.loader)  # type: ignore[assignment]  # duck-typed: no importlib.abc at start-up
    return spec


def patch_loaded(wandb_module: Any) -> None:
    """Patch a wandb that was imported before ``sitecustomize`` ran."""
    _patch(wandb_module)


def run_sitecustomize(entries: list[str]) -> None:
    """Run the ``sitecustomize`` that sweeprun's hides (the first in ``entries``), as site.py
    would have; its errors surface as site.py reports them."""
    spec = PathFinder.find_spec("sitecustomize", entries)
    if spec is None or spec.loader is None:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["sitecustomize"] = module
    spec.loader.exec_module(module)
