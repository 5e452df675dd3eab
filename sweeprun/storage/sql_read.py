"""Reading sweeps from an RDB without opening Optuna's ``RDBStorage``.

``RDBStorage(url)`` loads SQLAlchemy's ORM and Optuna's models, imports alembic, checks the
schema revision and creates missing tables: ~0.3 s of CPU before the first query, a third of
``sweeprun status`` on a 10,000-trial sweep. The read-only commands use a plain SQLAlchemy
engine and the Core queries of :mod:`sweeprun.storage.sql_trials` instead, when the database holds
Optuna's schema at the revision this Optuna writes (the condition under which ``RDBStorage``
opens it without a word) and the sweep exists with its stored config.

In every other case (no tables yet, another schema revision, an unknown sweep name, a study not
created by sweeprun, a connection error) these functions return None and the caller opens the
storage through Optuna as before, so messages and side effects stay Optuna's.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweeprun.storage.optuna_adapter import trial_id_of
from sweeprun.storage.records import CONFIG
from sweeprun.storage.sql_trials import Tables, read_study_trials
from sweeprun.storage.urls import StorageSpec, sqlalchemy_url

if TYPE_CHECKING:
    import sqlalchemy as sa
    from optuna.trial import FrozenTrial

_REVISION = re.compile(r"""^revision\s*(?::[^=]*)?=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN = re.compile(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest schema revision among Optuna's alembic scripts (None: could not tell)."""
    import importlib.util

    spec = importlib.util.find_spec("optuna")
    if spec is None or spec.origin is None:
        return None
    versions = Path(spec.origin).parent / "storages" / "_rdb" / "alembic" / "versions"
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        text = script.read_text(encoding="utf-8")
        rev, down = _REVISION.search(text), _DOWN.search(text)
        if rev is None or down is None:
            return None
        revisions.add(rev[1])
        parents.update(re.findall(r"""["']([^"']+)["']""", down[1]))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _schema_current(conn: sa.Connection) -> bool:
    import sqlalchemy as sa

    head = head_revision()
    if head is None:
        return False
    found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    info = conn.execute(sa.text("SELECT COUNT(*) FROM version_info")).scalar()
    return found == [head] and bool(info)


def _connect(spec: StorageSpec) -> sa.Engine | None:
    if not spec.is_rdb:
        return None
    import sqlalchemy as sa

    return sa.create_engine(sqlalchemy_url(spec))


@dataclass
class StudyRecord:
    """One study read back without Optuna's storage."""

    study_id: int
    name: str
    directions: list[str]  # "minimize" | "maximize", by objective
    config_doc: Any  # the stored sweep config (None: not a sweeprun study)
    trials: list[FrozenTrial]


class Reader:
    """An open database of Optuna's current schema: read studies and trials."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.tables = Tables()

    def study_id(self, conn: sa.Connection, name: str) -> int | None:
        import sqlalchemy as sa

        s = self.tables.studies
        found = conn.execute(sa.select(s.c.study_id).where(s.c.study_name == name)).scalars()
        ids = found.all()
        return ids[0] if len(ids) == 1 else None

    def config_docs(self, conn: sa.Connection, study_id: int | None = None) -> dict[int, Any]:
        """Study id → its stored sweep config (studies without one are left out)."""
        import sqlalchemy as sa

        a = self.tables.study_attrs
        q = sa.select(a.c.study_id, a.c.value_json).where(a.c.key == CONFIG)
        if study_id is not None:
            q = q.where(a.c.study_id == study_id)
        return {sid: json.loads(vj) for sid, vj in conn.execute(q)}

    def trials(self, conn: sa.Connection, study_id: int, **options: Any) -> list[FrozenTrial]:
        return read_study_trials(conn, study_id, **options)

    def full(self, study_id: int, trial: FrozenTrial) -> FrozenTrial:
        """The complete record of one trial (all attributes and intermediate values)."""
        with self.engine.connect() as conn:
            (out,) = self.trials(conn, study_id, trial_ids=[trial_id_of(trial)])
        return out


def open_reader(spec: StorageSpec) -> Reader | None:
    """A reader when ``spec`` is a database of Optuna's current schema, else None."""
    try:
        engine = _connect(spec)
        if engine is None:
            return None
        with engine.connect() as conn:
            if not _schema_current(conn):
                engine.dispose()
                return None
        return Reader(engine)
    except Exception:  # Optuna's way will say what is wrong
        return None


def load_study(
    spec: StorageSpec,
    name: str,
    *,
    attrs: Collection[str] | None,
    intermediate: bool,
    params: bool,
) -> tuple[Reader, StudyRecord] | None:
    """Sweep ``name`` with its config and trials, or None (see the module docstring)."""
    reader = open_reader(spec)
    if reader is None:
        return None
    try:
        with reader.engine.connect() as conn:
            sid = reader.study_id(conn, name)
            if sid is None:
                return None
            doc = reader.config_docs(conn, sid).get(sid)
            if doc is None:
                return None
            trials = reader.trials(conn, sid, attrs=attrs, intermediate=intermediate, params=params)
    except Exception:
        return None
    return reader, StudyRecord(sid, name, [], doc, trials)


def all_studies(spec: StorageSpec, attrs: Collection[str]) -> list[StudyRecord] | None:
    """Every study in the storage with its trials (``attrs`` only, no parameters), or None."""
    import sqlalchemy as sa

    reader = open_reader(spec)
    if reader is None:
        return None
    s, d = reader.tables.studies, reader.tables.directions
    try:
        with reader.engine.connect() as conn:
            names = conn.execute(sa.select(s.c.study_id, s.c.study_name)).all()
            directions: dict[int, dict[int, str]] = {}
            for sid, direction, objective in conn.execute(
                sa.select(d.c.study_id, d.c.direction, d.c.objective)
            ):
                directions.setdefault(sid, {})[objective] = str(direction).lower()
            docs = reader.config_docs(conn)
            out = []
            for sid, name in names:
                dirs = directions.get(sid, {})
                trials = reader.trials(conn, sid, attrs=attrs, intermediate=False, params=False)
                out.append(
                    StudyRecord(sid, name, [dirs[i] for i in sorted(dirs)], docs.get(sid), trials)
                )
    except Exception:
        return None
    finally:
        reader.engine.dispose()
    return out
