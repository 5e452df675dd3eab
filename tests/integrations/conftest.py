"""Fixtures of the integrations tier (helpers: ``tests/helpers/frameworks.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.frameworks import FrameworkSweep


@pytest.fixture
def framework_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FrameworkSweep:
    """A sweep in ``tmp_path`` whose trials run with a private home (framework caches and
    config files land there), one thread each (2 cores), and the Hugging Face Hub offline:
    a program that tried to download something fails at once instead of retrying."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return FrameworkSweep(tmp_path)
