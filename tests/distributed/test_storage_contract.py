"""Optuna's storage contract on SQLite and PostgreSQL behind each of sweeprun's storage
decorators (batching, retrying, both), composed as :func:`sweeprun.storage.open.open_storage`
composes them: SQLite bare, PostgreSQL behind Optuna's cache. Each PostgreSQL test gets a
schema of its own (Optuna's tables created in it), dropped afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from optuna.storages import BaseStorage, RDBStorage
from optuna.testing.pytest_storages import StorageTestCase

from sweeprun.storage.optuna_adapter import cached
from tests.helpers.storage_contract import WRAPPERS, wrapped

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=WRAPPERS)
def sqlite_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BaseStorage]:
    rdb = RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    yield wrapped(rdb, request.param)
    rdb.engine.dispose()


@pytest.fixture(params=WRAPPERS)
def pg_storage(request: pytest.FixtureRequest, postgres_url: str) -> Iterator[BaseStorage]:
    schema = f"contract_{uuid.uuid4().hex[:10]}"
    admin = sqlalchemy.create_engine(PG)
    with admin.begin() as conn:
        conn.execute(sqlalchemy.text(f"CREATE SCHEMA {schema}"))
    rdb = RDBStorage(PG, engine_kwargs={"connect_args": {"options": f"-csearch_path={schema}"}})
    try:
        yield wrapped(cached(rdb), request.param)
    finally:
        rdb.engine.dispose()
        with admin.begin() as conn:
            conn.execute(sqlalchemy.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


class TestSQLite(StorageTestCase):
    @pytest.fixture
    def storage(self, sqlite_storage: BaseStorage) -> BaseStorage:
        return sqlite_storage


class TestPostgreSQL(StorageTestCase):
    @pytest.fixture
    def storage(self, pg_storage: BaseStorage) -> BaseStorage:
        return pg_storage
