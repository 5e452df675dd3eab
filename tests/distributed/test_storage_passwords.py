"""A password with an unencoded ``@`` (issue 19, item 1): the database driver splits the URL at
the first ``@`` and names "the host", the rest of the password, in its error. sweeprun refuses
such a URL before any driver sees it (exit 2, where it came from, the fix), and the %-encoded
form of the same password works against a real server."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cli import Result, run_cli
from tests.helpers.paths import PROGRAMS
from tests.helpers.services import require_service
from tests.helpers.studies import unique

RUN_TRIAL = PROGRAMS / "run_trial.py"

# (URL, the password as written, what the masked URL looks like, a word of the fix)
AMBIGUOUS = {
    "postgresql": (
        "postgresql://postgres:a@Secret9x@127.0.0.1:5432/test",
        "a@Secret9x",
        "postgresql://postgres:***@127.0.0.1:5432/test",
        "%40",
    ),
    "mysql": (
        "mysql://root:p@ss@Word7@127.0.0.1:3306/test",
        "p@ss@Word7",
        "mysql://root:***@127.0.0.1:3306/test",
        "%40",
    ),
    "redis": (
        "redis://:r@Secr3t@127.0.0.1:6379/0",
        "r@Secr3t",
        "redis://:***@127.0.0.1:6379/0",
        "%40",
    ),
    "grpc": (
        "grpc://agent:g@Pr0xyPw@127.0.0.1:13000",
        "g@Pr0xyPw",
        "grpc://agent:***@127.0.0.1:13000",
        "grpc://host:port",
    ),
    "postgresql-slash": (
        "postgresql://postgres:sl/ash9Pw@127.0.0.1:5432/test",
        "sl/ash9Pw",
        "postgresql://postgres:***@127.0.0.1:5432/test",
        "%40",
    ),
}
COMMANDS = {
    "status": ["status", "{name}"],
    "agent": ["agent", "{name}"],
    "trials": ["trials", "{name}"],
    "best": ["best", "{name}"],
    "start": ["start", "{sweep}"],
}


def fragments(password: str) -> list[str]:
    """The password and every piece of it between ``@ : /`` that is 3 characters or more."""
    pieces = {password, *re.split(r"[@:/]", password)}
    return sorted(p for p in pieces if len(p) >= 3)


def write_sweep(path: Path, name: str, storage: str | None = None) -> Path:
    doc: dict[str, object] = {
        "name": name,
        "program": str(RUN_TRIAL),
        "method": "random",
        "metric": {"name": "loss"},
        "run_cap": 2,
        "parameters": {"x": {"min": 0.0, "max": 2.0}, "mode": {"values": ["ok"]}},
    }
    if storage is not None:
        doc["storage"] = storage
    path.write_text(json.dumps(doc))
    return path


def written_text(*roots: Path) -> str:
    """Everything in the files under ``roots`` (what sweeprun wrote, and the test's own)."""
    out = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                out.append(f"--- {path}\n" + path.read_bytes().decode(errors="replace"))
    return "\n".join(out)


def assert_refused(res: Result, case: tuple[str, str, str, str], source: str, files: str) -> None:
    _, password, masked, fix = case
    res.assert_code(2)
    text = res.stdout + res.stderr
    for frag in fragments(password):
        assert frag not in text, f"{frag!r} shown\n{res.describe()}"
        assert frag not in files, f"{frag!r} written to a file"
    assert source in res.stderr, res.describe()
    assert masked in res.stderr, res.describe()
    assert fix in res.stderr, res.describe()  # the fix: %-encode the password


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("via", ["--storage", "SWEEPRUN_STORAGE"])
@pytest.mark.parametrize("scheme", list(AMBIGUOUS))
def test_an_ambiguous_url_is_refused_and_no_part_of_its_password_shown(
    tmp_path: Path, _private_sweeprun_dir: Path, scheme: str, via: str, command: str
) -> None:
    url = AMBIGUOUS[scheme][0]
    name = unique("pw")
    sweep = write_sweep(tmp_path / "sweep.yaml", name)
    args = [a.format(name=name, sweep=sweep) for a in COMMANDS[command]]
    if via == "--storage":
        res = run_cli(*args, "--storage", url, cwd=tmp_path)
    else:
        res = run_cli(*args, cwd=tmp_path, env={"SWEEPRUN_STORAGE": url})
    files = written_text(_private_sweeprun_dir, *(p for p in tmp_path.iterdir() if p != sweep))
    assert_refused(res, AMBIGUOUS[scheme], via, files)


@pytest.mark.parametrize("scheme", list(AMBIGUOUS))
def test_an_ambiguous_url_in_the_sweep_file_is_refused(
    tmp_path: Path, _private_sweeprun_dir: Path, scheme: str
) -> None:
    url = AMBIGUOUS[scheme][0]
    sweep = write_sweep(tmp_path / "sweep.yaml", unique("pw"), storage=url)
    res = run_cli("start", str(sweep), cwd=tmp_path)
    files = written_text(_private_sweeprun_dir, *(p for p in tmp_path.iterdir() if p != sweep))
    assert_refused(res, AMBIGUOUS[scheme], "`storage:` in the sweep file", files)


# ---- the %-encoded form reaches the right server as the right user ------------------------
PASSWORD = "a@Secret9x"


@pytest.fixture
def pg_role() -> Iterator[tuple[str, str]]:
    """A PostgreSQL role with an ``@`` in its password and a database it owns (so its tables are
    created by that role): (role, database)."""
    require_service("PostgreSQL", 5432)
    import psycopg

    tag = uuid.uuid4().hex[:8]
    role, db = f"sweeprun_at_{tag}", f"sweeprun_at_{tag}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        conn.execute(f"CREATE DATABASE {db} OWNER {role}")
    try:
        yield role, db
    finally:
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            c.execute(f"DROP ROLE IF EXISTS {role}")


def test_the_percent_encoded_password_works(
    tmp_path: Path, _private_sweeprun_dir: Path, pg_role: tuple[str, str]
) -> None:
    role, db = pg_role
    url = f"postgresql://{role}:a%40Secret9x@127.0.0.1:5432/{db}"
    name = unique("pw-ok")
    sweep = write_sweep(tmp_path / "sweep.yaml", name, storage=url)  # the sweep file's key
    results = [run_cli("start", str(sweep), cwd=tmp_path).assert_code(0)]
    assert f"{role}:***@127.0.0.1:5432/{db}" in results[0].stdout, results[0].describe()
    results.append(run_cli("status", name, "--storage", url, cwd=tmp_path).assert_code(0))
    env = {"SWEEPRUN_STORAGE": url}
    results.append(run_cli("trials", name, "--json", cwd=tmp_path, env=env).assert_code(0))
    assert len(json.loads(results[-1].stdout)["trials"]) == 2, results[-1].describe()
    results.append(run_cli("best", name, cwd=tmp_path, env=env).assert_code(0))

    import psycopg

    # the driver saw this user and this database: the role owns the tables Optuna created
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{db}") as conn:
        row = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'studies'")
        assert row.fetchone() == (role,)
        count = conn.execute("SELECT count(*) FROM studies WHERE study_name = %s", (name,))
        assert count.fetchone() == (1,)
    shown = "\n".join(r.stdout + r.stderr for r in results)
    files = written_text(_private_sweeprun_dir, *(p for p in tmp_path.iterdir() if p != sweep))
    for frag in [*fragments(PASSWORD), "a%40Secret9x"]:
        assert frag not in shown
        assert frag not in files, frag
