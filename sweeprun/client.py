"""Placeholder; replaced by the metrics client."""

from __future__ import annotations

from typing import Any


def report(**metrics: Any) -> None:
    print(metrics)
