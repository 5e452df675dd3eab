"""Optuna's storage contract on the journal file behind each of sweeprun's storage decorators
(batching, retrying, both): every ``BaseStorage`` behaviour sweeprun relies on holds through
them. SQLite and PostgreSQL: ``tests/distributed/test_storage_contract.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.testing.pytest_storages import StorageTestCase

from sweeprun.storage.journal import FlockLock, SafeJournalFileBackend
from tests.helpers.storage_contract import WRAPPERS, wrapped


@pytest.fixture(params=WRAPPERS)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStorage]:
    path = str(tmp_path / "journal.log")
    inner = optuna.storages.JournalStorage(SafeJournalFileBackend(path, FlockLock(path)))
    yield wrapped(inner, request.param)


class TestJournalFile(StorageTestCase):
    """The contract, on sweeprun's journal file (record locks, all-or-nothing appends)."""
