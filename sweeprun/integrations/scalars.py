"""The numbers frameworks log, as plain floats for :func:`sweeprun.report`: Python numbers,
numpy scalars and one-element arrays, torch / TensorFlow scalar tensors (anything with
``.item()`` or ``__float__`` that holds one number). Used by the framework callbacks
(``sweeprun.integrations.lightning`` and its siblings); imports no framework itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sweeprun.client import report

__all__ = ["as_float", "numeric", "report_at", "wanted"]


def as_float(value: Any) -> float | None:
    """``value`` as a float if it is one number (``bool`` and strings are not), else None."""
    if isinstance(value, bool | str | bytes):
        return None
    if isinstance(value, int | float):
        return float(value)
    size = getattr(value, "size", None)  # numpy arrays (an attribute) and torch (a method)
    numel = getattr(value, "numel", None)
    try:
        if callable(numel) and numel() != 1:
            return None
        if isinstance(size, int) and size != 1:
            return None
        item = getattr(value, "item", None)
        number = item() if callable(item) else value
        if isinstance(number, bool):
            return None
        return float(number)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None


def numeric(values: Mapping[str, Any]) -> dict[str, float]:
    """The entries of ``values`` that are one number each, as floats (NaN and ±inf kept: the
    summary knows they are no result)."""
    out: dict[str, float] = {}
    for name, value in values.items():
        number = as_float(value)
        if number is not None:
            out[str(name)] = number
    return out


def wanted(values: dict[str, float], names: Iterable[str] | None) -> dict[str, float]:
    """Only the given metric names (all when ``names`` is None)."""
    if names is None:
        return values
    keep = set(names)
    return {k: v for k, v in values.items() if k in keep}


def report_at(step: int, values: Mapping[str, float]) -> None:
    """Report ``values`` at ``step`` (a value named ``step`` gives way to the step)."""
    if values:
        report(step, **{k: v for k, v in values.items() if k != "step"})
