"""Optuna's private names are used in one module only: ``sweeprun/storage/optuna_adapter.py``
(version-gated, :func:`~sweeprun.storage.optuna_adapter.check_version`). Every other module
of the package reaches them through the adapter's public functions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "sweeprun"
ADAPTER = PACKAGE / "storage" / "optuna_adapter.py"

# Optuna's private attributes and functions that sweeprun has needed (see the adapter)
PRIVATE_ATTRS = (
    "storage|study_id|trial_id|cached_frozen_trial|backend|thread_lock|replay_result"
    "|sync_with_backend|get_stale_trial_ids|pop_waiting_trial_id|log_number_offset|file_path"
    "|trial_id_to_study_id_and_number|studies|thread_local"
)
PRIVATE = re.compile(
    r"from optuna[\w.]* import _"  # a private name imported
    r"|optuna(\.\w+)*\._[a-z]"  # a private module (optuna.storages._rdb, journal._file ...)
    rf"|\._({PRIVATE_ATTRS})\b"  # a private attribute of an Optuna object
    rf"|[\"']_({PRIVATE_ATTRS})[\"']"  # ... reached with getattr / setattr
    r"|\b_get_stale_trial_ids\b|_CachedStorage|_tell_with_warning|_without_commit\b"
    r"|_create_scoped_session"
)


def _hits(path: Path) -> list[str]:
    out = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        code = line.split("#", 1)[0]
        if PRIVATE.search(code):
            out.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    return out


def test_the_pattern_finds_what_it_is_meant_to_find() -> None:
    for line in (
        "from optuna.storages import _CachedStorage",
        "from optuna.storages._rdb import models",
        "storage = study._storage",
        "trial._trial_id",
        'getattr(storage, "_backend", storage)',
        "rdb._set_trial_param_without_commit(session)",
        "from optuna.study._tell import _tell_with_warning",
    ):
        assert PRIVATE.search(line), line
    for line in ("self._inner.get_trial(trial_id)", "storage_of(study)", "trial_id_of(t)"):
        assert not PRIVATE.search(line), line


def test_no_module_but_the_adapter_uses_an_optuna_private_name() -> None:
    assert _hits(ADAPTER), "the adapter is where they are: the pattern must see them there"
    hits = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != ADAPTER for hit in _hits(path)]
    if hits:
        pytest.fail(
            "Optuna private names outside sweeprun/storage/optuna_adapter.py (add a public "
            "function there and call it):\n" + "\n".join(hits)
        )
