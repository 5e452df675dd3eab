"""Reading sweeps from a database with plain queries (sweeprun.storage.sql_read) gives what reading
them through Optuna's RDBStorage gives, and anything unusual still goes through Optuna."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest

from sweeprun.results.read import SUMMARY_ATTRS, load
from sweeprun.storage import sql_read as results_sql
from sweeprun.storage.urls import classify
from tests.helpers.cli import run_cli
from tests.helpers.services import require_service
from tests.helpers.sweeps import make_sweeps


def _same_trials(a: list[Any], b: list[Any]) -> None:
    assert [t.number for t in a] == [t.number for t in b]
    for x, y in zip(a, b, strict=True):
        assert (x.state, x.values, x.params, x.distributions) == (
            y.state,
            y.values,
            y.params,
            y.distributions,
        )
        assert (x.user_attrs, x.intermediate_values) == (y.user_attrs, y.intermediate_values)
        assert (x.datetime_start, x.datetime_complete) == (y.datetime_start, y.datetime_complete)
        assert x._trial_id == y._trial_id


@pytest.fixture(scope="module")
def pg_sweeps(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import optuna

    require_service("PostgreSQL", 5432)
    url = "postgresql://postgres@127.0.0.1:5432/test"
    suffix = "-" + uuid.uuid4().hex[:8]
    names = make_sweeps(tmp_path_factory.mktemp("sql"), url, suffix)
    yield url, names, suffix
    for n in names.values():
        optuna.delete_study(
            study_name=n, storage=url.replace("postgresql://", "postgresql+psycopg://")
        )


@pytest.mark.parametrize(
    "options",
    [{}, {"attrs": SUMMARY_ATTRS, "intermediate": False, "params": False}],
    ids=["everything", "summary"],
)
def test_plain_queries_read_what_optuna_reads(pg_sweeps: Any, options: dict[str, Any]) -> None:
    url, names, _ = pg_sweeps
    assert results_sql.open_reader(classify(url)) is not None  # the fast way is taken here
    for name in names.values():
        plain = load(url, name, study=False, **options)
        assert plain.study is None
        via_optuna = load(url, name, **options)
        assert via_optuna.study is not None
        assert plain.config == via_optuna.config and plain.objectives == via_optuna.objectives
        _same_trials(plain.trials, via_optuna.trials)
        full_plain = [plain.full(t) for t in plain.trials]
        full_optuna = [via_optuna.full(t) for t in via_optuna.trials]
        _same_trials(full_plain, full_optuna)
        assert all(t.params for t in full_plain)


def test_overview_is_the_same_either_way(pg_sweeps: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sweeprun.results.status import overview

    url, _, suffix = pg_sweeps
    where, plain = overview(url)
    monkeypatch.setattr(results_sql, "all_studies", lambda spec, attrs: None)
    where2, via_optuna = overview(url)
    mine = [s for s in plain if s["name"].endswith(suffix)]
    assert len(mine) == 2 and where == where2
    assert mine == [s for s in via_optuna if s["name"].endswith(suffix)]


def test_unknown_sweep_on_a_database(pg_sweeps: Any) -> None:
    url, names, _ = pg_sweeps
    for cmd in ("status", "best", "trials"):
        res = run_cli(cmd, names["grid"] + "x", "--storage", url).assert_code(2)
        assert f"no sweep named '{names['grid']}x'" in res.stderr
        assert names["grid"] in res.stderr  # did you mean / known sweeps


def test_an_older_schema_revision_is_left_to_optuna(tmp_path: Path) -> None:
    sweep = tmp_path / "s.yaml"
    sweep.write_text(
        "name: sq\nmethod: random\nmetric: {name: loss}\nrun_cap: 2\n"
        'command: [/bin/sh, -c, "echo {\\"loss\\": 1}", sh, "${args}"]\n'
        "parameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    run_cli("start", str(sweep), "--storage", url, "--quiet", cwd=tmp_path).assert_success()
    assert results_sql.open_reader(classify(url)) is not None
    assert run_cli("status", "sq", "--storage", url, cwd=tmp_path).assert_success()
    with sqlite3.connect(tmp_path / "db.sqlite") as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'v3.0.0.d'")
    assert results_sql.open_reader(classify(url)) is None
    for args in (["status"], ["status", "sq"], ["best", "sq"]):
        res = run_cli(*args, "--storage", url, cwd=tmp_path).assert_code(2)
        assert "no longer compatible with the table schema" in res.stderr


def test_head_revision_is_optunas() -> None:
    from optuna.storages import RDBStorage

    storage = RDBStorage("sqlite://")  # in memory
    assert results_sql.head_revision() == storage._version_manager.get_head_version()
